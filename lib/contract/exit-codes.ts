/**
 * The updaters' exit statuses, which the harness tells apart: success, a failed update (the
 * running OS untouched), a usage error, and the update lock held by another update (75, as
 * flock(1) and the field updater report it).
 */
export const UPDATER_EXIT = { ok: 0, failed: 1, usage: 2, locked: 75 } as const;
export type UpdaterExit = (typeof UPDATER_EXIT)[keyof typeof UPDATER_EXIT];
