/**
 * The lab server's state, in one SQLite database in the lab folder (`<lab>/lab.db`): devices,
 * their API keys (as sha256 digests), targets, progress history and update logs. It survives a
 * restart of `huplab serve`; nothing else is kept between runs.
 *
 * SQLite comes as WebAssembly (node-sqlite3-wasm, see docs/design.md, "Libraries"): it installs
 * from the npm registry alone, with no compiler and no download at install time. Its file locking
 * is a `<file>.lock` directory held for the length of each transaction, which a killed process
 * leaves behind; so the store also keeps an owner file (`<file>.owner`, the owner's pid): one
 * process opens the database at a time, a second is refused in one line, and an owner that is
 * gone is taken over together with the lock it may have left.
 *
 * The schema grows by migrations, each applied once in its own transaction and recorded in
 * `schema_version`; a database made by a newer huplab (a version this one does not know) is
 * refused rather than guessed at.
 */
import type {
  DeviceInfo,
  DeviceRegistration,
  DeviceStateReport,
  ProgressEntry,
  UpdateLog,
} from '../backend/device-records.ts';
import type { AgentState, DeviceTarget } from '../../lib/contract/fleet.ts';
import fs from 'node:fs';
import sqlite from 'node-sqlite3-wasm';
import { HuplabError } from '../../lib/errors.ts';
import { isPidAlive } from '../qemu/process.ts';

type Database = InstanceType<typeof sqlite.Database>;
type Row = Record<string, number | bigint | string | Uint8Array | null>;

export interface Migration {
  version: number;
  what: string;
  sql: string;
}

/** The schema, oldest first. Never edit an applied migration: add the next one. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    what: 'devices, their keys, progress history',
    sql: `
      CREATE TABLE devices (
        uuid TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        device_type TEXT NOT NULL,
        arch TEXT NOT NULL,
        os_version TEXT,
        supervisor_version TEXT,
        status TEXT,
        registered_at TEXT NOT NULL,
        last_seen TEXT
      );
      CREATE TABLE device_keys (
        uuid TEXT PRIMARY KEY,
        key_sha256 BLOB NOT NULL CHECK (length(key_sha256) = 32),
        created_at TEXT NOT NULL
      );
      CREATE TABLE progress (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid TEXT NOT NULL,
        percent REAL NOT NULL CHECK (percent >= 0 AND percent <= 100),
        message TEXT NOT NULL,
        status TEXT,
        at TEXT NOT NULL
      );
      CREATE INDEX progress_by_device ON progress (uuid, id);
    `,
  },
  {
    version: 2,
    what: 'targets, update logs',
    sql: `
      CREATE TABLE targets (
        uuid TEXT PRIMARY KEY REFERENCES devices (uuid) ON DELETE CASCADE,
        os_version TEXT,
        supervisor_version TEXT,
        set_at TEXT NOT NULL
      );
      CREATE TABLE update_logs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid TEXT NOT NULL,
        name TEXT NOT NULL,
        text TEXT NOT NULL,
        at TEXT NOT NULL
      );
      CREATE INDEX update_logs_by_device ON update_logs (uuid, id);
    `,
  },
  {
    version: 3,
    what: "targets' major confirmation and per-kind set times, devices' last update attempts",
    sql: `
      ALTER TABLE targets ADD COLUMN confirm_major INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE targets ADD COLUMN os_set_at TEXT;
      ALTER TABLE targets ADD COLUMN supervisor_set_at TEXT;
      ALTER TABLE devices ADD COLUMN last_update TEXT;
    `,
  },
  {
    version: 4,
    what: "the server's ports, kept across restarts",
    sql: `
      CREATE TABLE server_ports (
        service TEXT PRIMARY KEY,
        port INTEGER NOT NULL CHECK (port > 0 AND port < 65536)
      );
    `,
  },
  {
    version: 5,
    what: 'when each device booted (from its heartbeat)',
    sql: `ALTER TABLE devices ADD COLUMN booted_at TEXT;`,
  },
];

/** A device as registered: the API's registration, stored as it came. */
export type NewDevice = DeviceRegistration;

/** The store keeps what the API's records hold (backend/device-records.ts): one shape each. */
export type StoredDevice = DeviceInfo;
export type { DeviceStateReport } from '../backend/device-records.ts';
export type StoredTarget = DeviceTarget & { uuid: string };
export type StoredProgress = ProgressEntry;
export type StoredLog = UpdateLog;

export interface OpenStoreOptions {
  /** The schema to bring the database to (default MIGRATIONS); tests give a prefix. */
  migrations?: readonly Migration[];
}

export class Store {
  private constructor(
    readonly file: string,
    private readonly db: Database,
    private readonly owner: string,
  ) {}

  /**
   * What the API reads on every request (records, targets, last progress), mirrored in memory and
   * written through: this process owns the file (takeOwnership), so nothing else changes it. The
   * fleet view reads every device at once, which from SQLite in WebAssembly took tens of
   * milliseconds at a thousand devices and held up every heartbeat behind it.
   */
  private readonly mirror = {
    devices: new Map<string, StoredDevice>(),
    targets: new Map<string, StoredTarget>(),
    last: new Map<string, StoredProgress>(),
  };

  /** Opens (or creates) the database, takes it for this process, and applies the pending migrations. */
  static open(file: string, opts: OpenStoreOptions = {}): Store {
    const owner = takeOwnership(file);
    let db: Database | undefined;
    try {
      db = new sqlite.Database(file);
      // One process owns the file (above), so it keeps SQLite's lock for its whole session rather
      // than taking it (a lock directory made and removed) for every statement, and commits to
      // a write-ahead log that is synced at checkpoints: a heartbeat costs a small fraction of a
      // millisecond instead of ten (bench/fleet-load.ts), and a killed server loses nothing
      // committed (the log is replayed at the next open; only a crash of the host itself may
      // lose the last commits). close() turns the file back into a plain one.
      db.exec('PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;');
      const store = new Store(file, db, owner);
      store.migrate(opts.migrations ?? MIGRATIONS);
      store.loadMirror();
      return store;
    } catch (err) {
      if (db) closeDatabase(db);
      fs.rmSync(owner, { force: true });
      if (err instanceof HuplabError) throw err;
      throw new HuplabError('store-failed', `cannot open the lab database ${file}: ${(err as Error).message}`, {
        hint: 'check the file and its folder; move a damaged file aside to start with an empty lab state',
        cause: err,
      });
    }
  }

  /** The schema version the database is at. */
  get version(): number {
    return Number(this.db.get('SELECT max(version) AS v FROM schema_version')?.v ?? 0);
  }

  close(): void {
    if (!this.db.isOpen) return;
    closeDatabase(this.db);
    if (ownerPid(this.owner) === process.pid) fs.rmSync(this.owner, { force: true });
  }

  /**
   * Registers a device, or replaces its record (same uuid). Another device of the same name is
   * a device flashed again: its record, key and target go, its history stays under its uuid.
   */
  putDevice(d: NewDevice, at: string): StoredDevice {
    const replaced = this.transaction(() => {
      const old = this.db.all('SELECT uuid FROM devices WHERE name = ? AND uuid <> ?', [d.name, d.uuid]);
      for (const r of old) {
        this.db.run('DELETE FROM device_keys WHERE uuid = ?', [r.uuid as string]);
        this.db.run('DELETE FROM devices WHERE uuid = ?', [r.uuid as string]);
      }
      this.db.run(
        `INSERT INTO devices (uuid, name, device_type, arch, os_version, supervisor_version, status, registered_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (uuid) DO UPDATE SET name = excluded.name, device_type = excluded.device_type,
           arch = excluded.arch, os_version = excluded.os_version,
           supervisor_version = excluded.supervisor_version, status = excluded.status`,
        [d.uuid, d.name, d.deviceType, d.arch, d.osVersion ?? null, d.supervisorVersion ?? null, d.status ?? null, at],
      );
      return old.map((r) => r.uuid as string);
    });
    for (const uuid of replaced) this.mirror.devices.delete(uuid);
    return this.mirrorDevice(d.uuid)!;
  }

  /** A copy: what a caller does with it stays out of the mirror. */
  device(uuid: string): StoredDevice | undefined {
    const d = this.mirror.devices.get(uuid);
    return d && { ...d };
  }

  /** Every registered device, by name. */
  devices(): StoredDevice[] {
    return [...this.mirror.devices.values()]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((d) => ({ ...d }));
  }

  /** A heartbeat: the device's own report of its state; undefined for a device not registered. */
  reportState(uuid: string, report: DeviceStateReport, at: string): StoredDevice | undefined {
    const row = this.db.get(
      `UPDATE devices SET os_version = coalesce(?, os_version),
         supervisor_version = coalesce(?, supervisor_version), status = coalesce(?, status),
         last_update = coalesce(?, last_update), booted_at = coalesce(?, booted_at), last_seen = ?
       WHERE uuid = ? RETURNING *`,
      [
        report.osVersion ?? null,
        report.supervisorVersion ?? null,
        report.status ?? null,
        report.lastUpdate ? JSON.stringify(report.lastUpdate) : null,
        report.bootedAt ?? null,
        at,
        uuid,
      ],
    );
    if (!row) return undefined;
    const device = deviceOf(row as Row);
    this.mirror.devices.set(uuid, device);
    return { ...device };
  }

  /** The device was heard from: lastSeen = at (nothing for a device not registered). */
  touch(uuid: string, at: string): void {
    this.db.run('UPDATE devices SET last_seen = ? WHERE uuid = ?', [at, uuid]);
    const d = this.mirror.devices.get(uuid);
    if (d) this.mirror.devices.set(uuid, { ...d, lastSeen: at });
  }

  /** Keeps a device key's sha256 (never the key). */
  setDeviceKey(uuid: string, sha256: Uint8Array, at: string): void {
    if (sha256.length !== 32) throw new Error(`a device key digest is 32 bytes, not ${sha256.length}`);
    this.db.run(
      `INSERT INTO device_keys (uuid, key_sha256, created_at) VALUES (?, ?, ?)
       ON CONFLICT (uuid) DO UPDATE SET key_sha256 = excluded.key_sha256, created_at = excluded.created_at`,
      [uuid, sha256, at],
    );
  }

  deviceKeys(): { uuid: string; sha256: Buffer }[] {
    return this.db
      .all('SELECT uuid, key_sha256 FROM device_keys ORDER BY uuid')
      .map((r) => ({ uuid: r.uuid as string, sha256: Buffer.from(r.key_sha256 as Uint8Array) }));
  }

  /** Sets (replaces) a registered device's target; the caller has checked the rules. */
  setTarget(uuid: string, target: DeviceTarget): StoredTarget {
    if (!this.device(uuid))
      throw new HuplabError('device-unknown', `no device ${uuid} in the lab`, {
        hint: 'register it first (`huplab device start` while the server runs)',
      });
    this.db.run(
      `INSERT INTO targets (uuid, os_version, supervisor_version, set_at, confirm_major, os_set_at, supervisor_set_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (uuid) DO UPDATE SET os_version = excluded.os_version,
         supervisor_version = excluded.supervisor_version, set_at = excluded.set_at,
         confirm_major = excluded.confirm_major, os_set_at = excluded.os_set_at,
         supervisor_set_at = excluded.supervisor_set_at`,
      [
        uuid,
        target.osVersion ?? null,
        target.supervisorVersion ?? null,
        target.setAt,
        target.confirmMajor ? 1 : 0,
        target.osSetAt ?? null,
        target.supervisorSetAt ?? null,
      ],
    );
    const stored = targetOf(this.db.get('SELECT * FROM targets WHERE uuid = ?', [uuid]) as Row);
    this.mirror.targets.set(uuid, stored);
    return { ...stored };
  }

  target(uuid: string): StoredTarget | undefined {
    const t = this.mirror.targets.get(uuid);
    return t && { ...t };
  }

  addProgress(uuid: string, p: StoredProgress): void {
    this.db.run('INSERT INTO progress (uuid, percent, message, status, at) VALUES (?, ?, ?, ?, ?)', [
      uuid,
      p.percent,
      p.message,
      p.status ?? null,
      p.at,
    ]);
    this.mirror.last.set(uuid, {
      percent: p.percent,
      message: p.message,
      ...(p.status !== undefined ? { status: p.status } : {}),
      at: p.at,
    });
  }

  /** A device's progress reports, oldest first. */
  progress(uuid: string): StoredProgress[] {
    return this.db.all('SELECT * FROM progress WHERE uuid = ? ORDER BY id', [uuid]).map((r) => progressOf(r as Row));
  }

  /** A device's last progress report (whatever the length of its history). */
  lastProgress(uuid: string): StoredProgress | undefined {
    return this.mirror.last.get(uuid);
  }

  addLog(uuid: string, log: StoredLog): void {
    this.db.run('INSERT INTO update_logs (uuid, name, text, at) VALUES (?, ?, ?, ?)', [
      uuid,
      log.name,
      log.text,
      log.at,
    ]);
  }

  /** A device's update logs, oldest first. */
  logs(uuid: string): StoredLog[] {
    return this.db
      .all('SELECT name, text, at FROM update_logs WHERE uuid = ? ORDER BY id', [uuid])
      .map((r) => ({ name: r.name as string, text: r.text as string, at: r.at as string }));
  }

  /**
   * The ports the server listened on, by service (api, primary, fallback, delta): its devices'
   * config.json and their network forwards name them, so a restart asks for the same ones.
   */
  serverPorts(): Record<string, number> {
    return Object.fromEntries(
      this.db.all('SELECT service, port FROM server_ports ORDER BY service').map((r) => [r.service, Number(r.port)]),
    );
  }

  /** Replaces the remembered ports. */
  setServerPorts(ports: Record<string, number>): void {
    this.transaction(() => {
      this.db.run('DELETE FROM server_ports');
      for (const [service, port] of Object.entries(ports))
        this.db.run('INSERT INTO server_ports (service, port) VALUES (?, ?)', [service, port]);
    });
  }

  /** Reads the mirror from the file (at open). A test's schema without the fleet's tables has none. */
  private loadMirror(): void {
    const tables = new Set(this.db.all("SELECT name FROM sqlite_master WHERE type = 'table'").map((r) => r.name));
    if (tables.has('devices'))
      for (const r of this.db.all('SELECT * FROM devices')) {
        const d = deviceOf(r as Row);
        this.mirror.devices.set(d.uuid, d);
      }
    if (tables.has('targets'))
      for (const r of this.db.all('SELECT * FROM targets')) {
        const t = targetOf(r as Row);
        this.mirror.targets.set(t.uuid, t);
      }
    if (tables.has('progress'))
      for (const r of this.db.all(
        'SELECT p.* FROM progress p JOIN (SELECT max(id) AS id FROM progress GROUP BY uuid) last ON p.id = last.id',
      ))
        this.mirror.last.set(r.uuid as string, progressOf(r as Row));
  }

  /** Reads one device's record from the file into the mirror (after a write that SQL decides). */
  private mirrorDevice(uuid: string): StoredDevice | undefined {
    const r = this.db.get('SELECT * FROM devices WHERE uuid = ?', [uuid]);
    if (!r) {
      this.mirror.devices.delete(uuid);
      return undefined;
    }
    const d = deviceOf(r as Row);
    this.mirror.devices.set(uuid, d);
    return { ...d };
  }

  private transaction<T>(fn: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const out = fn();
      this.db.exec('COMMIT');
      return out;
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  private migrate(migrations: readonly Migration[]): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
    const at = this.version;
    const known = migrations.at(-1)?.version ?? 0;
    if (at > known)
      throw new HuplabError(
        'store-too-new',
        `the lab database ${this.file} is at schema version ${at}, newer than this huplab knows (${known})`,
        { hint: 'run the huplab that made it, or move the file aside to start with an empty lab state' },
      );
    for (const m of migrations) {
      if (m.version <= at) continue;
      this.transaction(() => {
        this.db.exec(m.sql);
        this.db.run('INSERT INTO schema_version (version, applied_at) VALUES (?, ?)', [
          m.version,
          new Date().toISOString(),
        ]);
      });
    }
  }
}

function opt<K extends string>(key: K, v: unknown): { [k in K]?: string } {
  return (v === null || v === undefined ? {} : { [key]: String(v) }) as { [k in K]?: string };
}

function targetOf(r: Row): StoredTarget {
  return {
    uuid: r.uuid as string,
    ...opt('osVersion', r.os_version),
    ...opt('supervisorVersion', r.supervisor_version),
    ...(Number(r.confirm_major) ? { confirmMajor: true } : {}),
    setAt: r.set_at as string,
    ...opt('osSetAt', r.os_set_at),
    ...opt('supervisorSetAt', r.supervisor_set_at),
  };
}

function deviceOf(r: Row): StoredDevice {
  return {
    uuid: r.uuid as string,
    name: r.name as string,
    deviceType: r.device_type as string,
    arch: r.arch as string,
    ...opt('osVersion', r.os_version),
    ...opt('supervisorVersion', r.supervisor_version),
    ...opt('status', r.status),
    registeredAt: r.registered_at as string,
    ...opt('lastSeen', r.last_seen),
    ...lastUpdateOf(r.last_update),
    ...opt('bootedAt', r.booted_at),
  };
}

/** The stored JSON of a heartbeat's lastUpdate (validated when it arrived); {} for none or damage. */
function lastUpdateOf(v: unknown): { lastUpdate?: AgentState['lastUpdate'] } {
  if (typeof v !== 'string') return {};
  try {
    return { lastUpdate: JSON.parse(v) as AgentState['lastUpdate'] };
  } catch {
    return {};
  }
}

/**
 * `<file>.owner` made for this process (a hard link of a file naming our pid: atomic, and it
 * fails when the owner file exists). A live owner refuses; a dead one is taken over, and the
 * SQLite lock directory it may have left mid-transaction goes with it.
 */
function takeOwnership(file: string): string {
  const owner = `${file}.owner`;
  const mine = `${owner}.${process.pid}`;
  fs.writeFileSync(mine, `${process.pid}\n`);
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.linkSync(mine, owner);
        return owner;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = ownerPid(owner);
      if (holder !== undefined && isPidAlive(holder))
        throw new HuplabError(
          'store-busy',
          `the lab database ${file} is open in another process (pid ${holder}${holder === process.pid ? ', this one' : ''})`,
          { hint: 'one huplab serve per lab: stop the other with `huplab serve --stop`' },
        );
      fs.rmSync(owner, { force: true });
      fs.rmSync(`${file}.lock`, { recursive: true, force: true });
    }
    throw new HuplabError('store-busy', `cannot take the lab database ${file}: another process keeps taking it`, {
      hint: 'one huplab serve per lab: stop the other with `huplab serve --stop`',
    });
  } finally {
    fs.rmSync(mine, { force: true });
  }
}

function ownerPid(owner: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(owner, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Closes a connection, its file back in rollback-journal mode first: the write-ahead log is folded
 * into the file and removed, so that the file opens anywhere (WAL without a shared-memory index
 * needs the exclusive locking mode Store.open sets). A file that is gone or damaged is closed all
 * the same: the next open replays a log left behind.
 */
function closeDatabase(db: Database): void {
  try {
    db.exec('PRAGMA journal_mode = DELETE;');
  } catch {
    /* closed below all the same */
  }
  db.close();
}

function progressOf(row: Row): StoredProgress {
  return {
    percent: Number(row.percent),
    message: row.message as string,
    ...opt('status', row.status),
    at: row.at as string,
  };
}
