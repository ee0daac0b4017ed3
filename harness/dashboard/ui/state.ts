/**
 * The live state of the page, as pure functions over plain data: the devices the event stream
 * described (wire.ts LiveEvents), and the selection that must follow them. store.ts holds them in
 * signals; the tests call these directly.
 */
import type { DashboardRow, LiveEventName, LiveEvents } from '../wire.ts';

export type Devices = ReadonlyMap<string, DashboardRow>;

/** The devices after one event: a snapshot replaces them all, a device replaces its row, removed drops it. */
export function applyEvent<E extends LiveEventName>(devices: Devices, event: E, data: LiveEvents[E]): Devices {
  if (event === 'snapshot') {
    const { devices: rows } = data as LiveEvents['snapshot'];
    return new Map(rows.map((r) => [r.uuid, r]));
  }
  if (event === 'device') {
    const row = data as LiveEvents['device'];
    const next = new Map(devices);
    next.set(row.uuid, row);
    return next;
  }
  if (event === 'removed') {
    const { uuid } = data as LiveEvents['removed'];
    if (!devices.has(uuid)) return devices;
    const next = new Map(devices);
    next.delete(uuid);
    return next;
  }
  return devices;
}

/** The rows in the table's order: by name, then uuid. */
export function sortedRows(devices: Devices): DashboardRow[] {
  return [...devices.values()].sort((a, b) => a.name.localeCompare(b.name) || a.uuid.localeCompare(b.uuid));
}

/** The selection without devices that are gone (the same set when nothing was dropped). */
export function keepSelected(selected: ReadonlySet<string>, devices: Devices): ReadonlySet<string> {
  const kept = [...selected].filter((u) => devices.has(u));
  return kept.length === selected.size ? selected : new Set(kept);
}

/** The selection with one device toggled. */
export function toggle(selected: ReadonlySet<string>, uuid: string, on: boolean): ReadonlySet<string> {
  const next = new Set(selected);
  if (on) next.add(uuid);
  else next.delete(uuid);
  return next;
}

/** The select-all checkbox: checked, unchecked or mixed. */
export function selectAllState(selected: ReadonlySet<string>, devices: Devices): 'all' | 'none' | 'some' {
  const n = [...devices.keys()].filter((u) => selected.has(u)).length;
  return n === 0 ? 'none' : n === devices.size ? 'all' : 'some';
}

/** Whether the device's row shows an update: the progress of its target, or an attempt in flight. */
export function isUpdating(row: DashboardRow): boolean {
  return row.targetProgress === 'in-progress';
}
