/**
 * What the dashboard's page and the lab server say to each other beyond the fleet API: the live
 * row of a device, the events of GET /v1/events, the session that lets the page's EventSource in,
 * and the support policy's report. Types and constants only: the page bundles this file.
 */
import type { FleetRow } from '../backend/fleet-row.ts';

/** One device as the Devices table shows it: a GET /v1/fleet row (type only: the page bundles this file). */
export type DashboardRow = FleetRow;

/** Paths of the dashboard on the API's port. */
export const DASHBOARD_PATHS = {
  /** The page (no credentials: it holds no secret). */
  page: '/',
  script: '/dashboard/app.js',
  style: '/dashboard/app.css',
  /** POST with the operator token: sets the session cookie the event stream takes. */
  session: '/v1/dashboard/session',
  /** GET: server-sent events (operator token, or the session cookie). */
  events: '/v1/events',
  /** GET [?deviceType=T]: the support policy today (lib/release-policy.ts policyReport). */
  policy: '/v1/policy',
} as const;

/** GET /v1/devices/<uuid>/console[?lines=N]: the last lines of a lab device's serial console. */
export const CONSOLE_PATH = /^\/v1\/devices\/([^/]+)\/console$/;
export const CONSOLE_LINES_DEFAULT = 40;
export const CONSOLE_LINES_MAX = 500;

/**
 * GET /v1/devices/<uuid>/console's answer for a registered device. A device whose console the
 * lab does not hold (a device of another lab folder, a board without its serial cable) has no
 * lines and `none` says why: the page asks for every device it shows, and an error status would
 * be an error in the browser's console.
 */
export interface ConsoleTail {
  /** The last lines, oldest first, escape sequences and carriage returns taken out. */
  lines: string[];
  /** The log's size in bytes, and when it was last written (ISO 8601; null without a log). */
  bytes: number;
  modified: string | null;
  /** Why there are no lines: the lab holds no console of the device. */
  none?: string;
}

/** The session cookie's name; it is sent only to the event stream's path. */
export const SESSION_COOKIE = 'huplab_events';
/** How long a session cookie lets an event stream open (the page asks for a new one before). */
export const SESSION_SECONDS = 600;

/**
 * The events of GET /v1/events: `snapshot` first (every device), then `device` for each row that
 * changed and `removed` for a device that is gone. Each `data` is one JSON document.
 */
export interface LiveEvents {
  snapshot: { devices: DashboardRow[] };
  device: DashboardRow;
  removed: { uuid: string };
}
export type LiveEventName = keyof LiveEvents;
export const LIVE_EVENTS: readonly LiveEventName[] = ['snapshot', 'device', 'removed'];

/** A release as the policy sees it today (lib/release-policy.ts ReleaseStatus and its targets). */
export interface PolicyRelease {
  version: string;
  line: string;
  published: string;
  phase: 'latest' | 'superseded' | 'next-esr' | 'current-esr' | 'sunset-esr' | 'eol' | 'unpublished';
  maintained: boolean;
  endOfLife?: string;
  lineStart?: string;
  supersededBy?: string;
  targets: { version: string; guaranteed: boolean; reason: string }[];
}

/** GET /v1/policy's answer. */
export interface PolicyAnswer {
  at: string;
  rules: { esrSupportMonths: number; esrPhaseMonths: number; maxJumpQuarters: number };
  deviceTypes: { deviceType: string; releases: PolicyRelease[] }[];
}

/** One version of GET /v1/devices/<uuid>/choices: allowed (with the method), or refused and why. */
export interface DeviceChoice {
  version: string;
  ok: boolean;
  method?: string;
  refusal?: { rule: string; reason: string };
  /** A warning that does not refuse (a jump that is not guaranteed), when the API gives one. */
  warning?: { rule: string; reason: string };
}

/** GET /v1/devices/<uuid>/choices's answer. */
export interface DeviceChoices {
  uuid: string;
  name: string;
  os: DeviceChoice[];
  supervisor: DeviceChoice[];
}
