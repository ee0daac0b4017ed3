/**
 * Fault switches for the backend's endpoint groups, flipped at run time by tests and scenarios.
 * A fault is data (kind + parameters + scope), so a scenario can name it, a report can print it,
 * and the HTTP layer (serve.ts) is the only place that knows how to act it out.
 */
import { HuplabError } from '../../lib/errors.ts';

export const FAULT_GROUPS = ['api', 'primary', 'fallback', 'delta'] as const;
export type FaultGroup = (typeof FAULT_GROUPS)[number];

export type FaultKind =
  /** Reset the connection as soon as the request arrives. */
  | { kind: 'down' }
  /** Answer with this status (default 503) and a short error body. */
  | { kind: 'http-error'; status?: number }
  /** Send bodies at this many bytes per second. */
  | { kind: 'slow'; bytesPerSecond: number }
  /** Send the first `bytes` bytes of the body, then close the connection (headers announce the full length). */
  | { kind: 'truncate'; bytes: number }
  /** Flip every bit of the body byte at `offset` (relative to this response's body); length unchanged. */
  | { kind: 'corrupt'; offset: number }
  /** The delta service answers 404 "no delta". */
  | { kind: 'missing-delta' };

export type FaultSpec = FaultKind & {
  /** Only requests whose path (with query) matches. */
  path?: RegExp | string;
  /** Only the first `times` matching requests; later ones pass untouched. */
  times?: number;
};

/** A fault as listed: its spec in plain data plus how often it has fired. */
export type FaultState = FaultKind & { group: FaultGroup; path?: string; times?: number; fired: number };

interface Armed {
  spec: FaultSpec;
  path?: RegExp;
  fired: number;
}

export class Faults {
  private readonly armed = new Map<FaultGroup, Armed>();

  /** Arms `spec` on `group`, replacing the group's previous fault. */
  set(group: FaultGroup, spec: FaultSpec): void {
    if (!FAULT_GROUPS.includes(group)) {
      throw new HuplabError('fault-invalid', `unknown fault group "${String(group)}"`, {
        hint: `use one of ${FAULT_GROUPS.join(', ')}`,
      });
    }
    validate(group, spec);
    // Without g/y: a global regex's test() is stateful and would match every other request.
    const path =
      spec.path === undefined
        ? undefined
        : typeof spec.path === 'string'
          ? new RegExp(spec.path)
          : new RegExp(spec.path.source, spec.path.flags.replace(/[gy]/g, ''));
    this.armed.set(group, { spec: { ...spec }, ...(path ? { path } : {}), fired: 0 });
  }

  /** Disarms one group, or all of them. */
  clear(group?: FaultGroup): void {
    if (group === undefined) this.armed.clear();
    else this.armed.delete(group);
  }

  list(): FaultState[] {
    return [...this.armed].map(([group, a]) => {
      const { path, times, ...kind } = a.spec;
      return {
        ...kind,
        group,
        ...(a.path ? { path: a.path.source } : {}),
        ...(times !== undefined ? { times } : {}),
        fired: a.fired,
      } as FaultState;
    });
  }

  /**
   * The fault that applies to this request, if any, counting it as fired. Called once per request
   * by the HTTP layer; `times` is spent here.
   */
  take(group: FaultGroup, path: string): FaultKind | undefined {
    const a = this.armed.get(group);
    if (!a) return undefined;
    if (a.path && !a.path.test(path)) return undefined;
    if (a.spec.times !== undefined && a.fired >= a.spec.times) return undefined;
    a.fired++;
    const { path: _p, times: _t, ...kind } = a.spec;
    return kind as FaultKind;
  }
}

function validate(group: FaultGroup, spec: FaultSpec): void {
  const bad = (why: string) => new HuplabError('fault-invalid', `fault ${spec.kind} on ${group}: ${why}`);
  const count = (v: unknown, name: string, min: number) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
      throw bad(`${name} must be an integer >= ${min}, got ${String(v)}`);
  };
  switch (spec.kind) {
    case 'down':
      break;
    case 'http-error':
      if (spec.status !== undefined && (!Number.isInteger(spec.status) || spec.status < 400 || spec.status > 599))
        throw bad(`status must be 400-599, got ${spec.status}`);
      break;
    case 'slow':
      count(spec.bytesPerSecond, 'bytesPerSecond', 1);
      break;
    case 'truncate':
      count(spec.bytes, 'bytes', 0);
      break;
    case 'corrupt':
      count(spec.offset, 'offset', 0);
      break;
    case 'missing-delta':
      if (group !== 'delta') throw bad('only the delta group has deltas');
      break;
    default:
      throw new HuplabError('fault-invalid', `unknown fault kind "${(spec as { kind: unknown }).kind}"`, {
        hint: 'use down, http-error, slow, truncate, corrupt or missing-delta',
      });
  }
  if (spec.times !== undefined) count(spec.times, 'times', 1);
  if (typeof spec.path === 'string') {
    try {
      new RegExp(spec.path);
    } catch (err) {
      throw bad(`path is not a regular expression: ${(err as Error).message}`);
    }
  }
}
