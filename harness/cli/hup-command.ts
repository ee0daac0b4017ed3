import { isIP } from 'node:net';
import type { Command } from 'commander';
import { HuplabError } from '../../lib/errors.ts';
import { openLab } from '../lab.ts';
import { describeAdvanced } from '../update/advanced-verdict.ts';
import { describePlan, describePolicy, planPolicy, planUpdate, policyHint } from '../update/plan.ts';
import { parsePolicyDate } from '../../lib/release-policy.ts';
import { describeOutcome } from '../update/verdict.ts';
import { attachTerminal } from '../console/attach.ts';
import type { DeviceDriver } from '../driver/driver.ts';
import { makeOutput, verdictFailure } from './output.ts';
import { run } from './run.ts';
import { checkDeviceName, existingFile } from './validate.ts';
import { checkBoardProfile } from '../device/start.ts';
import { findBoard, inventoryPath, loadInventory, type InventoryBoard } from '../board/inventory.ts';
import { FAULTS, findFault } from '../faults/index.ts';
import { findOnexFault, ONEX_FAULTS } from '../faults/onex.ts';
import { runOnexHup } from '../jobs/onex-update.ts';
import { describeOnex } from '../update/onex-verdict.ts';
import { runHup } from '../jobs/hup.ts';
import { runOnexMigration } from '../jobs/onex-migrate.ts';
import { isOnexFault as isMigrationFault, ONEX_FAULTS as MIGRATION_FAULTS } from '../faults/onex-migrate.ts';
import { describeMigration } from '../update/onex-migrate-verdict.ts';
import { requireQemu } from '../qemu/kvm-probe.ts';
import { loadProfile } from '../../lib/profile.ts';
import { runAdvancedHup } from '../jobs/advanced.ts';
import type { UpdateBackend } from '../backend/update-backend.ts';
import { type ExternalRegistryInput, isLoopback, resolveExternalRegistry } from '../backend/external-registry.ts';
import { addRegistryOptions, registryInput } from './registry-options.ts';
import { checkVariant } from '../../images/recipe.ts';

interface HupOptions extends ExternalRegistryInput {
  device?: string;
  board?: string;
  inventory?: string;
  from: string;
  to: string;
  toDevice?: string;
  variant?: string;
  name: string;
  fault?: string;
  then?: string;
  keep?: boolean;
  json?: boolean;
  plan?: boolean;
  allowUnsupported?: boolean;
  at?: string;
  listen?: string;
  advertise?: string;
}

export function registerHup(program: Command): void {
  const cmd = program
    .command('hup')
    .description(
      'flash a fresh emulated device (or a board of the lab inventory) with --from, update it to --to through the backend, follow it to the end and report; the method (standard, advanced, 1.x or 1.x-to-2.x) is decided from the two releases and the device type and printed first',
    )
    .option('--device <profile>', "device profile, e.g. generic-amd64 (with --board: the board's, by default)")
    .option('--board <name>', 'run on this board of the lab inventory instead of a fresh emulated device')
    .option('--inventory <file>', 'lab inventory for --board (JSON or YAML); default: $HUPLAB_INVENTORY')
    .requiredOption('--from <version>', 'release the device starts on')
    .requiredOption('--to <version>', 'release to update to')
    .option(
      '--to-device <profile>',
      'profile of the target OS line when it is another one of the same board (e.g. raspberrypi3-64 for a raspberrypi3; found by itself for the Jetson JetPack lines)',
    )
    .option(
      '--variant <variant>',
      "OS variant: development (root on the serial console, SSH without password) or production (no console login, SSH with a key of config.json only); both releases are built in it; default: each recipe's",
    )
    .option('--plan', 'only say which update method would run and what the support policy says of the target, and why')
    .option(
      '--allow-unsupported',
      'run it even when the support policy refuses the target (end of life, not maintained; see `huplab releases`)',
    )
    .option('--at <date>', 'judge the target by the support policy on this day, YYYY-MM-DD (default: today)')
    .option('--name <name>', 'device name in the lab', 'hup')
    .option(
      '--fault <name>',
      `inject a fault and check its expected outcome (standard path: ${FAULTS.map((f) => f.name).join(', ')}; 1.x path: ${ONEX_FAULTS.map((f) => f.name).join(', ')}; 1.x-to-2.x: ${MIGRATION_FAULTS.map((f) => f.name).join(', ')})`,
    )
    .option('--then <version>', '1.x-to-2.x: once migrated, a standard 2.x update to this release, judged too')
    .option(
      '--listen <address>',
      "with --board: the backend also listens here (0.0.0.0: all addresses; default: the inventory's backend.listen, else loopback only)",
    )
    .option(
      '--advertise <host>',
      "with --board: this host's address as the board reaches it (default: the inventory's backend.advertise)",
    )
    .option('--keep', 'leave the device running and attach to its console at the end')
    .option('--json', 'print the report as JSON');
  addRegistryOptions(cmd).action(
    run(async (o: HupOptions) => {
      const out = makeOutput(!!o.json);
      // Every option before anything is built or started (the backend, the lab folder).
      checkDeviceName(o.name);
      // A fault of the 1.x update or of the migration by its name (the migration's is checked against the
      // method below), else one of the standard path (which names the known ones when unknown).
      const onexFault = o.fault !== undefined ? findOnexFault(o.fault) : undefined;
      const fault = o.fault !== undefined && !onexFault && !isMigrationFault(o.fault) ? findFault(o.fault) : undefined;
      const variant = o.variant !== undefined ? checkVariant(o.variant, '--variant') : undefined;
      const at = o.at !== undefined ? parsePolicyDate(o.at, '--at') : new Date();
      const { device, board } = await deviceOrBoard(o);
      const external = await resolveExternalRegistry(registryInput(o));
      if (external && board && isLoopback(new URL(external.url))) {
        throw new HuplabError(
          'registry-not-for-board',
          `board ${board.name} cannot reach ${external.url}: that is this host's loopback`,
          { hint: "give the registry's address on the lab network (--registry http://<lab host>:5000)" },
        );
      }
      const plan = await planUpdate({
        device,
        from: o.from,
        to: o.to,
        ...(o.toDevice ? { toDevice: o.toDevice } : {}),
      });
      // The support policy judges the target before anything is checked on the host, built or started.
      const policy = await planPolicy(plan, at);
      const unsupported = !policy.allowed && !o.allowUnsupported;
      if (!o.plan) {
        if (plan.decision.method === 'refused') {
          throw new HuplabError(
            'update-refused',
            `${device} ${o.from} -> ${plan.target.name} ${o.to}: ${plan.decision.reason}`,
            { hint: plan.decision.hint },
          );
        }
        if (unsupported) {
          throw new HuplabError(
            'target-unsupported',
            `${device} ${o.from} -> ${plan.target.name} ${o.to}: ${policy.reason}`,
            { hint: policyHint(plan) },
          );
        }
      }
      // An emulated device needs QEMU: said before the releases are built.
      const qemu = board || o.plan ? undefined : (await loadProfile(device)).qemu;
      if (qemu) await requireQemu(qemu.binary);
      if (o.plan) {
        const failure =
          plan.decision.method === 'refused'
            ? {
                code: 'update-refused',
                message: `${plan.decision.reason}${plan.decision.hint ? ` (${plan.decision.hint})` : ''}`,
              }
            : unsupported
              ? { code: 'target-unsupported', message: `${policy.reason} (${policyHint(plan)})` }
              : undefined;
        out.result(
          {
            plan: {
              method: plan.decision.method,
              reason: plan.decision.reason,
              device: plan.device.name,
              target: plan.target.name,
              policy: { ...policy, ...(o.allowUnsupported ? { allowUnsupported: true } : {}) },
            },
          },
          () => [describePlan(plan), describePolicy(policy, !!o.allowUnsupported)],
          failure,
        );
        return failure ? 1 : 0;
      }

      if (o.fault !== undefined && isMigrationFault(o.fault) !== (plan.decision.method === '1.x-to-2.x'))
        throw new HuplabError(
          'fault-invalid',
          `--fault ${o.fault} is ${isMigrationFault(o.fault) ? 'a fault of the 1.x -> 2.x migration' : 'not a fault of the 1.x -> 2.x migration'}, and this update takes the ${plan.decision.method} path`,
          { hint: `the migration's faults: ${MIGRATION_FAULTS.map((f) => f.name).join(', ')}` },
        );
      if (o.then !== undefined && plan.decision.method !== '1.x-to-2.x')
        throw new HuplabError('option-invalid', '--then follows a 1.x -> 2.x migration only', {
          hint: 'drop --then',
        });
      if (plan.decision.method === '1.x-to-2.x') {
        if (board || external || variant)
          throw new HuplabError(
            'option-invalid',
            'the 1.x -> 2.x migration runs on an emulated device with the built-in backend',
            { hint: 'drop --board, --registry and --variant' },
          );
        out.narrator.info?.(describePlan(plan));
        out.narrator.info?.(describePolicy(policy, !!o.allowUnsupported));
        const m = await runOnexMigration({
          lab: openLab(),
          device,
          target: plan.target.name,
          from: o.from,
          to: o.to,
          ...(o.then ? { next: o.then } : {}),
          name: o.name,
          narrator: out.narrator,
          ...(o.fault ? { fault: o.fault } : {}),
        });
        const ok = m.verdict.ok && (m.next?.verdict.ok ?? true);
        out.result(
          {
            method: '1.x-to-2.x',
            verdict: m.verdict,
            outcome: m.outcome,
            ...(m.next ? { next: m.next } : {}),
            device: m.device.name,
            serialLog: m.device.paths.serialLog,
          },
          () => [
            ...describeMigration(m.outcome, m.verdict),
            ...(m.next ? ['standard 2.x update on top:', ...describeOutcome(m.next.outcome, m.next.verdict)] : []),
            `  console log: ${m.device.paths.serialLog}`,
          ],
          verdictFailure({ ok, checks: [...m.verdict.checks, ...(m.next?.verdict.checks ?? [])] }),
        );
        await m.backend.services.stop();
        if (!o.keep) await m.device.powerCut();
        await m.device.close();
        return ok ? 0 : 1;
      }
      if (onexFault && plan.decision.method !== '1.x')
        throw new HuplabError(
          'fault-invalid',
          `--fault ${onexFault.name} is a fault of the 1.x -> 1.x update; ${o.from} -> ${o.to} takes the ${plan.decision.method} path`,
          { hint: 'give two 1.x releases, e.g. --device generic-amd64-1x --from 1.26.1 --to 1.30.1' },
        );
      if (plan.decision.method === '1.x') {
        const conflict = fault
          ? `--fault ${fault.name} is a fault of the standard path`
          : board
            ? '--board is not supported on the 1.x path yet'
            : external
              ? '--registry serves the standard path'
              : variant
                ? '--variant is for the standard path'
                : undefined;
        if (conflict)
          throw new HuplabError('option-conflict', `${conflict}; ${o.from} -> ${o.to} takes the 1.x path`, {
            hint: `drop it${fault ? ` (1.x faults: ${ONEX_FAULTS.map((f) => f.name).join(', ')})` : ''}`,
          });
      }
      if (plan.decision.method === 'advanced' && external)
        throw new HuplabError(
          'registry-invalid',
          '--registry serves the standard path; the advanced path downloads its disk image from the API',
          { hint: 'drop --registry for this update' },
        );
      if (plan.decision.method === 'advanced' && fault)
        throw new HuplabError(
          'fault-invalid',
          `--fault ${fault.name} is a fault of the standard path; the advanced path's faults run in the hup-advanced suite`,
          { hint: 'drop --fault, or run `npx playwright test suites/hup-advanced.spec.ts`' },
        );
      if (plan.decision.method === 'advanced' && variant)
        throw new HuplabError(
          'option-conflict',
          '--variant is for the standard path; the advanced path builds each recipe in its own variant',
          { hint: 'drop --variant, or set "variant" in the release recipes' },
        );
      out.narrator.info?.(describePlan(plan));
      out.narrator.info?.(describePolicy(policy, !!o.allowUnsupported));
      const lab = openLab();
      let r: { device: DeviceDriver; backend: UpdateBackend; verdict: { ok: boolean } };
      if (plan.decision.method === '1.x') {
        const x = await runOnexHup({
          lab,
          device,
          from: o.from,
          to: o.to,
          name: o.name,
          narrator: out.narrator,
          ...(onexFault ? { fault: onexFault } : {}),
        });
        out.result(
          {
            method: '1.x',
            verdict: x.verdict,
            outcome: x.outcome,
            device: x.device.name,
            serialLog: x.device.paths.serialLog,
          },
          () => [...describeOnex(x.outcome, x.verdict), `  console log: ${x.device.paths.serialLog}`],
          verdictFailure(x.verdict),
        );
        r = x;
      } else if (plan.decision.method === 'advanced') {
        const a = await runAdvancedHup({
          lab,
          device,
          ...(board ? { board } : {}),
          toDevice: plan.target.name,
          from: o.from,
          to: o.to,
          name: o.name,
          narrator: out.narrator,
        });
        out.result(
          {
            method: 'advanced',
            verdict: a.verdict,
            outcome: a.outcome,
            device: a.device.name,
            serialLog: a.device.paths.serialLog,
          },
          () => [...describeAdvanced(a.outcome, a.verdict), `  console log: ${a.device.paths.serialLog}`],
          verdictFailure(a.verdict),
        );
        r = a;
      } else {
        const s = await runHup({
          lab,
          device,
          ...(board ? { board } : {}),
          from: o.from,
          to: o.to,
          name: o.name,
          narrator: out.narrator,
          ...(variant ? { variant } : {}),
          ...(fault ? { fault: fault.name } : {}),
          ...(external ? { external } : {}),
        });
        out.result(
          {
            method: 'standard',
            verdict: s.verdict,
            outcome: s.outcome,
            device: s.device.name,
            serialLog: s.device.paths.serialLog,
          },
          () => [...describeOutcome(s.outcome, s.verdict), `  console log: ${s.device.paths.serialLog}`],
          verdictFailure(s.verdict),
        );
        r = s;
      }
      await r.backend.services.stop();
      if (!o.keep) await r.device.powerCut();
      await r.device.close();
      // A board's console is served by this process (its serial bridge), so only an emulated
      // device's can be attached to once the run is over.
      if (o.keep && !board && !o.json && process.stdin.isTTY)
        await attachTerminal(r.device.paths.serialSock, { name: r.device.name });
      else if (o.keep && !board)
        out.narrator.info?.(
          `${r.device.name} is still running (--keep): \`huplab device ssh --name ${r.device.name}\`, stop it with \`huplab device stop --name ${r.device.name}\``,
        );
      return r.verdict.ok ? 0 : 1;
    }),
  );
}

/**
 * The profile to update and, with --board, the inventory's board: checked before anything is
 * built or started.
 */
async function deviceOrBoard(o: HupOptions): Promise<{ device: string; board?: InventoryBoard }> {
  if (o.board === undefined) {
    const boardOnly = (['listen', 'advertise'] as const).find((k) => o[k] !== undefined);
    if (boardOnly)
      throw new HuplabError('option-invalid', `--${boardOnly} goes with --board`, {
        hint: 'an emulated device reaches the backend through its own network; name a board with --board NAME',
      });
    if (o.inventory !== undefined)
      throw new HuplabError('option-invalid', '--inventory goes with --board', {
        hint: 'name the board: --board NAME',
      });
    if (o.device === undefined)
      throw new HuplabError('option-missing', 'no device given', {
        hint: 'pass --device <profile> (see `huplab images list`) or --board NAME --inventory FILE',
      });
    return { device: o.device };
  }
  if (o.inventory !== undefined) existingFile('inventory', o.inventory);
  const board = findBoard(await loadInventory(inventoryPath(o.inventory)), o.board);
  checkBoardProfile(board, o.device);
  if (o.listen !== undefined && isIP(o.listen) === 0)
    throw new HuplabError('option-invalid', `--listen ${o.listen}: not an IP address`, {
      hint: "give one of this host's addresses, or 0.0.0.0 for all",
    });
  if (o.advertise !== undefined && !/^[A-Za-z0-9.-]+$/.test(o.advertise))
    throw new HuplabError('option-invalid', `--advertise ${o.advertise}: not a host name or IPv4 address`, {
      hint: "give this host's address on the boards' network",
    });
  const backend = {
    ...board.backend,
    ...(o.listen !== undefined ? { listen: o.listen } : {}),
    ...(o.advertise !== undefined ? { advertise: o.advertise } : {}),
  };
  return { device: board.profile, board: Object.keys(backend).length ? { ...board, backend } : board };
}
