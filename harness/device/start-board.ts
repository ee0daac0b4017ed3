/**
 * A board from the lab inventory made ready for a test, the way startDevice makes an emulated one:
 * the release's image built, configured for this lab (a fresh uuid, the lab's SSH key, the lab's
 * endpoints in config.json), written to the board (SD mux or its running OS), and booted to SSH.
 */
import { join } from 'node:path';
import { LAB_HOST_KEY, readLabHost } from '../../lib/contract/lab-host.ts';
import { buildImage } from '../../images/builder/index.ts';
import { loadProfile } from '../../lib/profile.ts';
import { silentNarrator, type Narrator } from '../../lib/narrator.ts';
import { flashDevice, type ConfigJson } from './provision.ts';
import type { Variant } from '../../lib/contract/variant.ts';
import { bootAndTime, type StartedDevice } from './boot.ts';
import type { Lab } from '../lab.ts';
import { BoardDevice } from '../board/board-device.ts';
import type { InventoryBoard } from '../board/inventory.ts';
import type { TransitionListener } from '../driver/state.ts';

export async function startBoard(opts: {
  lab: Lab;
  board: InventoryBoard;
  release: string;
  /** The OS variant to build and flash (default: the release recipe's). */
  variant?: Variant;
  config?: Partial<ConfigJson>;
  narrator?: Narrator;
  timeoutMs?: number;
  onTransition?: TransitionListener;
}): Promise<StartedDevice<BoardDevice>> {
  const narrator = opts.narrator ?? silentNarrator;
  const profile = await loadProfile(opts.board.profile);
  const image = await buildImage({
    device: profile.name,
    release: opts.release,
    ...(opts.variant ? { variant: opts.variant } : {}),
    narrator,
  });
  const record = await narrator.step(`configure ${opts.release} for ${opts.board.name}`, () =>
    flashDevice({
      lab: opts.lab.dir,
      name: opts.board.name,
      profile,
      imagePath: image.disk,
      release: opts.release,
      variant: image.variant,
      sshPublicKey: opts.lab.key.publicKey,
      ...(opts.config ? { config: boardConfig(opts.config, opts.board.backend?.advertise) } : {}),
    }),
  );
  const device = new BoardDevice({
    board: opts.board,
    dir: join(opts.lab.dir, 'boards', opts.board.name),
    sshKeyPath: opts.lab.key.privateKeyPath,
    ...(opts.onTransition ? { onTransition: opts.onTransition } : {}),
  });
  const timings: Record<string, number> = {};
  try {
    await narrator.step(`flash ${opts.board.name}`, () => device.flash(record.disk));
    // The new image brings a new SSH host key.
    device.forgetHostKey();
    if (device.state.current === 'firmware') {
      // Flashed from its running OS: it is already rebooting into the new image.
      await device.openConsole();
      await narrator.step(`boot ${opts.board.name} to SSH`, () =>
        device.waitForOs({ ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) }),
      );
    } else {
      await bootAndTime(device, narrator, opts.timeoutMs, timings);
    }
  } catch (err) {
    await device.close();
    throw err;
  }
  return { device, record, profile, image, timings };
}

/**
 * config.json for a board: the backend's endpoints are written for emulated devices, at the lab
 * host address of their restricted network (`labHost`, lib/contract/lab-host.ts). A board is on
 * the lab network: it gets them at `advertise` (the inventory's backend.advertise, this host's
 * address there), and no `labHost`, which only an emulated device's network honours. Without
 * `advertise` the address stays LAB_HOST_ADDRESS, which QEMU stand-in boards reach.
 */
export function boardConfig(config: Partial<ConfigJson>, advertise: string | undefined): Partial<ConfigJson> {
  const labHost = readLabHost(config);
  const { [LAB_HOST_KEY]: _dropped, ...rest } = config;
  if (!labHost || !advertise) return rest;
  const out: Record<string, unknown> = { ...rest };
  for (const [key, value] of Object.entries(rest)) {
    if (typeof value !== 'string' || !/^https?:\/\//.test(value)) continue;
    const url = new URL(value);
    if (url.hostname !== labHost.address) continue;
    url.hostname = advertise;
    out[key] = url.href.replace(/\/$/, value.endsWith('/') ? '/' : '');
  }
  return out as Partial<ConfigJson>;
}
