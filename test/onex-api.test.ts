/**
 * The 1.x paths' API requests (updater/onex/release.ts apiJson): a dropped connection is tried
 * again and said, three drops end with a one-line error naming fetch's cause, and an HTTP
 * answer is never retried.
 */
import t, { type Test } from 'tap';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fetchFailure } from '../lib/fetch-failure.ts';
import type { DeviceConfig } from '../updater/common/config.ts';
import { apiJson } from '../updater/onex/release.ts';

/** A server that drops the first `drops` connections, then answers `status` with `body`. */
async function flaky(t: Test, drops: number, status = 200, body = '{"ok":true}') {
  let seen = 0;
  const server: Server = createServer((req, res) => {
    seen++;
    if (seen <= drops) {
      req.socket.destroy();
      return;
    }
    res.writeHead(status, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const config: DeviceConfig = {
    uuid: 'u',
    deviceType: 'generic-amd64',
    apiEndpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    deviceApiKey: 'k',
  };
  return { config, seen: () => seen };
}

t.test('one dropped connection is tried again, and said', async (t) => {
  const s = await flaky(t, 1);
  const warned: string[] = [];
  t.same(await apiJson(s.config, '/v1/takeover', (l) => warned.push(l)), { ok: true });
  t.equal(s.seen(), 2);
  t.match(warned, [/^API \/v1\/takeover: fetch failed \(.+\); trying again$/], 'the cause is named');
});

t.test('three drops end the request with its cause; an HTTP answer is not retried', async (t) => {
  const down = await flaky(t, 99);
  await t.rejects(apiJson(down.config, '/v1/takeover'), { code: 'api-unreachable', message: /fetch failed \(.+\)$/ });
  t.equal(down.seen(), 3, 'three tries');
  const missing = await flaky(t, 0, 404, 'no such thing');
  await t.rejects(apiJson(missing.config, '/v1/x'), { code: 'api-error', message: /answered 404: no such thing/ });
  t.equal(missing.seen(), 1, 'once');
});

t.test('fetchFailure names the cause, or the message alone when there is none', async (t) => {
  t.equal(fetchFailure(new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } })), 'fetch failed (ECONNRESET)');
  t.equal(fetchFailure(new Error('boom')), 'boom');
  t.equal(fetchFailure('text'), 'text');
});
