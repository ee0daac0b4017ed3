/**
 * The dashboard on the API's port, as a backend ServerExtension: the page and its bundle without
 * credentials (they hold no secret), the event stream with the operator token or a session cookie
 * (sessions.ts), the session itself and the policy report with the operator token only.
 */
import type { Principal } from '../backend/auth.ts';
import { bytes, fileReply, json, type Reply } from '../backend/reply.ts';
import type { BackendRequest, IncomingRequest, ServerExtension } from '../backend/serve.ts';
import type { DashboardBundle } from './bundle.ts';
import type { LiveFeed } from './live.ts';
import { pageHtml } from './page.ts';
import { type FactsSource, policyReply } from './policy.ts';
import type { Sessions } from './sessions.ts';
import { CONSOLE_LINES_DEFAULT, CONSOLE_LINES_MAX, CONSOLE_PATH, type ConsoleTail, DASHBOARD_PATHS } from './wire.ts';

/** The last lines of a device's serial console; undefined when the lab has none of it. */
export type ConsoleSource = (uuid: string, lines: number) => ConsoleTail | undefined;

export interface DashboardRoutesDeps {
  bundle: DashboardBundle;
  feed: LiveFeed;
  sessions: Sessions;
  facts: FactsSource;
  consoles?: ConsoleSource;
  /** Whether a device is registered (the console of an unknown uuid is a 404). */
  isDevice(uuid: string): boolean;
}

const error = (status: number, message: string): Reply => json(status, { error: message });
const isGet = (m: string) => m === 'GET' || m === 'HEAD';

/** Headers every dashboard answer carries: no framing, no sniffing, scripts only from here. */
const SAFE = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

export function dashboardRoutes(deps: DashboardRoutesDeps): ServerExtension {
  const { bundle, feed, sessions, facts, consoles, isDevice } = deps;
  const page = Buffer.from(pageHtml({ scriptSha: bundle.script.sha256, styleSha: bundle.style.sha256 }));
  return {
    open(req: IncomingRequest): Promise<Reply> | Reply | undefined {
      if (!isGet(req.method)) return undefined;
      if (req.path === DASHBOARD_PATHS.page || req.path === '/index.html')
        return bytes(200, page, 'text/html; charset=utf-8', {
          ...SAFE,
          'Content-Security-Policy':
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        });
      if (req.path === DASHBOARD_PATHS.script)
        return fileReply(bundle.script.path, undefined, { ...SAFE, 'Content-Type': 'text/javascript; charset=utf-8' });
      if (req.path === DASHBOARD_PATHS.style)
        return fileReply(bundle.style.path, undefined, { ...SAFE, 'Content-Type': 'text/css; charset=utf-8' });
      return undefined;
    },
    authenticate(req: IncomingRequest): Principal | undefined {
      if (req.path !== DASHBOARD_PATHS.events || !isGet(req.method)) return undefined;
      return sessions.valid(single(req.headers.cookie)) ? { kind: 'operator' } : undefined;
    },
    handle(req: BackendRequest): Promise<Reply> | Reply | undefined {
      const p = req.path;
      const consoleOf = CONSOLE_PATH.exec(p)?.[1];
      if (consoleOf !== undefined) return consoleReply(req, decodeURIComponent(consoleOf), consoles, isDevice);
      if (p !== DASHBOARD_PATHS.events && p !== DASHBOARD_PATHS.session && p !== DASHBOARD_PATHS.policy)
        return undefined;
      if (req.principal.kind !== 'operator') return error(403, `only the lab operator reads ${p}`);
      if (p === DASHBOARD_PATHS.session) {
        if (req.method !== 'POST') return error(405, `${req.method} ${p} is not supported (use POST)`);
        return { status: 204, headers: { ...SAFE, 'Set-Cookie': sessions.create() } };
      }
      if (!isGet(req.method)) return error(405, `${req.method} ${p} is not supported (use GET)`);
      if (p === DASHBOARD_PATHS.policy) return policyReply(facts, req.query);
      return {
        status: 200,
        headers: {
          ...SAFE,
          'Content-Type': 'text/event-stream; charset=utf-8',
          Connection: 'keep-alive',
          'X-Accel-Buffering': 'no',
        },
        body: { kind: 'stream', open: (sink) => feed.connect(sink) },
      };
    },
  };
}

function consoleReply(
  req: BackendRequest,
  uuid: string,
  consoles: ConsoleSource | undefined,
  isDevice: (uuid: string) => boolean,
): Reply {
  if (req.principal.kind !== 'operator') return error(403, `only the lab operator reads ${req.path}`);
  if (!isGet(req.method)) return error(405, `${req.method} ${req.path} is not supported (use GET)`);
  const asked = req.query.get('lines');
  const lines = asked === null ? CONSOLE_LINES_DEFAULT : Number(asked);
  if (!Number.isInteger(lines) || lines < 1 || lines > CONSOLE_LINES_MAX)
    return error(400, `lines must be a whole number from 1 to ${CONSOLE_LINES_MAX}, not "${asked}"`);
  if (!isDevice(uuid)) return error(404, `device ${uuid} is not registered`);
  const tail: ConsoleTail = consoles?.(uuid, lines) ?? {
    lines: [],
    bytes: 0,
    modified: null,
    none: 'the lab holds no serial console of this device (only devices started in this lab folder have one)',
  };
  return json(200, tail, SAFE);
}

function single(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h.join('; ') : h;
}
