import { build } from 'esbuild';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { repoRoot } from '../lib/paths.ts';

/**
 * Bundles an updater entry point (and the lib/ code it uses) into one ES module for Node 20 on
 * the device: the device has the Node runtime and nothing from npm.
 */
export async function bundleForDevice(
  entry: string,
  outFile: string,
  opts: {
    /** Identifiers replaced by JSON values at build time (a supervisor's baked-in version). */
    define?: Record<string, string>;
    /** esbuild's target (default node20, the runtime every OS ships). */
    target?: string;
  } = {},
): Promise<void> {
  await mkdir(dirname(outFile), { recursive: true });
  await build({
    entryPoints: [join(repoRoot, entry)],
    outfile: outFile,
    bundle: true,
    platform: 'node',
    target: opts.target ?? 'node20',
    ...(opts.define ? { define: opts.define } : {}),
    format: 'esm',
    legalComments: 'none',
    // Scripts the device runs outside Node (takeover stage 2) travel inside the bundle as text.
    loader: { '.sh': 'text' },
    logLevel: 'error',
    // Keep the output stable for the image's content hash (no absolute paths, no timestamps).
    sourcemap: false,
    banner: { js: '// huplab device code, bundled from updater/ by esbuild; see the repository for the sources.' },
  });
}

/** The standard HUP updater as the backend hands it to devices. */
export const HUP_ENTRY = 'updater/hup/main.ts';

/** The advanced (takeover) updater. */
export const ADVANCED_ENTRY = 'updater/advanced/main.ts';

/** The resinOS 1.x updates' checks, run on a 1.x device before they write anything. */
export const ONEX_CHECKS_ENTRY = 'updater/onex/checks-main.ts';

/** The resinOS 1.x -> 1.x updater, and its tools (the field's resinhup), a separate artifact it fetches. */
export const ONEX_UPDATE_ENTRY = 'updater/onex/update-main.ts';
export const ONEX_TOOLS_ENTRY = 'updater/onex/resinhup-main.ts';
/** The resinOS 1.x -> 2.x migration (the field's upgrade-1.x-to-2.x.sh). */
export const ONEX_MIGRATE_ENTRY = 'updater/onex/migrate-main.ts';

/** The supervisor agent: bundled into every OS, and on its own into each supervisor release. */
export const SUPERVISOR_ENTRY = 'updater/supervisor/main.ts';

/** The identifier a supervisor release's bundle has its version baked into (see SUPERVISOR_ENTRY). */
export const SUPERVISOR_VERSION_DEFINE = 'HUPLAB_SUPERVISOR_VERSION';
