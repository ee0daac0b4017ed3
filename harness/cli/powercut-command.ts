import type { Command } from 'commander';
import { type ExternalRegistryInput, resolveExternalRegistry } from '../backend/external-registry.ts';
import { addRegistryOptions, registryInput } from './registry-options.ts';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { HuplabError } from '../../lib/errors.ts';
import { buildImage } from '../../images/builder/index.ts';
import { openLab } from '../lab.ts';
import { runCampaign } from '../power/campaign.ts';
import { type CampaignKind, possiblePoints, selectPoints } from '../power/cut-points.ts';
import { campaignHtml, campaignRow, campaignText } from '../report/powercut.ts';
import { makeOutput, type ResultFailure } from './output.ts';
import { run } from './run.ts';
import { nonEmpty, wholeNumber } from './validate.ts';
import { planUpdate } from '../update/plan.ts';
import { migrationPoints, refusedMigrationOptions, runMigrationCuts } from './powercut-migration.ts';

/** A campaign with failed points exits 1: its JSON document says ok: false. */
export function powercutFailure(result: { failures: number }): ResultFailure | undefined {
  if (result.failures === 0) return undefined;
  return {
    code: 'powercut-failed',
    message: `${result.failures} power cut point(s) left the device unusable (see the report)`,
  };
}

export function registerPowercut(program: Command): void {
  const cmd = program
    .command('powercut')
    .description(
      'power-cut campaign: the standard HUP on fresh devices, the power cut at every step, inside the long ones, across the reboot and the commit, and at seeded random moments (or, with --campaign rollback, inside the rollback paths; for a 1.x device to 2.x, at each stage of the migration); each device must come back usable',
    )
    .requiredOption('--device <profile>', 'device profile, e.g. generic-amd64')
    .requiredOption('--from <version>', 'release the devices start on')
    .requiredOption('--to <version>', 'release to update to')
    .option(
      '--campaign <kind>',
      "update: cuts across the update; rollback: cuts inside rollback-health, GRUB's boot counting and rollback-altboot (driven there by the health-fail and unbootable-root faults); migration: a cut at each stage of the 1.x -> 2.x migration (what the plan of a 1.x device to 2.x runs anyway)",
      'update',
    )
    .option('--points <n>', 'seeded random cut points added to the fixed ones (update campaign)', '4')
    .option('--seed <n>', 'seed of the random points and of --keep-random', '1')
    .option(
      '--only <names>',
      'only these points, comma-separated (a trailing * matches a prefix), e.g. "write-root*,commit"',
    )
    .option(
      '--keep-random',
      "a cut keeps a seeded random half of the disk's unflushed writes instead of losing them all",
    )
    .option('--workers <n>', 'devices running points at once (each point on a device of its own)', '1')
    .option(
      '--from-saved',
      'each point starts from a restored copy of one device booted and saved before the update, not a flash and a cold boot',
    )
    .option('--out <dir>', "where powercut.json, powercut.html and the failures' disks and logs go")
    .option('--json', 'print the result as JSON');
  addRegistryOptions(cmd).action(
    run(
      async (
        o: {
          device: string;
          from: string;
          to: string;
          campaign: string;
          points: string;
          seed: string;
          workers: string;
          fromSaved?: boolean;
          only?: string;
          keepRandom?: boolean;
          out?: string;
          json?: boolean;
        } & ExternalRegistryInput,
      ) => {
        const out = makeOutput(!!o.json);
        if (!['update', 'rollback', 'migration'].includes(o.campaign))
          throw new HuplabError(
            'option-invalid',
            `--campaign must be update, rollback or migration, not "${o.campaign}"`,
            { hint: 'leave it out for the update campaign (or the migration, when the plan is one)' },
          );
        // Every option before the image build: a mistake costs no time.
        const random = wholeNumber('points', o.points);
        const seed = wholeNumber('seed', o.seed);
        const workers = wholeNumber('workers', o.workers, 1);
        const only =
          o.only !== undefined
            ? nonEmpty('only', o.only)
                .split(',')
                .map((s) => s.trim())
                .filter(Boolean)
            : undefined;
        if (o.out !== undefined) nonEmpty('out', o.out);
        const plan = await planUpdate({ device: o.device, from: o.from, to: o.to });
        if (plan.decision.method === 'refused')
          throw new HuplabError('update-refused', `${o.device} ${o.from} -> ${o.to}: ${plan.decision.reason}`, {
            hint: plan.decision.hint,
          });
        const external = await resolveExternalRegistry(registryInput(o));
        const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, 'Z');
        if (plan.decision.method === '1.x-to-2.x') {
          refusedMigrationOptions({ ...o, external: external !== undefined });
          // A misspelt stage is known before the image build.
          migrationPoints(only);
          return runMigrationCuts(
            {
              device: o.device,
              target: plan.target.name,
              from: o.from,
              to: o.to,
              ...(only ? { only } : {}),
              outDir: resolve(o.out ?? join('reports', `powercut-migration-${o.device}-${o.from}-${o.to}-${stamp}`)),
            },
            out,
          );
        }
        if (o.campaign === 'migration')
          throw new HuplabError(
            'option-invalid',
            `--campaign migration cuts the 1.x -> 2.x migration; ${o.device} ${o.from} -> ${o.to} takes the ${plan.decision.method} path`,
            { hint: 'give a 1.x profile and release and a 2.x target (see `huplab hup --plan`)' },
          );
        const kind: CampaignKind = o.campaign as CampaignKind;
        // A misspelt point name is known before the image build and the reference run.
        if (only) selectPoints(possiblePoints(kind, { to: o.to, random, seed }), only);
        if (plan.decision.method !== 'standard')
          throw new HuplabError(
            'update-refused',
            `powercut runs the standard update; ${o.device} ${o.from} -> ${o.to} takes the ${plan.decision.method} path`,
            {
              hint: 'pick --from and --to of the same OS line (see `huplab hup --plan`)',
            },
          );
        const outDir = resolve(o.out ?? join('reports', `powercut-${kind}-${o.device}-${o.from}-${o.to}-${stamp}`));
        await buildImage({ device: o.device, release: o.from, narrator: out.narrator });
        const result = await runCampaign({
          lab: openLab(),
          device: o.device,
          from: o.from,
          to: o.to,
          kind,
          random,
          seed,
          workers,
          fromSaved: !!o.fromSaved,
          ...(only ? { only } : {}),
          keep: o.keepRandom ? 'random' : 'none',
          outDir,
          ...(external ? { external } : {}),
          narrator: out.narrator,
          onPoint: (p, i, n) => out.narrator.info(`[${i + 1}/${n}] ${campaignRow(p)}`),
        });
        await writeFile(join(outDir, 'powercut.html'), campaignHtml(result));
        out.result(
          { ...result, html: join(outDir, 'powercut.html') },
          () => [...campaignText(result), `report: ${join(outDir, 'powercut.html')} (and powercut.json)`],
          powercutFailure(result),
        );
        return result.failures === 0 ? 0 : 1;
      },
    ),
  );
}
