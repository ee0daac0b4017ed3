/**
 * The fleet contract between the supervisor agent on the device (updater/supervisor/) and the
 * lab's API (harness/backend/api.ts, harness/server/): what the agent reports in its heartbeat,
 * the target it gets back, the statuses it says, the record of its update attempts. Defined once
 * here: the agent bundles it, the API and `huplab fleet` parse with it.
 */
import type { ApplicationRelease } from './application.ts';

/** How often the agent beats (and so polls its target): well inside the API's online window. */
export const AGENT_BEAT_MS = 5_000;

/** The statuses the agent reports in its heartbeat (balena's dashboard words). */
export const AGENT_STATUS = {
  idle: 'Idle',
  /** An OS update runs (the updater reports its own progress). */
  updatingOs: 'Updating OS',
  /** The new OS runs but is not committed yet (rollback-health still judges it). */
  verifyingOs: 'Verifying OS',
  osFailed: 'OS update failed',
  updatingSupervisor: 'Updating supervisor',
  supervisorFailed: 'Supervisor update failed',
} as const;
export type AgentStatus = (typeof AGENT_STATUS)[keyof typeof AGENT_STATUS];

export type UpdateKind = 'os' | 'supervisor';

/**
 * What the agent did about a target: kept on the data partition (AGENT_FILES.attempts), reported
 * in each heartbeat. `targetSetAt` ties it to the target it acted on, so a target set again (a
 * retry) is a new attempt while a failed one is never retried on its own.
 */
export interface UpdateAttempt {
  kind: UpdateKind;
  version: string;
  /** The target's setAt (server time) this attempt carried out. */
  targetSetAt: string;
  outcome: 'started' | 'done' | 'failed';
  /** One line: why it failed (or what it did). */
  reason?: string;
  /** Device clock, ISO 8601. */
  at: string;
}

/** The target of a device as the API stores and answers it. */
export interface DeviceTarget {
  osVersion?: string;
  supervisorVersion?: string;
  /** The operator confirmed an upgrade to a new supervisor major version. */
  confirmMajor?: boolean;
  /** Server time (ISO 8601) when it was last set. */
  setAt: string;
  /**
   * Server time when the OS target was last set (setting the supervisor target keeps it): the
   * `targetSetAt` of an OS attempt. Absent on a target without an OS version.
   */
  osSetAt?: string;
  /** The same for the supervisor target. */
  supervisorSetAt?: string;
}

/** The agent's heartbeat body: PATCH /v1/devices/<uuid>/state (device key). */
export interface AgentState {
  osVersion: string;
  supervisorVersion: string;
  status: AgentStatus;
  /** The last attempt of each kind, when there was one. */
  lastUpdate?: { os?: UpdateAttempt; supervisor?: UpdateAttempt };
  /** Whole seconds since the device booted (/proc/uptime), when it can say. */
  uptimeSeconds?: number;
}

/**
 * The heartbeat's answer: the device's record, its target (none: `target: null`) and the
 * application its fleet runs (none published: `application: null`).
 */
export interface AgentStateReply {
  target?: DeviceTarget | null;
  application?: ApplicationRelease | null;
}

/** Files of the agent on the data partition (survive OS updates and reboots). */
export const AGENT_DIR = '/mnt/data/balena-supervisor';
export const AGENT_FILES = {
  /** The last UpdateAttempt of each kind ({os?, supervisor?}). */
  attempts: `${AGENT_DIR}/attempts.json`,
  /** The agent's own log: each decision and its reason, one line each. */
  log: `${AGENT_DIR}/agent.log`,
  /** How much of each update log the API has ({name: bytes}): the next upload starts there. */
  logsSent: `${AGENT_DIR}/logs-sent.json`,
} as const;

/** The rules a target is refused by (by the API when it is set, and again by the agent). */
export const TARGET_RULES = {
  deviceUnknown: 'device-unknown',
  /** OS updates go to online devices only. */
  offline: 'offline',
  notPublished: 'not-published',
  noDowngrade: 'no-downgrade',
  /** Independent supervisor upgrades need OS 2.12.0 or newer (and the release's own minimum). */
  osTooOld: 'os-too-old',
  /** A batch's supervisor target only within one CPU architecture. */
  mixedArch: 'mixed-arch',
  majorNeedsConfirmation: 'major-needs-confirmation',
  /** lib/update-method.ts refused the OS jump. */
  methodRefused: 'update-method-refused',
  // The support policy's refusals of an OS target (lib/release-policy.ts checkTarget), unless
  // the request allows unsupported targets (`allowUnsupported`, `--allow-unsupported`).
  // (`not-published` is the policy's rule too: a release dated after the day it is judged on.)
  /** The target is on an ESR line past its end of life. */
  endOfLife: 'end-of-life',
  /** The target is a rolling release that a newer one superseded. */
  notMaintained: 'not-maintained',
  /** The target is not released for the device's type. */
  notForDevice: 'not-for-device',
  /** The policy knows no such release. */
  unknownRelease: 'unknown-release',
} as const;
export type TargetRule = (typeof TARGET_RULES)[keyof typeof TARGET_RULES];

/**
 * What a target is allowed with but warned about: the support policy's `not-guaranteed` (a jump
 * larger than a standard update is qualified for), or a policy refusal the request overrode with
 * `allowUnsupported` (the refusal's rule).
 */
export const TARGET_WARNINGS = {
  notGuaranteed: 'not-guaranteed',
} as const;
export type TargetWarningRule = (typeof TARGET_WARNINGS)[keyof typeof TARGET_WARNINGS] | TargetRule;

/** A warning: the rule and one line naming it and the dates it judged. */
export interface TargetWarning {
  rule: TargetWarningRule;
  reason: string;
}

/** The body of PUT /v1/devices/<uuid>/target (POST /v1/targets adds `devices`). */
export interface TargetRequest {
  osVersion?: string;
  supervisorVersion?: string;
  confirmMajor?: boolean;
  /** Set an OS target the support policy refuses (end of life, not maintained, ...) anyway. */
  allowUnsupported?: boolean;
}

/** A refusal: the rule and one line naming it and the values it judged. */
export interface Refusal {
  rule: TargetRule;
  reason: string;
}

/** One device's outcome of a target request (PUT /v1/devices/<uuid>/target, POST /v1/targets). */
export interface TargetOutcome {
  uuid: string;
  name: string;
  ok: boolean;
  target?: DeviceTarget;
  refusal?: Refusal;
  /** Set, with a warning: a jump that is not guaranteed, or an unsupported target allowed on request. */
  warning?: TargetWarning;
}

/** Where a device stands against its target, as `huplab fleet wait` and the dashboard judge it. */
export type TargetProgress = 'none' | 'pending' | 'in-progress' | 'reached' | 'failed';

/**
 * When the target of one kind was last set: what an attempt of that kind is tied to. Setting the
 * other kind must not make a failed attempt look like a new target (and so be retried).
 */
export function kindSetAt(target: DeviceTarget, kind: UpdateKind): string {
  return (kind === 'os' ? target.osSetAt : target.supervisorSetAt) ?? target.setAt;
}
