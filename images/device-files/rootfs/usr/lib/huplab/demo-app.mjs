// Demo application: appends one record a second to /mnt/data/demo-app/records.log and fsyncs
// each one before the next, so that a test can tell exactly what survived a power cut and how
// long the application was down across an update. Record: <seq> <unix-ms> <boot-id> <version>.
import { openSync, writeSync, fsyncSync, readFileSync, mkdirSync, existsSync, statSync } from 'node:fs';

const dir = '/mnt/data/demo-app';
const path = `${dir}/records.log`;
mkdirSync(dir, { recursive: true });

const version = /^VERSION="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'unknown';
const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().slice(0, 8);

// Continue the sequence from the last complete record; a torn last line (power cut mid-write)
// is skipped rather than trusted.
function lastSeq() {
  if (!existsSync(path) || statSync(path).size === 0) return 0;
  const lines = readFileSync(path, 'utf8').split('\n').filter((l) => /^\d+ \d+ \S+ \S+$/.test(l));
  const last = lines.at(-1);
  return last ? Number(last.split(' ')[0]) : 0;
}

let seq = lastSeq();
const fd = openSync(path, 'a');
// A record cut short (power cut, full disk) is ended here, so the next one starts on a line of
// its own instead of being glued to the torn one.
if (existsSync(path) && statSync(path).size > 0 && !readFileSync(path).subarray(-1).equals(Buffer.from('\n'))) writeSync(fd, '\n');
function tick() {
  seq += 1;
  writeSync(fd, `${seq} ${Date.now()} ${bootId} ${version}\n`);
  fsyncSync(fd);
}
tick();
setInterval(tick, 1000);
process.on('SIGTERM', () => process.exit(0));
