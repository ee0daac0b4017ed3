import type { Command } from 'commander';
import { type ExternalRegistryInput, resolveExternalRegistry } from '../backend/external-registry.ts';
import { addRegistryOptions, registryEnv, registryInput } from './registry-options.ts';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { execa } from 'execa';
import { buildImage } from '../../images/builder/index.ts';
import {
  checkVariant,
  listReleases,
  loadRelease,
  loadReleases,
  type ReleaseRecipe,
  releaseFacts,
} from '../../images/recipe.ts';
import { HuplabError, isHuplabError, isInfrastructureError } from '../../lib/errors.ts';
import { repoRoot } from '../../lib/paths.ts';
import { loadProfile, type Profile } from '../../lib/profile.ts';
import type { Narrator } from '../../lib/narrator.ts';
import { compareVersions } from '../../lib/versions.ts';
import { parsePolicyDate, ROLLING } from '../../lib/release-policy.ts';
import { matrixLines, type QualificationMatrix, qualificationMatrix } from '../../lib/qualification-matrix.ts';
import {
  matrixDocument,
  matrixJunit,
  matrixTable,
  matrixVerdict,
  type PairResult,
  pairFolder,
} from '../report/matrix.ts';
import type { Summary } from '../report/model.ts';
import { EXIT_STATUS, runVerdict, type RunVerdict } from '../report/run-verdict.ts';
import { makeOutput, type Output, reportError, type ResultFailure } from './output.ts';
import { run } from './run.ts';
import { checkRelease, nonEmpty } from './validate.ts';
import type { Variant } from '../../lib/contract/variant.ts';

export interface QualifyOptions extends ExternalRegistryInput {
  device: string;
  release: string;
  from?: string;
  workers?: string;
  retries?: string;
  out?: string;
  grep?: string;
  variant?: string;
  build?: boolean;
  json?: boolean;
  /** Qualify every upgrade path the support policy names (a pair per "from"). */
  matrix?: boolean;
  /** Only say what would run. */
  plan?: boolean;
  /** The day the policy is judged on for --matrix, YYYY-MM-DD (default: today). */
  at?: string;
  /** With --matrix: only the pairs from these versions (comma-separated). */
  onlyFrom?: string;
}

export interface QualifyPlan {
  device: string;
  release: string;
  from: string;
  workers?: number;
  retries: number;
  out: string;
  grep?: string;
  /** The registry options, passed to the suites as HUPLAB_REGISTRY* (checked here first). */
  registryEnv?: Record<string, string>;
  /** Every device and published release in this OS variant (HUPLAB_VARIANT); default: the recipes'. */
  variant?: Variant;
}

/**
 * A release can update a device by the standard path only if its recipe lists the profile's
 * device type and carries the profile's partition layout (crossing layouts is the advanced path).
 */
async function releasesFor(profile: Pick<Profile, 'deviceType' | 'layout'>): Promise<ReleaseRecipe[]> {
  const all = await listReleases();
  const recipes = await Promise.all(all.map((v) => loadRelease(v)));
  return recipes.filter((r) => r.deviceTypes.includes(profile.deviceType) && r.layout === profile.layout);
}

/**
 * --from, checked; by default the newest rolling release older than --release of the profile's OS
 * line (the previous rolling release, as the support policy says; ESR and legacy releases are
 * upgrade paths of their own, named with --from).
 */
export async function baseRelease(
  release: string,
  profile: Pick<Profile, 'name' | 'deviceType' | 'layout'>,
  from?: string,
): Promise<string> {
  const recipes = await releasesFor(profile);
  const line = recipes.map((r) => r.version);
  const older = line.filter((v) => compareVersions(v, release) < 0); // sorted oldest first
  const what = `${profile.name} (${profile.deviceType}, layout ${profile.layout})`;
  if (from === undefined) {
    const rolling = new Set(recipes.filter((r) => r.line === ROLLING && r.legacy !== true).map((r) => r.version));
    const newest = older.filter((v) => rolling.has(v)).at(-1);
    if (!newest) {
      const olderOthers = older.filter((v) => !rolling.has(v));
      throw new HuplabError(
        'no-base-release',
        `no release older than ${release} has a recipe for ${what} to update from${olderOthers.length ? ` (ESR and legacy ones are taken only with --from: ${olderOthers.join(', ')})` : ''}`,
        {
          hint: `releases of this line: ${line.join(', ') || 'none'}; pass --from or add a recipe in images/releases/`,
        },
      );
    }
    return newest;
  }
  await loadRelease(from); // an unknown version gets the one-line error naming the known ones
  if (!older.includes(from)) {
    const why =
      compareVersions(from, release) >= 0 ? `is not older than --release ${release}` : `has no recipe for ${what}`;
    throw new HuplabError('bad-base-release', `--from ${from} ${why}`, {
      hint: `releases to update from: ${older.join(', ') || 'none'}`,
    });
  }
  return from;
}

function count(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new HuplabError('bad-option', `--${name} must be a whole number >= ${min}, not "${value}"`, {
      hint: `e.g. --${name} ${Math.max(min, 1)}`,
    });
  return n;
}

/** 20261123T101500Z: sorts by time and is safe in a folder name. */
export function utcStamp(d: Date): string {
  return d
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/[-:]/g, '');
}

/** Checks every option before anything runs, so a mistake costs no time. */
export async function planQualify(o: QualifyOptions, now = new Date()): Promise<QualifyPlan> {
  const matrixOnly = (['at', 'onlyFrom'] as const).find((k) => o[k] !== undefined);
  if (matrixOnly)
    throw new HuplabError('option-invalid', `--${matrixOnly === 'at' ? 'at' : 'only-from'} goes with --matrix`, {
      hint: 'add --matrix to qualify the upgrade paths the support policy names',
    });
  const { profile, common } = await checkCommon(o, now, '');
  const from = await baseRelease(o.release, profile, o.from);
  return { ...common, from };
}

/**
 * The options every qualification checks (a single pair or a matrix), in the order a user reads
 * them, with the plan's fields but `from`.
 */
async function checkCommon(
  o: QualifyOptions,
  now: Date,
  kind: '' | '-matrix',
): Promise<{ profile: Profile; common: Omit<QualifyPlan, 'from'> }> {
  const profile = await loadProfile(o.device);
  const recipe = await loadRelease(await checkRelease('release', o.release));
  if (o.from !== undefined) await checkRelease('from', o.from);
  if (o.out !== undefined) nonEmpty('out', o.out);
  if (o.grep !== undefined) nonEmpty('grep', o.grep);
  const variant = o.variant !== undefined ? checkVariant(o.variant, '--variant') : undefined;
  if (!recipe.deviceTypes.includes(profile.deviceType)) {
    throw new HuplabError('release-not-for-device', `release ${o.release} has no build for ${profile.deviceType}`, {
      hint: `its device types: ${recipe.deviceTypes.join(', ')}`,
    });
  }
  const registry = registryInput(o);
  await resolveExternalRegistry(registry);
  const workers = count('workers', o.workers, 1);
  const out = o.out
    ? isAbsolute(o.out)
      ? o.out
      : resolve(o.out)
    : join(repoRoot, 'reports', `qualify-${o.device}-${o.release}${kind}-${utcStamp(now)}`);
  return {
    profile,
    common: {
      device: o.device,
      release: o.release,
      retries: count('retries', o.retries, 0) ?? 1,
      out,
      ...(workers !== undefined ? { workers } : {}),
      ...(o.grep ? { grep: o.grep } : {}),
      ...(Object.keys(registry).length ? { registryEnv: registryEnv(registry) } : {}),
      ...(variant ? { variant } : {}),
    },
  };
}

/** A qualification matrix to run: the policy's pairs, each with the plan of its run. */
export interface MatrixPlan {
  matrix: QualificationMatrix;
  /** The matrix's report folder: matrix.json, junit.xml and one folder per pair. */
  out: string;
  /** One plan per pair, in the matrix's order; each reports into its folder inside `out`. */
  plans: QualifyPlan[];
}

/**
 * `--matrix`: the "from" versions the support policy says the release must be qualified from on
 * the device's type (lib/qualification-matrix.ts), at --at (default: `now`), among the releases of
 * the profile's own OS line (layout; legacy ones left out); --only-from keeps some of them.
 */
export async function planMatrix(o: QualifyOptions, now = new Date()): Promise<MatrixPlan> {
  if (o.from !== undefined)
    throw new HuplabError('option-conflict', '--from names one pair; --matrix derives them from the support policy', {
      hint: 'drop --from, or keep some pairs of the matrix with --only-from',
    });
  const at = o.at !== undefined ? parsePolicyDate(o.at, '--at') : now;
  const only =
    o.onlyFrom !== undefined
      ? nonEmpty('only-from', o.onlyFrom)
          .split(',')
          .map((v) => v.trim())
      : undefined;
  for (const v of only ?? []) await checkRelease('only-from', v);
  const { profile, common } = await checkCommon(o, now, '-matrix');
  const candidates = (await releasesFor(profile)).filter((r) => r.legacy !== true).map((r) => r.version);
  const facts = releaseFacts(await loadReleases());
  const derived = qualificationMatrix(facts, { deviceType: profile.deviceType, release: o.release, at, candidates });
  const missing = (only ?? []).filter((v) => !derived.pairs.some((p) => p.from === v));
  if (missing.length)
    throw new HuplabError(
      'option-invalid',
      `--only-from ${missing.join(', ')}: not in the matrix of ${o.release} on ${o.device} on ${derived.at}`,
      { hint: `its pairs are from ${derived.pairs.map((p) => p.from).join(', ') || 'nothing'} (see --plan)` },
    );
  const matrix = only ? { ...derived, pairs: derived.pairs.filter((p) => only.includes(p.from)) } : derived;
  if (matrix.pairs.length === 0)
    throw new HuplabError(
      'no-base-release',
      `the support policy names no release to qualify ${o.release} from on ${o.device} on ${matrix.at}`,
      { hint: `see \`huplab releases --device ${o.device}\`; pass --at, or qualify one pair with --from` },
    );
  return {
    matrix,
    out: common.out,
    plans: matrix.pairs.map((p) => ({ ...common, from: p.from, out: join(common.out, pairFolder(p)) })),
  };
}

/** The Playwright run: the device's project over every suite, reports into plan.out. */
export function playwrightCommand(plan: QualifyPlan): { file: string; args: string[]; env: Record<string, string> } {
  return {
    file: join(repoRoot, 'node_modules', '.bin', 'playwright'),
    args: ['test', '--project', plan.device, ...(plan.grep ? ['--grep', plan.grep] : [])],
    env: {
      HUPLAB_BASE_RELEASE: plan.from,
      HUPLAB_NEXT_RELEASE: plan.release,
      HUPLAB_RETRIES: String(plan.retries),
      ...(plan.workers !== undefined ? { HUPLAB_WORKERS: String(plan.workers) } : {}),
      ...(plan.variant ? { HUPLAB_VARIANT: plan.variant } : {}),
      HUPLAB_DEVICE: plan.device,
      HUPLAB_POWERCUT: 'steps', // the power-cut suite cuts at every step (suites/powercut.spec.ts)
      HUPLAB_REPORT_DIR: plan.out,
      HUPLAB_PLAYWRIGHT_HTML: '0', // the huplab report replaces it (playwright.config.ts)
      ...plan.registryEnv,
    },
  };
}

export function reportFiles(out: string) {
  return { html: join(out, 'report.html'), summary: join(out, 'summary.json'), junit: join(out, 'junit.xml') };
}

/**
 * The disk images the suites flash (the base release with the new one in resin-rootB, and the
 * new one), built before the run so that no test spends its time limit building.
 */
async function buildImages(plan: QualifyPlan, narrator: Narrator): Promise<void> {
  const variant = plan.variant ? { variant: plan.variant } : {};
  await buildImage({ device: plan.device, release: plan.from, rootB: plan.release, ...variant, narrator });
  await buildImage({ device: plan.device, release: plan.release, ...variant, narrator });
}

/**
 * Runs Playwright with its output streamed (to stderr with --json, so stdout stays one JSON
 * document). Ctrl-C reaches Playwright through the terminal; we wait for it to write its
 * reports instead of dying first.
 */
async function runPlaywright(plan: QualifyPlan, json: boolean): Promise<number> {
  const cmd = playwrightCommand(plan);
  const ignore = () => {};
  process.on('SIGINT', ignore);
  try {
    const r = await execa(cmd.file, cmd.args, {
      cwd: repoRoot,
      env: cmd.env,
      stdin: 'ignore',
      stdout: json ? 2 : 'inherit',
      stderr: 'inherit',
      reject: false,
    });
    if (r.failed && r.exitCode === undefined)
      throw new HuplabError('playwright-failed', `cannot run ${cmd.file}: ${r.shortMessage}`, { hint: 'run `npm ci`' });
    return r.exitCode ?? 1;
  } finally {
    process.off('SIGINT', ignore);
  }
}

async function readSummary(out: string, playwrightStatus: number): Promise<Summary> {
  try {
    return JSON.parse(await readFile(reportFiles(out).summary, 'utf8')) as Summary;
  } catch {
    throw new HuplabError(
      'report-missing',
      `Playwright exited with status ${playwrightStatus} without writing ${reportFiles(out).summary}`,
      {
        hint: 'see its output above',
      },
    );
  }
}

export function describeRun(
  plan: Pick<QualifyPlan, 'device' | 'from' | 'release'>,
  s: Summary,
  verdict: RunVerdict,
): string[] {
  const t = s.totals;
  const titles = (o: string) =>
    s.tests.filter((x) => x.outcome === o).map((x) => `    - ${x.titlePath.slice(1).join(' › ')}`);
  const headline =
    t.tests === 0
      ? 'FAILED: no test ran (check --grep)'
      : {
          passed: 'PASSED',
          product: 'FAILED: product failures',
          infrastructure: 'NOT QUALIFIED: infrastructure errors only (fix the lab and run again)',
        }[verdict];
  return [
    `qualify ${plan.device} ${plan.from} -> ${plan.release}: ${headline}`,
    `  tests: ${t.tests}: ${t.passed} passed, ${t.flaky} flaky, ${t.failed} product failures, ${t.infrastructure} infrastructure, ${t.skipped} skipped` +
      ` (${t.attempts} attempts, ${(s.wallSeconds / 60).toFixed(1)} min, ${s.workers} workers)`,
    ...(t.flaky ? ['  flaky (passed after a retry):', ...titles('flaky')] : []),
    ...(t.failed ? ['  product failures:', ...titles('product')] : []),
    ...(t.infrastructure ? ['  infrastructure:', ...titles('infrastructure')] : []),
    ...(s.errors.length
      ? ['  errors outside tests:', ...s.errors.map((e) => `    - [${e.classification}] ${e.message.split('\n')[0]}`)]
      : []),
  ];
}

/** A qualification that did not pass exits non-zero: its JSON document says ok: false. */
export function qualifyFailure(verdict: RunVerdict, s: Pick<Summary, 'totals'>): ResultFailure | undefined {
  if (EXIT_STATUS[verdict] === 0) return undefined;
  if (s.totals.tests === 0) return { code: 'no-test-ran', message: 'no test ran (check --grep)' };
  return verdict === 'infrastructure'
    ? { code: 'not-qualified', message: 'not qualified: infrastructure errors only (fix the lab and run again)' }
    : {
        code: 'qualify-failed',
        message: `product failures: ${s.totals.failed} test(s) failed, or an error outside the tests (see the report)`,
      };
}

export function registerQualify(program: Command): void {
  const cmd = program
    .command('qualify')
    .description(
      'qualify a release on a device: every HIL suite, with retries, JUnit XML, an HTML report and a JSON summary; --matrix: once per upgrade path the support policy names',
    )
    .requiredOption('--device <profile>', 'device profile (Playwright project), e.g. generic-amd64')
    .requiredOption('--release <version>', 'release to qualify, e.g. 2.102.0')
    .option('--from <version>', 'release the devices start on (default: the newest older release with a recipe)')
    .option(
      '--matrix',
      'qualify every upgrade path the support policy names: the previous rolling release, the latest patch of each maintained ESR line, the oldest release the jump is guaranteed from',
    )
    .option('--at <date>', 'with --matrix: the day the support policy is judged on, YYYY-MM-DD (default: today)')
    .option('--only-from <versions>', 'with --matrix: only the pairs from these versions, comma-separated')
    .option('--plan', 'only print what would run (the matrix with the reason of each pair), build and run nothing')
    .option('--workers <n>', 'devices in parallel (default: one per core, at most two)')
    .option('--retries <n>', 'retries of a failed test; every attempt is reported', '1')
    .option('--out <dir>', 'report folder (default: reports/qualify-<device>-<release>[-matrix]-<UTC time>/)')
    .option('--grep <pattern>', 'only the tests whose title matches')
    .option(
      '--variant <variant>',
      "run every suite on this OS variant (development or production); default: the recipes'",
    )
    .option('--no-build', 'do not build the disk images first')
    .option('--json', "print the summary as JSON on stdout (Playwright's output goes to stderr)");
  addRegistryOptions(cmd).action(
    run(
      async (o: QualifyOptions) => {
        const out = makeOutput(!!o.json);
        if (o.matrix) return qualifyMatrix(o, out);
        const plan = await planQualify(o);
        if (o.plan) {
          // The registry's environment may carry its credentials: never printed.
          const { registryEnv: _secret, ...shown } = plan;
          out.result({ plan: shown }, () => [
            `qualify ${plan.device} ${plan.from} -> ${plan.release}: every suite, ${plan.retries} retr${plan.retries === 1 ? 'y' : 'ies'}, reports in ${plan.out}`,
          ]);
          return 0;
        }
        try {
          await buildPairImages(plan, o, out.narrator);
        } catch (err) {
          // A lab problem (a download, a host tool) is exit 2, as it would be inside the run.
          const status = reportError(err, !!o.json);
          return isInfrastructureError(err) ? EXIT_STATUS.infrastructure : status;
        }
        const { summary, verdict } = await runPair(plan, out.narrator, !!o.json);
        const files = reportFiles(plan.out);
        out.result(
          { verdict, exitStatus: EXIT_STATUS[verdict], files, summary },
          () => [
            ...describeRun(plan, summary, verdict),
            `  report:  ${files.html}`,
            `  summary: ${files.summary}`,
            `  junit:   ${files.junit}`,
          ],
          qualifyFailure(verdict, summary),
        );
        return EXIT_STATUS[verdict];
      },
      { interruptions: 'child' },
    ),
  );
}

/** The disk images of one pair, unless --no-build. */
async function buildPairImages(plan: QualifyPlan, o: QualifyOptions, narrator: Narrator): Promise<void> {
  if (o.build !== false) await buildImages(plan, narrator);
}

/** One pair's run of the suites: Playwright, then its summary and verdict. */
async function runPair(
  plan: QualifyPlan,
  narrator: Narrator,
  json: boolean,
): Promise<{ summary: Summary; verdict: RunVerdict }> {
  narrator.info(`running the suites on ${plan.device}: ${plan.from} -> ${plan.release}, reports in ${plan.out}`);
  const status = await runPlaywright(plan, json);
  const summary = await readSummary(plan.out, status);
  return { summary, verdict: runVerdict(summary) };
}

/** The matrix's files: the table as data, JUnit with one test suite per pair, the table as text. */
export function matrixFiles(out: string) {
  return { matrix: join(out, 'matrix.json'), junit: join(out, 'junit.xml'), table: join(out, 'matrix.txt') };
}

/** Writes the matrix's report files from the pairs' results. */
export async function writeMatrixReport(mplan: MatrixPlan, results: readonly PairResult[]): Promise<string[]> {
  const { device, release } = mplan.plans[0] ?? { device: mplan.matrix.deviceType, release: mplan.matrix.release };
  const files = matrixFiles(mplan.out);
  const table = matrixTable(device, release, results);
  await mkdir(mplan.out, { recursive: true });
  await writeFile(
    files.matrix,
    `${JSON.stringify(matrixDocument(device, release, mplan.matrix.at, results), null, 2)}\n`,
  );
  await writeFile(files.junit, matrixJunit(device, release, results));
  await writeFile(files.table, `${table.join('\n')}\n`);
  return table;
}

/**
 * `--matrix`: the pairs the support policy names, each run as a single qualification is (its
 * images built, the suites run, its reports in its own folder), then the table of pairs x
 * outcome and the JUnit of all of them. A pair whose images cannot be built is reported and the
 * others still run; an interrupted run stops the matrix.
 */
async function qualifyMatrix(o: QualifyOptions, out: Output): Promise<number> {
  const mplan = await planMatrix(o);
  const device = o.device;
  if (o.plan) {
    out.result(
      {
        matrix: mplan.matrix,
        out: mplan.out,
        pairs: mplan.plans.map((p, i) => ({ from: p.from, to: p.release, folder: pairFolder(mplan.matrix.pairs[i]!) })),
      },
      () => [...matrixLines(mplan.matrix, device), `  reports in ${mplan.out}`],
    );
    return 0;
  }
  out.narrator.info(matrixLines(mplan.matrix, device).join('\n'));
  const results: PairResult[] = [];
  for (const [i, plan] of mplan.plans.entries()) {
    const pair = mplan.matrix.pairs[i]!;
    const folder = pairFolder(pair);
    if (results.some((r) => r.summary?.status === 'interrupted')) {
      results.push({ pair, folder, verdict: 'infrastructure', error: 'not run: the matrix was interrupted' });
      continue;
    }
    out.narrator.info(`pair ${i + 1} of ${mplan.plans.length}: ${plan.from} -> ${plan.release}`);
    try {
      await buildPairImages(plan, o, out.narrator);
      results.push({ pair, folder, ...(await runPair(plan, out.narrator, !!o.json)) });
    } catch (err) {
      const message = isHuplabError(err) ? err.oneLine() : err instanceof Error ? err.message : String(err);
      out.narrator.info(`pair ${plan.from} -> ${plan.release} did not run: ${message}`);
      results.push({
        pair,
        folder,
        verdict: isInfrastructureError(err) ? 'infrastructure' : 'product',
        error: message,
      });
    }
  }
  const table = await writeMatrixReport(mplan, results);
  const verdict = matrixVerdict(results);
  const files = matrixFiles(mplan.out);
  const bad = results.filter((r) => r.verdict !== 'passed' || (r.summary && r.summary.totals.tests === 0));
  out.result(
    {
      verdict,
      exitStatus: EXIT_STATUS[verdict],
      files,
      matrix: matrixDocument(device, o.release, mplan.matrix.at, results),
    },
    () => [
      ...table,
      `  table:   ${files.table}`,
      `  matrix:  ${files.matrix}`,
      `  junit:   ${files.junit}`,
      `  pairs:   ${mplan.out}/from-<version>/report.html`,
    ],
    bad.length
      ? {
          code: verdict === 'infrastructure' ? 'not-qualified' : 'qualify-failed',
          message: `${bad.length} of ${results.length} pair(s) did not pass: ${bad.map((r) => `${r.pair.from} (${r.summary?.totals.tests === 0 ? 'no test ran' : r.verdict})`).join(', ')} (see ${files.table})`,
        }
      : undefined,
  );
  // A pair where no test ran is a failure, as it is for one pair.
  return verdict === 'passed' && bad.length ? EXIT_STATUS.product : EXIT_STATUS[verdict];
}
