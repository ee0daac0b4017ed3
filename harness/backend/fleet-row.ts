/**
 * A device as the fleet view shows it: its record, whether it is online, its target, the last
 * progress report since the target was set and where it stands (target-rules.ts). One function,
 * so that GET /v1/fleet (`huplab fleet list`) and the dashboard's live rows never disagree.
 */
import type { DeviceTarget, TargetProgress, UpdateAttempt } from '../../lib/contract/fleet.ts';
import { type DeviceInfo, type DeviceRecords, withOnline } from './device-records.ts';
import { progressSince, targetProgress } from './target-rules.ts';

export interface FleetRow {
  uuid: string;
  name: string;
  deviceType: string;
  arch: string;
  osVersion: string | null;
  supervisorVersion: string | null;
  online: boolean;
  lastSeen: string | null;
  /** When the device booted (server time; its uptime is the time since). */
  bootedAt: string | null;
  status: string | null;
  /** The last progress report since the target was set. */
  progress: { percent: number; message: string; at: string } | null;
  target: DeviceTarget | null;
  targetProgress: TargetProgress;
  lastUpdate?: { os?: UpdateAttempt; supervisor?: UpdateAttempt };
}

export function fleetRow(records: DeviceRecords, d: DeviceInfo, now: number = Date.now()): FleetRow {
  const target = records.target(d.uuid);
  const last = records.lastProgress(d.uuid);
  const progress = progressSince(target, last);
  return {
    uuid: d.uuid,
    name: d.name,
    deviceType: d.deviceType,
    arch: d.arch,
    osVersion: d.osVersion ?? null,
    supervisorVersion: d.supervisorVersion ?? null,
    online: withOnline(d, now).online,
    lastSeen: d.lastSeen ?? null,
    bootedAt: d.bootedAt ?? null,
    status: d.status ?? null,
    progress: progress ? { percent: progress.percent, message: progress.message, at: progress.at } : null,
    target: target ?? null,
    targetProgress: targetProgress(d, target, last),
    ...(d.lastUpdate ? { lastUpdate: d.lastUpdate } : {}),
  };
}
