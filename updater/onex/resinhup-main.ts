/**
 * The 1.x update's tools (the field's resinhup image), fetched by the 1.x updater from the API as
 * an artifact of their own and run by it, the supervisor and the application already stopped:
 * the fingerprint check (a modified file of the OS refuses the update, naming it, before anything
 * is written), the new OS pulled from the registry and written onto the spare root, the quirks
 * and kept files carried over, the boot files (changed text files kept as `.hup.old`), the
 * config.json migration, the bootloader switched to the spare root. Its steps are printed on
 * stdout (which the updater logs) and on the console. Exit 0: switched; 1: failed or refused,
 * the running OS as it was (ONEX_EXIT).
 */
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { HuplabError, isHuplabError } from '../../lib/errors.ts';
import { applyLayer } from '../../lib/delta/index.ts';
import { atomicWriteFile } from '../../lib/fat/atomic-write.ts';
import { BOOT_FILES_DIR } from '../../lib/boot-files.ts';
import {
  ONEX_EXIT,
  ONEX_REFUSALS,
  ONEX_UPDATE_PATHS,
  onexCheckLine,
  onexRefusedLine,
  type OnexToolStep,
} from '../../lib/contract/onex.ts';
import { stepLine, timedDetail } from '../../lib/contract/steps.ts';
import { fetchDetail } from '../../lib/contract/download-detail.ts';
import { readDeviceConfig, readOsInfo, type DeviceConfig } from '../common/config.ts';
import { updateBootEnv } from '../common/bootenv.ts';
import { registriesOf, registryClient } from '../common/registry.ts';
import { run } from '../common/run.ts';
import type { Roots } from '../common/partitions.ts';
import { checkFingerprints } from './checks.ts';
import { applyBootMerge, planBootMerge, readTree, recordBootUndo, undoBootMerge, type BootUndo } from './boot-merge.ts';
import { migrateConfigJson, type ConfigJson } from './config-migrate.ts';
import { releaseRecord, type OnexRelease } from './release.ts';
import { findOnexRoots, keepFiles, onexRootLabel } from './spare-root.ts';
import { parseOnexArgs, type OnexArgs } from './update-args.ts';

const NEW_ROOT = '/run/resinhup/new-root';
const BOOT = '/mnt/boot';
const CONF = '/mnt/conf';

interface Ctx {
  args: OnexArgs;
  config: DeviceConfig;
  target?: OnexRelease;
  roots?: Roots;
  layer?: string;
  mounted?: boolean;
  /** What the boot merge overwrote, set before it writes anything. */
  bootUndo?: BootUndo;
  /** config.json as it was, set before the migration writes it. */
  configBefore?: { path: string; data: Buffer | undefined };
}

let consoleFd: number | undefined;
function say(line: string): void {
  process.stdout.write(`${line}\n`);
}
function marker(step: string, phase: 'start' | 'done' | 'failed', detail = ''): void {
  const text = stepLine(step, phase, detail);
  say(text);
  if (consoleFd !== undefined) {
    try {
      writeSync(consoleFd, `${text}\n`);
    } catch {
      /* the log has it */
    }
  }
}

function readJson(path: string): ConfigJson | undefined {
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as ConfigJson) : undefined;
}

const steps: Array<[OnexToolStep, (ctx: Ctx) => Promise<string>]> = [
  [
    'fingerprint',
    async () => {
      const r = checkFingerprints({ root: '/', boot: BOOT, log: say });
      const detail = `${r.checked.root} root files, ${r.checked.boot} boot files unmodified`;
      say(onexCheckLine('fingerprint', detail));
      return detail;
    },
  ],
  [
    'fetch',
    async (ctx) => {
      const os = readOsInfo('/');
      ctx.target = await releaseRecord(ctx.config, ctx.args.hostosVersion, os.deviceType);
      ctx.roots = findOnexRoots();
      const { repository, manifestDigest } = ctx.target.hostapp;
      mkdirSync(ONEX_UPDATE_PATHS.cache, { recursive: true });
      const errors: string[] = [];
      for (const reg of registriesOf(ctx.config)) {
        try {
          const client = registryClient(ctx.config, reg, { timeoutMs: 30_000, retries: 3 });
          const { manifest } = await client.getManifest(repository, manifestDigest);
          const layer = (manifest as { layers: Array<{ digest: string; size: number }> }).layers[0]!;
          const path = `${ONEX_UPDATE_PATHS.cache}/layer-${layer.digest.slice(7, 19)}.tar.gz`;
          const got = await client.fetchBlob(repository, layer.digest, path, { expectedSize: layer.size });
          ctx.layer = path;
          return fetchDetail({
            kind: 'full',
            digest: layer.digest,
            bytes: layer.size,
            source: reg,
            attempts: got.attempts,
            resumes: got.resumes,
          });
        } catch (err) {
          const why = isHuplabError(err) ? err.oneLine() : (err as Error).message;
          errors.push(`${reg}: ${why}`);
          say(`registry ${reg} failed: ${why}`);
        }
      }
      throw new HuplabError('fetch-failed', `no registry delivered ${ctx.args.hostosVersion}: ${errors.join('; ')}`);
    },
  ],
  [
    'write-root',
    async (ctx) => {
      const { inactive } = ctx.roots!;
      const label = onexRootLabel(inactive.slot);
      // ext4 as the 1.x image's roots (the field's were ext3).
      run('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', label, inactive.device]);
      mkdirSync(NEW_ROOT, { recursive: true });
      run('mount', ['-t', 'ext4', inactive.device, NEW_ROOT]);
      ctx.mounted = true;
      await applyLayer({ layer: ctx.layer!, targetRoot: NEW_ROOT });
      rmSync(ctx.layer!, { force: true });
      const written = readOsInfo(NEW_ROOT);
      if (written.version !== ctx.target!.version || !existsSync(`${NEW_ROOT}/sbin/init`))
        throw new HuplabError(
          'write-root-invalid',
          `the written root says version ${written.version}, expected ${ctx.target!.version}`,
        );
      return `${ctx.target!.version} written to ${label} (${inactive.device})`;
    },
  ],
  [
    'keep-files',
    async () => {
      const { quirks, kept } = keepFiles('/', NEW_ROOT);
      run('sync', []);
      return `quirks: ${quirks.join(' ') || 'none'}; kept: ${kept.join(' ') || 'none'}`;
    },
  ],
  [
    'boot-files',
    async (ctx) => {
      const from = join(NEW_ROOT, BOOT_FILES_DIR);
      const plan = planBootMerge(readTree(from), (p) =>
        existsSync(join(BOOT, p)) ? readFileSync(join(BOOT, p)) : undefined,
      );
      ctx.bootUndo = recordBootUndo(plan, BOOT);
      await applyBootMerge(plan, from, BOOT, say);
      return `${plan.copy.length} written (${plan.saveOld.length} kept as .hup.old), ${plan.unchanged.length} unchanged, ignored: ${plan.ignored.join(' ') || 'none'}`;
    },
  ],
  [
    'config-json',
    async (ctx) => {
      const boot = readJson(join(BOOT, 'config.json'));
      const conf = readJson(join(CONF, 'config.json'));
      const m = migrateConfigJson({ boot, conf, target: ctx.target!.version, forced: ctx.args.forced });
      if (m.changes.length === 0) return 'no change';
      const dir = m.place === 'resin-boot' ? BOOT : CONF;
      const target = join(dir, 'config.json');
      // A move to resin-boot creates the file there and leaves resin-conf's: only `target` is written.
      ctx.configBefore = { path: target, data: existsSync(target) ? readFileSync(target) : undefined };
      await atomicWriteFile(target, Buffer.from(`${JSON.stringify(m.config, null, 2)}\n`));
      run('sync', []);
      return m.changes.join('; ');
    },
  ],
  [
    'bootloader-switch',
    async (ctx) => {
      run('umount', [NEW_ROOT]);
      ctx.mounted = false;
      // No boot counting: the 1.x line has no rollback, the new root is the root from now on.
      const env = await updateBootEnv({
        resin_root_part: ctx.roots!.inactive.slot,
        upgrade_available: '0',
        bootcount: '0',
      });
      run('sync', []);
      return `bootloader env: resin_root_part=${env.resin_root_part} (${onexRootLabel(ctx.roots!.inactive.slot)})`;
    },
  ],
];

/** After a failure: the boot partition and config.json as they were, the spare root unmounted. */
async function cleanup(ctx: Ctx): Promise<void> {
  if (ctx.mounted) run('umount', [NEW_ROOT], { allowFail: true });
  if (ctx.layer) rmSync(ctx.layer, { force: true });
  try {
    if (ctx.bootUndo) {
      await undoBootMerge(ctx.bootUndo, BOOT, (m) => say(`restore: ${m}`));
      say('boot files of the running OS restored');
    }
    if (ctx.configBefore) {
      const { path, data } = ctx.configBefore;
      if (data) await atomicWriteFile(path, data);
      else rmSync(path, { force: true });
      say(`config.json ${data ? 'restored' : 'removed'} on ${path.startsWith(BOOT) ? 'resin-boot' : 'resin-conf'}`);
    }
    run('sync', []);
  } catch (err) {
    say(`could not restore the boot partition: ${(err as Error).message}`);
  }
}

async function main(): Promise<number> {
  let args: OnexArgs;
  try {
    args = parseOnexArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`resinhup: ${isHuplabError(err) ? err.oneLine() : String(err)}\n`);
    return ONEX_EXIT.usage;
  }
  try {
    consoleFd = openSync('/dev/console', 'w');
  } catch {
    consoleFd = undefined;
  }
  const configPath = existsSync(join(BOOT, 'config.json')) ? join(BOOT, 'config.json') : join(CONF, 'config.json');
  const ctx: Ctx = { args, config: readDeviceConfig(configPath) };
  let current = '';
  try {
    for (const [name, fn] of steps) {
      current = name;
      marker(name, 'start');
      const started = Date.now();
      const detail = await fn(ctx);
      marker(name, 'done', timedDetail((Date.now() - started) / 1000, detail));
    }
    return ONEX_EXIT.ok;
  } catch (err) {
    const why = isHuplabError(err) ? err.oneLine() : err instanceof Error ? err.message : String(err);
    marker(current, 'failed', why);
    if (isHuplabError(err) && (Object.values(ONEX_REFUSALS) as string[]).includes(err.code))
      say(onexRefusedLine(err.code, err.message));
    await cleanup(ctx);
    return ONEX_EXIT.failed;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`resinhup: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(ONEX_EXIT.failed);
  },
);
