import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_BEAT_MS, AGENT_STATUS, type AgentState, type DeviceTarget } from '../lib/contract/fleet.ts';
import { openLab, type Lab } from '../harness/lab.ts';
import { AgentApi } from '../updater/supervisor/api-client.ts';
import { huplab, serve } from '../suites/fleet-cli.ts';
import { DASHBOARD_PATHS, type LiveEvents } from '../harness/dashboard/wire.ts';
import { table } from './stats.ts';

/**
 * The lab server under a fleet's load: N simulated supervisor agents on loopback, each speaking
 * the agent's protocol through the agent's own client (updater/supervisor/api-client.ts): a
 * heartbeat with its state every AGENT_BEAT_MS (first beats spread over one interval), the target
 * from its answer, and, once a supervisor target is set for the whole fleet (in batches, as a
 * dashboard's Modify would), progress reports each beat until it "runs" the new version.
 * `huplab serve` is a process of its own, so its CPU time and memory are its own. Run at N and
 * 2N side by side; at the end every device's stored history is read back: every progress report
 * the agents sent must be there, and every agent must have received its target.
 *
 * Five dashboards listen on the live feed (GET /v1/events, as the page does) and keep each row
 * as the events say; at the end every dashboard must show every device on its new version. One
 * operator lists the fleet (GET /v1/fleet, as `huplab fleet list`) every 5 s.
 *
 * BENCH_AGENTS (default 1000), BENCH_LOAD_SECONDS (steady heartbeats before the targets, default
 * 30), BENCH_DASHBOARDS (default 5).
 */
export async function benchFleetLoad(): Promise<string> {
  const n = Number(process.env.BENCH_AGENTS ?? 1000);
  const steadyMs = Number(process.env.BENCH_LOAD_SECONDS ?? 30) * 1000;
  const dashboards = Number(process.env.BENCH_DASHBOARDS ?? 5);
  if (!Number.isInteger(n) || n < 1 || n > 5000) throw new Error('BENCH_AGENTS must be 1..5000');
  const runs: LoadResult[] = [];
  for (const agents of [n, 2 * n]) runs.push(await loadRun(agents, steadyMs, dashboards));
  const [a, b] = runs as [LoadResult, LoadResult];
  const endpoints = [...new Set(runs.flatMap((r) => [...r.latency.keys()]))].sort();
  const row = (r: LoadResult) => [
    String(r.agents),
    r.rps.toFixed(0),
    `${r.cpuPercent.toFixed(0)} %`,
    `${r.clientCpuPercent.toFixed(0)} %`,
    `${(r.rssBytes / 2 ** 20).toFixed(0)} MiB`,
    String(r.failures),
    `${r.progressStored}/${r.progressSent}`,
    `${r.targetsSeen}/${r.agents}`,
    `${r.dashboardsCurrent}/${r.agents * dashboards}`,
  ];
  const lat = endpoints.map((e) => [
    e,
    ...runs.flatMap((r) => {
      const v = r.latency.get(e);
      return v ? [`${pct(v, 50).toFixed(1)} ms`, `${pct(v, 99).toFixed(1)} ms`] : ['-', '-'];
    }),
  ]);
  return [
    `Lab server under ${a.agents} and ${b.agents} simulated agents (heartbeat every ${AGENT_BEAT_MS / 1000} s), ${dashboards} dashboards on the live feed and \`huplab fleet list\` every 5 s, one run:`,
    '',
    table([
      [
        'agents',
        'requests/s',
        'server CPU',
        'load generator CPU',
        'server RSS',
        'failed requests',
        'progress stored/sent',
        'targets received',
        'dashboard rows current',
      ],
      row(a),
      row(b),
    ]),
    '',
    table([['endpoint', `p50 @${a.agents}`, `p99 @${a.agents}`, `p50 @${b.agents}`, `p99 @${b.agents}`], ...lat]),
    '',
    `p99 of the heartbeat at ${b.agents} against ${a.agents}: ${(pct(b.latency.get('PATCH state')!, 99) / pct(a.latency.get('PATCH state')!, 99)).toFixed(2)}x`,
  ].join('\n');
}

interface LoadResult {
  agents: number;
  rps: number;
  cpuPercent: number;
  /** The load generator's own CPU: near a core, its timings include its own queueing. */
  clientCpuPercent: number;
  rssBytes: number;
  failures: number;
  progressSent: number;
  progressStored: number;
  targetsSeen: number;
  /** Rows on the dashboards that show their device's new version at the end (agents x dashboards). */
  dashboardsCurrent: number;
  latency: Map<string, number[]>;
}

/** Every request's time, by endpoint (method and the path with the uuid left out). */
class Timings {
  readonly byEndpoint = new Map<string, number[]>();
  failures = 0;
  requests = 0;
  fetch: typeof fetch = async (input, init) => {
    const url = new URL(String(input));
    const key = `${init?.method ?? 'GET'} ${url.pathname.split('/').at(-1)}`;
    const t0 = performance.now();
    try {
      const r = await fetch(input, init);
      const body = await r.arrayBuffer();
      if (r.status >= 500) this.failures++;
      this.note(key, performance.now() - t0);
      return new Response(body, { status: r.status, headers: r.headers });
    } catch (err) {
      this.failures++;
      throw err;
    }
  };

  note(key: string, ms: number): void {
    this.requests++;
    const list = this.byEndpoint.get(key) ?? [];
    if (list.length === 0) this.byEndpoint.set(key, list);
    list.push(ms);
  }
}

/** One simulated device: its state, and what it did. */
interface SimAgent {
  api: AgentApi;
  uuid: string;
  supervisorVersion: string;
  target?: DeviceTarget;
  progress: number;
  sent: number;
}

const OS = '2.101.0';
const FROM_SUPERVISOR = '16.7.1';
const TO_SUPERVISOR = '16.8.0';

async function loadRun(n: number, steadyMs: number, dashboards: number): Promise<LoadResult> {
  const lab = openLab(mkdtempSync(join(tmpdir(), 'huplab-bench-load-')));
  const server = await serve(lab);
  const timings = new Timings();
  let stop = false;
  try {
    const urls = (JSON.parse(readFileSync(join(lab.dir, 'server.json'), 'utf8')) as { urls: { api: string } }).urls;
    const operator = operatorClient(lab, urls.api);
    const agents = await register(operator, urls.api, n, timings);
    const pages = await Promise.all(
      Array.from({ length: dashboards }, () => LivePage.open(urls.api, lab.operatorToken)),
    );
    const beatAll = agents.map((a, i) => runAgent(a, (i / n) * AGENT_BEAT_MS, () => stop));
    const polling = [pollFleet(operator, timings, () => stop)];
    // Measured from here: the steady beats, the targets and the updates they start.
    const cpu0 = cpuTicks(server.pid!);
    const client0 = process.cpuUsage();
    const t0 = Date.now();
    const requests0 = timings.requests;
    let rss = 0;
    const sampler = setInterval(() => {
      rss = Math.max(rss, rssBytes(server.pid!));
    }, 1000);
    await sleep(steadyMs);
    for (let i = 0; i < n; i += 500) {
      const devices = agents.slice(i, i + 500).map((a) => a.uuid);
      const r = await operator('/v1/targets', {
        method: 'POST',
        body: JSON.stringify({ supervisorVersion: TO_SUPERVISOR, devices }),
      });
      if (r.status !== 200) throw new Error(`POST /v1/targets: HTTP ${r.status} ${await r.text()}`);
    }
    // Each agent takes its target at its next beat and reports 25 % a beat until it runs it.
    const deadline = Date.now() + 12 * AGENT_BEAT_MS + 120_000;
    while (agents.some((a) => a.supervisorVersion !== TO_SUPERVISOR) && Date.now() < deadline) await sleep(1000);
    await sleep(AGENT_BEAT_MS);
    const seconds = (Date.now() - t0) / 1000;
    const cpu = (cpuTicks(server.pid!) - cpu0) / 100;
    const client = process.cpuUsage(client0);
    clearInterval(sampler);
    const rps = (timings.requests - requests0) / seconds;
    stop = true;
    await Promise.all([...beatAll, ...polling]);
    // The last rows' events are sent within the feed's flush interval.
    await sleep(1000);
    for (const p of pages) p.close();
    const dashboardsCurrent = pages.reduce(
      (sum, p) => sum + agents.filter((a) => p.supervisorOf(a.uuid) === TO_SUPERVISOR).length,
      0,
    );
    let stored = 0;
    for (const a of agents) {
      const r = await operator(`/v1/devices/${a.uuid}`);
      const body = (await r.json()) as { history?: unknown[] };
      stored += body.history?.length ?? 0;
    }
    return {
      agents: n,
      rps,
      cpuPercent: (cpu / seconds) * 100,
      clientCpuPercent: ((client.user + client.system) / 1e6 / seconds) * 100,
      rssBytes: rss,
      failures: timings.failures,
      progressSent: agents.reduce((s, a) => s + a.sent, 0),
      progressStored: stored,
      targetsSeen: agents.filter((a) => a.target?.supervisorVersion === TO_SUPERVISOR).length,
      dashboardsCurrent,
      latency: timings.byEndpoint,
    };
  } finally {
    stop = true;
    await huplab(lab, ['serve', '--stop']);
    if (server.exitCode === null) server.kill('SIGKILL');
    rmSync(lab.dir, { recursive: true, force: true });
  }
}

type Operator = (path: string, init?: RequestInit) => Promise<Response>;

/** Requests with the lab's operator token, straight to the API (no CLI in the measured loop). */
function operatorClient(lab: Lab, api: string): Operator {
  return (path, init = {}) =>
    fetch(`${api}${path}`, {
      ...init,
      headers: { Authorization: `Bearer ${lab.operatorToken}`, 'Content-Type': 'application/json' },
    });
}

/** Registers n devices with the operator's token, 50 at a time. */
async function register(operator: Operator, api: string, n: number, timings: Timings): Promise<SimAgent[]> {
  const out: SimAgent[] = [];
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, async (_, j) => {
        const r = await operator('/v1/devices', {
          method: 'POST',
          body: JSON.stringify({
            name: `sim-${i + j}`,
            deviceType: 'generic-amd64',
            arch: 'amd64',
            osVersion: OS,
            supervisorVersion: FROM_SUPERVISOR,
            status: 'provisioned',
          }),
        });
        const b = (await r.json()) as { uuid?: string; deviceApiKey?: string };
        if (r.status !== 201 || !b.uuid || !b.deviceApiKey) throw new Error(`register: HTTP ${r.status}`);
        return {
          api: new AgentApi({ apiEndpoint: api, uuid: b.uuid, deviceApiKey: b.deviceApiKey }, timings.fetch),
          uuid: b.uuid,
          supervisorVersion: FROM_SUPERVISOR,
          progress: 0,
          sent: 0,
        };
      }),
    );
    out.push(...batch);
  }
  return out;
}

/** The agent's beat, as updater/supervisor/agent.ts does it, with the upgrade simulated. */
async function runAgent(a: SimAgent, phaseMs: number, stopped: () => boolean): Promise<void> {
  await sleep(phaseMs);
  while (!stopped()) {
    const next = Date.now() + AGENT_BEAT_MS;
    const updating = a.target?.supervisorVersion !== undefined && a.supervisorVersion !== a.target.supervisorVersion;
    const state: AgentState = {
      osVersion: OS,
      supervisorVersion: a.supervisorVersion,
      status: updating ? AGENT_STATUS.updatingSupervisor : AGENT_STATUS.idle,
    };
    try {
      const target = await a.api.heartbeat(state);
      if (target) a.target = target;
      if (a.target?.supervisorVersion && a.supervisorVersion !== a.target.supervisorVersion) {
        a.progress = Math.min(100, a.progress + 25);
        if (await a.api.progress(a.progress, `Updating the supervisor (${a.progress} %)`, 'updating')) a.sent++;
        if (a.progress === 100) a.supervisorVersion = a.target.supervisorVersion;
      }
    } catch {
      /* counted by Timings; the next beat tries again, as the agent does */
    }
    await sleep(Math.max(0, next - Date.now()));
  }
}

async function pollFleet(operator: Operator, timings: Timings, stopped: () => boolean): Promise<void> {
  while (!stopped()) {
    const t0 = performance.now();
    const r = await operator('/v1/fleet').catch(() => undefined);
    if (r?.status !== 200) timings.failures++;
    await r?.arrayBuffer();
    timings.note('GET fleet', performance.now() - t0);
    await sleep(5000);
  }
}

/** A dashboard on the live feed: the rows as its events leave them (as the page's store keeps them). */
class LivePage {
  private readonly rows = new Map<string, { supervisorVersion: string | null }>();
  private constructor(private readonly abort: AbortController) {}

  static async open(api: string, token: string): Promise<LivePage> {
    const abort = new AbortController();
    const page = new LivePage(abort);
    const res = await fetch(`${api}${DASHBOARD_PATHS.events}`, {
      headers: { Authorization: `Bearer ${token}` },
      signal: abort.signal,
    });
    if (res.status !== 200 || !res.body) throw new Error(`GET ${DASHBOARD_PATHS.events}: HTTP ${res.status}`);
    void page.read(res.body);
    return page;
  }

  supervisorOf(uuid: string): string | null | undefined {
    return this.rows.get(uuid)?.supervisorVersion;
  }

  close(): void {
    this.abort.abort();
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffered = '';
    try {
      for await (const chunk of body) {
        buffered += decoder.decode(chunk, { stream: true });
        const messages = buffered.split('\n\n');
        buffered = messages.pop() ?? '';
        for (const m of messages) this.take(m);
      }
    } catch {
      /* closed */
    }
  }

  private take(message: string): void {
    const event = /^event: (.*)$/m.exec(message)?.[1];
    const data = /^data: (.*)$/m.exec(message)?.[1];
    if (!event || data === undefined) return;
    if (event === 'snapshot')
      for (const row of (JSON.parse(data) as LiveEvents['snapshot']).devices) this.rows.set(row.uuid, row);
    else if (event === 'device') {
      const row = JSON.parse(data) as LiveEvents['device'];
      this.rows.set(row.uuid, row);
    } else if (event === 'removed') this.rows.delete((JSON.parse(data) as LiveEvents['removed']).uuid);
  }
}

function pct(values: number[], p: number): number {
  const s = [...values].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
}

/** utime + stime of a process, in clock ticks (USER_HZ, 100 on Linux). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
