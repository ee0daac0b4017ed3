/**
 * The backend API the device and the harness talk to (JSON): release lookup, update progress per
 * device, the updater bundle and raw OS images. Requests arrive authenticated (see auth.ts); a
 * device may read and write only its own record, the operator any.
 */
import { sortVersions } from '../../lib/versions.ts';
import type { Variant } from '../../lib/contract/variant.ts';
import { chooseUpdateMethod, type OsIdentity, type OsImageInfo } from '../../lib/update-method.ts';

export type { OsImageInfo } from '../../lib/update-method.ts';
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { isSupervisorArch, SUPERVISOR_ARCHES } from '../../lib/supervisor-policy.ts';
import { HuplabError } from '../../lib/errors.ts';
import { fileSha256 } from '../../lib/file-digest.ts';
import { fileReply, json, type Reply } from './reply.ts';
import type { AgentState, UpdateAttempt } from '../../lib/contract/fleet.ts';
import type { ApplicationRelease } from '../../lib/contract/application.ts';
import { FleetApi, publishedSource } from './fleet-api.ts';
import type { Faults } from './faults.ts';
import type { RequestLog } from './request-log.ts';
import type { FleetSource, TargetPolicy } from './target-rules.ts';
import type { BackendRequest } from './serve.ts';
import {
  deviceState,
  MemoryDeviceRecords,
  type DeviceRecords,
  type DeviceRegistration,
  type DeviceState,
  type DeviceStateReport,
  type ProgressEntry,
  type ProgressReport,
  withOnline,
} from './device-records.ts';

export type {
  DeviceInfo,
  DeviceRecords,
  DeviceRegistration,
  DeviceState,
  ProgressEntry,
  ProgressReport,
} from './device-records.ts';

export interface ReleaseRecord {
  deviceType: string;
  version: string;
  supervisorVersion: string;
  /** Partition layout id; a change means the advanced update path. */
  layout: string;
  /** The OS variant of the hostapp (development or production). */
  variant?: Variant;
  /** Debian architecture of the OS's userland; a change means the advanced update path. */
  arch: string;
  hostapp: { repository: string; tag: string; manifestDigest: string };
  /** The boot flash firmware the OS ships, for an advanced update to write (JetPack 5's QSPI). */
  bootFlash?: { file: string; sha256: string; size: number; physBase: number; bankBytes: number };
  /** The raw disk image (advanced update), when the backend serves one: GET /v1/os-images/<type>/<version>. */
  image?: OsImageInfo;
}

/** A supervisor release published for one CPU architecture (Backend.publishSupervisor). */
export interface SupervisorReleaseRecord {
  version: string;
  /** Debian CPU architecture (a device profile's arch). */
  arch: string;
  /** The oldest OS version it runs on. */
  minOsVersion: string;
  image: { repository: string; tag: string; manifestDigest: string };
}

export interface ApiOptions {
  /** Served at GET /v1/updater; read at each request, so a rebuilt bundle is picked up. */
  updaterBundlePath?: string;
  /** Served at GET /v1/updater?method=advanced: the advanced (takeover) updater. */
  advancedUpdaterPath?: string;
  /** Takeover's native tools by name (cfi-flash-arm64), served at GET /v1/takeover/<name>, listed at /v1/takeover. */
  takeoverTools?: Record<string, string>;
  /** Where device registrations, heartbeats and progress are kept (default: in memory, for one run). */
  records?: DeviceRecords;
  /**
   * What targets may name and how it is published (default: what this backend has published,
   * nothing built); the lab server's builds from the recipes (harness/server/publisher.ts).
   */
  fleet?: FleetSource;
  /**
   * The support policy OS targets are judged by (lib/release-policy.ts): the lab server's is the
   * recipes'; default none, so a run's backend judges its targets by what it published only.
   */
  policy?: TargetPolicy;
}

/** How the API gives a device registered through it its key (the backend's LabAuth). */
export interface DeviceKeys {
  newDeviceKey(uuid: string): string;
}

export interface AddOsImageOptions {
  deviceType: string;
  version: string;
  file: string;
  /** Hex sha256 when known; otherwise the file is hashed here (seconds for a disk image). */
  sha256?: string;
  /** A compressed image: how, and what the disk image it unpacks to is (default: the file is the disk image). */
  compression?: 'gzip';
  format?: OsImageInfo['format'];
  raw?: { sha256: string; size: number };
}

const JSON_LIMIT = 64 * 1024;
/** An update log: the updater's whole log file fits (it is a few KiB). */
const LOG_LIMIT = 1024 * 1024;

export class Api {
  private readonly releaseList: ReleaseRecord[] = [];
  private readonly supervisorList: SupervisorReleaseRecord[] = [];
  /** The application the fleets run (setApplication); none until one is published. */
  private application: ApplicationRelease | undefined;
  private readonly records: DeviceRecords;
  private readonly keys: DeviceKeys | undefined;
  private readonly osImages = new Map<string, { file: string; info: OsImageInfo }>();
  private readonly updaterBundlePath: string | undefined;
  private readonly advancedUpdaterPath: string | undefined;
  private readonly takeoverTools: Record<string, string>;
  private readonly fleet: FleetApi;

  /**
   * `faults`: the backend's switches, armed and cleared through POST/DELETE /v1/lab/faults;
   * `requests`: its services' request log, read and cleared through /v1/lab/requests.
   */
  constructor(opts: ApiOptions = {}, keys?: DeviceKeys, faults?: Faults, requests?: RequestLog) {
    this.records = opts.records ?? new MemoryDeviceRecords();
    this.keys = keys;
    this.fleet = new FleetApi({
      records: this.records,
      source: opts.fleet ?? publishedSource(this),
      ...(opts.policy ? { policy: opts.policy } : {}),
      ...(faults ? { faults } : {}),
      ...(requests ? { requests } : {}),
    });
    this.updaterBundlePath = opts.updaterBundlePath;
    this.advancedUpdaterPath = opts.advancedUpdaterPath;
    this.takeoverTools = { ...opts.takeoverTools };
  }

  /** Adds a release, replacing one with the same device type and version. */
  addRelease(release: ReleaseRecord): void {
    const i = this.releaseList.findIndex((r) => r.deviceType === release.deviceType && r.version === release.version);
    if (i >= 0) this.releaseList.splice(i, 1);
    this.releaseList.push(structuredClone(release));
  }

  /** Releases, oldest version first; all device types when none is given. */
  releases(deviceType?: string): ReleaseRecord[] {
    return this.releaseList
      .filter((r) => deviceType === undefined || r.deviceType === deviceType)
      .sort((a, b) => sortVersions(a.version, b.version) || a.deviceType.localeCompare(b.deviceType))
      .map((r) => structuredClone(r));
  }

  /** Adds a supervisor release, replacing one with the same version and arch. */
  addSupervisorRelease(release: SupervisorReleaseRecord): void {
    const i = this.supervisorList.findIndex((r) => r.version === release.version && r.arch === release.arch);
    if (i >= 0) this.supervisorList.splice(i, 1);
    this.supervisorList.push(structuredClone(release));
  }

  /** Supervisor releases, oldest version first; all arches when none is given. */
  supervisorReleases(arch?: string): SupervisorReleaseRecord[] {
    return this.supervisorList
      .filter((r) => arch === undefined || r.arch === arch)
      .sort((a, b) => sortVersions(a.version, b.version) || a.arch.localeCompare(b.arch))
      .map((r) => structuredClone(r));
  }

  /**
   * The application every device's fleet runs from now on (the heartbeat's `application`); the
   * lab has one application, so a newer release replaces the one before.
   */
  setApplication(release: ApplicationRelease): void {
    this.application = structuredClone(release);
  }

  /** Serves one of takeover's native tools (GET /v1/takeover/<name>), replacing one of the same name. */
  addTakeoverTool(name: string, path: string): void {
    this.takeoverTools[name] = path;
  }

  async addOsImage(opts: AddOsImageOptions): Promise<OsImageInfo> {
    const size = await stat(opts.file).then(
      (s) => s.size,
      () => {
        throw new HuplabError('os-image-missing', `OS image ${opts.file} does not exist`, {
          hint: 'build it with `huplab images build`',
        });
      },
    );
    const sha256 = opts.sha256 ?? (await fileSha256(opts.file));
    const info: OsImageInfo = {
      compression: opts.compression ?? 'none',
      format: opts.format ?? 'raw',
      sha256,
      size,
      rawSha256: opts.raw?.sha256 ?? sha256,
      rawSize: opts.raw?.size ?? size,
    };
    this.osImages.set(`${opts.deviceType}/${opts.version}`, { file: opts.file, info });
    return info;
  }

  /** The method that takes a device on `from` to `to` (of `toDeviceType`), or why none does. */
  updateMethod(q: { deviceType: string; from: string; to: string; toDeviceType?: string }): {
    status: number;
    body: Record<string, unknown>;
  } {
    const current = this.record(q.deviceType, q.from);
    const targetType = q.toDeviceType ?? q.deviceType;
    const target = this.record(targetType, q.to);
    if (!current)
      return {
        status: 404,
        body: { error: `release ${q.from} is not published for ${q.deviceType}, so the running OS is unknown` },
      };
    if (!target) {
      const known = this.releases(targetType).map((r) => r.version);
      return {
        status: 404,
        body: {
          error: `release ${q.to} is not published for ${targetType} (published: ${known.length ? known.join(', ') : 'none'})`,
        },
      };
    }
    const choice = chooseUpdateMethod(identity(current), identity(target));
    return { status: 200, body: { ...choice, current, target } };
  }

  private record(deviceType: string, version: string): ReleaseRecord | undefined {
    const r = this.releaseList.find((x) => x.deviceType === deviceType && x.version === version);
    if (!r) return undefined;
    const img = this.osImages.get(`${deviceType}/${version}`);
    return structuredClone(img ? { ...r, image: img.info } : r);
  }

  /** A device's progress: the last report and the history; undefined when it reported none. */
  device(uuid: string): DeviceState | undefined {
    return deviceState(uuid, this.records.history(uuid));
  }

  readonly handle = async (req: BackendRequest): Promise<Reply> => {
    const p = req.path;
    // Any request of a device's own says it is there: one running an update stays online. A
    // well-formed heartbeat writes lastSeen with its report (one write per beat, not two);
    // reportState hears the others itself.
    if (req.principal.kind === 'device' && !HEARTBEAT_ROUTE.test(p)) this.heard(req);
    const fleet = await this.fleet.handle(req);
    if (fleet) return fleet;
    // The path's parameters when it matches the route, decoded; undefined when it does not.
    const at = (route: RegExp): string[] | undefined =>
      route
        .exec(p)
        ?.slice(1)
        .map((s) => decodeURIComponent(s));
    if (p === '/v1/releases') return this.onlyGet(req) ?? this.listReleases(req);
    const release = at(/^\/v1\/releases\/([^/]+)$/);
    if (release) return this.onlyGet(req) ?? this.oneRelease(req, release[0]!);
    if (p === '/v1/supervisor-releases') return this.onlyGet(req) ?? this.listSupervisorReleases(req);
    const supervisor = at(/^\/v1\/supervisor-releases\/([^/]+)$/);
    if (supervisor) return this.onlyGet(req) ?? this.oneSupervisorRelease(req, supervisor[0]!);
    if (p === '/v1/devices') {
      if (req.principal.kind !== 'operator')
        return Api.errorReply(403, 'only the lab operator lists and registers devices');
      if (req.method === 'GET' || req.method === 'HEAD')
        return json(200, { devices: this.records.list().map((d) => withOnline(d)) });
      if (req.method === 'POST') return this.registerDevice(req);
      return Api.errorReply(405, `${req.method} ${p} is not supported (use GET or POST)`);
    }
    const heartbeat = at(HEARTBEAT_ROUTE);
    if (heartbeat) {
      const reply =
        req.method !== 'PATCH' && req.method !== 'POST'
          ? Api.errorReply(405, `${req.method} ${p} is not supported (use PATCH)`)
          : (this.notYours(req, heartbeat[0]!) ?? (await this.reportState(req, heartbeat[0]!)));
      // A beat refused (its method, its device, its body) still says the device is there.
      if (reply.status !== 200) this.heard(req);
      return reply;
    }
    const logs = at(/^\/v1\/devices\/([^/]+)\/logs$/);
    if (logs) {
      const mine = this.notYours(req, logs[0]!);
      if (mine) return mine;
      if (req.method === 'GET' || req.method === 'HEAD') return json(200, { logs: this.records.logs(logs[0]!) });
      if (req.method === 'POST') return this.addLog(req, logs[0]!);
      return Api.errorReply(405, `${req.method} ${p} is not supported (use GET or POST)`);
    }
    const progress = at(/^\/v1\/devices\/([^/]+)\/progress$/);
    if (progress) {
      // POST too: takeover's stage 2 reports with busybox wget, which cannot PATCH.
      if (req.method !== 'PATCH' && req.method !== 'POST')
        return Api.errorReply(405, `${req.method} ${p} is not supported (use PATCH)`);
      return this.notYours(req, progress[0]!) ?? this.progress(req, progress[0]!);
    }
    const device = at(/^\/v1\/devices\/([^/]+)$/);
    if (device) return this.onlyGet(req) ?? this.notYours(req, device[0]!) ?? this.deviceReply(device[0]!);
    if (p === '/v1/update-method') return this.onlyGet(req) ?? this.methodReply(req);
    if (p === '/v1/updater') return this.onlyGet(req) ?? this.updater(req);
    if (p === '/v1/takeover') return this.onlyGet(req) ?? this.listTakeoverTools();
    const tool = at(/^\/v1\/takeover\/([^/]+)$/);
    if (tool) return this.onlyGet(req) ?? this.takeoverTool(req, tool[0]!);
    const image = at(/^\/v1\/os-images\/([^/]+)\/([^/]+)$/);
    if (image) return this.onlyGet(req) ?? this.osImage(req, image[0]!, image[1]!);
    return Api.errorReply(404, `no such endpoint: ${req.method} ${p}`);
  };

  /** The device that sent `req` was heard from now. */
  private heard(req: BackendRequest): void {
    if (req.principal.kind === 'device') this.records.touch(req.principal.uuid, new Date().toISOString());
  }

  static errorReply(status: number, message: string): Reply {
    return json(status, { error: message });
  }

  /** 403 when a device asks for another device's record; the operator may read any. */
  private notYours(req: BackendRequest, uuid: string): Reply | undefined {
    const who = req.principal;
    if (who.kind === 'operator' || who.uuid === uuid) return undefined;
    return Api.errorReply(403, `device ${who.uuid} may not access the record of device ${uuid}`);
  }

  private onlyGet(req: BackendRequest): Reply | undefined {
    return req.method === 'GET' || req.method === 'HEAD'
      ? undefined
      : Api.errorReply(405, `${req.method} ${req.path} is not supported`);
  }

  private listReleases(req: BackendRequest): Reply {
    const deviceType = req.query.get('deviceType') ?? undefined;
    return json(200, { releases: this.releases(deviceType) });
  }

  /** GET /v1/supervisor-releases[?arch=A]: operator or any device (the choices of a settings page). */
  private listSupervisorReleases(req: BackendRequest): Reply {
    const arch = req.query.get('arch') ?? undefined;
    if (arch !== undefined && !isSupervisorArch(arch))
      return Api.errorReply(400, `"${arch}" is not a CPU architecture (use one of: ${SUPERVISOR_ARCHES.join(', ')})`);
    return json(200, { supervisorReleases: this.supervisorReleases(arch) });
  }

  /** GET /v1/supervisor-releases/<version>?arch=A: one release's record, with its image's digest. */
  private oneSupervisorRelease(req: BackendRequest, version: string): Reply {
    const arch = req.query.get('arch');
    if (!arch) return Api.errorReply(400, `which CPU architecture? add ?arch=<arch> to ${req.path}`);
    const found = this.supervisorList.find((r) => r.version === version && r.arch === arch);
    if (found) return json(200, found);
    const known = this.supervisorReleases(arch).map((r) => r.version);
    return Api.errorReply(
      404,
      `supervisor ${version} is not published for ${arch} (published: ${known.length ? known.join(', ') : 'none'})`,
    );
  }

  private methodReply(req: BackendRequest): Reply {
    const [deviceType, from, to] = ['deviceType', 'from', 'to'].map((k) => req.query.get(k) ?? undefined);
    if (!deviceType || !from || !to)
      return Api.errorReply(
        400,
        'which update? give ?deviceType=<type>&from=<running version>&to=<target version>[&toDeviceType=<type>]',
      );
    const toDeviceType = req.query.get('toDeviceType') ?? undefined;
    const r = this.updateMethod({ deviceType, from, to, ...(toDeviceType ? { toDeviceType } : {}) });
    return json(r.status, r.body);
  }

  private oneRelease(req: BackendRequest, version: string): Reply {
    const deviceType = req.query.get('deviceType');
    if (!deviceType) return Api.errorReply(400, `which device type? add ?deviceType=<type> to ${req.path}`);
    const found = this.record(deviceType, version);
    if (found) return json(200, found);
    const known = this.releases(deviceType).map((r) => r.version);
    return Api.errorReply(
      404,
      `release ${version} is not published for ${deviceType} (published: ${known.length ? known.join(', ') : 'none'})`,
    );
  }

  private async progress(req: BackendRequest, uuid: string): Promise<Reply> {
    if (!UUID.test(uuid)) return Api.errorReply(400, `"${uuid}" is not a device uuid`);
    let body: unknown;
    try {
      body = JSON.parse((await req.readBody(JSON_LIMIT)).toString('utf8'));
    } catch (err) {
      return Api.errorReply(400, `cannot read the progress body as JSON: ${(err as Error).message}`);
    }
    const r = body as Partial<ProgressReport> | null;
    if (!r || typeof r.percent !== 'number' || !Number.isFinite(r.percent) || r.percent < 0 || r.percent > 100) {
      return Api.errorReply(400, 'progress needs "percent", a number from 0 to 100');
    }
    if (typeof r.message !== 'string' || r.message.length > 1000)
      return Api.errorReply(400, 'progress needs "message", a string of at most 1000 characters');
    if (r.status !== undefined && typeof r.status !== 'string')
      return Api.errorReply(400, '"status" must be a string when given');
    const entry: ProgressEntry = {
      percent: r.percent,
      message: r.message,
      ...(r.status !== undefined ? { status: r.status } : {}),
      at: new Date().toISOString(),
    };
    this.records.addProgress(uuid, entry);
    return json(200, entry);
  }

  /** The progress (as before registration existed) and, for a registered device, its record. */
  private deviceReply(uuid: string): Reply {
    const state = this.device(uuid);
    const info = this.records.info(uuid);
    if (!state && !info) return Api.errorReply(404, `device ${uuid} is not registered and has reported no progress`);
    return json(200, { ...(state ?? { uuid, history: [] }), ...(info ? { device: withOnline(info) } : {}) });
  }

  /** The request's JSON object, or the 400 reply that says why there is none. */
  private async jsonBody(
    req: BackendRequest,
    what: string,
    limit = JSON_LIMIT,
  ): Promise<{ body: Record<string, unknown>; reply?: never } | { reply: Reply }> {
    try {
      const body = JSON.parse((await req.readBody(limit)).toString('utf8')) as unknown;
      if (body && typeof body === 'object' && !Array.isArray(body)) return { body: body as Record<string, unknown> };
      return { reply: Api.errorReply(400, `the ${what} body must be a JSON object`) };
    } catch (err) {
      return { reply: Api.errorReply(400, `cannot read the ${what} body as JSON: ${(err as Error).message}`) };
    }
  }

  /** POST /v1/devices (operator): a device's record and its fresh API key, for its config.json. */
  private async registerDevice(req: BackendRequest): Promise<Reply> {
    if (!this.keys) return Api.errorReply(501, 'this backend cannot give devices keys');
    const read = await this.jsonBody(req, 'registration');
    if (read.reply) return read.reply;
    const { body } = read;
    const uuid = body.uuid === undefined ? randomBytes(16).toString('hex') : body.uuid;
    if (typeof uuid !== 'string' || !UUID.test(uuid))
      return Api.errorReply(400, '"uuid" must be 1 to 64 letters, digits or "-" when given');
    const bad = badFields(body, {
      name: true,
      deviceType: true,
      arch: true,
      osVersion: false,
      supervisorVersion: false,
      status: false,
    });
    if (bad) return Api.errorReply(400, bad);
    const registration = {
      uuid,
      ...pickStrings(body, ['name', 'deviceType', 'arch']),
      ...pickStrings(body, ['osVersion', 'supervisorVersion', 'status']),
    } as DeviceRegistration;
    const device = this.records.register(registration, new Date().toISOString());
    return json(201, { uuid, deviceApiKey: this.keys.newDeviceKey(uuid), device: withOnline(device) });
  }

  /** POST /v1/devices/:uuid/logs: an update log (or a part of one), kept in order of arrival. */
  private async addLog(req: BackendRequest, uuid: string): Promise<Reply> {
    if (!UUID.test(uuid)) return Api.errorReply(400, `"${uuid}" is not a device uuid`);
    const read = await this.jsonBody(req, 'log', LOG_LIMIT);
    if (read.reply) return read.reply;
    const { body } = read;
    const bad = badFields(body, { name: true });
    if (bad) return Api.errorReply(400, bad);
    if (typeof body.text !== 'string') return Api.errorReply(400, 'a log needs "text", a string');
    const log = { name: body.name as string, text: body.text, at: new Date().toISOString() };
    this.records.addLog(uuid, log);
    return json(201, { name: log.name, bytes: Buffer.byteLength(log.text), at: log.at });
  }

  /**
   * PATCH /v1/devices/:uuid/state: the device's heartbeat (the agent's AgentState), with what it
   * runs now and its last update attempts; the answer is its record and, when one is set, its
   * target (AgentStateReply).
   */
  private async reportState(req: BackendRequest, uuid: string): Promise<Reply> {
    const read = await this.jsonBody(req, 'state');
    if (read.reply) return read.reply;
    const { body } = read;
    const bad = badFields(body, { osVersion: false, supervisorVersion: false, status: false });
    if (bad) return Api.errorReply(400, bad);
    const lastUpdate = checkLastUpdate(body.lastUpdate);
    if (typeof lastUpdate === 'string') return Api.errorReply(400, lastUpdate);
    const uptime = body.uptimeSeconds;
    if (
      uptime !== undefined &&
      (typeof uptime !== 'number' || !Number.isInteger(uptime) || uptime < 0 || uptime > MAX_UPTIME)
    )
      return Api.errorReply(400, '"uptimeSeconds" must be a whole number of seconds (0 or more) when given');
    const now = Date.now();
    const report: DeviceStateReport = {
      ...(pickStrings(body, ['osVersion', 'supervisorVersion', 'status']) as DeviceStateReport),
      ...(lastUpdate ? { lastUpdate } : {}),
      // Whole seconds: the same boot gives the same time from one heartbeat to the next.
      ...(uptime !== undefined ? { bootedAt: new Date(Math.floor(now / 1000 - uptime) * 1000).toISOString() } : {}),
    };
    const device = this.records.reportState(uuid, report, new Date(now).toISOString());
    if (!device)
      return Api.errorReply(404, `device ${uuid} is not registered (the operator registers it: POST /v1/devices)`);
    // `target: null` when there is none: the agent knows from the field that the heartbeat
    // carries its target, and asks for it no other way (a thousand agents, half the requests).
    return json(200, {
      ...withOnline(device),
      target: this.records.target(uuid) ?? null,
      application: this.application ?? null,
    });
  }

  private async listTakeoverTools(): Promise<Reply> {
    const tools = [];
    for (const [name, path] of Object.entries(this.takeoverTools)) {
      const size = await stat(path).then(
        (s) => s.size,
        () => undefined,
      );
      if (size !== undefined) tools.push({ name, size, sha256: await fileSha256(path) });
    }
    return json(200, { tools });
  }

  private async takeoverTool(req: BackendRequest, name: string): Promise<Reply> {
    const path = this.takeoverTools[name];
    const sha = path ? await fileSha256(path).catch(() => undefined) : undefined;
    if (!path || !sha)
      return Api.errorReply(
        404,
        `no takeover tool ${name} on this backend (has: ${Object.keys(this.takeoverTools).join(', ') || 'none'})`,
      );
    return fileReply(path, single(req.headers.range), {
      'Content-Type': 'application/octet-stream',
      'X-Content-SHA256': sha,
    });
  }

  private async updater(req: BackendRequest): Promise<Reply> {
    const advanced = req.query.get('method') === 'advanced';
    const path = advanced ? this.advancedUpdaterPath : this.updaterBundlePath;
    if (!path)
      return Api.errorReply(
        404,
        `this backend has no ${advanced ? 'advanced ' : ''}updater bundle (start it with ${advanced ? 'advancedUpdaterPath' : 'updaterBundlePath'})`,
      );
    const sha = await fileSha256(path).catch(() => undefined);
    if (!sha) return Api.errorReply(404, `the updater bundle ${path} does not exist`);
    return fileReply(path, single(req.headers.range), {
      'Content-Type': 'application/javascript',
      'X-Content-SHA256': sha,
    });
  }

  private osImage(req: BackendRequest, deviceType: string, version: string): Promise<Reply> | Reply {
    const img = this.osImages.get(`${deviceType}/${version}`);
    if (!img) return Api.errorReply(404, `no OS image ${version} for ${deviceType} on this backend`);
    return fileReply(img.file, single(req.headers.range), {
      'Content-Type': img.info.compression === 'gzip' ? 'application/gzip' : 'application/octet-stream',
      'X-Content-SHA256': img.info.sha256,
    });
  }
}

const UUID = /^[A-Za-z0-9-]{1,64}$/;

/** PATCH /v1/devices/:uuid/state, the heartbeat. */
const HEARTBEAT_ROUTE = /^\/v1\/devices\/([^/]+)\/state$/;
/** Names and versions: what may name a file or a tag. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;
/** A status: a short line of printable ASCII ("Idle", "Update failed"). */
const TEXT = /^[\x20-\x7e]{1,64}$/;

/** The first field that is missing (when required) or malformed, as the error to answer; or undefined. */
function badFields(body: Record<string, unknown>, fields: Record<string, boolean>): string | undefined {
  for (const [k, required] of Object.entries(fields)) {
    const v = body[k];
    if (v === undefined && !required) continue;
    const when = required ? '' : 'when given ';
    if (k === 'status') {
      if (typeof v !== 'string' || !TEXT.test(v)) return `"status" must be ${when}1 to 64 printable ASCII characters`;
    } else if (typeof v !== 'string' || !NAME.test(v))
      return `"${k}" must be ${when}1 to 64 letters, digits, ".", "_", "+" or "-", starting with a letter or digit`;
  }
  return undefined;
}

const OUTCOMES: readonly string[] = ['started', 'done', 'failed'];
/** A hundred years of uptime: anything more is not a device's. */
const MAX_UPTIME = 100 * 365 * 24 * 3600;

/** A heartbeat's lastUpdate checked (AgentState), or the one-line error; undefined when absent. */
function checkLastUpdate(v: unknown): AgentState['lastUpdate'] | string | undefined {
  if (v === undefined) return undefined;
  if (!v || typeof v !== 'object' || Array.isArray(v))
    return '"lastUpdate" must be an object {os?, supervisor?} of update attempts when given';
  const out: NonNullable<AgentState['lastUpdate']> = {};
  for (const [kind, a] of Object.entries(v as Record<string, unknown>)) {
    if (kind !== 'os' && kind !== 'supervisor') return `"lastUpdate" has no kind "${kind}" (os, supervisor)`;
    const at = `"lastUpdate.${kind}"`;
    if (!a || typeof a !== 'object' || Array.isArray(a)) return `${at} must be an update attempt object`;
    const x = a as Record<string, unknown>;
    if (x.kind !== kind) return `${at}.kind must be "${kind}"`;
    if (typeof x.version !== 'string' || !NAME.test(x.version)) return `${at}.version must be a version`;
    for (const k of ['targetSetAt', 'at'])
      if (typeof x[k] !== 'string' || (x[k] as string).length > 64 || !Number.isFinite(Date.parse(x[k] as string)))
        return `${at}.${k} must be an ISO 8601 time`;
    if (typeof x.outcome !== 'string' || !OUTCOMES.includes(x.outcome))
      return `${at}.outcome must be one of: ${OUTCOMES.join(', ')}`;
    if (x.reason !== undefined && (typeof x.reason !== 'string' || x.reason.length > 1000))
      return `${at}.reason must be a string of at most 1000 characters when given`;
    const attempt: UpdateAttempt = {
      kind,
      version: x.version,
      targetSetAt: x.targetSetAt as string,
      outcome: x.outcome as UpdateAttempt['outcome'],
      ...(x.reason !== undefined ? { reason: x.reason as string } : {}),
      at: x.at as string,
    };
    out[kind] = attempt;
  }
  return out;
}

function pickStrings(body: Record<string, unknown>, keys: string[]): Record<string, string> {
  return Object.fromEntries(keys.filter((k) => typeof body[k] === 'string').map((k) => [k, body[k] as string]));
}

function identity(r: ReleaseRecord): OsIdentity {
  return { version: r.version, deviceType: r.deviceType, layout: r.layout, arch: r.arch };
}

function single(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? undefined : h;
}
