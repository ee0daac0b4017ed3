/**
 * The LOGICAL boot env, the same on every device type: `resin_root_part` (the slot, A or B),
 * `upgrade_available` (0|1), `bootcount`, plus whatever else the env file holds. The updater and
 * the harness work with it; this module maps it to and from the files a bootloader reads:
 *
 * - grub-efi: one grubenv block holding everything, slot letters as they are (GRUB's grub.cfg
 *   maps them to partitions itself). Exactly the behaviour from before this module existed.
 * - u-boot / uefi-launcher (balenaOS style): envFile is a text env with `resin_root_part` as the
 *   root's PARTITION NUMBER in lower-case hex (U-Boot parses `<dev>:<part>` as hex, so 11 is
 *   "b") and `upgrade_available`; countFile holds `bootcount`, as text (`bootcount=N`, which
 *   U-Boot's `env export -t` writes; its `setexpr` counts in hex, so N is hex too) for u-boot, and
 *   as a grubenv block for uefi-launcher (GRUB can rewrite a block but not create a file; the
 *   launcher compares decimal strings). Either count format is read on either kind, since U-Boot's
 *   `env import` skips a grubenv block's `#` lines and balena's L4TLauncher writes bare text.
 */
import { HuplabError } from '../errors.ts';
import { decodeGrubenv, encodeGrubenv, GRUBENV_SIGNATURE } from '../grubenv.ts';
import { BOOTLOADER_DESCRIPTION_PATH, type BootloaderDescription } from './description.ts';
import { encodeUEnv, parseUEnv } from './uenv.ts';

export interface LogicalBootEnv {
  /** 'A' or 'B' (grub-efi: whatever grubenv holds, unchecked, as before). */
  resin_root_part?: string;
  upgrade_available?: string;
  /** Decimal. */
  bootcount?: string;
  [key: string]: string | undefined;
}

/** The files' bytes; `count` undefined = the count file does not exist (or, grub-efi, none). */
export interface BootEnvFiles {
  env: Buffer;
  count?: Buffer;
}

export type BootEnvFileRole = 'env' | 'count';

const LOGICAL_KEYS = ['resin_root_part', 'upgrade_available', 'bootcount'];

/** Sets a key as data, so that a variable called __proto__ cannot change the prototype. */
function put(obj: Record<string, string>, key: string, value: string): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** `vars` applied over `env`: a key set to undefined is removed, keys not named are kept. */
export function mergeBootEnv(env: LogicalBootEnv, vars: LogicalBootEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) put(out, k, v);
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete out[k];
    else put(out, k, v);
  }
  return out;
}

// --- slots <-> partition numbers -------------------------------------------------------------

function slotOfPartition(desc: BootloaderDescription, raw: string): 'A' | 'B' {
  // U-Boot's strtoul(…, 16) also takes a 0x prefix and upper case (balena's Jetson default is "C").
  if (!/^(0x)?[0-9a-f]+$/i.test(raw)) {
    throw new HuplabError(
      'bootenv-invalid',
      `${desc.envFile}: resin_root_part=${JSON.stringify(raw)} is not a hex partition number`,
      {
        hint: 'the env is damaged; the updater rewrites it for the running root (boot-health check)',
      },
    );
  }
  const n = parseInt(raw, 16);
  const { A, B } = desc.rootPartitions;
  if (n === A) return 'A';
  if (n === B) return 'B';
  throw new HuplabError(
    'bootenv-unknown-root',
    `${desc.envFile}: resin_root_part=${raw} is partition ${n}, neither resin-rootA (partition ${A}) nor resin-rootB (partition ${B})`,
    {
      hint: `the env and ${BOOTLOADER_DESCRIPTION_PATH} disagree: fix rootPartitions in the device profile and rebuild, or rewrite the env`,
    },
  );
}

function partitionOfSlot(desc: BootloaderDescription, slot: string): string {
  if (slot !== 'A' && slot !== 'B') {
    throw new HuplabError('bootenv-invalid-value', `resin_root_part must be A or B, not ${JSON.stringify(slot)}`, {
      hint: 'pass the slot letter; the partition number comes from the bootloader description',
    });
  }
  return desc.rootPartitions[slot].toString(16);
}

// --- the count file ----------------------------------------------------------------------------

function countBase(desc: BootloaderDescription): 16 | 10 {
  return desc.kind === 'u-boot' ? 16 : 10;
}

function countBroken(desc: BootloaderDescription, reason: string, cause?: unknown): HuplabError {
  return new HuplabError('bootenv-count-invalid', `${desc.countFile}: ${reason}`, {
    hint: 'the boot counter is damaged; the updater rewrites it (boot-health check, or any env update that sets bootcount)',
    cause,
  });
}

/** The count file's variables as stored, in either format. */
function parseCountFile(desc: BootloaderDescription, buf: Buffer): Record<string, string> {
  try {
    return buf.subarray(0, GRUBENV_SIGNATURE.length).toString('latin1') === GRUBENV_SIGNATURE
      ? decodeGrubenv(buf)
      : parseUEnv(buf, desc.countFile);
  } catch (err) {
    throw countBroken(desc, err instanceof HuplabError ? err.message.replace(/^[^:]*: /, '') : String(err), err);
  }
}

function countToDecimal(desc: BootloaderDescription, raw: string, where: string): string {
  const base = countBase(desc);
  const ok = base === 16 ? /^(0x)?[0-9a-f]+$/i.test(raw) : /^[0-9]+$/.test(raw);
  if (!ok)
    throw countBroken(
      desc,
      `bootcount=${JSON.stringify(raw)} (${where}) is not a ${base === 16 ? 'hex' : 'decimal'} number`,
    );
  return String(parseInt(raw, base));
}

function countFromDecimal(desc: BootloaderDescription, value: string): string {
  if (!/^[0-9]+$/.test(value)) {
    throw new HuplabError('bootenv-invalid-value', `bootcount must be a decimal number, not ${JSON.stringify(value)}`);
  }
  return Number(value).toString(countBase(desc));
}

// --- decode / encode -----------------------------------------------------------------------

/** Reads the logical env from the files; throws a HuplabError if either is garbled. */
export function decodeBootEnv(
  desc: BootloaderDescription,
  files: { env: Buffer; count?: Buffer | undefined },
): LogicalBootEnv {
  if (desc.kind === 'grub-efi') return decodeGrubenv(files.env);
  const stored = parseUEnv(files.env, desc.envFile);
  if (stored.resin_root_part === undefined) {
    // The updater always writes it; without it U-Boot would boot its built-in default root.
    throw new HuplabError('bootenv-invalid', `${desc.envFile} has no resin_root_part`, {
      hint: 'the env is damaged; the updater rewrites it for the running root (boot-health check)',
    });
  }
  const out: Record<string, string> = {};
  put(out, 'resin_root_part', slotOfPartition(desc, stored.resin_root_part));
  if (stored.upgrade_available !== undefined) put(out, 'upgrade_available', stored.upgrade_available);
  // As the boot script sees it: the count file is imported after the env file, so it wins; with
  // neither defining bootcount the script's own default, 0, applies (a missing count file = 0).
  const counted = files.count === undefined ? undefined : parseCountFile(desc, files.count).bootcount;
  if (counted !== undefined) put(out, 'bootcount', countToDecimal(desc, counted, desc.countFile ?? 'count file'));
  else if (stored.bootcount !== undefined) put(out, 'bootcount', countToDecimal(desc, stored.bootcount, desc.envFile));
  else put(out, 'bootcount', '0');
  for (const [k, v] of Object.entries(stored)) if (!LOGICAL_KEYS.includes(k)) put(out, k, v);
  return out;
}

/**
 * The files for a logical env. `previous` files, when given, keep what the logical env does not
 * mention: their other variables and their order (keys set to undefined in `logical` are removed).
 * For u-boot and uefi-launcher a count file is always returned, so a missing one is created.
 */
export function encodeBootEnv(
  desc: BootloaderDescription,
  logical: LogicalBootEnv,
  previous: { env?: Buffer | undefined; count?: Buffer | undefined } = {},
): BootEnvFiles {
  if (desc.kind === 'grub-efi') {
    return { env: encodeGrubenv(mergeBootEnv(previous.env ? decodeGrubenv(previous.env) : {}, logical)) };
  }
  const env = previous.env ? parseUEnv(previous.env, desc.envFile) : {};
  // bootcount lives in the count file; a copy in the env file would only shadow a missing one.
  delete env.bootcount;
  for (const [k, v] of Object.entries(logical)) {
    if (k === 'bootcount') continue;
    if (v === undefined) delete env[k];
    else put(env, k, k === 'resin_root_part' ? partitionOfSlot(desc, v) : v);
  }
  if (env.resin_root_part === undefined) {
    throw new HuplabError('bootenv-invalid-value', `${desc.envFile}: resin_root_part must be set`, {
      hint: 'without it the bootloader boots its built-in default root',
    });
  }
  const count = previous.count ? parseCountFile(desc, previous.count) : {};
  if (logical.bootcount !== undefined) put(count, 'bootcount', countFromDecimal(desc, logical.bootcount));
  else if (count.bootcount === undefined) put(count, 'bootcount', '0');
  return {
    env: encodeUEnv(env, desc.envFile),
    count: desc.kind === 'u-boot' ? encodeUEnv(count, desc.countFile) : encodeGrubenv(count),
  };
}

/**
 * The order in which to write the files so that a power cut between the two writes leaves a
 * state the bootloader handles safely. The env file is the switch; the count file only matters
 * while upgrade_available=1.
 *
 * - Arming (upgrade_available becomes or stays 1, typically with a new root) or switching roots:
 *   count file first (bootcount=0), env file last. Cut in between: the old env, nothing pending,
 *   a zeroed counter nobody reads. Env first would arm the new root with a stale counter, which
 *   may already be over the limit from an earlier fallback and boot the old root at once.
 * - Clearing upgrade_available (commit, rollback, repair): env file first, count file after. Cut
 *   in between: nothing pending, so the stale counter is ignored. Count first would give a root
 *   that failed its health check (still pending in the env) a fresh round of boots.
 */
export function bootEnvWriteOrder(
  desc: BootloaderDescription,
  previous: LogicalBootEnv | undefined,
  next: LogicalBootEnv,
): BootEnvFileRole[] {
  if (desc.kind === 'grub-efi') return ['env'];
  const clears = previous !== undefined && previous.upgrade_available === '1' && next.upgrade_available !== '1';
  const arms = next.upgrade_available === '1';
  const switches = previous !== undefined && previous.resin_root_part !== next.resin_root_part;
  return !clears && (arms || switches) ? ['count', 'env'] : ['env', 'count'];
}
