/**
 * The updaters' progress reports: a milestone survives one dropped connection (seen on the Jetson
 * under TCG: "fetch failed" between two good reports lost the 50% milestone), and the log names
 * the cause, not only fetch's "fetch failed".
 */
import t, { type Test } from 'tap';
import { createServer, Socket } from 'node:net';
import { startBackend } from '../harness/backend/index.ts';
import { ProgressReporter } from '../updater/common/progress.ts';
import type { DeviceConfig } from '../updater/common/config.ts';

/** A TCP front for the API that resets the first `drops` connections and relays the rest. */
async function flakyFront(api: URL, drops: number) {
  let seen = 0;
  const sockets: Socket[] = [];
  const server = createServer((client) => {
    sockets.push(client);
    if (seen++ < drops) {
      client.resetAndDestroy();
      return;
    }
    const upstream = new Socket();
    sockets.push(upstream);
    upstream.connect(Number(api.port), api.hostname, () => {
      client.pipe(upstream);
      upstream.pipe(client);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    stop: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** A reporter for device `uuid` whose API sits behind a front that resets the first connection. */
async function reporterBehindOneDrop(t: Test, uuid: string) {
  const backend = await startBackend({});
  t.teardown(() => backend.stop());
  const front = await flakyFront(new URL(backend.urls.api), 1);
  t.teardown(front.stop);
  const lines: string[] = [];
  const config = {
    uuid,
    apiEndpoint: front.url,
    deviceType: 'generic-amd64',
    deviceApiKey: backend.registerDevice(uuid),
  } as DeviceConfig;
  return { backend, lines, reporter: new ProgressReporter(config, (m) => lines.push(m)) };
}

t.test('a milestone survives one dropped connection; the log says why the first try failed', async (t) => {
  const { backend, lines, reporter } = await reporterBehindOneDrop(t, 'feed01');
  t.equal(await reporter.milestone(50, 'Running OS update'), true, 'sent on the second attempt');
  t.equal(backend.api.device('feed01')?.message, 'Running OS update');
  t.equal(lines.length, 1);
  t.match(lines[0], /progress report failed \(attempt 1 of 2\): fetch failed \(ECONNRESET|other side closed|socket/);
});

t.test('one attempt against a connection that drops: not sent, and said so', async (t) => {
  const { backend, lines, reporter } = await reporterBehindOneDrop(t, 'feed02');
  t.equal(await reporter.report(50, 'Running OS update', 'updating', 1), false);
  t.equal(backend.api.device('feed02'), undefined, 'the API has nothing');
  t.match(lines.join('\n'), /attempt 1 of 1/);
});
