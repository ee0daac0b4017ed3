/**
 * The dashboard's page, bundled by esbuild from ui/ (Preact and htm from the npm registry) when
 * the lab server starts, as the updater bundles are (backend/artifacts.ts): built under a
 * temporary name, then renamed to a name of its content's digest in the cache, so a page of
 * another build is never served by mistake.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';
import { HuplabError } from '../../lib/errors.ts';
import { cacheDir, repoRoot } from '../../lib/paths.ts';

export const UI_ENTRY = join(repoRoot, 'harness', 'dashboard', 'ui', 'main.ts');
export const UI_STYLE = join(repoRoot, 'harness', 'dashboard', 'ui', 'style.css');

export interface DashboardBundle {
  /** The script, minified, for browsers of the last few years (es2022). */
  script: { path: string; sha256: string };
  style: { path: string; sha256: string };
}

export async function dashboardBundle(): Promise<DashboardBundle> {
  const dir = join(cacheDir(), 'dashboard');
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `app-${process.pid}.js`);
  try {
    await build({
      entryPoints: [UI_ENTRY],
      outfile: tmp,
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      minify: true,
      legalComments: 'none',
      logLevel: 'silent',
    });
  } catch (err) {
    await rm(tmp, { force: true });
    throw new HuplabError('build-failed', `cannot bundle the dashboard: ${(err as Error).message.split('\n')[0]}`, {
      hint: 'run `npm run typecheck`; the page sources are harness/dashboard/ui/',
    });
  }
  const script = await keep(tmp, dir, 'app', 'js');
  const style = await keep(UI_STYLE, dir, 'app', 'css', false);
  return { script, style };
}

/** The file under its digest's name in `dir` (moved there, or copied when `move` is false). */
async function keep(
  file: string,
  dir: string,
  stem: string,
  ext: string,
  move = true,
): Promise<{ path: string; sha256: string }> {
  const data = await readFile(file);
  const sha256 = createHash('sha256').update(data).digest('hex');
  const path = join(dir, `${stem}-${sha256.slice(0, 16)}.${ext}`);
  if (move) await rename(file, path);
  else {
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, data);
    await rename(tmp, path);
  }
  return { path, sha256 };
}
