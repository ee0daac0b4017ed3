/**
 * The resinOS 1.x updates' checks, run on the device on their own: everything the 1.x update
 * (`--method 1.x`: the fingerprints of the root and the boot partition) or the 1.x -> 2.x
 * migration (`--method 1.x-to-2.x`: the compressed size of /data against the spare root) checks
 * before it writes anything. The updates' writing steps are not built yet; these checks are
 * theirs, and print the contract's lines (lib/contract/onex.ts). Exit 0: the update may go on;
 * 1: refused, with the device unchanged; 2: usage.
 */
import { HuplabError, isHuplabError } from '../../lib/errors.ts';
import { UPDATER_EXIT } from '../../lib/contract/exit-codes.ts';
import { onexCheckLine, onexRefusedLine } from '../../lib/contract/onex.ts';
import { DATA_BACKUP_LIMIT_BYTES } from '../../lib/partition/resin-1x.ts';
import { checkDataBackup, checkFingerprints } from './checks.ts';

interface Args {
  method: '1.x' | '1.x-to-2.x';
  dataLimit: number;
}

function parse(argv: string[]): Args {
  let method: string | undefined;
  let dataLimit = DATA_BACKUP_LIMIT_BYTES;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new HuplabError('usage', `${a} needs a value`);
      return v;
    };
    if (a === '--method') method = value();
    else if (a === '--data-limit') {
      dataLimit = Number(value());
      if (!Number.isInteger(dataLimit) || dataLimit <= 0)
        throw new HuplabError('usage', '--data-limit takes a positive number of bytes');
    } else throw new HuplabError('usage', `unknown option ${a}`);
  }
  if (method !== '1.x' && method !== '1.x-to-2.x') throw new HuplabError('usage', '--method must be 1.x or 1.x-to-2.x');
  return { method, dataLimit };
}

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`hup-1x-checks: ${isHuplabError(err) ? err.oneLine() : String(err)}\n`);
    return UPDATER_EXIT.usage;
  }
  const say = (line: string) => process.stdout.write(`${line}\n`);
  try {
    if (args.method === '1.x') {
      const r = checkFingerprints({ root: '/', boot: '/mnt/boot', log: say });
      say(onexCheckLine('fingerprint', `${r.checked.root} root files, ${r.checked.boot} boot files unmodified`));
    } else {
      const r = await checkDataBackup('/mnt/data/resin-data', args.dataLimit);
      say(onexCheckLine('data-backup', `${r.bytes} of ${r.limit} bytes compressed`));
    }
    return UPDATER_EXIT.ok;
  } catch (err) {
    if (!isHuplabError(err)) throw err;
    say(onexRefusedLine(err.code, err.message));
    return UPDATER_EXIT.failed;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`hup-1x-checks: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(UPDATER_EXIT.failed);
  },
);
