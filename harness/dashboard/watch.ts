/**
 * The API's records with a listener: every write names the device it changed, so the event
 * stream recomputes only that device's row. Reads pass through untouched.
 */
import type { DeviceRecords } from '../backend/device-records.ts';

export interface WatchedRecords {
  records: DeviceRecords;
  /** Calls `listener` with the uuid of each device written to (registration, state, target, progress, log). */
  onChange(listener: (uuid: string) => void): () => void;
}

export function watchRecords(inner: DeviceRecords): WatchedRecords {
  const listeners = new Set<(uuid: string) => void>();
  const changed = (uuid: string) => {
    for (const l of listeners) l(uuid);
  };
  const records: DeviceRecords = {
    register: (device, at) => {
      const info = inner.register(device, at);
      changed(device.uuid);
      return info;
    },
    info: (uuid) => inner.info(uuid),
    list: () => inner.list(),
    reportState: (uuid, report, at) => {
      const info = inner.reportState(uuid, report, at);
      if (info) changed(uuid);
      return info;
    },
    touch: (uuid, at) => {
      inner.touch(uuid, at);
      changed(uuid);
    },
    setTarget: (uuid, target) => {
      const set = inner.setTarget(uuid, target);
      changed(uuid);
      return set;
    },
    target: (uuid) => inner.target(uuid),
    addProgress: (uuid, entry) => {
      inner.addProgress(uuid, entry);
      changed(uuid);
    },
    history: (uuid) => inner.history(uuid),
    addLog: (uuid, log) => {
      inner.addLog(uuid, log);
      changed(uuid);
    },
    logs: (uuid) => inner.logs(uuid),
  };
  return {
    records,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
