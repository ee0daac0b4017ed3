/**
 * The agent's side of the device API (harness/backend/api.ts in the lab): the heartbeat and the
 * target and application it answers, the update method, the updater bundles, supervisor releases and progress.
 * Every request carries the device's key. A failure is a one-line ApiError; a network failure
 * has `network` set so the caller retries on the next beat instead of judging the target.
 */
import { createHash } from 'node:crypto';
import type { ApplicationRelease } from '../../lib/contract/application.ts';
import type { UpdateMethodName } from '../../lib/update-method.ts';
import type { AgentState, AgentStateReply, DeviceTarget } from '../../lib/contract/fleet.ts';

export interface ApiConfig {
  apiEndpoint: string;
  uuid: string;
  deviceApiKey: string;
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly network: boolean,
  ) {
    super(message);
  }
}

export interface UpdateMethodAnswer {
  method: UpdateMethodName;
  reason: string;
}

export interface SupervisorReleaseAnswer {
  version: string;
  arch: string;
  minOsVersion: string;
  image: { repository: string; tag: string; manifestDigest: string };
}

type Fetch = typeof fetch;

export class AgentApi {
  private readonly base: string;
  /** The heartbeat's reply has carried `target` (an API that answers it there). */
  private repliesWithTarget = false;
  /** The application the last heartbeat's answer named for the device's fleet (none: undefined). */
  application: ApplicationRelease | undefined;

  constructor(
    readonly config: ApiConfig,
    private readonly fetchImpl: Fetch = fetch,
    private readonly timeoutMs = 15_000,
  ) {
    this.base = config.apiEndpoint.replace(/\/+$/, '');
  }

  private get devicePath(): string {
    return `/v1/devices/${encodeURIComponent(this.config.uuid)}`;
  }

  private async request(
    method: string,
    path: string,
    body?: unknown,
    timeoutMs = this.timeoutMs,
  ): Promise<{ status: number; bytes: Buffer; headers: Headers }> {
    let r: Response;
    let bytes: Buffer;
    try {
      r = await this.fetchImpl(`${this.base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.config.deviceApiKey}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      bytes = Buffer.from(await r.arrayBuffer());
    } catch (err) {
      const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
      const why = cause ? (cause.code ?? cause.message ?? String(cause)) : (err as Error).message;
      throw new ApiError(`API ${method} ${path} failed: ${why}`, undefined, true);
    }
    return { status: r.status, bytes, headers: r.headers };
  }

  private async json<T>(method: string, path: string, body?: unknown, ok: number[] = [200]): Promise<T> {
    const { status, bytes } = await this.request(method, path, body);
    const text = bytes.toString('utf8');
    if (!ok.includes(status)) {
      throw new ApiError(`API ${method} ${path} answered ${status}: ${errorText(text)}`, status, status >= 500);
    }
    try {
      return (text ? JSON.parse(text) : {}) as T;
    } catch {
      throw new ApiError(`API ${method} ${path} answered ${status} with a body that is not JSON`, status, false);
    }
  }

  /**
   * The heartbeat: PATCH /v1/devices/<uuid>/state. Its answer's `target` when it has the field;
   * otherwise (an API that answers only the device's record) GET /v1/devices/<uuid>/target.
   * Undefined: no target (absent, 404, {} or one without setAt).
   */
  async heartbeat(state: AgentState): Promise<DeviceTarget | undefined> {
    // Once a reply has carried `target`, the API answers it there: its absence means none.
    const reply = await this.json<AgentStateReply & Record<string, unknown>>(
      'PATCH',
      `${this.devicePath}/state`,
      state,
    );
    this.application = asApplication(reply.application);
    if ('target' in reply) {
      this.repliesWithTarget = true;
      return asTarget(reply.target);
    }
    return this.repliesWithTarget ? undefined : this.target();
  }

  /** GET /v1/devices/<uuid>/target: the device's target; undefined when it has none (404 or {}). */
  async target(): Promise<DeviceTarget | undefined> {
    const path = `${this.devicePath}/target`;
    const { status, bytes } = await this.request('GET', path);
    if (status === 404) return undefined;
    const text = bytes.toString('utf8');
    if (status !== 200)
      throw new ApiError(`API GET ${path} answered ${status}: ${errorText(text)}`, status, status >= 500);
    try {
      const doc = JSON.parse(text) as { target?: unknown } & Record<string, unknown>;
      // Either the target itself or {target: ...}.
      return asTarget('target' in doc ? doc.target : doc);
    } catch {
      throw new ApiError(`API GET ${path} answered a body that is not JSON`, status, false);
    }
  }

  /** GET /v1/update-method: how the device goes from `from` to `to` (or why it does not). */
  async updateMethod(q: { deviceType: string; from: string; to: string }): Promise<UpdateMethodAnswer> {
    const qs = new URLSearchParams({ deviceType: q.deviceType, from: q.from, to: q.to });
    const path = `/v1/update-method?${qs}`;
    const { status, bytes } = await this.request('GET', path);
    const text = bytes.toString('utf8');
    let doc: Partial<UpdateMethodAnswer> & { error?: string } = {};
    try {
      doc = JSON.parse(text) as typeof doc;
    } catch {
      /* judged below */
    }
    // A release the API does not know is a refusal too: the target cannot be carried out.
    if (status === 404) return { method: 'refused', reason: doc.error ?? errorText(text) };
    if (status !== 200 || !doc.method)
      throw new ApiError(`API GET ${path} answered ${status}: ${errorText(text)}`, status, status >= 500);
    return { method: doc.method, reason: doc.reason ?? '' };
  }

  /** GET /v1/updater[?method=advanced]: the bundle, checked against its X-Content-SHA256. */
  async updater(advanced: boolean): Promise<Buffer> {
    const path = `/v1/updater${advanced ? '?method=advanced' : ''}`;
    const { status, bytes, headers } = await this.request('GET', path, undefined, 120_000);
    if (status !== 200)
      throw new ApiError(`API GET ${path} answered ${status}: ${errorText(bytes.toString('utf8'))}`, status, true);
    const announced = headers.get('x-content-sha256');
    const got = createHash('sha256').update(bytes).digest('hex');
    if (!announced) throw new ApiError(`API GET ${path} answered no X-Content-SHA256`, status, false);
    if (announced !== got)
      throw new ApiError(
        `API GET ${path}: the updater hashes to ${got.slice(0, 12)}, not to the ${announced.slice(0, 12)} announced`,
        status,
        true,
      );
    return bytes;
  }

  /** GET /v1/supervisor-releases/<version>?arch=<arch>. */
  supervisorRelease(version: string, arch: string): Promise<SupervisorReleaseAnswer> {
    return this.json<SupervisorReleaseAnswer>(
      'GET',
      `/v1/supervisor-releases/${encodeURIComponent(version)}?arch=${encodeURIComponent(arch)}`,
    );
  }

  /** POST /v1/devices/<uuid>/logs: a part of an update log; false when it was not taken (never throws). */
  async log(name: string, text: string): Promise<boolean> {
    try {
      await this.json('POST', `${this.devicePath}/logs`, { name, text }, [201]);
      return true;
    } catch {
      return false;
    }
  }

  /** PATCH /v1/devices/<uuid>/progress; false when it could not be sent (never throws). */
  async progress(percent: number, message: string, status: string): Promise<boolean> {
    try {
      await this.json('PATCH', `${this.devicePath}/progress`, { percent, message: message.slice(0, 1000), status });
      return true;
    } catch {
      return false;
    }
  }
}

function asTarget(v: unknown): DeviceTarget | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const t = v as Partial<DeviceTarget>;
  if (typeof t.setAt !== 'string') return undefined;
  const out: DeviceTarget = { setAt: t.setAt };
  if (typeof t.osVersion === 'string') out.osVersion = t.osVersion;
  if (typeof t.supervisorVersion === 'string') out.supervisorVersion = t.supervisorVersion;
  if (t.confirmMajor === true) out.confirmMajor = true;
  if (typeof t.osSetAt === 'string') out.osSetAt = t.osSetAt;
  if (typeof t.supervisorSetAt === 'string') out.supervisorSetAt = t.supervisorSetAt;
  return out.osVersion === undefined && out.supervisorVersion === undefined ? undefined : out;
}

/** The heartbeat's `application`, when it is one (a release and an image by digest). */
function asApplication(v: unknown): ApplicationRelease | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const a = v as Partial<ApplicationRelease>;
  const image = a.image as Partial<ApplicationRelease['image']> | undefined;
  if (
    typeof a.appId !== 'number' ||
    !Number.isInteger(a.appId) ||
    typeof a.name !== 'string' ||
    !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(a.release ?? '') ||
    typeof image?.repository !== 'string' ||
    typeof image.manifestDigest !== 'string'
  )
    return undefined;
  return {
    appId: a.appId,
    name: a.name,
    release: a.release!,
    image: { repository: image.repository, manifestDigest: image.manifestDigest },
  };
}

function errorText(text: string): string {
  try {
    const e = (JSON.parse(text) as { error?: unknown }).error;
    if (typeof e === 'string') return e;
  } catch {
    /* not JSON */
  }
  return text.slice(0, 200).replace(/\s+/g, ' ');
}
