/**
 * The HTTP layer shared by every backend server: listens on 127.0.0.1, turns a request into a
 * Reply through the server's handler, acts out the group's armed fault, and logs the exchange.
 */
import { createReadStream } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LabAuth, Principal } from './auth.ts';
import type { Faults, FaultGroup, FaultKind } from './faults.ts';
import type { Reply, ReplyBody, StreamSink } from './reply.ts';
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

/** What a request looks like before it is authenticated. */
export interface IncomingRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
}

/**
 * More routes on a server, beside its handler (the lab server's dashboard on the API's port).
 * Every hook is optional; a hook answering undefined leaves the request to the server.
 */
export interface ServerExtension {
  /** Requests answered without credentials: a page and its scripts, which hold no secret. */
  open?(req: IncomingRequest): Promise<Reply | undefined> | Reply | undefined;
  /** Credentials other than the Authorization header, on the extension's own paths (a session cookie). */
  authenticate?(req: IncomingRequest): Principal | undefined;
  /** Authenticated routes of its own, tried before the server's handler. */
  handle?(req: BackendRequest): Promise<Reply | undefined> | Reply | undefined;
}

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
  /** Routes beside the handler's (see ServerExtension). */
  extension?: ServerExtension;
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

  // The extension's open pages take no fault: a dashboard left open must not use up a test's.
  const incoming: IncomingRequest = { method, path: url.pathname, headers: req.headers };
  const open = await opts.extension?.open?.(incoming);
  const fault = open ? undefined : opts.faults.take(opts.group, url.pathname + url.search);
  if (fault) entry.fault = fault.kind;
  if (fault?.kind === 'down') {
    // An RST rather than a FIN: what a crashed server or a dropped route looks like to a client.
    req.socket.resetAndDestroy();
    entry.durationMs = Date.now() - entry.time;
    return;
  }

  const principal = open
    ? undefined
    : (opts.auth.authenticate(req.headers.authorization) ?? opts.extension?.authenticate?.(incoming));
  let reply: Reply;
  if (open) {
    reply = open;
  } else if (!principal) {
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
      reply = (await opts.extension?.handle?.(request)) ?? (await opts.handler(request));
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
  if (reply.body.kind === 'stream') {
    stream(reply.body.open, res, entry);
    return;
  }
  await pump(reply.body, res, fault, entry);
}

/** A streamed body: headers out at once, then whatever the stream writes until either side ends it. */
function stream(open: (sink: StreamSink) => void, res: http.ServerResponse, entry: RequestLogEntry): void {
  let closed = false;
  const listeners: Array<() => void> = [];
  res.once('close', () => {
    closed = true;
    for (const l of listeners.splice(0)) l();
  });
  res.flushHeaders();
  open({
    write(text) {
      if (closed) return false;
      entry.bytesSent += Buffer.byteLength(text);
      res.write(text);
      return true;
    },
    end() {
      if (!closed) res.end();
    },
    onClose(listener) {
      if (closed) listener();
      else listeners.push(listener);
    },
  });
}

/** Sends the body, shaped by the fault: throttled, cut short, or with one byte flipped. */
async function pump(
  body: Exclude<ReplyBody, { kind: 'stream' }>,
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
