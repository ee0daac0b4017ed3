/**
 * The types of an update run, shared by the runners (standard.ts, advanced.ts), the verdicts, the
 * faults that hook into a run, the campaigns and the reports. Types only: importing this module
 * never pulls in a runner, so nothing below the runner depends on it.
 */
import type { UpdateMethodName } from '../../lib/update-method.ts';
import type { UpdateBackend } from '../backend/update-backend.ts';
import type { TimelineEntry } from '../console/timeline.ts';
import type { DeviceFacts } from '../device/inspect.ts';
import type { DeviceDriver } from '../driver/driver.ts';
import type { RecordsAnalysis } from './records.ts';

/** What a fault acting during the update can use: the lab, the device's uuid, the console mark of the start. */
export interface UpdateContext {
  backend: UpdateBackend;
  uuid: string;
  since: number;
  /** Aborted when the updater exits: a hook waiting for a moment that will never come stops. */
  updaterExited: AbortSignal;
}

/** Facts a fault measured while acting (e.g. how long the reboot waited on a lock), kept in the outcome. */
export type FaultFacts = Record<string, string | number | boolean | null>;

/** Fault hooks that act on the device around the updater run. */
export interface DeviceHooks {
  /** Puts the device into the state the scenario starts from, before it is inspected (its "before"). */
  prepare?: (device: DeviceDriver) => Promise<void>;
  beforeUpdate?: (device: DeviceDriver) => Promise<void>;
  /** Runs with the updater (which is then run with --no-reboot), between its end and the reboot. */
  beforeReboot?: (device: DeviceDriver) => Promise<void>;
  /** Runs alongside the updater, from its start until the hook returns. */
  whileUpdating?: (device: DeviceDriver, ctx: UpdateContext) => Promise<FaultFacts | void>;
  /** Takes the fault away from the device again, so that a later update can succeed. */
  undo?: (device: DeviceDriver) => Promise<void>;
}

export interface StepTiming {
  step: string;
  seconds: number;
  detail: string;
}

/** One entry of a device's progress history at the API. */
export interface ApiProgressEntry {
  percent: number;
  message: string;
  status?: string;
  at?: string;
}

/** One named check of a verdict: what was expected, whether it held, what was seen. */
export interface Check {
  what: string;
  ok: boolean;
  detail: string;
}

/** A run's judgement: ok when every check held. */
export interface Verdict {
  ok: boolean;
  checks: Check[];
}

export interface UpdateOutcome {
  to: string;
  exitCode: number | null;
  /** False when the device rebooted before the updater's exit status was recorded (exitCode is then read from its output). */
  exitRecorded: boolean;
  before: DeviceFacts;
  after: DeviceFacts;
  steps: StepTiming[];
  failedStep?: string;
  failure?: string;
  rebooted: boolean;
  /** Boots the bootloader started from the updater's start to the end (a rollback adds its own). */
  reboots: number;
  committed: boolean;
  rollback: { health: boolean; altboot: boolean; healthFailed: boolean };
  breadcrumbs: string[];
  download: { source: string; kind: string; bytes: number } | undefined;
  progress: ApiProgressEntry[];
  records: RecordsAnalysis;
  logs: string[];
  seconds: { update: number; toCommit: number };
  updaterOutput: string;
  /** This run's update log as the device kept it (`/mnt/data/balenahup/upgrade-2.x.sh.<datetime>.log`); '' when none was found. */
  updaterLog: string;
  /** The supervisor the target release ships (its release record at the backend); undefined when unknown. */
  targetSupervisor?: string;
  /** What the fault's hooks measured, if any. */
  faultFacts: FaultFacts;
  /** The console from the updater's start to the end (cleaned text). */
  console: string;
  /** Console marker lines (bootloader, OS, updater steps) with seconds since the updater started. */
  timeline: TimelineEntry[];
}

export interface MethodDecision {
  method: UpdateMethodName;
  reason: string;
  hint?: string;
}

/** What identifies the device and must survive an advanced update. */
export interface DeviceIdentity {
  uuid: string;
  deviceType: string;
  hostKey: string;
  connection: string;
  layout: string;
  arch: string;
  firmware: 'uefi' | 'other';
}

export interface AdvancedOutcome {
  to: string;
  toDeviceType: string;
  method: MethodDecision;
  exitCode: number | null;
  before: DeviceFacts;
  identityBefore: DeviceIdentity;
  /** Undefined when the device did not come back. */
  after?: DeviceFacts;
  identityAfter?: DeviceIdentity;
  /** Stage 1 ([hup] step) and stage 2 ([takeover] step) timings, in order. */
  steps: StepTiming[];
  failedStep?: string;
  failure?: string;
  /** Stage 2 started writing the disk: from there on there is no way back. */
  flashStarted: boolean;
  /** The power was cut at the named moment (a fault), and the device powered on again. */
  powerCut?: string;
  /** Why no OS came up after the power came back (what was awaited, the last console lines). */
  bootFailure?: string;
  /** Which OS came up at the end. */
  booted: 'new' | 'old' | 'none';
  /** What takeover said it kept (stage 2's restore step). */
  keptReported: string;
  logs: string[];
  progress: ApiProgressEntry[];
  download: { source: string; kind: string; bytes: number } | undefined;
  seconds: { updater: number; toBoot: number };
  updaterOutput: string;
  console: string;
  timeline: TimelineEntry[];
}
