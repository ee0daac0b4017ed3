/**
 * The verdict on a 1.x -> 2.x migration: named checks that say what was expected and what was
 * seen. Success: every step done, 2.x booted from resin-rootB on the 2.x layout, /data the same
 * byte for byte, the WiFi settings as keyfiles, the application back, the field's stages at the
 * API. Refusal: refused with its code, before anything was touched.
 */
import { ONEX_MIGRATE_STEPS, ONEX_TO_2X_PROGRESS } from '../../lib/contract/onex.ts';
import { keyfilesFor1x } from '../../lib/nm-keyfiles.ts';
import type { MigrationOutcome } from './onex-migrate.ts';
import type { Check, Verdict } from './types.ts';

/** What a scenario expects of a migration (a fault of harness/faults/onex-migrate.ts says it). */
export interface MigrationExpectation {
  name: string;
  /** `refused`: the migration refuses at data-check, the disk untouched. */
  expect: 'success' | 'refused';
  /** For a refusal: its code. */
  refusal?: string;
  /** The WiFi settings put in config.json: the keyfile `resin-wifi` must carry them. */
  configWifi?: { ssid: string; passphrase: string };
  /** The migration must first move the device off the spare root. */
  switchesRoot?: boolean;
}

const check = (what: string, ok: boolean, detail: string): Check => ({ what, ok, detail });

/** The 2.x layout by partition number, as the migration leaves it. */
export const MIGRATED_LABELS = {
  '1': 'resin-boot',
  '2': 'resin-rootA',
  '3': 'resin-rootB',
  '5': 'resin-state',
  '6': 'resin-data',
} as const;

/** The field's stages, in the order the API must have seen them. */
const STAGES = [
  ONEX_TO_2X_PROGRESS.preparing,
  ONEX_TO_2X_PROGRESS.preparing2,
  ONEX_TO_2X_PROGRESS.downloading,
  ONEX_TO_2X_PROGRESS.processing,
  ONEX_TO_2X_PROGRESS.running,
  ONEX_TO_2X_PROGRESS.done,
];

export function migrationVerdict(
  o: MigrationOutcome,
  opts: { fault?: MigrationExpectation; wifiConnect?: { ssid: string; passphrase: string } } = {},
): Verdict {
  const checks: Check[] = [];
  const last = o.runs.at(-1)!;
  if (opts.fault?.expect === 'refused') {
    checks.push(
      check(
        'refused at data-check',
        last.exitCode === 1 && last.failedStep === 'data-check',
        `exit ${last.exitCode}, failed step ${last.failedStep ?? 'none'}`,
      ),
      check(
        `refusal ${opts.fault.refusal}`,
        last.refused?.code === opts.fault.refusal,
        `refused ${last.refused?.code ?? 'nothing'}: ${last.refused?.message ?? ''}`,
      ),
      check(
        'nothing after the checks ran',
        !last.steps.some((s) => ['stop-services', 'backup', 'repartition'].includes(s.step)),
        `steps: ${[...new Set(last.steps.map((s) => s.step))].join(' ')}`,
      ),
    );
    return { ok: checks.every((c) => c.ok), checks };
  }
  const done = last.steps.filter((s) => s.phase === 'done').map((s) => s.step);
  checks.push(
    check(
      'migration exited 0',
      last.exitCode === 0,
      `exit ${last.exitCode}${last.failure ? `: ${last.failedStep} ${last.failure}` : ''}`,
    ),
    check('every step done, in order', done.join(' ') === ONEX_MIGRATE_STEPS.join(' '), `done: ${done.join(' ')}`),
  );
  if (opts.fault?.switchesRoot)
    checks.push(
      check(
        'moved off the spare root first',
        o.switchedRoot && o.before.rootLabel === 'resin-updt',
        `before on ${o.before.rootLabel}, switched: ${o.switchedRoot}`,
      ),
    );
  const a = o.after;
  if (!a) {
    checks.push(check('2.x booted', false, 'the device did not come back'));
    return { ok: false, checks };
  }
  checks.push(
    check(`runs ${o.to}`, a.version === o.to, `version ${a.version}`),
    check('booted resin-rootB', a.rootLabel === 'resin-rootB', `root=LABEL=${a.rootLabel}`),
    check(
      '2.x layout and labels',
      Object.entries(MIGRATED_LABELS).every(([n, l]) => a.labels[n] === l),
      Object.entries(a.labels)
        .map(([n, l]) => `p${n} ${l}`)
        .join(', '),
    ),
  );
  const files = Object.keys(o.before.data);
  const differ = files.filter((f) => a.data[f] !== o.before.data[f]);
  const extra = Object.keys(a.data).filter((f) => !(f in o.before.data));
  checks.push(
    check(
      '/data restored byte for byte',
      files.length > 0 && differ.length === 0 && extra.length === 0,
      `${files.length} files checked${differ.length ? `; differ or missing: ${differ.join(' ')}` : ''}${extra.length ? `; new: ${extra.join(' ')}` : ''}`,
    ),
  );
  // The keyfiles from the 1.x settings read before the migration, and the values the run put there.
  const want = keyfilesFor1x({
    ...(o.before.configNetwork ? { configJsonNetwork: o.before.configNetwork } : {}),
    ...(o.before.wifiConnect ? { wifiConnect: o.before.wifiConnect } : {}),
  });
  const same = want.length === Object.keys(a.keyfiles).length && want.every((k) => a.keyfiles[k.name] === k.content);
  checks.push(
    check(
      'WiFi settings migrated to keyfiles',
      same && want.length > 0,
      `expected ${want.map((k) => k.name).join(', ') || 'none'}; found ${Object.keys(a.keyfiles).join(', ') || 'none'}`,
    ),
  );
  for (const [name, wifi] of [
    ['resin-wifi-connect', opts.wifiConnect],
    ['resin-wifi', opts.fault?.configWifi],
  ] as const) {
    if (!wifi) continue;
    const text = a.keyfiles[name] ?? '';
    checks.push(
      check(
        `${name} carries ${wifi.ssid}`,
        text.includes(`\nssid=${wifi.ssid}\n`) && text.includes(`\npsk=${wifi.passphrase}\n`),
        text
          ? text
              .split('\n')
              .filter((l) => /^(ssid|psk|type)=/.test(l))
              .join(' ')
          : 'no such keyfile',
      ),
    );
  }
  checks.push(
    check(
      'first 2.x boot without the application image',
      o.firstBootWithoutApp === true,
      o.firstBootWithoutApp ? 'the init script found none' : 'the init script found one (not removed?)',
    ),
    check(
      'application fetched again by the supervisor',
      a.appFetched && a.appRelease !== '',
      a.appFetched ? `release ${a.appRelease} installed and started` : 'the supervisor log says no fetch',
    ),
    check('application back after the first boot', a.appRunning, a.appRunning ? 'running' : 'not running'),
    check('containers and images of 1.x gone', a.containers === 0, `${a.containers} container record(s)`),
  );
  const seen = o.progress.map((p) => `${p.percent} ${p.message}`);
  let at = 0;
  const missing: string[] = [];
  for (const s of STAGES) {
    const i = seen.indexOf(`${s.percent} ${s.message}`, at);
    if (i < 0) missing.push(`${s.percent} ${s.message}`);
    else at = i + 1;
  }
  checks.push(
    check(
      'the API saw the stages in order',
      missing.length === 0,
      missing.length ? `missing: ${missing.join('; ')}` : seen.join(' | '),
    ),
  );
  return { ok: checks.every((c) => c.ok), checks };
}

/** The report's lines for a migration: what ran, how long, what came out, each check. */
export function describeMigration(o: MigrationOutcome, verdict: Verdict): string[] {
  const last = o.runs.at(-1)!;
  const steps = last.steps.filter((s) => s.phase === 'done');
  return [
    `1.x -> 2.x migration ${o.before.version} -> ${o.to}: ${verdict.ok ? 'PASSED (the outcome matches the scenario)' : 'FAILED (the outcome does not match the scenario)'}`,
    `  runs:        ${o.runs.length}${o.switchedRoot ? ' (the first moved the device off the spare root)' : ''}; exit ${last.exitCode}`,
    `  root:        ${o.before.rootLabel} -> ${o.after?.rootLabel ?? '?'}; version ${o.before.version} -> ${o.after?.version ?? '?'}`,
    `  time:        migration ${o.seconds.migration.toFixed(1)} s, to the 2.x application ${o.seconds.toFirstBoot.toFixed(1)} s`,
    ...(last.refused ? [`  refused:     ${last.refused.code}: ${last.refused.message}`] : []),
    '  steps:',
    ...steps.map(
      (s) =>
        `    ${s.step.padEnd(18)} ${(s.seconds ?? 0).toFixed(1).padStart(6)} s  ${s.detail.replace(/^\([\d.]+s\) ?/, '')}`,
    ),
    ...(last.failedStep ? [`  failed:      ${last.failedStep}: ${last.failure}`] : []),
    `  API:         ${o.progress.map((p) => `${p.percent}% ${p.message}`).join(' | ')}`,
    '  checks:',
    ...verdict.checks.map((c) => `    ${c.ok ? 'ok  ' : 'FAIL'} ${c.what}: ${c.detail}`),
  ];
}
