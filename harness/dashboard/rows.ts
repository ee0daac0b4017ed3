/**
 * A device's live row, from the API's records: what GET /v1/fleet answers for it, computed by the
 * same rules (target-rules.ts), so the dashboard and `huplab fleet list` never disagree.
 */
import { type DeviceInfo, type DeviceRecords, withOnline } from '../backend/device-records.ts';
import { progressSince, targetProgress } from '../backend/target-rules.ts';
import type { DashboardRow } from './wire.ts';

export function dashboardRow(records: DeviceRecords, d: DeviceInfo, now: number = Date.now()): DashboardRow {
  const target = records.target(d.uuid);
  const history = records.history(d.uuid);
  const progress = progressSince(target, history);
  return {
    uuid: d.uuid,
    name: d.name,
    deviceType: d.deviceType,
    arch: d.arch,
    osVersion: d.osVersion ?? null,
    supervisorVersion: d.supervisorVersion ?? null,
    online: withOnline(d, now).online,
    lastSeen: d.lastSeen ?? null,
    status: d.status ?? null,
    progress: progress ? { percent: progress.percent, message: progress.message, at: progress.at } : null,
    target: target ?? null,
    targetProgress: targetProgress(d, target, history),
    ...(d.lastUpdate ? { lastUpdate: d.lastUpdate } : {}),
  };
}
