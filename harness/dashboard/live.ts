/**
 * The event stream of GET /v1/events: a snapshot of every device when a page connects, then each
 * device's row when it changes. Writes to the records (watch.ts) mark a device changed; changes
 * are sent together every `flushMs`, and only when the row differs from what was sent (a
 * heartbeat that changed nothing but the time is sent at most every `seenMs`). A sweep every
 * `sweepMs` finds devices that went offline by silence alone, and those that are gone.
 */
import type { DeviceRecords } from '../backend/device-records.ts';
import { withOnline } from '../backend/device-records.ts';
import type { StreamSink } from '../backend/reply.ts';
import { fleetRow } from '../backend/fleet-row.ts';
import type { DashboardRow, LiveEventName, LiveEvents } from './wire.ts';

export interface LiveFeedOptions {
  flushMs?: number;
  sweepMs?: number;
  /** A row whose only change is its lastSeen is sent again after this long. */
  seenMs?: number;
  /** A comment line this often keeps proxies and the browser from dropping an idle stream. */
  pingMs?: number;
  now?: () => number;
}

interface Sent {
  key: string;
  online: boolean;
  lastSeen: string | null;
  at: number;
}

/** One SSE message. */
export function sseMessage<E extends LiveEventName>(event: E, data: LiveEvents[E]): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export class LiveFeed {
  private readonly clients = new Set<StreamSink>();
  private readonly sent = new Map<string, Sent>();
  private readonly pending = new Set<string>();
  private flushTimer: NodeJS.Timeout | undefined;
  private timers: NodeJS.Timeout[] = [];
  private readonly o: Required<LiveFeedOptions>;

  constructor(
    private readonly records: DeviceRecords,
    opts: LiveFeedOptions = {},
  ) {
    this.o = { flushMs: 250, sweepMs: 5_000, seenMs: 10_000, pingMs: 15_000, now: Date.now, ...opts };
  }

  /** How many pages listen now. */
  get listeners(): number {
    return this.clients.size;
  }

  /** A device's record changed. */
  changed(uuid: string): void {
    if (!this.clients.size) return;
    this.pending.add(uuid);
    this.flushTimer ??= setTimeout(() => this.flush(), this.o.flushMs);
  }

  /** A page connects: it gets the snapshot, then the changes, until it goes away. */
  connect(sink: StreamSink): void {
    const now = this.o.now();
    const rows = this.records.list().map((d) => fleetRow(this.records, d, now));
    sink.write('retry: 3000\n\n');
    sink.write(sseMessage('snapshot', { devices: rows }));
    // Every client got this snapshot: what was sent is what it shows (older clients got each change).
    for (const row of rows) this.remember(row, now);
    this.clients.add(sink);
    sink.onClose(() => {
      this.clients.delete(sink);
      if (!this.clients.size) this.idle();
    });
    if (this.timers.length === 0) {
      this.timers.push(setInterval(() => this.sweep(), this.o.sweepMs));
      this.timers.push(setInterval(() => this.broadcast(': ping\n\n'), this.o.pingMs));
      for (const t of this.timers) t.unref();
    }
  }

  /** Sends what changed since the last flush (called by the timer; tests call it directly). */
  flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const now = this.o.now();
    const uuids = [...this.pending];
    this.pending.clear();
    for (const uuid of uuids) {
      const info = this.records.info(uuid);
      if (!info) {
        if (this.sent.delete(uuid)) this.broadcast(sseMessage('removed', { uuid }));
        continue;
      }
      this.offer(fleetRow(this.records, info, now), now);
    }
  }

  /** Devices that went offline by silence (or came back), and devices that are gone. */
  sweep(): void {
    const now = this.o.now();
    const devices = this.records.list();
    const present = new Set<string>();
    for (const d of devices) {
      present.add(d.uuid);
      const was = this.sent.get(d.uuid);
      if (!was || was.online !== withOnline(d, now).online) this.pending.add(d.uuid);
    }
    for (const uuid of this.sent.keys()) if (!present.has(uuid)) this.pending.add(uuid);
    if (this.pending.size) this.flush();
  }

  /** Ends every stream (the server stops). */
  stop(): void {
    for (const c of [...this.clients]) c.end();
    this.clients.clear();
    this.idle();
  }

  private offer(row: DashboardRow, now: number): void {
    const was = this.sent.get(row.uuid);
    const key = rowKey(row);
    if (was && was.key === key && (was.lastSeen === row.lastSeen || now - was.at < this.o.seenMs)) return;
    this.remember(row, now);
    this.broadcast(sseMessage('device', row));
  }

  private remember(row: DashboardRow, now: number): void {
    this.sent.set(row.uuid, { key: rowKey(row), online: row.online, lastSeen: row.lastSeen, at: now });
  }

  private broadcast(text: string): void {
    for (const c of this.clients) if (!c.write(text)) this.clients.delete(c);
  }

  private idle(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.pending.clear();
    this.sent.clear();
  }
}

/**
 * The row without its lastSeen, and its bootedAt to the minute: what makes a change worth sending
 * at once. (From one heartbeat to the next the boot time may move by a second with the clocks'
 * rounding; a reboot moves it by more.)
 */
function rowKey(row: DashboardRow): string {
  const { lastSeen: _seen, bootedAt, ...rest } = row;
  return JSON.stringify({ ...rest, booted: bootedAt?.slice(0, 16) ?? null });
}
