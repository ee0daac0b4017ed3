import t from 'tap';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBoard, inventoryPath, loadInventory, validateInventory } from '../harness/board/inventory.ts';
import { isHuplabError } from '../lib/errors.ts';
import { writeQemuRack } from '../harness/qemu/stand-in-board.ts';

const PROFILES = ['generic-amd64', 'raspberrypi3-64'];
const board = {
  name: 'rpi3-a',
  profile: 'raspberrypi3-64',
  serial: { path: '/dev/serial/by-id/usb-FTDI-if00-port0' },
  ssh: { host: '10.0.0.23' },
  power: { on: 'relayctl 3 on', off: 'relayctl 3 off' },
  flash: {
    sdMux: {
      toHost: 'usbsdmux /dev/sg1 host',
      toDevice: 'usbsdmux /dev/sg1 dut',
      hostDevice: '/dev/disk/by-id/usb-sdmux',
    },
  },
};

function error(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

t.test('a valid inventory gets its defaults: baud 115200, SSH on 22222 as root, no tags', async (t) => {
  const inv = validateInventory(
    {
      lab: 'host-1',
      boards: [
        board,
        {
          ...board,
          name: 'rpi3-b',
          serial: { tcp: 'serial-server:7001' },
          flash: { fromRunningOs: { disk: '/dev/mmcblk0' } },
        },
      ],
    },
    'lab.json',
    PROFILES,
  );
  t.equal(inv.boards.length, 2);
  t.same(inv.boards[0]!.serial, { path: '/dev/serial/by-id/usb-FTDI-if00-port0', baud: 115200 });
  t.same(inv.boards[0]!.ssh, { host: '10.0.0.23', port: 22222, user: 'root' });
  t.match(inv.boards[1]!.serial, { tcp: 'serial-server:7001' });
  t.same(inv.boards[0]!.tags, []);
  t.equal(findBoard(inv, 'rpi3-b').name, 'rpi3-b');
  t.match(error(() => findBoard(inv, 'rpi3-z')).message, /no board "rpi3-z" in lab\.json; boards: rpi3-a, rpi3-b/);
});

const bad: Array<{ what: string; data: unknown; says: RegExp }> = [
  { what: 'no boards', data: { boards: [] }, says: /\/boards must NOT have fewer than 1 items/ },
  {
    what: 'a typo',
    data: { boards: [{ ...board, powr: {} }] },
    says: /\/boards\/0\/powr is not a known field \(known: name, profile, serial/,
  },
  {
    what: 'both a port and a TCP server',
    data: { boards: [{ ...board, serial: { path: '/dev/ttyUSB0', tcp: 'h:1' } }] },
    says: /only one of \/boards\/0\/serial\/path, \/boards\/0\/serial\/tcp may be set/,
  },
  {
    what: 'an odd baud rate',
    data: { boards: [{ ...board, serial: { path: '/dev/ttyUSB0', baud: 1234 } }] },
    says: /\/boards\/0\/serial\/baud must be one of 9600,|must be one of .*115200.*not 1234/,
  },
  {
    what: 'no power off',
    data: { boards: [{ ...board, power: { on: 'x' } }] },
    says: /\/boards\/0\/power\/off is required/,
  },
  {
    what: 'the same name twice',
    data: { boards: [board, board] },
    says: /\/boards\/1\/name "rpi3-a" is already the name of \/boards\/0/,
  },
  {
    what: 'an unknown profile',
    data: { boards: [{ ...board, profile: 'beaglebone' }] },
    says: /\/boards\/0\/profile "beaglebone" is not a device profile \(known: generic-amd64, raspberrypi3-64\)/,
  },
];
for (const c of bad) {
  t.test(`rejected with a one-line error naming the field: ${c.what}`, async (t) => {
    const e = error(() => validateInventory(c.data, 'lab.json', PROFILES));
    t.ok(isHuplabError(e, 'inventory-invalid'));
    t.match(e.message, c.says);
    t.match(e.message, /^lab\.json: /);
    t.notMatch(e.message, /\n/, 'one line');
  });
}

t.test('files: YAML or JSON; a missing file or bad syntax says so', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'huplab-inv-'));
  const yaml = join(dir, 'lab.yaml');
  await writeFile(
    yaml,
    'lab: host-2\nboards:\n  - name: pc-1\n    profile: generic-amd64\n    serial: { tcp: "ser2net:3001" }\n    ssh: { host: pc-1.lab }\n    power: { on: "pdu on 1", off: "pdu off 1" }\n',
  );
  const inv = await loadInventory(yaml);
  t.equal(inv.lab, 'host-2');
  t.equal(inv.boards[0]!.ssh.port, 22222);
  await writeFile(join(dir, 'bad.json'), '{ "boards": [ }');
  t.match(
    ((await loadInventory(join(dir, 'bad.json')).catch((e: Error) => e)) as Error).message,
    /bad\.json: not valid JSON/,
  );
  const missing = (await loadInventory(join(dir, 'nope.json')).catch((e: Error) => e)) as Error;
  t.ok(isHuplabError(missing, 'inventory-missing'));
  t.match(missing.message, /cannot read the lab inventory .*nope\.json: no such file/);
  const saved = process.env.HUPLAB_INVENTORY;
  delete process.env.HUPLAB_INVENTORY;
  t.match(error(() => inventoryPath()).message, /no lab inventory given/);
  if (saved !== undefined) process.env.HUPLAB_INVENTORY = saved;
});

t.test(
  'a QEMU stand-in rack is a valid inventory: pty consoles, power by the stand-in script, SD-mux flashing',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'huplab-rack-'));
    const inv = await loadInventory(await writeQemuRack(dir, 2));
    t.same(
      inv.boards.map((b) => b.name),
      ['qemu-board-1', 'qemu-board-2'],
    );
    for (const b of inv.boards) {
      t.match(b.serial, { path: join(dir, b.name, 'tty'), baud: 115200 });
      t.match(b.power.on, /stand-in-board\.ts on /);
      t.ok(b.flash && 'sdMux' in b.flash && b.flash.sdMux.hostDevice === join(dir, b.name, 'sd.img'));
    }
    t.not(inv.boards[0]!.ssh.port, inv.boards[1]!.ssh.port, 'each board its own SSH port');
  },
);

t.test(
  'backend: where a run on these boards is reached, shared by every board; listen must be an address',
  async (t) => {
    const inv = validateInventory(
      { backend: { listen: '0.0.0.0', advertise: 'labhost.local' }, boards: [board] },
      'lab.yaml',
      PROFILES,
    );
    t.same(inv.backend, { listen: '0.0.0.0', advertise: 'labhost.local' });
    t.same(inv.boards[0]!.backend, { listen: '0.0.0.0', advertise: 'labhost.local' });
    t.equal(validateInventory({ boards: [board] }, 'lab.yaml', PROFILES).boards[0]!.backend, undefined);
    const bad = error(() =>
      validateInventory({ backend: { listen: 'everywhere' }, boards: [board] }, 'lab.yaml', PROFILES),
    );
    t.ok(isHuplabError(bad, 'inventory-invalid'));
    t.match(bad.message, /\/backend\/listen.*"everywhere" is not an IP address/);
    const typo = error(() =>
      validateInventory({ backend: { adverstise: 'x' }, boards: [board] }, 'lab.yaml', PROFILES),
    );
    t.match(typo.message, /adverstise/);
  },
);
