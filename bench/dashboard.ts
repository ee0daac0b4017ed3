/**
 * `npm run bench -- dashboard`: the lab server under a fleet's load, on loopback, with no VM.
 * N simulated agents (bench/fake-agents.ts: the agent's real protocol) beat every AGENT_BEAT_MS,
 * staggered; 5 dashboards listen on GET /v1/events; then a supervisor target is set on every
 * device in batches, each agent carries it out when its heartbeat delivers it (5 progress reports
 * a second apart, then the new version), and at the end every progress report must be stored and
 * every target reached. For each N: requests per second, p50/p99 latency per endpoint (measured
 * by the clients, which share the machine), the server's CPU and memory. Then the dashboard's
 * first paint in chromium, and the time from a target set to the first progress on the page.
 */
import { readFileSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from '@playwright/test';
import { AGENT_BEAT_MS } from '../lib/contract/fleet.ts';
import { openLab, type Lab } from '../harness/lab.ts';
import { apiUrl, huplab, serve } from '../suites/fleet-cli.ts';
import { type FakeAgent, registerFake } from './fake-agents.ts';
import { table } from './stats.ts';

const SIZES = (process.env.HUPLAB_BENCH_AGENTS ?? '1000,2000').split(',').map(Number);
const STEADY_MS = Number(process.env.HUPLAB_BENCH_STEADY_MS ?? 30_000);
/** How many devices get a target (each one published by the lab server, which takes a while per device). */
const TARGETED = Number(process.env.HUPLAB_BENCH_TARGETS ?? 100);
const DASHBOARDS = 5;
const PROGRESS_REPORTS = 5;

type Kind = 'heartbeat' | 'progress' | 'targets' | 'fleet';

class Latencies {
  readonly ms = new Map<Kind, number[]>();
  errors = 0;
  add(kind: Kind, ms: number) {
    const list = this.ms.get(kind) ?? [];
    list.push(ms);
    this.ms.set(kind, list);
  }
  count(): number {
    return [...this.ms.values()].reduce((n, l) => n + l.length, 0);
  }
}

function pct(values: number[], p: number): number {
  if (!values.length) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** The server process's CPU time (ms) and resident memory (MiB), from /proc. */
function usage(pid: number): { cpuMs: number; rssMiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]);
  const rss = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuMs: ticks * 10, rssMiB: Number(rss?.[1] ?? 0) / 1024 };
}

async function timed<T>(lat: Latencies, kind: Kind, fn: () => Promise<T>): Promise<T | undefined> {
  const t0 = performance.now();
  try {
    return await fn();
  } catch {
    lat.errors++;
    return undefined;
  } finally {
    lat.add(kind, performance.now() - t0);
  }
}

interface LoadResult {
  agents: number;
  rps: number;
  lat: Latencies;
  cpuPct: number;
  rssMiB: number;
  progressSent: number;
  progressStored: number;
  targeted: number;
  delivered: number;
  reached: number;
  sseEvents: number;
}

async function load(n: number): Promise<LoadResult> {
  const lab = openLab(mkdtempSync(join(tmpdir(), `huplab-bench-dashboard-${n}-`)));
  const server = await serve(lab);
  try {
    const api = await apiUrl(lab);
    const token = lab.operatorToken;
    const op = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
    const agents: FakeAgent[] = [];
    for (let i = 0; i < n; i += 50)
      agents.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(50, n - i) }, (_, j) =>
            registerFake(api, token, { name: `a${i + j}`, osVersion: '2.101.0', supervisorVersion: '16.8.0' }),
          ),
        )),
      );
    // Dashboards: SSE streams counting events.
    let sseEvents = 0;
    const streams = await Promise.all(
      Array.from({ length: DASHBOARDS }, async () => {
        const ac = new AbortController();
        const res = await fetch(`${api}/v1/events`, { headers: op, signal: ac.signal });
        const reader = res.body!.getReader();
        void (async () => {
          for (;;) {
            const r = await reader.read().catch(() => ({ done: true, value: undefined }));
            if (r.done) return;
            sseEvents += (
              Buffer.from(r.value!)
                .toString()
                .match(/\nevent: |^event: /g) ?? []
            ).length;
          }
        })();
        return ac;
      }),
    );
    const lat = new Latencies();
    const delivered = new Set<string>();
    const stored = { sent: 0 };
    let stop = false;
    const send = (a: FakeAgent, path: string, method: string, body: unknown) =>
      fetch(`${api}/v1/devices/${a.uuid}${path}`, {
        method,
        headers: { Authorization: `Bearer ${a.key}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      }).then(async (r) => {
        const text = await r.text();
        if (!r.ok) throw new Error(`${r.status}`);
        return text;
      });
    const updating = new Set<string>();
    const carryOut = async (a: FakeAgent) => {
      updating.add(a.uuid);
      a.state = { ...a.state, status: 'Updating supervisor' };
      for (let k = 1; k <= PROGRESS_REPORTS; k++) {
        await new Promise((r) => setTimeout(r, 1000));
        const ok = await timed(lat, 'progress', () =>
          send(a, '/progress', 'PATCH', { percent: (100 * k) / PROGRESS_REPORTS, message: `step ${k}` }),
        );
        if (ok !== undefined) stored.sent++;
      }
      a.state = { ...a.state, status: 'Idle', supervisorVersion: '16.9.0' };
    };
    const loops = agents.map(async (a) => {
      await new Promise((r) => setTimeout(r, Math.random() * AGENT_BEAT_MS));
      while (!stop) {
        const started = performance.now();
        const text = await timed(lat, 'heartbeat', () => send(a, '/state', 'PATCH', a.state));
        const target = text ? (JSON.parse(text) as { target?: { supervisorVersion?: string } }).target : undefined;
        if (target?.supervisorVersion === '16.9.0') {
          delivered.add(a.uuid);
          if (!updating.has(a.uuid)) void carryOut(a);
        }
        await new Promise((r) => setTimeout(r, Math.max(0, AGENT_BEAT_MS - (performance.now() - started))));
      }
    });
    const pid = server.pid!;
    // Let every agent beat once (online), then measure the steady state and the update wave.
    await new Promise((r) => setTimeout(r, AGENT_BEAT_MS + 1000));
    const u0 = usage(pid);
    const t0 = performance.now();
    const c0 = lat.count();
    await new Promise((r) => setTimeout(r, STEADY_MS / 2));
    const targeted = agents.slice(0, Math.min(n, TARGETED));
    for (let i = 0; i < targeted.length; i += 500) {
      const devices = targeted.slice(i, i + 500).map((a) => a.uuid);
      await timed(lat, 'targets', () =>
        fetch(`${api}/v1/targets`, {
          method: 'POST',
          headers: op,
          body: JSON.stringify({ devices, supervisorVersion: '16.9.0' }),
        }).then((r) => r.text()),
      );
    }
    const fleetPoll = setInterval(
      () => void timed(lat, 'fleet', () => fetch(`${api}/v1/fleet`, { headers: op }).then((r) => r.text())),
      2000,
    );
    const deadline = Date.now() + STEADY_MS / 2 + 60_000;
    while (
      Date.now() < deadline &&
      !(delivered.size === targeted.length && targeted.every((a) => a.state.status === 'Idle'))
    ) {
      await new Promise((r) => setTimeout(r, 1000));
    }
    await new Promise((r) => setTimeout(r, AGENT_BEAT_MS + 1000));
    clearInterval(fleetPoll);
    const elapsed = performance.now() - t0;
    const u1 = usage(pid);
    const requests = lat.count() - c0;
    stop = true;
    await Promise.all(loops);
    for (const s of streams) s.abort();
    const fleetRows = (await (await fetch(`${api}/v1/fleet`, { headers: op })).json()) as {
      devices: Array<{ uuid: string; targetProgress: string }>;
    };
    let progressStored = 0;
    for (let i = 0; i < n; i += 50)
      progressStored += (
        await Promise.all(
          agents.slice(i, i + 50).map(async (a) => {
            const d = (await (await fetch(`${api}/v1/devices/${a.uuid}`, { headers: op })).json()) as {
              history: unknown[];
            };
            return d.history.length;
          }),
        )
      ).reduce((x, y) => x + y, 0);
    return {
      agents: n,
      rps: requests / (elapsed / 1000),
      lat,
      cpuPct: ((u1.cpuMs - u0.cpuMs) / elapsed) * 100,
      rssMiB: u1.rssMiB,
      progressSent: stored.sent,
      progressStored,
      targeted: targeted.length,
      delivered: delivered.size,
      reached: fleetRows.devices.filter((d) => d.targetProgress === 'reached').length,
      sseEvents,
    };
  } finally {
    await huplab(lab, ['serve', '--stop']);
    if (server.exitCode === null) server.kill('SIGKILL');
    rmSync(lab.dir, { recursive: true, force: true });
  }
}

/** First paint of the Devices page with 20 devices, and a target's first progress on the page. */
async function paint(): Promise<{ firstPaintMs: number; tableMs: number; toProgressMs: number }> {
  const lab: Lab = openLab(mkdtempSync(join(tmpdir(), 'huplab-bench-dashboard-paint-')));
  const server = await serve(lab);
  const browser = await chromium.launch({ executablePath: process.env.HUPLAB_CHROMIUM ?? '/usr/bin/chromium' });
  try {
    const api = await apiUrl(lab);
    const agents: FakeAgent[] = [];
    for (let i = 0; i < 20; i++)
      agents.push(
        await registerFake(api, lab.operatorToken, {
          name: `p${i}`,
          osVersion: '2.101.0',
          supervisorVersion: '16.8.0',
        }),
      );
    const beatAll = () =>
      Promise.all(
        agents.map((a) =>
          fetch(`${api}/v1/devices/${a.uuid}/state`, {
            method: 'PATCH',
            headers: { Authorization: `Bearer ${a.key}`, 'Content-Type': 'application/json' },
            body: JSON.stringify(a.state),
          }).then((r) => r.text()),
        ),
      );
    await beatAll();
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const t0 = Date.now();
    await page.goto(`${api}/#token=${lab.operatorToken}`);
    await page.locator('tr[data-device="p19"]').waitFor({ timeout: 60_000 });
    const tableMs = Date.now() - t0;
    const firstPaintMs = await page.evaluate(
      () => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? Number.NaN,
    );
    // Apply to the first progress on the page: the target set through the API (as Apply does),
    // the agent's next heartbeat (at most AGENT_BEAT_MS later) and its first progress report.
    const a = agents[0]!;
    const t1 = Date.now();
    await fetch(`${api}/v1/devices/${a.uuid}/target`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${lab.operatorToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ supervisorVersion: '16.9.0' }),
    }).then((r) => r.text());
    await new Promise((r) => setTimeout(r, AGENT_BEAT_MS / 2));
    await fetch(`${api}/v1/devices/${a.uuid}/progress`, {
      method: 'PATCH',
      headers: { Authorization: `Bearer ${a.key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ percent: 10, message: 'pulling' }),
    });
    await page.getByRole('progressbar', { name: `Update progress of ${a.name}` }).waitFor({ timeout: 60_000 });
    const toProgressMs = Date.now() - t1 - AGENT_BEAT_MS / 2;
    return { firstPaintMs, tableMs, toProgressMs };
  } finally {
    await browser.close();
    await huplab(lab, ['serve', '--stop']);
    if (server.exitCode === null) server.kill('SIGKILL');
    rmSync(lab.dir, { recursive: true, force: true });
  }
}

const say = (line: string) => process.stderr.write(`bench dashboard: ${line}\n`);

export async function benchDashboard(): Promise<string> {
  say('first paint and a target to its first progress');
  const p = await paint();
  const results: LoadResult[] = [];
  for (const n of SIZES) {
    say(`${n} agents`);
    const r = await load(n);
    results.push(r);
    say(
      `${n} agents: ${r.rps.toFixed(0)} req/s, heartbeat p99 ${pct(r.lat.ms.get('heartbeat') ?? [], 99).toFixed(0)} ms`,
    );
  }
  const kinds: Kind[] = ['heartbeat', 'progress', 'targets', 'fleet'];
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(x < 10 ? 1 : 0) : '-');
  const rows = [
    [
      'agents',
      'req/s',
      ...kinds.map((k) => `${k} p50/p99 ms`),
      'server CPU',
      'RSS',
      'progress stored',
      'targets delivered/reached',
      'errors',
    ],
    ...results.map((r) => [
      String(r.agents),
      f(r.rps),
      ...kinds.map((k) => `${f(pct(r.lat.ms.get(k) ?? [], 50))} / ${f(pct(r.lat.ms.get(k) ?? [], 99))}`),
      `${f(r.cpuPct)} %`,
      `${f(r.rssMiB)} MiB`,
      `${r.progressStored} of ${r.progressSent}`,
      `${r.delivered} / ${r.reached} of ${r.targeted}`,
      String(r.lat.errors),
    ]),
  ];
  return [
    `### Dashboard and the lab server under load`,
    '',
    `First paint of the Devices page (20 devices, chromium, 1280x800): first contentful paint ${f(p.firstPaintMs)} ms, the table's last row ${p.tableMs} ms after navigation; a target set to its first progress on the page: ${p.toProgressMs} ms (the agent's heartbeat interval of ${AGENT_BEAT_MS / 1000} s left out).`,
    '',
    `${DASHBOARDS} dashboards on /v1/events; agents beat every ${AGENT_BEAT_MS / 1000} s; a supervisor target on ${TARGETED} devices (batches of 500), each carried out with ${PROGRESS_REPORTS} progress reports; latencies measured by the clients, on the same machine:`,
    '',
    table(rows),
  ].join('\n');
}
