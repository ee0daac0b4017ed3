/**
 * `huplab fleet ...`: the lab's devices as a fleet, through the running lab server's API
 * (`huplab serve`): list them, set an OS or supervisor target on some of them (the server judges
 * the seeds' rules and publishes what they need), and wait until they reach it.
 */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { TARGET_RULES, type TargetOutcome, type TargetProgress, type TargetRequest } from '../../lib/contract/fleet.ts';
import { HuplabError } from '../../lib/errors.ts';
import { labDir } from '../../lib/paths.ts';
import { openLab } from '../lab.ts';
import type { FleetRow } from '../backend/fleet-row.ts';
import { serverStatus } from '../server/lab-server.ts';
import { makeOutput, type Output } from './output.ts';
import { run } from './run.ts';
import { seconds } from './validate.ts';

/** One device as GET /v1/fleet answers it. */
export type { FleetRow } from '../backend/fleet-row.ts';

const VERSION = /^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$/;
const DEVICE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const POLL_MS = 2_000;

export function registerFleet(program: Command): void {
  const fleet = program
    .command('fleet')
    .description(
      "the lab's devices as a fleet: list them, set OS or supervisor targets, wait for them (needs `huplab serve`)",
    );

  fleet
    .command('list')
    .description('one line per device: type, arch, OS, supervisor, online, status, progress, target')
    .option('--json', 'print the result as JSON')
    .action(
      run(async (o: { json?: boolean }) => {
        const out = makeOutput(!!o.json);
        const server = connect();
        const rows = await fleetRows(server);
        out.result({ devices: rows }, () =>
          rows.length ? rows.map(describeRow) : ['no devices in the lab (`huplab device start` registers one)'],
        );
      }),
    );

  fleet
    .command('os')
    .description('set the OS target of devices (online ones only); the server builds and publishes the release first')
    .requiredOption('--version <version>', 'the OS release, e.g. 2.102.0 (see `huplab releases`)')
    .option(
      '--allow-unsupported',
      'set it even when the support policy refuses the target (end of life, not maintained; see `huplab releases`)',
    )
    .argument('<devices...>', 'device names or uuids')
    .option('--json', 'print the result as JSON')
    .action(
      run(async (devices: string[], o: { version: string; allowUnsupported?: boolean; json?: boolean }) =>
        setTargets(makeOutput(!!o.json), devices, {
          osVersion: checkVersion(o.version),
          ...(o.allowUnsupported ? { allowUnsupported: true } : {}),
        }),
      ),
    );

  fleet
    .command('supervisor')
    .description(
      'set the supervisor target of devices of one CPU architecture (offline ones get it when they are back)',
    )
    .requiredOption('--version <version>', 'the supervisor release, e.g. 16.9.0 (see `huplab images list`)')
    .option('--confirm-major', 'confirm an upgrade to a new major version')
    .argument('<devices...>', 'device names or uuids')
    .option('--json', 'print the result as JSON')
    .action(
      run(async (devices: string[], o: { version: string; confirmMajor?: boolean; json?: boolean }) =>
        setTargets(makeOutput(!!o.json), devices, {
          supervisorVersion: checkVersion(o.version),
          ...(o.confirmMajor ? { confirmMajor: true } : {}),
        }),
      ),
    );

  fleet
    .command('wait')
    .description('wait until each device has reached its target, or failed it')
    .argument('<devices...>', 'device names or uuids')
    .option('--timeout <seconds>', 'how long to wait', '1800')
    .option('--json', 'print the result as JSON')
    .action(
      run(async (devices: string[], o: { timeout: string; json?: boolean }) => {
        const timeoutS = seconds('timeout', o.timeout);
        checkDevices(devices);
        return waitFor(makeOutput(!!o.json), devices, timeoutS);
      }),
    );
}

interface ServerClient {
  api: string;
  token: string;
  dir: string;
}

/** The lab's running server and its operator token, or the one-line error saying to start one. */
function connect(): ServerClient {
  const dir = labDir();
  const status = existsSync(dir) ? serverStatus(dir) : undefined;
  if (!status?.running || !status.server)
    throw new HuplabError('server-not-running', `no lab server runs for ${dir}`, {
      hint: 'start one with `huplab serve`',
    });
  return { api: status.server.urls.api, token: openLab(dir).operatorToken, dir };
}

/**
 * One JSON request to the server. node:http, not fetch: setting a target waits for the server
 * to build the release, which may take longer than fetch waits for an answer's headers.
 */
function request(
  server: ServerClient,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${server.api}${path}`,
      {
        method,
        headers: {
          Authorization: `Bearer ${server.token}`,
          ...(data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          let parsed: Record<string, unknown> = {};
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
          } catch {}
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('error', (err) =>
      reject(
        new HuplabError('server-unreachable', `cannot reach the lab server at ${server.api}: ${err.message}`, {
          hint: 'see `huplab serve --status`',
        }),
      ),
    );
    req.end(data);
  });
}

function failed(server: ServerClient, what: string, r: { status: number; body: Record<string, unknown> }): HuplabError {
  const why = typeof r.body.error === 'string' ? r.body.error : 'no reason given';
  return new HuplabError(
    'server-refused',
    `the lab server at ${server.api} refused to ${what}: HTTP ${r.status} ${why}`,
    {
      hint: 'see `huplab serve --status`',
    },
  );
}

async function fleetRows(server: ServerClient): Promise<FleetRow[]> {
  const r = await request(server, 'GET', '/v1/fleet');
  if (r.status !== 200 || !Array.isArray(r.body.devices)) throw failed(server, 'list the fleet', r);
  return r.body.devices as FleetRow[];
}

function checkVersion(v: string): string {
  if (!VERSION.test(v) || v.includes('..'))
    throw new HuplabError('option-invalid', `--version "${v}" is not a version`, {
      hint: 'give one such as 2.102.0 or 16.9.0; `huplab images list` lists them',
    });
  return v;
}

function checkDevices(devices: string[]): void {
  const bad = devices.find((d) => !DEVICE.test(d));
  if (bad !== undefined)
    throw new HuplabError('option-invalid', `"${bad}" is not a device name or uuid`, {
      hint: 'give device names or uuids as `huplab fleet list` shows them',
    });
}

async function setTargets(out: Output, devices: string[], want: TargetRequest): Promise<number> {
  checkDevices(devices);
  const server = connect();
  const what = want.osVersion !== undefined ? `OS ${want.osVersion}` : `supervisor ${want.supervisorVersion}`;
  out.narrator.info(
    `setting ${what} on ${devices.join(', ')}: the lab server checks the rules, then builds and publishes what the devices need (minutes the first time for an OS release; this waits for it)`,
  );
  const r = await request(server, 'POST', '/v1/targets', { devices, ...want });
  if (r.status !== 200 || !Array.isArray(r.body.results)) throw failed(server, `set ${what}`, r);
  const results = r.body.results as TargetOutcome[];
  const refused = results.filter((x) => !x.ok);
  // The support policy's refusals are the ones --allow-unsupported overrides: say so.
  const policyRules: readonly string[] = [
    TARGET_RULES.endOfLife,
    TARGET_RULES.notMaintained,
    TARGET_RULES.notForDevice,
    TARGET_RULES.unknownRelease,
  ];
  const overridable = want.osVersion !== undefined && refused.some((x) => policyRules.includes(x.refusal?.rule ?? ''));
  out.result(
    { results },
    () =>
      results.map((x) =>
        x.ok
          ? `${x.name}: set ${what}${x.target?.confirmMajor && want.supervisorVersion ? ' (major version confirmed)' : ''}${x.warning ? `; warning (${x.warning.rule}): ${x.warning.reason}` : ''}`
          : `${x.name}: refused (${x.refusal?.rule}): ${x.refusal?.reason}`,
      ),
    refused.length
      ? {
          code: 'target-refused',
          message: `${refused.length} of ${results.length} device${results.length > 1 ? 's' : ''} refused ${what}: ${refused.map((x) => `${x.name} (${x.refusal?.rule})`).join(', ')}${overridable ? ' (pick a maintained release, see `huplab releases`, or pass --allow-unsupported)' : ''}`,
        }
      : undefined,
  );
  return refused.length ? 1 : 0;
}

/** Polls the fleet until each device has reached or failed its target, or the time is up. */
async function waitFor(out: Output, devices: string[], timeoutS: number): Promise<number> {
  const server = connect();
  const deadline = Date.now() + timeoutS * 1000;
  const said = new Map<string, string>();
  let rows: FleetRow[] = [];
  for (;;) {
    const all = await fleetRows(server);
    const pick = (d: string) => all.find((r) => r.uuid === d) ?? all.find((r) => r.name === d);
    const unknown = devices.filter((d) => !pick(d));
    if (unknown.length)
      throw new HuplabError('device-unknown', `no device ${unknown.join(', ')} in the lab`, {
        hint: `the lab's devices: ${all.map((r) => r.name).join(', ') || 'none'} (\`huplab fleet list\`)`,
      });
    rows = [...new Map(devices.map((d) => [pick(d)!.uuid, pick(d)!])).values()];
    for (const r of rows) {
      const line = `${r.name}: ${r.targetProgress}${r.progress ? ` (${r.progress.percent}% ${r.progress.message})` : ''}`;
      if (said.get(r.uuid) !== line) out.narrator.info(line);
      said.set(r.uuid, line);
    }
    if (rows.every((r) => settled(r.targetProgress)) || Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(POLL_MS, deadline - Date.now()))));
  }
  const outcome = rows.map((r) => ({
    name: r.name,
    uuid: r.uuid,
    targetProgress: r.targetProgress,
    ok: r.targetProgress === 'reached',
    target: r.target,
    osVersion: r.osVersion,
    supervisorVersion: r.supervisorVersion,
    ...(failure(r) ? { reason: failure(r) } : {}),
  }));
  const bad = outcome.filter((x) => !x.ok);
  out.result(
    { devices: outcome },
    () => outcome.map((x) => `${x.name}: ${x.targetProgress}${x.reason ? `: ${x.reason}` : ''}`),
    bad.length
      ? {
          code: bad.some((x) => x.targetProgress === 'failed' || x.targetProgress === 'none')
            ? 'target-failed'
            : 'timeout',
          message: `${bad.map((x) => `${x.name} ${x.targetProgress === 'failed' || x.targetProgress === 'none' ? x.targetProgress : `not there after ${timeoutS} s (${x.targetProgress})`}`).join(', ')}`,
        }
      : undefined,
  );
  return bad.length ? 1 : 0;
}

/** Reached and failed are final; a device without a target has nothing to wait for. */
function settled(p: TargetProgress): boolean {
  return p === 'reached' || p === 'failed' || p === 'none';
}

/** Why a device is not at its target, in a few words. */
function failure(r: FleetRow): string | undefined {
  if (r.targetProgress === 'none') return 'no target is set (`huplab fleet os|supervisor` sets one)';
  if (r.targetProgress !== 'failed') return undefined;
  const attempts = [r.lastUpdate?.os, r.lastUpdate?.supervisor].filter((a) => a?.outcome === 'failed');
  return (
    attempts.map((a) => `${a!.kind} ${a!.version} failed${a!.reason ? `: ${a!.reason}` : ''}`).join('; ') || undefined
  );
}

function describeRow(r: FleetRow): string {
  const target = r.target
    ? [
        r.target.osVersion && `OS ${r.target.osVersion}`,
        r.target.supervisorVersion && `supervisor ${r.target.supervisorVersion}`,
      ]
        .filter(Boolean)
        .join(' + ')
    : '';
  return [
    r.name.padEnd(14),
    r.uuid.slice(0, 8),
    r.deviceType.padEnd(16),
    r.arch.padEnd(6),
    `OS ${r.osVersion ?? '?'}`.padEnd(12),
    `supervisor ${r.supervisorVersion ?? '?'}`.padEnd(19),
    (r.online ? 'online' : 'offline').padEnd(8),
    (r.status ?? '-').padEnd(14),
    r.progress ? `${r.progress.percent}% ${r.progress.message}` : '-',
    target ? `target ${target} (${r.targetProgress})` : 'no target',
  ].join('  ');
}
