/**
 * `npm run bench -- dashboard`: the dashboard's first paint in chromium with 20 devices (the
 * agent's real protocol, bench/fake-agents.ts), and the time from a target set (as Apply does) to
 * its first progress on the page. The lab server under a fleet's load is bench/fleet-load.ts.
 */
import { rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from '@playwright/test';
import { AGENT_BEAT_MS } from '../lib/contract/fleet.ts';
import { openLab, type Lab } from '../harness/lab.ts';
import { apiUrl, huplab, serve } from '../suites/fleet-cli.ts';
import { type FakeAgent, registerFake } from './fake-agents.ts';

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
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(x < 10 ? 1 : 0) : '-');
  return [
    `### The dashboard`,
    '',
    `First paint of the Devices page (20 devices, chromium, 1280x800): first contentful paint ${f(p.firstPaintMs)} ms, the table's last row ${p.tableMs} ms after navigation; a target set to its first progress on the page: ${p.toProgressMs} ms (the agent's heartbeat interval of ${AGENT_BEAT_MS / 1000} s left out).`,
    '',
    'The lab server under a fleet of agents with dashboards open: `npm run bench -- fleet-load`.',
  ].join('\n');
}
