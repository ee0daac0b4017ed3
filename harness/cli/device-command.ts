import type { Command } from 'commander';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { HuplabError } from '../../lib/errors.ts';
import { attachTerminal } from '../console/attach.ts';
import { attachDevice, type ListedDevice, listDevices, startEmulated } from '../device/emulated.ts';
import { openLab } from '../lab.ts';
import { deviceDir } from '../device/provision.ts';
import { labDir } from '../../lib/paths.ts';
import { portIsFree } from '../qemu/ports.ts';
import { capability } from '../driver/capabilities.ts';
import { runBoardCommand } from '../board/board-command.ts';
import { findBoard, inventoryPath, loadInventory } from '../board/inventory.ts';
import { requireQemu } from '../qemu/kvm-probe.ts';
import { loadProfile } from '../../lib/profile.ts';
import { checkDeviceName, checkRelease, existingFile, seconds } from './validate.ts';
import { makeOutput } from './output.ts';
import { run } from './run.ts';
import { checkVariant, loadRelease } from '../../images/recipe.ts';
import { provisionWithServer } from '../server/provision.ts';
import type { Variant } from '../../lib/contract/variant.ts';

interface StartOpts {
  device: string;
  release?: string;
  rootB?: string;
  variant?: string;
  disk?: string;
  name?: string;
  sshPort?: string;
  timeout?: string;
  detach?: boolean;
  json?: boolean;
  /** false with --no-server: not provisioned against the lab server even when one runs. */
  server?: boolean;
}

export function registerDevice(program: Command): void {
  const device = program.command('device').description('start, reach and stop emulated devices');

  device
    .command('start')
    .description(
      'flash a device with a release, boot it, and attach to its serial console (ctrl-] detaches, the VM keeps running)',
    )
    .requiredOption('--device <profile>', 'device profile, e.g. generic-amd64')
    .option('--release <version>', 'OS release to flash, e.g. 2.101.0')
    .option('--root-b <version>', 'also fill resin-rootB with this release')
    .option(
      '--variant <variant>',
      "OS variant: development (root on the serial console, SSH without password) or production (no console login, SSH with a key of config.json only); default: the recipe's",
    )
    .option('--disk <file>', 'boot this disk image file instead of a built release (e.g. one kept by a failed run)')
    .option('--name <name>', 'device name in the lab (default: the profile name)')
    .option('--ssh-port <port>', 'host port forwarded to the device SSH (default: a free one)')
    .option('--timeout <seconds>', 'how long to wait for the OS', '180')
    .option('--detach', 'do not attach to the console; leave the device running')
    .option('--json', 'print the result as JSON (implies --detach)')
    .option('--no-server', 'do not provision it against the lab server (`huplab serve`) even when one runs')
    .action(
      run(async (o: StartOpts) => {
        const out = makeOutput(!!o.json);
        const { sshPort, timeoutS, variant } = await checkStart(o);
        const lab = openLab();
        const profile = await loadProfile(o.device);
        // While the lab server runs, the device is registered there and its config.json points at it.
        const provision =
          o.server === false
            ? undefined
            : await provisionWithServer(lab, {
                name: o.name ?? profile.name,
                deviceType: profile.deviceType,
                arch: profile.arch,
                ...(o.release !== undefined
                  ? { osVersion: o.release, supervisorVersion: (await loadRelease(o.release)).supervisorVersion }
                  : {}),
              });
        if (provision)
          out.narrator.info(
            `registered with the lab server at ${provision.server.urls.api} as ${provision.device.uuid}`,
          );
        const started = await startEmulated({
          ...(provision ? { config: provision.config } : {}),
          lab,
          device: o.device,
          narrator: out.narrator,
          timeoutMs: timeoutS * 1000,
          ...(o.release !== undefined ? { release: o.release } : {}),
          ...(o.rootB !== undefined ? { rootB: o.rootB } : {}),
          ...(variant ? { variant } : {}),
          ...(o.disk !== undefined ? { disk: o.disk } : {}),
          ...(o.name !== undefined ? { name: o.name } : {}),
          ...(sshPort ? { sshPort } : {}),
        });
        const d = started.device;
        out.result(
          {
            name: d.name,
            release: started.record.release,
            variant: started.record.variant ?? null,
            uuid: started.record.uuid,
            server: provision ? provision.server.urls.api : null,
            sshPort: d.sshPort,
            pid: d.pid,
            accel: d.accel,
            dir: d.paths.dir,
            serialLog: d.paths.serialLog,
            timingsMs: started.timings,
          },
          () => [
            `${d.name} is up: release ${started.record.release}${started.record.variant ? ` (${started.record.variant})` : ''}, uuid ${started.record.uuid}`,
            ...(provision ? [`  server:  registered with the lab server (${provision.server.urls.api})`] : []),
            `  ssh:     huplab device ssh --name ${d.name}   (127.0.0.1:${d.sshPort})`,
            `  console: huplab device console --name ${d.name}   (log: ${d.paths.serialLog})${
              started.record.variant === 'production' ? '; a production image offers no login there: use ssh' : ''
            }`,
            `  stop:    huplab device stop --name ${d.name}`,
            `  boot: SSH ready ${((started.timings.sshReady ?? 0) / 1000).toFixed(1)} s after power-on (${d.accel})`,
          ],
        );
        // The VM lives on; this process lets go of its console and SSH connections.
        d.close();
        if (!o.detach && !o.json && process.stdin.isTTY) await attachTerminal(d.paths.serialSock, { name: d.name });
      }),
    );

  device
    .command('console')
    .description('attach the terminal to a running device serial console (ctrl-] detaches)')
    .option('--name <name>', 'device name', 'generic-amd64')
    .action(
      run(async (o: { name: string }) => {
        existingDevice(o.name);
        const d = attachDevice(openLab(), o.name);
        if (!d.isRunning()) throw notRunning(o.name);
        d.close();
        if (flashedVariant(d.paths.dir) === 'production')
          process.stderr.write(
            `huplab: ${o.name} was flashed with a production image: its console shows output but offers no login (use \`huplab device ssh --name ${o.name}\`)\n`,
          );
        await attachTerminal(d.paths.serialSock, { name: d.name });
      }),
    );

  device
    .command('link')
    .description(
      "connect or disconnect a device's network link, as a cable pulled: QMP set_link on an emulated device, the inventory's network commands on a board",
    )
    .option('--name <name>', 'emulated device name', 'generic-amd64')
    .option('--board <name>', 'a board of the lab inventory instead of an emulated device')
    .option('--inventory <file>', 'lab inventory for --board (JSON or YAML); default: $HUPLAB_INVENTORY')
    .argument('<state>', 'up or down')
    .option('--json', 'print the result as JSON')
    .action(
      run(async (state: string, o: { name: string; board?: string; inventory?: string; json?: boolean }) => {
        const out = makeOutput(!!o.json);
        const who = o.board ?? o.name;
        if (state !== 'up' && state !== 'down')
          throw new HuplabError('option-invalid', `link state must be up or down, not "${state}"`, {
            hint: `huplab device link ${o.board ? `--board ${o.board}` : `--name ${o.name}`} down`,
          });
        if (o.board === undefined) {
          if (o.inventory !== undefined)
            throw new HuplabError('option-invalid', '--inventory goes with --board', {
              hint: 'name the board: --board NAME',
            });
          existingDevice(o.name);
          const d = attachDevice(openLab(), o.name);
          if (!d.isRunning()) throw notRunning(o.name);
          await capability(d, 'networkLink').setLink(state === 'up');
          d.close();
        } else {
          const board = findBoard(await loadInventory(inventoryPath(o.inventory)), o.board);
          if (!board.network)
            throw new HuplabError(
              'board-no-network-switch',
              `board ${board.name} has no network commands in the inventory`,
              {
                hint: 'add network.down and network.up (the commands that switch its port) to its inventory entry',
              },
            );
          await runBoardCommand(
            { name: board.name, dir: join(openLab().dir, 'boards', board.name) },
            `network ${state}`,
            state === 'up' ? board.network.up : board.network.down,
          );
        }
        out.result({ name: who, link: state }, () => [`${who}: network link ${state}`]);
      }),
    );

  device
    .command('ssh')
    .description('run a command on a device over SSH, or open a shell when none is given')
    .option('--name <name>', 'device name', 'generic-amd64')
    .argument('[command...]', 'command to run on the device')
    .action(
      run(async (command: string[], o: { name: string }) => {
        existingDevice(o.name);
        const lab = openLab();
        const d = attachDevice(lab, o.name);
        if (!d.isRunning()) throw notRunning(o.name);
        if (command.length === 0) {
          // A person's shell: the system ssh client gives the full terminal experience.
          const r = await execa(
            'ssh',
            [
              '-i',
              lab.key.privateKeyPath,
              '-p',
              String(d.sshPort),
              '-o',
              `UserKnownHostsFile=${join(d.paths.dir, 'ssh_known_hosts')}`,
              '-o',
              'StrictHostKeyChecking=accept-new',
              '-o',
              'LogLevel=ERROR',
              'root@127.0.0.1',
            ],
            { stdio: 'inherit', reject: false },
          );
          return r.exitCode ?? 1;
        }
        const ssh = await d.ssh();
        try {
          const r = await ssh.exec(command.join(' '), { timeoutMs: 10 * 60_000 });
          process.stdout.write(r.stdout);
          process.stderr.write(r.stderr);
          return r.code ?? 1;
        } finally {
          ssh.close();
          d.close();
        }
      }),
    );

  device
    .command('stop')
    .description('power a device off: cleanly (the OS shuts down) or, with --force, by cutting the power')
    .option('--name <name>', 'device name', 'generic-amd64')
    .option('--force', 'cut the power (SIGKILL of QEMU): unflushed writes are lost, as on a real device')
    .option('--json', 'print the result as JSON')
    .action(
      run(async (o: { name: string; force?: boolean; json?: boolean }) => {
        const out = makeOutput(!!o.json);
        existingDevice(o.name);
        const d = attachDevice(openLab(), o.name);
        const wasRunning = d.isRunning();
        if (wasRunning) {
          if (o.force) await out.narrator.step(`cut power of ${o.name}`, () => d.powerCut());
          else await out.narrator.step(`shut ${o.name} down`, () => d.powerOff({ clean: true, timeoutMs: 60_000 }));
        }
        d.close();
        out.result({ name: o.name, wasRunning, how: o.force ? 'power-cut' : 'clean' }, () => [
          wasRunning ? `${o.name} is off` : `${o.name} was not running`,
        ]);
      }),
    );

  device
    .command('list')
    .description('list the devices of the lab')
    .option('--json', 'print the result as JSON')
    .action(
      run(async (o: { json?: boolean }) => {
        const out = makeOutput(!!o.json);
        // Listing makes nothing: a lab that does not exist yet has no devices, and stays unmade.
        const dir = resolve(labDir());
        const devices = existsSync(dir) ? await listDevices(openLab(dir)) : [];
        const lab = { dir };
        out.result({ lab: lab.dir, devices }, () =>
          devices.length === 0
            ? [`no devices in ${lab.dir}`]
            : devices.map(
                (d) =>
                  `${d.name.padEnd(20)} ${(d.running ? `running  ssh 127.0.0.1:${d.sshPort}` : 'off').padEnd(28)} ${nowRunning(d)}`,
              ),
        );
      }),
    );
}

/** The release column: what it runs now when it said so, else what it was flashed with, marked. */
function nowRunning(d: ListedDevice): string {
  if (d.release) return `runs ${d.release}${d.flashed && d.flashed !== d.release ? ` (flashed ${d.flashed})` : ''}`;
  if (d.flashed) return d.running ? `flashed ${d.flashed} (not answering)` : `flashed ${d.flashed}`;
  return '';
}

/**
 * Every option of `device start`, before the lab folder, its key or an image exists: the profile,
 * the name, the numbers, the release or the disk (not both: the disk carries its own release),
 * and a disk that is not the very file the device would be flashed into.
 */
export async function checkStart(o: StartOpts): Promise<{ sshPort?: number; timeoutS: number; variant?: Variant }> {
  const profile = await loadProfile(o.device);
  if (!profile.qemu)
    throw new HuplabError('not-emulated', `profile ${profile.name} describes a real board, not an emulated one`, {
      hint: 'real boards are driven through the lab inventory (`huplab hup --board NAME`); pick an emulated profile here',
    });
  const name = checkDeviceName(o.name ?? profile.name);
  // A machine without QEMU is told so before an image is built for it.
  await requireQemu(profile.qemu.binary);
  const timeoutS = seconds('timeout', o.timeout ?? '180');
  const sshPort = o.sshPort !== undefined ? parsePort(o.sshPort) : undefined;
  // Known before an image is built (QEMU would say so only after): another process holds it.
  if (sshPort !== undefined && !(await portIsFree(sshPort)))
    throw new HuplabError('port-in-use', `--ssh-port ${sshPort}: port ${sshPort} on 127.0.0.1 is in use`, {
      hint: `choose another or leave it out for a free one; \`ss -ltnp 'sport = :${sshPort}'\` shows who holds it`,
    });
  if (o.disk !== undefined) {
    if (o.release !== undefined)
      throw new HuplabError('option-conflict', '--disk and --release both given: the disk carries its own release', {
        hint: 'drop --release to boot the disk, or drop --disk to flash the release',
      });
    if (o.rootB !== undefined)
      throw new HuplabError('option-conflict', '--disk and --root-b both given: the disk is booted as it is', {
        hint: 'drop --root-b, or flash a release with --release and --root-b',
      });
    if (o.variant !== undefined)
      throw new HuplabError('option-conflict', '--disk and --variant both given: the disk carries its own variant', {
        hint: 'drop --variant, or flash a release with --release and --variant',
      });
    existingFile('disk', o.disk);
    const own = join(deviceDir(labDir(), name), 'disk.img');
    if (existsSync(own) && sameFile(o.disk, own))
      throw new HuplabError('disk-is-own', `--disk ${o.disk} is the disk of device "${name}" itself`, {
        hint: `copy it elsewhere first (cp --sparse=always ${o.disk} kept.img), or boot it under another --name`,
      });
  } else {
    if (o.release === undefined)
      throw new HuplabError('release-required', 'no release given', {
        hint: 'pass --release <version> (see `huplab images list`) or --disk FILE',
      });
    await checkRelease('release', o.release);
    if (o.rootB !== undefined) await checkRelease('root-b', o.rootB);
  }
  const variant = o.variant !== undefined ? checkVariant(o.variant, '--variant') : undefined;
  return { ...(sshPort !== undefined ? { sshPort } : {}), timeoutS, ...(variant ? { variant } : {}) };
}

function sameFile(a: string, b: string): boolean {
  try {
    const [x, y] = [statSync(a), statSync(b)];
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return resolve(a) === resolve(b);
  }
}

/** A device named on the command line must exist before the lab is opened (which creates it). */
function existingDevice(name: string): void {
  checkDeviceName(name);
  if (!existsSync(deviceDir(labDir(), name)))
    throw new HuplabError('unknown-device-name', `no device named "${name}" in the lab ${resolve(labDir())}`, {
      hint: 'see `huplab device list`, or start one with `huplab device start --device generic-amd64 --release 2.101.0`',
    });
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1024 || port > 65535) {
    throw new HuplabError('bad-port', `--ssh-port ${text} is not a usable port`, {
      hint: 'give a number from 1024 to 65535, or leave it out for a free one',
    });
  }
  return port;
}

function notRunning(name: string): HuplabError {
  return new HuplabError('device-not-running', `device "${name}" is not running`, {
    hint: `start it with \`huplab device start --device <profile> --release <version> --name ${name}\``,
  });
}

/** The variant a device was flashed with (its provision.json), if it says. */
function flashedVariant(dir: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(dir, 'provision.json'), 'utf8')) as { variant?: string }).variant;
  } catch {
    return undefined;
  }
}
