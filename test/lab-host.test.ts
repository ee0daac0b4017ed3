import t from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { labHostRoute, readLabHost } from '../lib/contract/lab-host.ts';
import { httpRequest, readBody } from '../lib/oci/http.ts';

t.test('a loopback URL on a listed port is routed to the lab host address; nothing else is', async (t) => {
  const labHost = { address: '10.0.2.100', ports: [5000, 443] };
  t.same(labHostRoute(new URL('http://127.0.0.1:5000/v2/'), labHost), { host: '10.0.2.100', port: 5000 });
  t.same(labHostRoute(new URL('https://localhost/token'), labHost), { host: '10.0.2.100', port: 443 });
  t.equal(labHostRoute(new URL('http://127.0.0.1:5001/'), labHost), undefined, 'not listed');
  t.equal(labHostRoute(new URL('http://registry.example:5000/'), labHost), undefined, 'not loopback');
  t.equal(labHostRoute(new URL('http://127.0.0.1:5000/'), undefined), undefined, 'no labHost: as is');
  t.same(readLabHost({ labHost: { address: 'a', ports: [1, 'x', 70000, 2] } }), { address: 'a', ports: [1, 2] });
  t.equal(readLabHost({ labHost: 'x' }), undefined);
});

t.test('routed: connected to the lab host address, the request still names the host of the URL', async (t) => {
  let host: string | undefined;
  const server = createServer((req, res) => {
    host = req.headers.host;
    res.end('routed');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.2', r));
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;
  // The "lab host" here is 127.0.0.2: the URL names localhost, the connection goes to .2.
  const { res } = await httpRequest(new URL(`http://localhost:${port}/x`), {
    timeoutMs: 5000,
    labHost: { address: '127.0.0.2', ports: [port] },
  });
  t.equal((await readBody(res, 100)).toString(), 'routed');
  t.equal(host, `localhost:${port}`);
});
