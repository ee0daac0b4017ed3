// Demo application: appends one record a second to /mnt/data/demo-app/records.log and fsyncs
// each one before the next, so that a test can tell exactly what survived a power cut and how
// long the application was down across an update. Record: <seq> <unix-ms> <boot-id> <version>.
//
// Like a real application it can hold its update lock: writing "exclusive" or "shared" into
// /run/demo-app/lock-request makes it take that flock() on its updates.lock (where the supervisor
// bind-mounts /tmp/balena for the service), removing the file releases it, and
// /run/demo-app/lock-state says what it holds ("exclusive", "shared" or "none").
import {
  openSync,
  writeSync,
  fsyncSync,
  readFileSync,
  mkdirSync,
  existsSync,
  statSync,
  writeFileSync,
  renameSync,
} from 'node:fs';
import { spawn } from 'node:child_process';

const dir = '/mnt/data/demo-app';
const path = `${dir}/records.log`;
const APP_ID = '1';
const SERVICE = 'demo-app';
const lockDir = `/tmp/balena-supervisor/services/${APP_ID}/${SERVICE}`;
const runDir = '/run/demo-app';
mkdirSync(dir, { recursive: true });
mkdirSync(lockDir, { recursive: true });
mkdirSync(runDir, { recursive: true });

const version = /^VERSION="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'unknown';
const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().slice(0, 8);

// Continue the sequence from the last complete record; a torn last line (power cut mid-write)
// is skipped rather than trusted.
function lastSeq() {
  if (!existsSync(path) || statSync(path).size === 0) return 0;
  const lines = readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => /^\d+ \d+ \S+ \S+$/.test(l));
  const last = lines.at(-1);
  return last ? Number(last.split(' ')[0]) : 0;
}

let seq = lastSeq();
const fd = openSync(path, 'a');
// A record cut short (power cut, full disk) is ended here, so the next one starts on a line of
// its own instead of being glued to the torn one.
if (existsSync(path) && statSync(path).size > 0 && !readFileSync(path).subarray(-1).equals(Buffer.from('\n')))
  writeSync(fd, '\n');

/** The lock holder: flock(1) in its own process group, so releasing kills the holder and its child. */
let holder = null;
let held = 'none';

function setLockState(state) {
  held = state;
  writeFileSync(`${runDir}/lock-state.tmp`, `${state}\n`);
  renameSync(`${runDir}/lock-state.tmp`, `${runDir}/lock-state`);
}

function release() {
  if (holder) {
    try {
      process.kill(-holder.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    holder = null;
  }
  if (held !== 'none') setLockState('none');
}

function acquire(mode) {
  release();
  // -o: the lock belongs to flock itself, not to the sleeping child, so killing the group frees it.
  const child = spawn(
    'flock',
    [mode === 'shared' ? '-s' : '-x', '-o', `${lockDir}/updates.lock`, '-c', 'echo locked; exec sleep 2147483647'],
    { detached: true, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  holder = child;
  child.stdout.once('data', () => {
    if (holder === child) setLockState(mode);
  });
  child.on('exit', () => {
    if (holder === child) {
      holder = null;
      setLockState('none');
    }
  });
}

function followLockRequest() {
  let want = 'none';
  try {
    want = readFileSync(`${runDir}/lock-request`, 'utf8').trim() || 'none';
  } catch {
    /* no request */
  }
  if (want !== 'exclusive' && want !== 'shared') want = 'none';
  const current = holder ? (held === 'none' ? 'pending' : held) : 'none';
  if (want === 'none' && current !== 'none') release();
  else if (want !== 'none' && current !== want && current !== 'pending') acquire(want);
}

function tick() {
  seq += 1;
  writeSync(fd, `${seq} ${Date.now()} ${bootId} ${version}\n`);
  fsyncSync(fd);
  followLockRequest();
}
setLockState('none');
tick();
setInterval(tick, 1000);
// Lock requests are followed faster than records are written, so a test waits little.
setInterval(followLockRequest, 200);
process.on('SIGTERM', () => {
  release();
  process.exit(0);
});
