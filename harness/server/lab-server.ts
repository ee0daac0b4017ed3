/**
 * The lab server: the lab's backend (API, primary and fallback registries, delta service) run
 * for as long as the operator wants, on loopback, with its state in the lab's database
 * (store.ts) so that a restart loses nothing. One per lab: `<lab>/server.lock` names the process
 * that runs it, `<lab>/server.json` where it listens; both go when it stops.
 */
import { lockHolder } from '../device/name-lock.ts';
import fs from 'node:fs';
import { join } from 'node:path';
import { LAB_HOST_ADDRESS, type LabHostConfig } from '../../lib/contract/lab-host.ts';
import { HuplabError } from '../../lib/errors.ts';
import type { DeviceKeyStore } from '../backend/auth.ts';
import type { DeviceRecords } from '../backend/device-records.ts';
import { updaterBundle } from '../backend/artifacts.ts';
import type { FleetSource, TargetPolicy } from '../backend/target-rules.ts';
import { loadReleases, releaseFacts } from '../../images/recipe.ts';
import { ADVANCED_ENTRY } from '../../updater/bundle.ts';
import { type Narrator, silentNarrator } from '../../lib/narrator.ts';
import { ConsoleReader } from './consoles.ts';
import { FirmwareKeeper } from './firmware-keeper.ts';
import { RecipePublisher } from './publisher.ts';
import { type Backend, type BackendUrls, type StartBackendOptions, startBackend } from '../backend/index.ts';
import { FAULT_GROUPS, type FaultGroup } from '../backend/faults.ts';
import { portIsFree } from '../qemu/ports.ts';
import { holdings } from '../holdings.ts';
import type { Lab } from '../lab.ts';
import { isPidAlive, waitPidExit } from '../qemu/process.ts';
import { Store } from './store.ts';
import { type Dashboard, dashboardUrl, prepareDashboard } from '../dashboard/index.ts';

/** Files of the lab folder. */
export const SERVER_FILE = 'server.json';
export const SERVER_LOCK = 'server.lock';
export const STORE_FILE = 'lab.db';

/** What `<lab>/server.json` says while a server runs. */
export interface ServerRecord {
  pid: number;
  /** The process's start time in clock ticks since boot (/proc), so that a reused pid is not taken for it. */
  pidStart?: number;
  startedAt: string;
  /** The services as the host reaches them (127.0.0.1). */
  urls: BackendUrls;
  /** The same services as an emulated device reaches them. */
  guestUrls: BackendUrls;
  /** config.json's labHost for a device of this server: what its restricted network forwards. */
  labHost: LabHostConfig;
  /** The lab database, relative to the lab folder. */
  store: string;
  /** The dashboard's page (on the API's port); the operator token goes in its fragment, never here. */
  dashboard?: string;
}

export interface LabServer {
  record: ServerRecord;
  backend: Backend;
  store: Store;
  /**
   * Settles when what the devices run and their pending targets are published again (started at
   * start, in the background: builds may take minutes); failures are narrated, never thrown.
   */
  republished: Promise<void>;
  /** Closes the services and the database, removes server.json and the lock. Idempotent. */
  stop(): Promise<void>;
}

export interface StartLabServerOptions {
  /** Where the server says what it builds and publishes (default: nowhere). */
  narrator?: Narrator;
  /**
   * What targets may name and how it is published (default: the recipes, built and published
   * when a target is set, publisher.ts). Tests give one that builds nothing.
   */
  fleet?: FleetSource;
  /**
   * The support policy OS targets are judged by (default: the recipes', judged on the day of
   * each request, with the recipe publisher; none with a `fleet` of a test unless given).
   */
  policy?: TargetPolicy;
}

/** The support policy of the release recipes, judged at the time of each request. */
export function recipePolicy(now?: () => Date): TargetPolicy {
  return { facts: async () => releaseFacts(await loadReleases()), ...(now ? { now } : {}) };
}

/** Starts the lab's server, or refuses in one line when one runs for the lab already. */
export async function startLabServer(lab: Lab, opts: StartLabServerOptions = {}): Promise<LabServer> {
  const narrator = opts.narrator ?? silentNarrator;
  const lock = takeServerLock(lab.dir);
  let store: Store | undefined;
  let backend: Backend | undefined;
  let keeper: FirmwareKeeper | undefined;
  let dashboard: Dashboard | undefined;
  try {
    // A server killed without its cleanup leaves its record: it describes nothing now.
    fs.rmSync(join(lab.dir, SERVER_FILE), { force: true });
    store = Store.open(join(lab.dir, STORE_FILE));
    const db = store;
    // The dashboard's live feed hears of every write to the records the API makes.
    const consoles = new ConsoleReader(lab.dir);
    dashboard = await narrator.step('bundle the dashboard', () =>
      prepareDashboard({ records: storeRecords(db), consoles: (uuid, lines) => consoles.tail(uuid, lines) }),
    );
    const { records } = dashboard;
    const publisher = opts.fleet ? undefined : new RecipePublisher(narrator);
    // The recipes' policy goes with the recipes' publisher; a test's fleet source brings its own.
    const policy = opts.policy ?? (publisher ? recipePolicy() : undefined);
    // The updaters the devices' agents download when they carry out an OS target.
    const updater = await narrator.step('bundle the updater', () => updaterBundle());
    const advanced = await narrator.step('bundle the advanced updater', () =>
      updaterBundle(ADVANCED_ENTRY, 'hup-advanced'),
    );
    backend = await startOnRememberedPorts(db, {
      operatorToken: lab.operatorToken,
      records,
      deviceKeys: storeKeys(db),
      fleet: opts.fleet ?? publisher!,
      ...(policy ? { policy } : {}),
      updaterBundlePath: updater.path,
      advancedUpdaterPath: advanced.path,
      apiExtension: dashboard.extension,
    });
    publisher?.attach(backend);
    // Its devices' fleet updates that rewrite the boot flash need their boards started again.
    keeper = new FirmwareKeeper({ labDir: lab.dir, isLabDevice: (uuid) => !!db.device(uuid), narrator });
    keeper.start();
    const boards = keeper;
    const republished = publisher ? publisher.republish(records) : Promise.resolve();
    const pidStart = processStart(process.pid);
    const record: ServerRecord = {
      pid: process.pid,
      ...(pidStart !== undefined ? { pidStart } : {}),
      startedAt: new Date().toISOString(),
      urls: backend.urls,
      guestUrls: backend.guestUrls,
      labHost: { address: LAB_HOST_ADDRESS, ports: backend.ports },
      store: STORE_FILE,
      dashboard: dashboardUrl(backend.urls.api),
    };
    writeAtomically(join(lab.dir, SERVER_FILE), `${JSON.stringify(record, null, 2)}\n`);
    const services = backend;
    const page = dashboard;
    let stopping: Promise<void> | undefined;
    const server: LabServer = {
      record,
      backend: services,
      store: db,
      republished,
      stop() {
        stopping ??= (async () => {
          holdings.drop(server);
          try {
            page.stop();
            await boards.stop();
            await services.stop();
          } finally {
            db.close();
            if (readRecord(lab.dir)?.pid === process.pid) fs.rmSync(join(lab.dir, SERVER_FILE), { force: true });
            lock.release();
          }
        })();
        return stopping;
      },
    };
    holdings.hold(server, { what: 'lab server', release: () => server.stop().then(() => 'stopped') });
    return server;
  } catch (err) {
    dashboard?.stop();
    await keeper?.stop();
    await backend?.stop();
    store?.close();
    lock.release();
    throw err;
  }
}

/**
 * The backend on the ports the server had before (its devices' config.json and network forwards
 * name them), remembered in the store; any free ones the first time. A remembered port another
 * process holds now is refused in one line rather than moved: every device of the lab would lose
 * its server without a word.
 */
async function startOnRememberedPorts(db: Store, opts: StartBackendOptions): Promise<Backend> {
  const remembered = db.serverPorts();
  const ports = Object.fromEntries(
    FAULT_GROUPS.filter((g) => remembered[g] !== undefined).map((g) => [g, remembered[g]!]),
  ) as Partial<Record<FaultGroup, number>>;
  for (const [service, port] of Object.entries(ports))
    if (!(await portIsFree(port)))
      throw new HuplabError(
        'server-port-taken',
        `port ${port} of the lab server's ${service} service is taken by another process; the lab's devices are configured for it`,
        {
          hint: `free it (\`ss -ltnp 'sport = :${port}'\` shows who holds it), then start \`huplab serve\` again`,
        },
      );
  const backend = await startBackend({ ...opts, ports });
  const port = (url: string) => Number(new URL(url).port);
  const u = backend.urls;
  db.setServerPorts({
    api: port(u.api),
    primary: port(u.primaryRegistry),
    fallback: port(u.fallbackRegistry),
    delta: port(u.delta),
  } satisfies Record<FaultGroup, number>);
  return backend;
}

export interface ServerStatus {
  running: boolean;
  lab: string;
  /** The running server's record. */
  server?: ServerRecord;
  /** A record left by a server that is gone (killed without its cleanup). */
  stale?: { pid: number; startedAt?: string };
}

/** Whether a server runs for the lab folder `dir`, and where; reads files only, starts nothing. */
export function serverStatus(dir: string): ServerStatus {
  const record = readRecord(dir);
  const holder = lockHolder(join(dir, SERVER_LOCK));
  if (record && holder === record.pid && isServer(record)) return { running: true, lab: dir, server: record };
  if (holder !== undefined && isPidAlive(holder) && record?.pid !== holder) {
    // Starting: the lock is taken, its record not written yet (one left by a killed server may be there).
    return { running: true, lab: dir };
  }
  const gone = record?.pid ?? holder;
  return {
    running: false,
    lab: dir,
    ...(gone !== undefined ? { stale: { pid: gone, ...(record ? { startedAt: record.startedAt } : {}) } } : {}),
  };
}

/** Stops the lab's server from another process: SIGTERM, then waits for it to clean up and exit. */
export async function stopLabServer(dir: string, timeoutMs = 15_000): Promise<{ pid: number }> {
  const status = serverStatus(dir);
  const pid = status.server?.pid ?? lockHolder(join(dir, SERVER_LOCK));
  if (!status.running || pid === undefined)
    throw new HuplabError('server-not-running', `no lab server runs for ${dir}`, {
      hint: 'start one with `huplab serve`',
    });
  try {
    process.kill(pid, 'SIGTERM');
  } catch (err) {
    throw new HuplabError(
      'server-stop-failed',
      `cannot signal the lab server (pid ${pid}): ${(err as Error).message}`,
      {
        hint: 'stop it as the user that started it',
      },
    );
  }
  if (!(await waitPidExit(pid, timeoutMs)))
    throw new HuplabError(
      'server-stop-failed',
      `the lab server (pid ${pid}) is still running ${timeoutMs / 1000} s after SIGTERM`,
      {
        hint: `see what it is doing; \`kill -9 ${pid}\` ends it (the next \`huplab serve\` takes over its lab)`,
      },
    );
  return { pid };
}

/** The record of `<dir>/server.json`, or undefined when there is none (or it is not one). */
export function readRecord(dir: string): ServerRecord | undefined {
  try {
    const r = JSON.parse(fs.readFileSync(join(dir, SERVER_FILE), 'utf8')) as ServerRecord;
    return Number.isInteger(r.pid) && r.urls && typeof r.urls.api === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
}

/** The record's process is alive and is the one that wrote it (not another that got its pid). */
function isServer(record: ServerRecord): boolean {
  if (!isPidAlive(record.pid)) return false;
  const now = processStart(record.pid);
  return record.pidStart === undefined || now === undefined || now === record.pidStart;
}

/** A process's start time (field 22 of /proc/<pid>/stat), or undefined without procfs. */
export function processStart(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]);
    return Number.isFinite(ticks) ? ticks : undefined;
  } catch {
    return undefined;
  }
}

function storeRecords(store: Store): DeviceRecords {
  return {
    register: (device, at) => store.putDevice(device, at),
    info: (uuid) => store.device(uuid),
    list: () => store.devices(),
    reportState: (uuid, report, at) => store.reportState(uuid, report, at),
    touch: (uuid, at) => store.touch(uuid, at),
    setTarget: (uuid, target) => {
      const { uuid: _u, ...stored } = store.setTarget(uuid, target);
      return stored;
    },
    target: (uuid) => {
      const found = store.target(uuid);
      if (!found) return undefined;
      const { uuid: _u, ...target } = found;
      return target;
    },
    addProgress: (uuid, entry) => store.addProgress(uuid, entry),
    history: (uuid) => store.progress(uuid),
    lastProgress: (uuid) => store.lastProgress(uuid),
    addLog: (uuid, log) => store.addLog(uuid, log),
    logs: (uuid) => store.logs(uuid),
  };
}

function storeKeys(store: Store): DeviceKeyStore {
  return {
    load: () => store.deviceKeys(),
    save: (uuid, sha256) => store.setDeviceKey(uuid, sha256, new Date().toISOString()),
  };
}

function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

/**
 * `<lab>/server.lock`, naming this process: a hard link of a file naming our pid, which is atomic
 * and fails when the lock exists. A lock whose process is gone is taken over, once.
 */
function takeServerLock(dir: string): { release(): void } {
  const lock = join(dir, SERVER_LOCK);
  const mine = `${lock}.${process.pid}`;
  fs.writeFileSync(mine, `${process.pid}\n`);
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.linkSync(mine, lock);
        return { release: () => (lockHolder(lock) === process.pid ? fs.rmSync(lock, { force: true }) : undefined) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = lockHolder(lock);
      if (holder !== undefined && isPidAlive(holder)) {
        const api = readRecord(dir)?.urls.api;
        throw new HuplabError(
          'server-running',
          `a lab server already runs for ${dir} (pid ${holder}${api ? `, API ${api}` : ''})`,
          { hint: 'use it, or stop it first with `huplab serve --stop`' },
        );
      }
      fs.rmSync(lock, { force: true });
    }
    throw new HuplabError(
      'server-running',
      `cannot take the lab server lock ${lock}: another process keeps taking it`,
      {
        hint: 'wait for the other `huplab serve` to start, then use it',
      },
    );
  } finally {
    fs.rmSync(mine, { force: true });
  }
}
