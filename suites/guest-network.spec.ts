import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { repoRoot } from '../lib/paths.ts';
import { join } from 'node:path';
import { LAB_HOST_ADDRESS } from '../lib/contract/lab-host.ts';
import { DEVICE_NODE } from '../lib/contract/updater-command.ts';
import { BASE_RELEASE, expect, test } from './fixtures.ts';

/** A loopback HTTP service answering its own name, as a lab host's other services would. */
async function service(name: string): Promise<{ port: number; server: Server }> {
  const server = createServer((_req, res) => res.end(name));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, server };
}

/**
 * On the device: GET each URL, printing "<url> <body>" or "<url> ERR <code>". The first may take
 * long (a cold Node.js under TCG sets up its HTTP client for seconds on a busy host); the others
 * then answer in milliseconds if they answer at all.
 */
const PROBE = `
let first = true;
for (const u of process.argv.slice(1)) {
  try {
    const r = await fetch(u, { signal: AbortSignal.timeout(first ? 60000 : 5000) });
    console.log(u, await r.text());
  } catch (e) {
    console.log(u, 'ERR', e.cause?.code ?? e.name);
  }
  first = false;
}`;

test.describe('guest network', { tag: '@emulated' }, () => {
  test('an emulated device reaches the lab host ports its config.json lists, and nothing else', async ({ flash }) => {
    const listed = await service('listed');
    const other = await service('other');
    try {
      const { device } = await flash({
        release: BASE_RELEASE,
        config: { labHost: { address: LAB_HOST_ADDRESS, ports: [listed.port] } },
      });
      const ssh = await device.ssh();
      const urls = [
        `http://${LAB_HOST_ADDRESS}:${listed.port}/`,
        `http://${LAB_HOST_ADDRESS}:${other.port}/`,
        `http://10.0.2.2:${other.port}/`,
        `http://10.0.2.2:${listed.port}/`,
      ];
      const out = await ssh.execOk(
        `${DEVICE_NODE} --input-type=module -e '${PROBE.replace(/'/g, `'\\''`)}' ${urls.join(' ')}`,
      );
      const answers = Object.fromEntries(
        out
          .trim()
          .split('\n')
          .map((l) => [l.split(' ')[0], l.split(' ').slice(1).join(' ')]),
      );
      expect(answers[urls[0]!]).toBe('listed');
      // Not listed, and not through QEMU's own host address either: no answer from the host.
      for (const u of urls.slice(1)) expect(answers[u]).toMatch(/^ERR /);
      // The command line QEMU got says so too: restricted, one forward, to that port.
      const args = (JSON.parse(readFileSync(join(device.paths.dir, 'device.json'), 'utf8')) as { qemuArgs: string[] })
        .qemuArgs;
      const net = args[args.indexOf('-netdev') + 1] ?? '';
      expect(net).toContain('restrict=on');
      expect(net.match(/guestfwd=/g)).toHaveLength(1);
      expect(net).toContain(`guestfwd=tcp:${LAB_HOST_ADDRESS}:${listed.port}-`);
    } finally {
      listed.server.close();
      other.server.close();
    }
  });

  test('huplab device link down cuts the device off the lab host, up brings it back', async ({ flash, lab }) => {
    const listed = await service('listed');
    try {
      const { device } = await flash({
        release: BASE_RELEASE,
        config: { labHost: { address: LAB_HOST_ADDRESS, ports: [listed.port] } },
      });
      const ssh = await device.ssh();
      // On the device: ask the lab host every 500 ms for 40 s, one line per answer.
      const loop = [
        "import { appendFileSync } from 'node:fs';",
        'const end = Date.now() + 40000;',
        'while (Date.now() < end) {',
        "  let r = 'err';",
        `  try { r = await (await fetch('http://${LAB_HOST_ADDRESS}:${listed.port}/', { signal: AbortSignal.timeout(1000) })).text(); } catch {}`,
        "  appendFileSync('/tmp/link.log', r + '\\n');",
        '  await new Promise((res) => setTimeout(res, 500));',
        '}',
      ].join('\n');
      await ssh.putFile(Buffer.from(loop), '/tmp/link-loop.mjs');
      await ssh.execOk(`${DEVICE_NODE} /tmp/link-loop.mjs >/tmp/link-loop.out 2>&1 </dev/null &`);
      await expect
        .poll(async () => (await ssh.exec('grep -c listed /tmp/link.log')).stdout.trim(), { timeout: 60_000 })
        .toMatch(/^[1-9]/);
      const cli = (state: string) =>
        execa(
          join(repoRoot, 'node_modules', '.bin', 'tsx'),
          [join(repoRoot, 'harness/cli/main.ts'), 'device', 'link', '--name', device.name, state, '--json'],
          {
            env: { HUPLAB_HOME: lab.dir, HUPLAB_QUIET: '1' },
            reject: false,
          },
        );
      const down = await cli('down');
      expect(down.exitCode, down.stderr).toBe(0);
      expect(JSON.parse(down.stdout)).toMatchObject({ ok: true, link: 'down' });
      await new Promise((r) => setTimeout(r, 6_000));
      const up = await cli('up');
      expect(up.exitCode, up.stderr).toBe(0);
      // The test's SSH connection went through the cut link too: read the log over a fresh one.
      const log = async () => {
        const r = await execa(
          join(repoRoot, 'node_modules', '.bin', 'tsx'),
          [join(repoRoot, 'harness/cli/main.ts'), 'device', 'ssh', '--name', device.name, '--', 'cat', '/tmp/link.log'],
          { env: { HUPLAB_HOME: lab.dir, HUPLAB_QUIET: '1' }, reject: false, timeout: 30_000 },
        );
        return `${r.stdout.trim().split('\n').join(' ')}${r.exitCode === 0 ? '' : ` [exit ${r.exitCode}: ${r.stderr.trim().split('\n').pop()}]`}`;
      };
      await expect.poll(log, { timeout: 90_000, intervals: [3_000] }).toMatch(/listed( listed)*( err)+( listed)+/);
    } finally {
      listed.server.close();
    }
  });
});
