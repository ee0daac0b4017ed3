/**
 * What each endpoint group was asked and what it sent, for reports ("bytes sent per update") and
 * for assertions ("the updater resumed with a Range request", "the fallback was used").
 */
import type { FaultGroup } from './faults.ts';

export interface RequestLogEntry {
  method: string;
  /** Path with query string. */
  path: string;
  /** Status sent; 0 while none was sent or when the connection was reset without an answer. */
  status: number;
  /** Body bytes handed to the socket. */
  bytesSent: number;
  /** Request arrival, ms since the epoch. */
  time: number;
  /** Until the response finished or the connection closed; undefined while in flight. */
  durationMs?: number;
  range?: string;
  /** The fault that shaped this response, if one did. */
  fault?: string;
}

export class RequestLog {
  private readonly entries = new Map<FaultGroup, RequestLogEntry[]>();

  /**
   * The newest `limit` entries of each group are kept: a lab server runs for days and its devices
   * beat every few seconds; a run's backend never comes near it.
   */
  constructor(private readonly limit = 20_000) {}

  /**
   * Adds an entry at arrival and returns it for the HTTP layer to fill in as the response goes
   * out, so a reader sees a request even while its body is still being sent.
   */
  start(group: FaultGroup, entry: RequestLogEntry): RequestLogEntry {
    const list = this.entries.get(group) ?? [];
    list.push(entry);
    if (list.length > this.limit) list.splice(0, list.length - this.limit);
    this.entries.set(group, list);
    return entry;
  }

  /** Copies of the group's entries, oldest first. */
  list(group: FaultGroup): RequestLogEntry[] {
    return (this.entries.get(group) ?? []).map((e) => ({ ...e }));
  }

  clear(group?: FaultGroup): void {
    if (group === undefined) this.entries.clear();
    else this.entries.delete(group);
  }
}
