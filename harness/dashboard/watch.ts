/**
 * The API's records with a listener: every write names the device it changed, so the event
 * stream recomputes only that device's row. Reads, and any method this file does not know (a
 * read added to DeviceRecords later), pass through to the records untouched.
 */
import type { DeviceRecords } from '../backend/device-records.ts';

export interface WatchedRecords {
  records: DeviceRecords;
  /** Calls `listener` with the uuid of each device written to (registration, state, target, progress, log). */
  onChange(listener: (uuid: string) => void): () => void;
}

/** The writes, and the device each one changes (undefined: nothing changed). */
type Writes = Partial<Record<keyof DeviceRecords, (args: unknown[], result: unknown) => string | undefined>>;

const WRITES: Writes = {
  register: (args) => (args[0] as { uuid: string }).uuid,
  reportState: (args, result) => (result ? (args[0] as string) : undefined),
  touch: (args) => args[0] as string,
  setTarget: (args) => args[0] as string,
  addProgress: (args) => args[0] as string,
  addLog: (args) => args[0] as string,
};

export function watchRecords(inner: DeviceRecords): WatchedRecords {
  const listeners = new Set<(uuid: string) => void>();
  const records = new Proxy(inner, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      const method = value as (...args: unknown[]) => unknown;
      const write = WRITES[prop as keyof DeviceRecords];
      if (!write) return method.bind(target);
      return (...args: unknown[]) => {
        const result = method.apply(target, args);
        const uuid = write(args, result);
        if (uuid !== undefined) for (const l of listeners) l(uuid);
        return result;
      };
    },
  });
  return {
    records,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
