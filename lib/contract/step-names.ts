/**
 * The names of the device's steps, as its step markers print them. They are stable: fault
 * injection and power-cut campaigns aim at them, reports and verdicts name them.
 */

/** The standard updater's steps, in order. */
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

/** The advanced updater's (takeover stage 1) steps, in order. */
export const ADVANCED_STEPS = ['checks', 'download', 'collect', 'handover'] as const;
export type AdvancedStep = (typeof ADVANCED_STEPS)[number];

/** Takeover stage 2's steps (updater/takeover/stage2.sh), in order; boot-flash only where the new OS needs it. */
export const TAKEOVER_STEPS = [
  'copy-to-ram',
  'pivot',
  'flash',
  'validate',
  'restore',
  'boot-flash',
  'save-log',
] as const;
export type TakeoverStep = (typeof TAKEOVER_STEPS)[number];

/** The steps of the boot services after an update: rollback-health, rollback-altboot and the boot files guard. */
export const ROLLBACK_STEPS = {
  health: 'rollback-health',
  commit: 'commit',
  bootFiles: 'rollback-boot-files',
  switch: 'rollback-switch',
  altboot: 'rollback-altboot',
  altbootSwitch: 'rollback-altboot-switch',
  bootFilesGuard: 'boot-files-guard',
} as const;
