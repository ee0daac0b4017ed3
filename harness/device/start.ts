/**
 * The one factory of devices: an emulated device of a profile, or a real board of the lab
 * inventory, flashed with a release and booted to SSH, behind the same DeviceDriver. The suites'
 * fixtures, `huplab hup` and the power-cut campaigns start their devices here, so whatever they
 * run on an emulated device runs on a board too (but for what only an emulator can do, refused
 * here with the reason).
 */
import { HuplabError } from '../../lib/errors.ts';
import type { InventoryBoard } from '../board/inventory.ts';
import type { StartedDevice } from './boot.ts';
import { type EmulatedOptions, startEmulated } from './emulated.ts';
import { startBoard } from './start-board.ts';

/** What to start: an emulated device of `device` (a profile), or `board` from the inventory. */
export type StartOptions = Omit<EmulatedOptions, 'device'> &
  ({ device: string; board?: undefined } | { board: InventoryBoard; device?: string });

/** What only an emulated device can do, by option name. */
const EMULATED_ONLY = ['noBoot', 'rootB', 'disk', 'volatileCache', 'sshPort', 'storageMiB'] as const;

export async function startDevice(opts: StartOptions): Promise<StartedDevice> {
  if (opts.board === undefined) return startEmulated(opts);
  const { board } = opts;
  checkBoardProfile(board, opts.device);
  const emulatedOnly = EMULATED_ONLY.filter((k) => opts[k] !== undefined);
  if (emulatedOnly.length) {
    throw new HuplabError(
      'emulated-only',
      `board ${board.name} is a real board: ${emulatedOnly.join(', ')} need${emulatedOnly.length === 1 ? 's' : ''} an emulated device`,
      { hint: 'tag such a test @emulated (board projects leave it out), or run it on an emulated profile' },
    );
  }
  if (!opts.release) {
    throw new HuplabError('release-required', `board ${board.name} is flashed with a release: none given`, {
      hint: 'pass a release (--from for `huplab hup`)',
    });
  }
  return startBoard({
    lab: opts.lab,
    board,
    release: opts.release,
    ...(opts.variant ? { variant: opts.variant } : {}),
    ...(opts.config ? { config: opts.config } : {}),
    ...(opts.narrator ? { narrator: opts.narrator } : {}),
    ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    ...(opts.onTransition ? { onTransition: opts.onTransition } : {}),
  });
}

/** A board runs its own profile: a profile given beside it must be the same one. */
export function checkBoardProfile(board: InventoryBoard, device: string | undefined): void {
  if (device !== undefined && device !== board.profile) {
    throw new HuplabError('board-profile-mismatch', `board ${board.name} is a ${board.profile}, not a ${device}`, {
      hint: `drop --device, or pick a ${device} board of the inventory`,
    });
  }
}
