/**
 * The device<->harness contract: every text the device prints and the harness parses, the state
 * files both read, the updaters' exit codes and command lines. One import for the harness; the
 * device side imports the module it needs.
 */
export * from './download-detail.ts';
export * from './exit-codes.ts';
export * from './fleet.ts';
export * from './lab-host.ts';
export * from './markers.ts';
export * from './onex.ts';
export * from './regex.ts';
export * from './state-files.ts';
export * from './step-names.ts';
export * from './steps.ts';
export * from './supervisor.ts';
export * from './takeover.ts';
export * from './update-log.ts';
export * from './updater-command.ts';
export * from './variant.ts';
