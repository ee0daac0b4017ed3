import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

// `huplab device link --board`: a board's cable is its switch port, pulled and replugged by the
// inventory's network commands, run with the board's name and state folder in their environment.
const bin = join(import.meta.dirname, '..', 'bin', 'huplab');
const root = mkdtempSync(join(tmpdir(), 'huplab-link-'));
const home = join(root, 'lab');
const seen = join(root, 'port-state');

const board = (name: string, network?: object) => ({
  name,
  profile: 'raspberrypi3-64',
  serial: { tcp: '127.0.0.1:1' },
  ssh: { host: '127.0.0.1' },
  power: { on: 'true', off: 'true' },
  flash: { fromRunningOs: { disk: '/dev/mmcblk0' } },
  ...(network ? { network } : {}),
});
const inventory = join(root, 'lab.json');
writeFileSync(
  inventory,
  JSON.stringify({
    boards: [
      board('rpi-a', {
        down: `echo "$HUPLAB_BOARD down" > ${seen}`,
        up: `echo "$HUPLAB_BOARD up" > ${seen}`,
      }),
      board('rpi-b'),
      board('rpi-c', { down: 'echo switch says no >&2; exit 3', up: 'true' }),
    ],
  }),
);

async function huplab(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await promisify(execFile)(bin, args, { env: { ...process.env, HUPLAB_HOME: home, HUPLAB_QUIET: '1' } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

t.test("down and up run the board's own network commands, logged in its state folder", async (t) => {
  const down = await huplab(['device', 'link', '--board', 'rpi-a', '--inventory', inventory, 'down', '--json']);
  t.equal(down.code, 0, down.stderr);
  t.match(JSON.parse(down.stdout), { ok: true, name: 'rpi-a', link: 'down' });
  t.equal(readFileSync(seen, 'utf8'), 'rpi-a down\n');
  const up = await huplab(['device', 'link', '--board', 'rpi-a', '--inventory', inventory, 'up']);
  t.equal(up.code, 0, up.stderr);
  t.equal(readFileSync(seen, 'utf8'), 'rpi-a up\n');
  t.match(
    readFileSync(join(home, 'boards', 'rpi-a', 'commands.log'), 'utf8'),
    /network down: .* -> exit 0[\s\S]*network up:/,
  );
});

t.test('a board without network commands, or whose switch fails, is a one-line error', async (t) => {
  const none = await huplab(['device', 'link', '--board', 'rpi-b', '--inventory', inventory, 'down']);
  t.equal(none.code, 1);
  t.match(none.stderr, /^huplab: error: board rpi-b has no network commands in the inventory \(add network\.down/);
  const failing = await huplab(['device', 'link', '--board', 'rpi-c', '--inventory', inventory, 'down']);
  t.equal(failing.code, 1);
  t.match(failing.stderr, /network down of rpi-c failed \(exit 3\): .*switch says no/);
  const unknown = await huplab(['device', 'link', '--board', 'rpi-z', '--inventory', inventory, 'down']);
  t.match(unknown.stderr, /no board "rpi-z"/);
  const stray = await huplab(['device', 'link', '--inventory', inventory, 'down']);
  t.match(stray.stderr, /--inventory goes with --board/);
  t.notOk(existsSync(join(home, 'boards', 'rpi-z')), 'nothing made for a board that does not exist');
});
