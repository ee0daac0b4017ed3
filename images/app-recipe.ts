/**
 * The demo application's release: its code is images/device-files/app/, its image is built by
 * images/builder/app-build.ts and preloaded on every built device (app-preload.ts). A new release
 * of the application is a new version here.
 */
export interface AppRecipe {
  release: string;
  /** The release date: the image's created time and every file's time in it. */
  date: string;
}

export const DEMO_APP_RECIPE: AppRecipe = { release: '1.0.0', date: '2026-11-02T00:00:00Z' };

/** Where the application's source is, relative to the repository. */
export const APP_SOURCE_DIR = 'images/device-files/app';
