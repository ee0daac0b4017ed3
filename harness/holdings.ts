/**
 * What this process started and must not leave behind: the devices it powered on (a daemonized
 * QEMU outlives the process that started it), the servers it opened (backends, disk servers).
 * Drivers and servers register here when they start and drop out when they stop; a command
 * that ends on an error or a signal releases whatever is still held (harness/cli/run.ts), and a
 * command that means to leave a device running says so with keep().
 *
 * One registry per process, not one per call chain: a signal arrives for the whole process, and
 * whatever any part of it started must be found then without threading a handle through every
 * layer.
 */

/** Something held: how to release it in order, and how to force it when there is no time. */
export interface Held {
  /** What it is, for the line that says what was left in which state: "device hup". */
  readonly what: string;
  /**
   * A device that can run on without this process, so `--keep` may leave it running. Servers are
   * always released, and so is a VM whose disk is served by this process.
   */
  readonly keepable?: boolean;
  /** Orderly release; returns what it did, e.g. "powered off while updating". */
  release(): Promise<string>;
  /** Immediate, synchronous release for a second interruption (SIGKILL). */
  force?(): void;
}

export interface ReleaseReport {
  /** One phrase per held thing, in release order: "device hup powered off while updating". */
  released: string[];
  /** Devices left running on purpose (`keepDevices`). */
  kept: string[];
}

class Holdings {
  private readonly held = new Map<object, Held>();

  /** Registers `held` under `key` (the driver or server object); a second hold replaces the first. */
  hold(key: object, held: Held): void {
    this.held.delete(key); // re-insert at the end: release order is newest first
    this.held.set(key, held);
  }

  /** `key` was stopped by its owner: nothing to release any more. */
  drop(key: object): void {
    this.held.delete(key);
  }

  /** What is held now, newest first. */
  list(): Held[] {
    return [...this.held.values()].reverse();
  }

  /**
   * Releases everything held, newest first (so a device goes before the disk server and the
   * backend it was started against); devices are only dropped from the registry with
   * `keepDevices`. A release that fails is reported, never thrown: the rest must still go.
   */
  async releaseAll(opts: { keepDevices?: boolean } = {}): Promise<ReleaseReport> {
    const report: ReleaseReport = { released: [], kept: [] };
    for (const [key, held] of [...this.held.entries()].reverse()) {
      if (held.keepable && opts.keepDevices) {
        this.held.delete(key);
        report.kept.push(held.what);
        continue;
      }
      // Held until released, so that a second interruption meanwhile still forces it.
      try {
        report.released.push(`${held.what} ${await held.release()}`);
      } catch (err) {
        report.released.push(`${held.what} could not be released: ${err instanceof Error ? err.message : err}`);
      } finally {
        this.held.delete(key);
      }
    }
    return report;
  }

  /** The second interruption: no waiting, every held thing with a force() gets it now. */
  forceAll(): void {
    for (const held of this.list()) {
      try {
        held.force?.();
      } catch {
        // nothing more can be done in a synchronous last resort
      }
    }
    this.held.clear();
  }
}

/** The process's one registry. */
export const holdings = new Holdings();
