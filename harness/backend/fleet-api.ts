/**
 * The fleet half of the API: devices' targets (set per device or per batch, judged by the rules
 * of target-rules.ts and published before they are kept), the versions a device may move to,
 * one row per device for `huplab fleet` and a dashboard, and the lab's fault switches. The
 * heartbeat that carries a target to the device is api.ts's (it answers `target`).
 */
import {
  type DeviceTarget,
  type Refusal,
  TARGET_RULES,
  type TargetOutcome,
  type TargetRequest,
  type TargetWarning,
  type UpdateKind,
} from '../../lib/contract/fleet.ts';
import { isHuplabError } from '../../lib/errors.ts';
import type { OsIdentity } from '../../lib/update-method.ts';
import { sortVersions } from '../../lib/versions.ts';
import type { DeviceInfo, DeviceRecords } from './device-records.ts';
import { fleetRow } from './fleet-row.ts';
import { FAULT_GROUPS, type FaultGroup, type Faults, type FaultSpec } from './faults.ts';
import type { RequestLog } from './request-log.ts';
import { json, type Reply } from './reply.ts';
import type { BackendRequest } from './serve.ts';
import {
  type FleetSource,
  judgeBatchArch,
  judgeOs,
  judgeSupervisor,
  listed,
  notPublished,
  type TargetPolicy,
} from './target-rules.ts';

export type { TargetRequest } from '../../lib/contract/fleet.ts';

/** What the fleet half needs of the backend. */
export interface FleetDeps {
  records: DeviceRecords;
  source: FleetSource;
  /** The support policy OS targets are judged by (none: not judged by it). */
  policy?: TargetPolicy;
  faults?: Faults;
  /** The services' request log: what the lab served, for benchmarks and diagnosis. */
  requests?: RequestLog;
}

const JSON_LIMIT = 64 * 1024;
const VERSION = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;
/** A batch is a dashboard's selection: bounded, so one request cannot queue unbounded builds. */
const BATCH_LIMIT = 500;

const error = (status: number, message: string): Reply => json(status, { error: message });

export class FleetApi {
  constructor(private readonly deps: FleetDeps) {}

  /** The reply for a fleet route, or undefined when the path is not one. */
  async handle(req: BackendRequest): Promise<Reply | undefined> {
    const p = req.path;
    const m = (route: RegExp) =>
      route
        .exec(p)
        ?.slice(1)
        .map((s) => decodeURIComponent(s));
    const target = m(/^\/v1\/devices\/([^/]+)\/target$/);
    if (target) {
      const uuid = target[0]!;
      if (req.method === 'GET' || req.method === 'HEAD') return this.mine(req, uuid) ?? this.getTarget(uuid);
      if (req.method === 'PUT') return this.operator(req, 'sets targets') ?? this.putTarget(req, uuid);
      return error(405, `${req.method} ${p} is not supported (use GET or PUT)`);
    }
    if (p === '/v1/targets') {
      if (req.method !== 'POST') return error(405, `${req.method} ${p} is not supported (use POST)`);
      return this.operator(req, 'sets targets') ?? this.postTargets(req);
    }
    const choices = m(/^\/v1\/devices\/([^/]+)\/choices$/);
    if (choices) return this.onlyGet(req) ?? this.mine(req, choices[0]!) ?? this.choices(choices[0]!);
    if (p === '/v1/fleet') return this.onlyGet(req) ?? this.operator(req, 'lists the fleet') ?? this.fleet();
    if (p === '/v1/lab/faults') {
      const denied = this.operator(req, 'arms faults');
      if (denied) return denied;
      if (req.method === 'GET' || req.method === 'HEAD') return this.withFaults((f) => json(200, { faults: f.list() }));
      if (req.method === 'POST') return this.armFault(req);
      return error(405, `${req.method} ${p} is not supported (use GET or POST)`);
    }
    if (p === '/v1/lab/requests') {
      const denied = this.operator(req, 'reads the request log');
      if (denied) return denied;
      if (req.method === 'GET' || req.method === 'HEAD') return this.requestLog(req);
      if (req.method === 'DELETE')
        return this.withRequests((r) => {
          r.clear();
          return json(200, { requests: [] });
        });
      return error(405, `${req.method} ${p} is not supported (use GET or DELETE)`);
    }
    const fault = m(/^\/v1\/lab\/faults\/([^/]+)$/);
    if (fault) {
      if (req.method !== 'DELETE') return error(405, `${req.method} ${p} is not supported (use DELETE)`);
      return this.operator(req, 'clears faults') ?? this.clearFault(fault[0]!);
    }
    return undefined;
  }

  /** Sets targets on devices (by uuid or name): one outcome each, in the order given. */
  async setTargets(devices: string[], want: TargetRequest): Promise<TargetOutcome[]> {
    // Judged as the fleet stood when the request came: publishing one device's release can take
    // minutes, and the devices after it in the batch must not go "offline" meanwhile.
    const askedAt = Date.now();
    const found = devices.map((d) => ({ asked: d, device: this.find(d) }));
    const known = found.flatMap((f) => (f.device ? [f.device] : []));
    const mixed = want.supervisorVersion !== undefined ? judgeBatchArch(known) : undefined;
    // The devices are judged and published for side by side: the source publishes each distinct
    // release once (a batch of a thousand devices on one release builds it once), and devices that
    // need different builds do not wait for each other's.
    return Promise.all(
      found.map(async ({ asked, device }): Promise<TargetOutcome> => {
        if (!device)
          return {
            uuid: asked,
            name: asked,
            ok: false,
            refusal: {
              rule: TARGET_RULES.deviceUnknown,
              reason: `no device named or numbered "${asked}" in the lab (devices: ${listed(this.deps.records.list().map((d) => d.name))})`,
            },
          };
        const judged = mixed ? { refusal: mixed } : await this.judge(device, want, askedAt);
        const refusal = judged.refusal ?? (await this.publish(device, want));
        if (refusal) return { uuid: device.uuid, name: device.name, ok: false, refusal };
        return {
          uuid: device.uuid,
          name: device.name,
          ok: true,
          target: this.keep(device.uuid, want),
          ...(judged.warning ? { warning: judged.warning } : {}),
        };
      }),
    );
  }

  /** The first rule that refuses the request for this device, if any; else the policy's warning, if any. */
  private async judge(
    device: DeviceInfo,
    want: TargetRequest,
    askedAt: number,
  ): Promise<{ refusal?: Refusal; warning?: TargetWarning }> {
    let warning: TargetWarning | undefined;
    if (want.osVersion !== undefined) {
      const policy = this.deps.policy
        ? { policy: this.deps.policy, allowUnsupported: !!want.allowUnsupported }
        : undefined;
      const os = await judgeOs(this.deps.source, device, want.osVersion, askedAt, policy);
      if (!os.ok) return { refusal: os.refusal };
      warning = os.warning;
    }
    if (want.supervisorVersion !== undefined) {
      const sv = await judgeSupervisor(this.deps.source, device, want.supervisorVersion, !!want.confirmMajor);
      if (!sv.ok) return { refusal: sv.refusal };
    }
    return warning ? { warning } : {};
  }

  /** Publishes what the allowed target needs; a failure is the device's not-published refusal. */
  private async publish(device: DeviceInfo, want: TargetRequest): Promise<Refusal | undefined> {
    const kinds: Array<[UpdateKind, string | undefined]> = [
      ['os', want.osVersion],
      ['supervisor', want.supervisorVersion],
    ];
    for (const [kind, version] of kinds) {
      if (version === undefined) continue;
      try {
        await this.deps.source.publish(device, kind, version);
      } catch (err) {
        const why = isHuplabError(err) ? err.oneLine() : (err as Error).message;
        return notPublished(
          `${kind === 'os' ? 'OS' : 'supervisor'} ${version} could not be published for ${device.name}: ${why}`,
        ).refusal;
      }
    }
    return undefined;
  }

  /** Keeps the target: the kind it sets replaces that kind's, the other kind's stays. */
  private keep(uuid: string, want: TargetRequest): DeviceTarget {
    const prev = this.deps.records.target(uuid);
    const now = new Date().toISOString();
    const os = want.osVersion !== undefined;
    const sv = want.supervisorVersion !== undefined;
    const osVersion = os ? want.osVersion : prev?.osVersion;
    const supervisorVersion = sv ? want.supervisorVersion : prev?.supervisorVersion;
    const osSetAt = os ? now : prev?.osSetAt;
    const supervisorSetAt = sv ? now : prev?.supervisorSetAt;
    const confirmMajor = sv ? !!want.confirmMajor : !!prev?.confirmMajor;
    return this.deps.records.setTarget(uuid, {
      ...(osVersion !== undefined ? { osVersion } : {}),
      ...(supervisorVersion !== undefined ? { supervisorVersion } : {}),
      ...(confirmMajor ? { confirmMajor } : {}),
      setAt: now,
      ...(osSetAt !== undefined && osVersion !== undefined ? { osSetAt } : {}),
      ...(supervisorSetAt !== undefined && supervisorVersion !== undefined ? { supervisorSetAt } : {}),
    });
  }

  private find(d: string): DeviceInfo | undefined {
    return this.deps.records.info(d) ?? this.deps.records.list().find((x) => x.name === d);
  }

  private getTarget(uuid: string): Reply {
    if (!this.deps.records.info(uuid)) return error(404, `device ${uuid} is not registered`);
    const target = this.deps.records.target(uuid);
    return target ? json(200, target) : error(404, `device ${uuid} has no target`);
  }

  private async putTarget(req: BackendRequest, uuid: string): Promise<Reply> {
    const read = await readTargetRequest(req, false);
    if ('error' in read) return error(400, read.error);
    const [outcome] = await this.setTargets([uuid], read.want);
    if (outcome!.refusal?.rule === TARGET_RULES.deviceUnknown)
      return json(404, { error: outcome!.refusal.reason, rule: outcome!.refusal.rule, outcome });
    return outcome!.ok
      ? json(200, outcome)
      : json(409, { error: outcome!.refusal!.reason, rule: outcome!.refusal!.rule, outcome });
  }

  private async postTargets(req: BackendRequest): Promise<Reply> {
    const read = await readTargetRequest(req, true);
    if ('error' in read) return error(400, read.error);
    return json(200, { results: await this.setTargets(read.devices, read.want) });
  }

  /** What a dashboard's select lists: each version, allowed or why not. */
  private async choices(uuid: string): Promise<Reply> {
    const device = this.deps.records.info(uuid);
    if (!device) return error(404, `device ${uuid} is not registered`);
    const { source } = this.deps;
    const os = [];
    for (const version of await source.osVersions(device)) {
      const policy = this.deps.policy ? { policy: this.deps.policy, allowUnsupported: false } : undefined;
      const judged = await judgeOs(source, device, version, Date.now(), policy);
      os.push(
        judged.ok
          ? { version, ok: true, method: judged.value.method, ...(judged.warning ? { warning: judged.warning } : {}) }
          : { version, ok: false, refusal: judged.refusal },
      );
    }
    const supervisor = [];
    for (const version of await source.supervisorVersions(device.arch)) {
      const judged = await judgeSupervisor(source, device, version, true);
      supervisor.push(judged.ok ? { version, ok: true } : { version, ok: false, refusal: judged.refusal });
    }
    return json(200, { uuid, name: device.name, os, supervisor });
  }

  private fleet(): Reply {
    const { records } = this.deps;
    const now = Date.now();
    return json(200, { devices: records.list().map((d) => fleetRow(records, d, now)) });
  }

  private withRequests(fn: (r: RequestLog) => Reply): Reply {
    return this.deps.requests ? fn(this.deps.requests) : error(501, 'this backend keeps no request log');
  }

  /** GET /v1/lab/requests[?group=G]: what the services served, oldest first, each with its group. */
  private requestLog(req: BackendRequest): Reply {
    const asked = req.query.get('group');
    if (asked !== null && !(FAULT_GROUPS as readonly string[]).includes(asked))
      return error(400, `"${asked}" is not a service (use one of: ${FAULT_GROUPS.join(', ')})`);
    const groups = asked === null ? FAULT_GROUPS : [asked as FaultGroup];
    return this.withRequests((log) =>
      json(200, {
        requests: groups
          .flatMap((group) => log.list(group).map((e) => ({ group, ...e })))
          .sort((a, b) => a.time - b.time),
      }),
    );
  }

  private withFaults(fn: (f: Faults) => Reply): Reply {
    return this.deps.faults ? fn(this.deps.faults) : error(501, 'this backend has no fault switches');
  }

  private async armFault(req: BackendRequest): Promise<Reply> {
    const faults = this.deps.faults;
    if (!faults) return error(501, 'this backend has no fault switches');
    const read = await readObject(req, 'fault');
    if ('error' in read) return error(400, read.error);
    const { group, kind, path, ...rest } = read.body;
    if (typeof group !== 'string' || !(FAULT_GROUPS as readonly string[]).includes(group))
      return error(400, `a fault needs "group", one of: ${FAULT_GROUPS.join(', ')}`);
    if (typeof kind !== 'string')
      return error(400, 'a fault needs "kind" (down, http-error, slow, truncate, corrupt, missing-delta)');
    if (path !== undefined && typeof path !== 'string')
      return error(400, '"path" must be a string (a regular expression over the request path) when given');
    const extra = Object.keys(rest).find((k) => !['status', 'bytesPerSecond', 'bytes', 'offset', 'times'].includes(k));
    if (extra) return error(400, `a fault has no field "${extra}"`);
    const spec = { kind, ...rest, ...(path !== undefined ? { path } : {}) } as FaultSpec;
    try {
      faults.set(group as FaultGroup, spec);
    } catch (err) {
      return error(400, isHuplabError(err) ? err.oneLine() : (err as Error).message);
    }
    return json(201, { faults: faults.list() });
  }

  private clearFault(group: string): Reply {
    return this.withFaults((faults) => {
      if (!(FAULT_GROUPS as readonly string[]).includes(group))
        return error(404, `no fault group "${group}" (groups: ${FAULT_GROUPS.join(', ')})`);
      faults.clear(group as FaultGroup);
      return json(200, { faults: faults.list() });
    });
  }

  private operator(req: BackendRequest, what: string): Reply | undefined {
    return req.principal.kind === 'operator' ? undefined : error(403, `only the lab operator ${what}`);
  }

  private mine(req: BackendRequest, uuid: string): Reply | undefined {
    const who = req.principal;
    if (who.kind === 'operator' || who.uuid === uuid) return undefined;
    return error(403, `device ${who.uuid} may not access the record of device ${uuid}`);
  }

  private onlyGet(req: BackendRequest): Reply | undefined {
    return req.method === 'GET' || req.method === 'HEAD'
      ? undefined
      : error(405, `${req.method} ${req.path} is not supported (use GET)`);
  }
}

async function readObject(
  req: BackendRequest,
  what: string,
): Promise<{ body: Record<string, unknown> } | { error: string }> {
  try {
    const body = JSON.parse((await req.readBody(JSON_LIMIT)).toString('utf8')) as unknown;
    if (body && typeof body === 'object' && !Array.isArray(body)) return { body: body as Record<string, unknown> };
    return { error: `the ${what} body must be a JSON object` };
  } catch (err) {
    return { error: `cannot read the ${what} body as JSON: ${(err as Error).message}` };
  }
}

/** A target request's body checked: versions, confirmMajor, and (for a batch) its devices. */
async function readTargetRequest(
  req: BackendRequest,
  batch: boolean,
): Promise<{ want: TargetRequest; devices: string[] } | { error: string }> {
  const read = await readObject(req, 'target');
  if ('error' in read) return read;
  const { body } = read;
  const allowed = ['osVersion', 'supervisorVersion', 'confirmMajor', 'allowUnsupported', ...(batch ? ['devices'] : [])];
  const extra = Object.keys(body).find((k) => !allowed.includes(k));
  if (extra) return { error: `a target has no field "${extra}" (fields: ${allowed.join(', ')})` };
  for (const k of ['osVersion', 'supervisorVersion'] as const)
    if (body[k] !== undefined && (typeof body[k] !== 'string' || !VERSION.test(body[k] as string)))
      return { error: `"${k}" must be a version such as 2.102.0 when given` };
  for (const k of ['confirmMajor', 'allowUnsupported'] as const)
    if (body[k] !== undefined && typeof body[k] !== 'boolean')
      return { error: `"${k}" must be true or false when given` };
  if (body.osVersion === undefined && body.supervisorVersion === undefined)
    return { error: 'a target needs "osVersion" or "supervisorVersion"' };
  if (batch && body.osVersion !== undefined && body.supervisorVersion !== undefined)
    return { error: 'a batch sets one kind of target: "osVersion" or "supervisorVersion", not both' };
  const want: TargetRequest = {
    ...(body.osVersion !== undefined ? { osVersion: body.osVersion as string } : {}),
    ...(body.supervisorVersion !== undefined ? { supervisorVersion: body.supervisorVersion as string } : {}),
    ...(body.confirmMajor !== undefined ? { confirmMajor: body.confirmMajor as boolean } : {}),
    ...(body.allowUnsupported === true ? { allowUnsupported: true } : {}),
  };
  if (!batch) return { want, devices: [] };
  const devices = body.devices;
  if (
    !Array.isArray(devices) ||
    devices.length === 0 ||
    devices.length > BATCH_LIMIT ||
    !devices.every((d) => typeof d === 'string' && d.length > 0 && d.length <= 64)
  )
    return { error: `a batch needs "devices", 1 to ${BATCH_LIMIT} device names or uuids` };
  return { want, devices: [...new Set(devices as string[])] };
}

/**
 * What a backend of one run may target: what it has published (no building; a target needs no
 * publishing beyond it).
 */
export function publishedSource(published: {
  releases(deviceType?: string): Array<OsIdentity & { deviceType: string }>;
  supervisorReleases(arch?: string): Array<{ version: string; minOsVersion: string }>;
}): FleetSource {
  const osOf = (device: DeviceInfo) => published.releases(device.deviceType);
  return {
    async os(device, version) {
      const list = osOf(device);
      const found = list.find((r) => r.version === version);
      if (found)
        return { ok: true, value: { version, deviceType: found.deviceType, layout: found.layout, arch: found.arch } };
      return notPublished(
        `OS ${version} is not published for ${device.deviceType} (published: ${listed(list.map((r) => r.version))})`,
      );
    },
    async osVersions(device) {
      return [...new Set(osOf(device).map((r) => r.version))].sort(sortVersions);
    },
    async supervisor(arch, version) {
      const list = published.supervisorReleases(arch);
      const found = list.find((r) => r.version === version);
      return found
        ? { ok: true, value: { minOsVersion: found.minOsVersion } }
        : notPublished(
            `supervisor ${version} is not published for ${arch} (published: ${listed(list.map((r) => r.version))})`,
          );
    },
    async supervisorVersions(arch) {
      return published.supervisorReleases(arch).map((r) => r.version);
    },
    async publish() {},
  };
}
