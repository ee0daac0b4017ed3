/**
 * `huplab powercut` when the plan is the 1.x -> 2.x migration (the method is chosen from the
 * releases, never by the user): one fresh 1.x device per stage point, the cut as the migration
 * starts the stage's step, judged against what must hold there (harness/power/onex-migrate-cuts.ts).
 * The options the standard campaign has and this one does not are refused before anything runs.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HuplabError } from '../../lib/errors.ts';
import { buildImage } from '../../images/builder/index.ts';
import { MIGRATION_STORAGE_MIB } from '../jobs/onex-migrate.ts';
import { openLab } from '../lab.ts';
import { selectPoints } from '../power/cut-points.ts';
import { describeOnexCuts, ONEX_CUT_POINTS, runOnexCutCampaign } from '../power/onex-migrate-cuts.ts';
import type { Output } from './output.ts';

export interface MigrationCutOptions {
  device: string;
  /** The board's 2.x profile (the plan's target). */
  target: string;
  from: string;
  to: string;
  only?: string[];
  outDir: string;
}

/** The options of the standard campaign that mean nothing here, by their flag, when given. */
export function refusedMigrationOptions(o: {
  campaign: string;
  workers: string;
  fromSaved?: boolean;
  keepRandom?: boolean;
  external: boolean;
}): void {
  const given = [
    o.campaign !== 'update' && o.campaign !== 'migration' ? `--campaign ${o.campaign}` : '',
    o.workers !== '1' ? '--workers' : '',
    o.fromSaved ? '--from-saved' : '',
    o.keepRandom ? '--keep-random' : '',
    o.external ? '--registry' : '',
  ].filter(Boolean);
  if (given.length)
    throw new HuplabError(
      'option-invalid',
      `the 1.x -> 2.x migration's power cuts run one fresh device per stage: ${given.join(', ')} cannot apply`,
      { hint: 'leave them out; --only picks stages' },
    );
}

/** The stage points `--only` names (checked before any build). */
export function migrationPoints(only: string[] | undefined) {
  return selectPoints(ONEX_CUT_POINTS, only);
}

export async function runMigrationCuts(o: MigrationCutOptions, out: Output): Promise<number> {
  const points = migrationPoints(o.only);
  await buildImage({ device: o.device, release: o.from, narrator: out.narrator });
  const started = Date.now();
  const results = await runOnexCutCampaign({
    lab: openLab(),
    device: o.device,
    target: o.target,
    from: o.from,
    to: o.to,
    points,
    storageMiB: MIGRATION_STORAGE_MIB,
    narrator: out.narrator,
  });
  const failures = results.filter((r) => !r.ok).length;
  const result = {
    kind: 'migration',
    device: o.device,
    from: o.from,
    to: o.to,
    points: results,
    failures,
    wallSeconds: Math.round((Date.now() - started) / 1000),
  };
  await mkdir(o.outDir, { recursive: true });
  await writeFile(join(o.outDir, 'powercut.json'), JSON.stringify(result, null, 2));
  out.result(
    result,
    () => [
      `power-cut campaign (migration) ${o.device} ${o.from} -> ${o.to}: ${results.length} stage point(s), ${failures} failure(s); ${(result.wallSeconds / 60).toFixed(1)} min`,
      ...describeOnexCuts(results),
      `report: ${join(o.outDir, 'powercut.json')}`,
    ],
    failures
      ? {
          code: 'powercut-failed',
          message: `${failures} migration stage point(s) did not leave what the stage must (see the report)`,
        }
      : undefined,
  );
  return failures === 0 ? 0 : 1;
}
