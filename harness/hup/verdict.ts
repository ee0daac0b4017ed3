import type { UpdateOutcome } from './run-hup.ts';

export interface Verdict { ok: boolean; checks: Array<{ what: string; ok: boolean; detail: string }> }

/**
 * What must hold after a successful standard HUP: the new OS runs from the other root, it has
 * committed (no breadcrumbs, upgrade_available=0), no rollback happened, and the application's
 * records on /data are intact and continuous across the reboot.
 */
export function expectSuccess(o: UpdateOutcome, expectDownload?: { kind: 'delta' | 'full'; source?: string }): Verdict {
  const checks = [
    { what: 'updater exited 0', ok: o.exitCode === 0, detail: `exit ${o.exitCode}${o.failure ? `: ${o.failure}` : ''}` },
    { what: 'device rebooted into the new OS', ok: o.after.version === o.to, detail: `version ${o.before.version} -> ${o.after.version}` },
    { what: 'root switched', ok: o.before.root !== o.after.root && o.after.root !== '', detail: `${o.before.root} -> ${o.after.root}` },
    { what: 'update committed', ok: o.committed && o.breadcrumbs.length === 0 && o.after.bootEnv.upgrade_available === '0', detail: `breadcrumbs: ${o.breadcrumbs.join(' ') || 'none'}, upgrade_available=${o.after.bootEnv.upgrade_available}` },
    { what: 'no rollback', ok: !o.rollback.health && !o.rollback.altboot, detail: JSON.stringify(o.rollback) },
    { what: '/data records intact', ok: o.records.intact, detail: `${o.records.before} before, ${o.records.after} after` },
    { what: '/data records continuous', ok: o.records.continuous, detail: `largest gap ${o.records.maxGapSeconds.toFixed(1)} s` },
  ];
  if (expectDownload) {
    const ok = o.download?.kind === expectDownload.kind && (!expectDownload.source || o.download.source === expectDownload.source);
    checks.push({ what: `OS downloaded as ${expectDownload.kind}${expectDownload.source ? ` from ${expectDownload.source}` : ''}`, ok, detail: o.download ? `${o.download.kind} from ${o.download.source}` : 'nothing downloaded' });
  }
  return { ok: checks.every((c) => c.ok), checks };
}

export function describeOutcome(o: UpdateOutcome, verdict: Verdict): string[] {
  return [
    `standard HUP ${o.before.version} -> ${o.to}: ${verdict.ok ? 'PASSED' : 'FAILED'}`,
    `  method:      standard (delta first, then the registries)`,
    `  download:    ${o.download ? `${o.download.kind}, ${o.download.bytes} bytes from ${o.download.source}` : 'none'}`,
    `  root:        ${o.before.root} -> ${o.after.root}; version ${o.before.version} -> ${o.after.version}`,
    `  bootenv:     ${Object.entries(o.after.bootEnv).map(([k, v]) => `${k}=${v}`).join(' ')}`,
    `  rollback:    health ${o.rollback.health ? 'TRIGGERED' : 'no'}, altboot ${o.rollback.altboot ? 'TRIGGERED' : 'no'}; breadcrumbs ${o.breadcrumbs.join(' ') || 'none'}`,
    `  application: ${o.records.before} records before, ${o.records.after} after, intact ${o.records.intact}, continuous ${o.records.continuous}, downtime ${o.records.maxGapSeconds.toFixed(1)} s`,
    `  time:        updater ${o.seconds.update.toFixed(1)} s, trigger to committed ${o.seconds.toCommit.toFixed(1)} s`,
    '  steps:',
    ...o.steps.map((s) => `    ${s.step.padEnd(18)} ${s.seconds.toFixed(1).padStart(6)} s  ${s.detail}`),
    ...(o.failure ? [`  failed at ${o.failedStep}: ${o.failure}`] : []),
    `  progress:    ${o.progress.map((p) => `${p.percent}% ${p.message}`).join(' | ')}`,
    '  logs:',
    ...o.logs.map((l) => `    ${l}`),
    '  checks:',
    ...verdict.checks.map((c) => `    ${c.ok ? 'ok  ' : 'FAIL'} ${c.what}: ${c.detail}`),
  ];
}
