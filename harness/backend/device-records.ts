import type { AgentState, DeviceTarget } from '../../lib/contract/fleet.ts';

/**
 * Where the API keeps what it knows of devices: their registration, their own state reports
 * (heartbeats) and the progress they report. The backend of one run keeps it in memory
 * (MemoryDeviceRecords, the default) and forgets it when the run ends; the lab server passes
 * records kept in its database (harness/server/), which survive a restart.
 */

export interface ProgressReport {
  percent: number;
  message: string;
  status?: string;
}

export interface ProgressEntry extends ProgressReport {
  /** Server time (ISO 8601) when the report arrived: device clocks are not trusted. */
  at: string;
}

/** A device's progress as the API answers it: the last report and the whole history. */
export interface DeviceState {
  uuid: string;
  percent: number;
  message: string;
  /** The last status any report gave; reports without one keep it. */
  status?: string;
  updatedAt: string;
  history: ProgressEntry[];
}

/** What the operator registers about a device. */
export interface DeviceRegistration {
  uuid: string;
  name: string;
  deviceType: string;
  /** Debian architecture of the OS's userland (the profile's arch). */
  arch: string;
  osVersion?: string;
  supervisorVersion?: string;
  status?: string;
}

/** What a device says about itself in a heartbeat; absent fields keep their value. */
export interface DeviceStateReport {
  osVersion?: string;
  supervisorVersion?: string;
  status?: string;
  /** The agent's last update attempt of each kind (lib/contract/fleet.ts AgentState). */
  lastUpdate?: AgentState['lastUpdate'];
  /** When the device booted (server time, from the heartbeat's uptime). */
  bootedAt?: string;
}

export interface DeviceInfo extends DeviceRegistration {
  registeredAt: string;
  /** The last authenticated request of the device: heartbeat, progress, log (ISO 8601, server time). */
  lastSeen?: string;
  /** The last update attempts the agent reported in its heartbeat. */
  lastUpdate?: AgentState['lastUpdate'];
  /** When the device booted, by the server's clock (the last heartbeat's time less its uptime). */
  bootedAt?: string;
}

/** An update log a device sent (a file of /mnt/data/balenahup, or a part of one). */
export interface UpdateLog {
  name: string;
  text: string;
  /** Server time (ISO 8601) when it arrived. */
  at: string;
}

export interface DeviceRecords {
  register(device: DeviceRegistration, at: string): DeviceInfo;
  info(uuid: string): DeviceInfo | undefined;
  /** Every registered device, by name. */
  list(): DeviceInfo[];
  /** A heartbeat; undefined when the device is not registered. */
  reportState(uuid: string, report: DeviceStateReport, at: string): DeviceInfo | undefined;
  /** The device was heard from (any authenticated request of its own): lastSeen = at. */
  touch(uuid: string, at: string): void;
  /** Sets (replaces) a registered device's target; the caller has checked the rules. */
  setTarget(uuid: string, target: DeviceTarget): DeviceTarget;
  target(uuid: string): DeviceTarget | undefined;
  addProgress(uuid: string, entry: ProgressEntry): void;
  /** The progress history, oldest first (empty when none was reported). */
  history(uuid: string): ProgressEntry[];
  /** The last progress report, without reading the history (the fleet view asks for every device). */
  lastProgress(uuid: string): ProgressEntry | undefined;
  addLog(uuid: string, log: UpdateLog): void;
  /** The update logs, oldest first. */
  logs(uuid: string): UpdateLog[];
}

/**
 * A device is online while its last heartbeat is at most this old. The supervisor stand-in beats
 * every 2 s on the device; the agent that reports to the API will beat well within this.
 */
export const ONLINE_WINDOW_MS = 30_000;

/** The record as the API answers it: with `online`, from the last heartbeat. */
export function withOnline(info: DeviceInfo, now: number = Date.now()): DeviceInfo & { online: boolean } {
  const seen = info.lastSeen ? Date.parse(info.lastSeen) : Number.NaN;
  return { ...info, online: Number.isFinite(seen) && now - seen <= ONLINE_WINDOW_MS };
}

/** The progress view of a history: the last report, the last status given, the history. */
export function deviceState(uuid: string, history: ProgressEntry[]): DeviceState | undefined {
  const last = history.at(-1);
  if (!last) return undefined;
  const status = [...history].reverse().find((h) => h.status !== undefined)?.status;
  return {
    uuid,
    percent: last.percent,
    message: last.message,
    ...(status !== undefined ? { status } : {}),
    updatedAt: last.at,
    history,
  };
}

/** Records for the length of one process: the backend of a run. */
export class MemoryDeviceRecords implements DeviceRecords {
  private readonly devices = new Map<string, DeviceInfo>();
  private readonly histories = new Map<string, ProgressEntry[]>();
  private readonly updateLogs = new Map<string, UpdateLog[]>();
  private readonly targets = new Map<string, DeviceTarget>();

  register(device: DeviceRegistration, at: string): DeviceInfo {
    for (const [uuid, d] of this.devices)
      if (d.name === device.name && uuid !== device.uuid) {
        this.devices.delete(uuid);
        this.targets.delete(uuid);
      }
    const prev = this.devices.get(device.uuid);
    const info: DeviceInfo = {
      ...structuredClone(device),
      registeredAt: prev?.registeredAt ?? at,
      ...(prev?.lastSeen ? { lastSeen: prev.lastSeen } : {}),
      ...(prev?.lastUpdate ? { lastUpdate: prev.lastUpdate } : {}),
    };
    this.devices.set(device.uuid, info);
    return structuredClone(info);
  }

  info(uuid: string): DeviceInfo | undefined {
    const d = this.devices.get(uuid);
    return d && structuredClone(d);
  }

  list(): DeviceInfo[] {
    return [...this.devices.values()].sort((a, b) => a.name.localeCompare(b.name)).map((d) => structuredClone(d));
  }

  reportState(uuid: string, report: DeviceStateReport, at: string): DeviceInfo | undefined {
    const d = this.devices.get(uuid);
    if (!d) return undefined;
    for (const k of ['osVersion', 'supervisorVersion', 'status'] as const)
      if (report[k] !== undefined) d[k] = report[k];
    if (report.lastUpdate !== undefined) d.lastUpdate = structuredClone(report.lastUpdate);
    if (report.bootedAt !== undefined) d.bootedAt = report.bootedAt;
    d.lastSeen = at;
    return structuredClone(d);
  }

  touch(uuid: string, at: string): void {
    const d = this.devices.get(uuid);
    if (d) d.lastSeen = at;
  }

  setTarget(uuid: string, target: DeviceTarget): DeviceTarget {
    if (!this.devices.has(uuid)) throw new Error(`no device ${uuid} is registered`);
    this.targets.set(uuid, structuredClone(target));
    return structuredClone(target);
  }

  target(uuid: string): DeviceTarget | undefined {
    const t = this.targets.get(uuid);
    return t && structuredClone(t);
  }

  addProgress(uuid: string, entry: ProgressEntry): void {
    const list = this.histories.get(uuid) ?? [];
    list.push(structuredClone(entry));
    this.histories.set(uuid, list);
  }

  history(uuid: string): ProgressEntry[] {
    return structuredClone(this.histories.get(uuid) ?? []);
  }

  lastProgress(uuid: string): ProgressEntry | undefined {
    const last = this.histories.get(uuid)?.at(-1);
    return last && structuredClone(last);
  }

  addLog(uuid: string, log: UpdateLog): void {
    const list = this.updateLogs.get(uuid) ?? [];
    list.push({ ...log });
    this.updateLogs.set(uuid, list);
  }

  logs(uuid: string): UpdateLog[] {
    return structuredClone(this.updateLogs.get(uuid) ?? []);
  }
}
