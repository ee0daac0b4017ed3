/**
 * The lab inventory: the real boards one lab host drives (JSON or YAML, validated against
 * inventory.schema.json). Each board names its device profile, its console, its SSH address and
 * the commands that power and flash it. A nightly job across several lab hosts gives each host its
 * own inventory (see the README: "A device lab").
 */
import { isIP } from 'node:net';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { HuplabError } from '../../lib/errors.ts';
import { problemText, schemaProblems, type SchemaProblem } from '../../lib/json-schema.ts';
import { listProfiles } from '../../lib/profile.ts';

export type BoardSerial = { path: string; baud: number } | { tcp: string };
export type BoardFlash =
  | { sdMux: { toHost: string; toDevice: string; hostDevice: string } }
  | { fromRunningOs: { disk: string } };

export interface InventoryBoard {
  name: string;
  profile: string;
  serial: BoardSerial;
  ssh: { host: string; port: number; user: string };
  power: { on: string; off: string; cycle?: string };
  network?: { down: string; up: string };
  flash?: BoardFlash;
  tags: string[];
  /** The inventory's `backend` (shared by its boards): where a run's backend is reached from them. */
  backend?: BoardBackend;
}

export interface BoardBackend {
  /** The address the backend listens on besides loopback (0.0.0.0: all). */
  listen?: string;
  /** This host's address or name as the boards reach it. */
  advertise?: string;
}

export interface Inventory {
  /** Where it was read from (messages, and the folder relative paths are resolved against). */
  file: string;
  lab?: string;
  backend?: BoardBackend;
  boards: InventoryBoard[];
}

export const INVENTORY_SCHEMA_PATH = fileURLToPath(new URL('./inventory.schema.json', import.meta.url));
const HINT = 'fix the inventory; see harness/board/inventory.schema.json';

let validator: ValidateFunction | undefined;
function getValidator(): ValidateFunction {
  validator ??= new Ajv({
    allErrors: true,
    useDefaults: true,
    verbose: true,
    strict: true,
    strictRequired: false,
  }).compile(JSON.parse(readFileSync(INVENTORY_SCHEMA_PATH, 'utf8')) as object);
  return validator;
}

/** The inventory named on the command line, or by HUPLAB_INVENTORY. */
export function inventoryPath(given?: string): string {
  const p = given ?? process.env.HUPLAB_INVENTORY;
  if (!p)
    throw new HuplabError('inventory-missing', 'no lab inventory given', {
      hint: 'pass --inventory FILE or set HUPLAB_INVENTORY (see harness/board/inventory.schema.json)',
    });
  return path.resolve(p);
}

export async function loadInventory(file: string, profilesDir?: string): Promise<Inventory> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new HuplabError(
      'inventory-missing',
      `cannot read the lab inventory ${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
      { hint: 'pass --inventory FILE or set HUPLAB_INVENTORY' },
    );
  }
  return validateInventory(
    parseInventoryText(text, file),
    file,
    await listProfiles(...(profilesDir ? [profilesDir] : [])),
  );
}

export function parseInventoryText(text: string, file: string): unknown {
  try {
    return /\.ya?ml$/i.test(file) ? (parseYaml(text) as unknown) : (JSON.parse(text) as unknown);
  } catch (err) {
    const why = (err as Error).message.split('\n')[0];
    throw new HuplabError(
      'inventory-invalid',
      `${file}: not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${why}`,
      { hint: HINT },
    );
  }
}

/** Schema, then what a schema cannot say: unique names, known profiles. Defaults are filled into a copy. */
export function validateInventory(data: unknown, file: string, knownProfiles: string[]): Inventory {
  const copy: unknown = structuredClone(data);
  const validate = getValidator();
  if (!validate(copy)) throw invalid(file, schemaProblems(validate.errors ?? []));
  const inv = copy as Omit<Inventory, 'file'>;
  const problems: SchemaProblem[] = [];
  const seen = new Map<string, number>();
  inv.boards.forEach((b, i) => {
    const first = seen.get(b.name);
    if (first !== undefined)
      problems.push({ pointer: `/boards/${i}/name`, message: `"${b.name}" is already the name of /boards/${first}` });
    else seen.set(b.name, i);
    if (!knownProfiles.includes(b.profile))
      problems.push({
        pointer: `/boards/${i}/profile`,
        message: `"${b.profile}" is not a device profile (known: ${knownProfiles.join(', ') || 'none'})`,
      });
  });
  const listen = inv.backend?.listen;
  if (listen !== undefined && isIP(listen) === 0)
    problems.push({ pointer: '/backend/listen', message: `"${listen}" is not an IP address (0.0.0.0 listens on all)` });
  if (problems.length) throw invalid(file, problems);
  // Each board carries the lab host's backend settings, so whoever starts one can use them.
  if (inv.backend) for (const b of inv.boards) b.backend = inv.backend;
  return { file, ...inv };
}

function invalid(file: string, problems: SchemaProblem[]): HuplabError {
  return new HuplabError('inventory-invalid', `${file}: ${problems.map(problemText).join('; ')}`, { hint: HINT });
}

/** One board by name, or a one-line error listing the inventory's boards. */
export function findBoard(inv: Inventory, name: string): InventoryBoard {
  const b = inv.boards.find((x) => x.name === name);
  if (!b)
    throw new HuplabError(
      'unknown-board',
      `no board "${name}" in ${inv.file}; boards: ${inv.boards.map((x) => x.name).join(', ')}`,
      { hint: 'pick one of those, or add it to the inventory' },
    );
  return b;
}
