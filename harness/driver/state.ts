/**
 * Where a board is in its boot, as the harness last observed it:
 *
 *   off -> firmware -> kernel -> os-ready, with resets/reboots going back to firmware (or to
 *   kernel on boards that boot a kernel directly), power-off from anywhere, and `failed`.
 *
 * `failed` is sticky: once a board misbehaved, every later operation refuses with the original
 * failure until someone calls force(), so a suite cannot stumble on through a broken device and
 * report confusing secondary errors. Every transition is timestamped and logged; the history is
 * what the benchmarks compute boot times from.
 */
import fs from 'node:fs';
import path from 'node:path';
import { HuplabError } from '../../lib/errors.ts';

export type BoardState = 'off' | 'firmware' | 'kernel' | 'os-ready' | 'failed';

export interface Transition {
  from: BoardState;
  to: BoardState;
  reason: string;
  /** ISO time. */
  at: string;
  /** Milliseconds since the epoch, for arithmetic. */
  atMs: number;
  forced: boolean;
}

export type TransitionListener = (t: Transition, line: string) => void;

/** Legal targets from each non-failed state (failed is reachable from all of them). */
const LEGAL: Record<Exclude<BoardState, 'failed'>, readonly BoardState[]> = {
  off: ['firmware', 'kernel'], // kernel: boards booted with a direct -kernel have no firmware stage
  firmware: ['firmware', 'kernel', 'off'], // firmware -> firmware: reset while still in firmware
  kernel: ['os-ready', 'firmware', 'kernel', 'off'], // kernel -> kernel: reboot on a firmware-less board
  'os-ready': ['firmware', 'kernel', 'off'],
};

export interface BoardStateOptions {
  /** Transitions are appended here, one line each. */
  logFile?: string;
  listener?: TransitionListener;
  initial?: BoardState;
  now?: () => number;
}

export class BoardStateMachine {
  private state: BoardState;
  private readonly log: Transition[] = [];
  private failure: Transition | undefined;
  private readonly listeners: TransitionListener[] = [];
  private readonly now: () => number;

  constructor(
    readonly name: string,
    private readonly opts: BoardStateOptions = {},
  ) {
    this.state = opts.initial ?? 'off';
    this.now = opts.now ?? Date.now;
    if (opts.listener) this.listeners.push(opts.listener);
  }

  get current(): BoardState {
    return this.state;
  }

  /** The transition that made the board fail, while it is failed. */
  get failedBy(): Transition | undefined {
    return this.failure;
  }

  onTransition(listener: TransitionListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Throws 'board-failed' if the board is failed; call before any operation on the board. */
  assertUsable(operation: string): void {
    if (this.state !== 'failed' || !this.failure) return;
    throw new HuplabError(
      'board-failed',
      `${this.name} is failed since ${this.failure.at} (${this.failure.reason}); refusing to ${operation}`,
      {
        hint: `bring it to a known state with force('off') or force('os-ready'), e.g. \`huplab device reset ${this.name}\``,
      },
    );
  }

  transition(to: BoardState, reason: string): Transition {
    this.assertUsable(`go to ${to} (${reason})`);
    if (to !== 'failed' && !LEGAL[this.state as Exclude<BoardState, 'failed'>].includes(to)) {
      throw new HuplabError(
        'board-illegal-transition',
        `${this.name}: illegal transition ${this.state} -> ${to} (${reason})`,
        {
          hint: 'this is a harness bug or the device did something unexpected; force() the board to a known state',
        },
      );
    }
    return this.record(to, reason, false);
  }

  /** Shorthand for transition('failed', reason). */
  fail(reason: string): Transition {
    return this.transition('failed', reason);
  }

  /** Set the state regardless of the current one; the only way out of `failed`. */
  force(to: Exclude<BoardState, 'failed'>, reason = 'forced'): Transition {
    const t = this.record(to, reason, true);
    this.failure = undefined;
    return t;
  }

  history(): Transition[] {
    return this.log.map((t) => ({ ...t }));
  }

  /** Milliseconds between the last time the board entered `from` and the following `to`. */
  lastDuration(from: BoardState, to: BoardState): number | undefined {
    for (let i = this.log.length - 1; i >= 0; i--) {
      if (this.log[i]!.to !== to) continue;
      for (let j = i - 1; j >= 0; j--) {
        if (this.log[j]!.to === from) return this.log[i]!.atMs - this.log[j]!.atMs;
      }
      return undefined;
    }
    return undefined;
  }

  private record(to: BoardState, reason: string, forced: boolean): Transition {
    const atMs = this.now();
    const t: Transition = { from: this.state, to, reason, at: new Date(atMs).toISOString(), atMs, forced };
    this.state = to;
    this.log.push(t);
    if (to === 'failed') this.failure = t;
    const line = `${t.at} ${this.name} ${t.from} -> ${t.to} (${forced ? 'forced: ' : ''}${reason.replace(/\s*\n\s*/g, ' ')})`;
    if (this.opts.logFile) {
      fs.mkdirSync(path.dirname(this.opts.logFile), { recursive: true });
      fs.appendFileSync(this.opts.logFile, `${line}\n`);
    }
    for (const l of this.listeners) l({ ...t }, line);
    return t;
  }
}
