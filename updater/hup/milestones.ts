import type { HupStep } from '../../lib/contract/step-names.ts';

/**
 * Progress reported to the API as each step starts (the field's milestones). The reboot step
 * has none: it reports itself (waiting on a lock, rebooting).
 */
export const STEP_MILESTONES: Partial<Record<HupStep, readonly [number, string]>> = {
  checks: [25, 'Preparing OS update'],
  'stop-supervisor': [30, 'Preparing OS update'],
  fetch: [50, 'Running OS update'],
  'write-root': [70, 'Running OS update'],
  'boot-files': [80, 'Running OS update'],
  breadcrumbs: [85, 'Running OS update'],
  'supervisor-update': [90, 'Updating supervisor'],
  'bootloader-switch': [95, 'Running OS update'],
};
