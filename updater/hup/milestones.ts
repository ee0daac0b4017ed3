/**
 * The updater's steps, in order. The names are stable: they are printed as console markers
 * (`[hup] step NAME start|done|failed`), logged, reported, and fault injection aims at them.
 */
export const HUP_STEPS = [
  'checks',
  'stop-supervisor',
  'fetch',
  'write-root',
  'boot-files',
  'breadcrumbs',
  'supervisor-update',
  'bootloader-switch',
  'reboot',
] as const;

export type HupStep = (typeof HUP_STEPS)[number];

/** Progress percent reported to the API as each step starts (the field's milestones). */
export const STEP_PROGRESS: Record<HupStep, [number, string]> = {
  checks: [25, 'Preparing OS update'],
  'stop-supervisor': [30, 'Preparing OS update'],
  fetch: [50, 'Running OS update'],
  'write-root': [70, 'Running OS update'],
  'boot-files': [80, 'Running OS update'],
  breadcrumbs: [85, 'Running OS update'],
  'supervisor-update': [90, 'Updating supervisor'],
  'bootloader-switch': [95, 'Running OS update'],
  reboot: [100, 'Update successful, rebooting'],
};

/** Exit statuses the harness tells apart. */
export const EXIT = { ok: 0, failed: 1, usage: 2, locked: 75 } as const;
