/**
 * The HTTP layer shared by every backend server: listens on 127.0.0.1, turns a request into a
 * Reply through the server's handler, acts out the group's armed fault, and logs the exchange.
 */
import { createReadStream } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LabAuth, Principal } from './auth.ts';
import type { Faults, FaultGroup, FaultKind } from './faults.ts';
import type { Reply, ReplyBody } from './reply.ts';
import type { RequestLog, RequestLogEntry } from './request-log.ts';

export interface BackendRequest {
  method: string;
  /** Path without the query. */
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  /** "http://<Host header>": absolute URLs in answers must work for whoever asked (host or guest). */
  origin: string;
  /** Who sent it: every request that reaches a handler is authenticated. */
  principal: Principal;
  readBody(limit: number): Promise<Buffer>;
}

export type Handler = (req: BackendRequest) => Promise<Reply> | Reply;

export interface ServerOptions {
  group: FaultGroup;
  handler: Handler;
  faults: Faults;
  log: RequestLog;
  /** Requests without a valid operator token or device key get 401 before any handler sees them. */
  auth: LabAuth;
  /** The error body this kind of server speaks (OCI error JSON for registries, {error} for the API). */
  errorReply(status: number, message: string): Reply;
  /**
   * The address to listen on (default 127.0.0.1). Another address than loopback or a wildcard
   * gets a loopback listener on the same port too: the harness and the emulated devices' forwards
   * always come from 127.0.0.1.
   */
  listen?: string;
  /** The port to listen on (default: any free one); the lab server keeps its ports across restarts. */
  port?: number;
}

export interface RunningServer {
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  close(): Promise<void>;
}

const CHUNK = 64 * 1024;

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    handle(opts, req, res).catch((err) => {
      // Only reached when sending itself failed (the client went away): nothing left to answer.
      if (!res.headersSent) {
        res.statusCode = 500;
        res.end(String((err as Error).message));
      } else {
        res.destroy();
      }
    });
  };
  const host = opts.listen ?? '127.0.0.1';
  const servers = [http.createServer(onRequest)];
  const listen = (server: http.Server, address: string, port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: address, port }, () => resolve());
    });
  await listen(servers[0]!, host, opts.port ?? 0);
  const { port } = servers[0]!.address() as AddressInfo;
  const close = () =>
    Promise.all(
      servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            // In-flight responses (a throttled blob) would keep close() waiting for ever.
            server.closeAllConnections();
          }),
      ),
    ).then(() => undefined);
  if (!['127.0.0.1', '0.0.0.0', '::'].includes(host)) {
    const loopback = http.createServer(onRequest);
    servers.push(loopback);
    await listen(loopback, '127.0.0.1', port).catch(async (err: unknown) => {
      servers.pop();
      await close();
      throw err;
    });
  }
  return { url: `http://127.0.0.1:${port}`, port, close };
}

async function handle(opts: ServerOptions, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const method = req.method ?? 'GET';
  const entry = opts.log.start(opts.group, {
    method,
    path: url.pathname + url.search,
    status: 0,
    bytesSent: 0,
    time: Date.now(),
    ...(req.headers.range ? { range: req.headers.range } : {}),
  });
  res.on('close', () => {
    entry.durationMs = Date.now() - entry.time;
  });

  const fault = opts.faults.take(opts.group, url.pathname + url.search);
  if (fault) entry.fault = fault.kind;
  if (fault?.kind === 'down') {
    // An RST rather than a FIN: what a crashed server or a dropped route looks like to a client.
    req.socket.resetAndDestroy();
    entry.durationMs = Date.now() - entry.time;
    return;
  }

  const principal = opts.auth.authenticate(req.headers.authorization);
  let reply: Reply;
  if (!principal) {
    const r = opts.errorReply(401, 'missing or wrong credentials (send the device API key or the lab operator token)');
    reply = { ...r, headers: { ...r.headers, 'WWW-Authenticate': 'Bearer realm="huplab"' } };
  } else if (fault?.kind === 'http-error') {
    const status = fault.status ?? 503;
    reply = opts.errorReply(status, `injected fault: http-error ${status}`);
  } else if (fault?.kind === 'missing-delta') {
    reply = opts.errorReply(404, 'no delta');
  } else {
    const request: BackendRequest = {
      method,
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      origin: `http://${req.headers.host ?? `127.0.0.1:${req.socket.localPort}`}`,
      principal,
      readBody: (limit) => readRequestBody(req, limit),
    };
    try {
      reply = await opts.handler(request);
    } catch (err) {
      reply = opts.errorReply(500, `internal error: ${(err as Error).message}`);
    }
  }

  res.writeHead(reply.status, reply.headers);
  entry.status = reply.status;
  if (!reply.body || method === 'HEAD') {
    res.end();
    return;
  }
  await pump(reply.body, res, fault, entry);
}

/** Sends the body, shaped by the fault: throttled, cut short, or with one byte flipped. */
async function pump(
  body: ReplyBody,
  res: http.ServerResponse,
  fault: FaultKind | undefined,
  entry: RequestLogEntry,
): Promise<void> {
  const source: AsyncIterable<Buffer> =
    body.kind === 'buffer'
      ? slices(body.data)
      : createReadStream(body.path, { start: body.start, end: body.end, highWaterMark: CHUNK });
  const limit = fault?.kind === 'truncate' ? fault.bytes : Infinity;
  const corruptAt = fault?.kind === 'corrupt' ? fault.offset : -1;
  const rate = fault?.kind === 'slow' ? fault.bytesPerSecond : 0;
  const started = Date.now();
  let sent = 0;
  let closed = false;
  res.once('close', () => {
    closed = true;
  });
  // Headers go out at once, as a real server's would; a throttled body must not look like a
  // server that never answered.
  res.flushHeaders();

  for await (let chunk of source) {
    if (closed) break;
    if (sent + chunk.length > limit) chunk = chunk.subarray(0, limit - sent);
    if (corruptAt >= sent && corruptAt < sent + chunk.length) {
      chunk = Buffer.from(chunk);
      chunk[corruptAt - sent] = chunk[corruptAt - sent]! ^ 0xff;
    }
    // Throttled bodies go out in slices of 1/20 s worth, each at its due time, so the rate holds
    // over short bodies too.
    const step = rate > 0 ? Math.max(1, Math.floor(rate / 20)) : chunk.length;
    for (let off = 0; off < chunk.length && !closed; off += step) {
      const piece = chunk.subarray(off, off + step);
      if (rate > 0) {
        const due = started + ((sent + piece.length) * 1000) / rate;
        const wait = due - Date.now();
        if (wait > 0) await sleep(wait);
        if (closed) break;
      }
      sent += piece.length;
      entry.bytesSent = sent;
      if (!res.write(piece)) await drained(res);
    }
    if (sent >= limit) break;
  }
  if (closed) return;
  if (sent >= limit) {
    // Cut: headers promised more, the connection ends after what was written (FIN after flush).
    res.socket?.end();
    return;
  }
  res.end();
}

async function* slices(data: Buffer): AsyncGenerator<Buffer> {
  for (let off = 0; off < data.length; off += CHUNK) yield data.subarray(off, off + CHUNK);
}

function drained(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

async function readRequestBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new Error(`request body larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
