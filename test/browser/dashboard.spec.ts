import { expect, type Page, test } from '@playwright/test';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../lib/paths.ts';
import { beat, type FakeAgent, progress, registerFake, sendLog } from '../../bench/fake-agents.ts';

/**
 * The lab dashboard in a real browser against a real `huplab serve`, with devices that are only
 * their agent's protocol (bench/fake-agents.ts): no VM, a few seconds. The update flow on
 * emulated devices is suites/dashboard.spec.ts (@fleet).
 */
test.describe.configure({ mode: 'serial' });

let dir: string;
let server: ChildProcess;
let api: string;
let token: string;
let d1: FakeAgent;
let d2: FakeAgent;
let beating: NodeJS.Timeout;
const errors: string[] = [];

test.beforeAll(async () => {
  test.setTimeout(120_000);
  dir = mkdtempSync(join(tmpdir(), 'huplab-dashboard-'));
  server = spawn(join(repoRoot, 'bin', 'huplab'), ['serve'], {
    env: { ...process.env, HUPLAB_HOME: dir, HUPLAB_QUIET: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  server.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  server.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  for (let i = 0; i < 200 && !/dashboard\s+http/.test(out); i++) {
    if (server.exitCode !== null) throw new Error(`huplab serve exited ${server.exitCode}: ${out}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const printed = /dashboard\s+(http:\/\/127\.0\.0\.1:\d+)\/#token=([0-9a-f]+)/.exec(out);
  if (!printed) throw new Error(`huplab serve printed no dashboard address: ${out}`);
  api = printed[1]!;
  token = readFileSync(join(dir, 'operator-token'), 'utf8').trim();
  expect(printed[2], 'the printed address carries the operator token').toBe(token);
  expect(readFileSync(join(dir, 'server.json'), 'utf8'), 'never in a file').not.toContain(token);
  d1 = await registerFake(api, token, { name: 'd1', osVersion: '2.101.0', supervisorVersion: '16.8.0' });
  d2 = await registerFake(api, token, { name: 'd2', osVersion: '2.101.0', supervisorVersion: '16.8.0' });
  await registerFake(api, token, { name: 'gone', osVersion: '2.101.0', supervisorVersion: '16.8.0' });
  const all = async () => {
    await Promise.all([beat(api, d1), beat(api, d2)]);
  };
  await all();
  beating = setInterval(() => void all().catch(() => {}), 2000);
});

test.afterAll(async () => {
  clearInterval(beating);
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test.beforeEach(async ({ page }) => {
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`${page.url()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`${page.url()}: ${e.message}`));
  page.on('response', (r) => {
    if (r.status() >= 400) errors.push(`${r.request().method()} ${r.url()}: ${r.status()}`);
  });
});

test.afterEach(() => {
  expect(errors, 'no console errors').toEqual([]);
});

async function signIn(page: Page) {
  await page.goto(`${api}/#token=${token}`);
  await expect(page.getByRole('heading', { name: 'Devices' })).toBeVisible();
}

const row = (page: Page, name: string) => page.locator(`tr[data-device="${name}"]`);

test('the printed address signs in and leaves the token out of the address bar; rows are live', async ({ page }) => {
  await signIn(page);
  expect(page.url()).not.toContain(token);
  await expect(page.getByRole('status', { name: 'Live updates' })).toHaveText('Live');
  const table = page.getByRole('table', { name: 'Devices' });
  await expect(table.getByRole('row')).toHaveCount(4);
  await expect(row(page, 'd1')).toContainText('Online');
  await expect(row(page, 'gone')).toContainText('Offline');
  for (const header of ['Name', 'Device type', 'CPU arch', 'OS version', 'Supervisor version', 'Online', 'Status'])
    await expect(table.getByRole('columnheader', { name: header, exact: true })).toBeVisible();
  // A heartbeat that reports another OS changes the cell without a reload.
  d2.state = { ...d2.state, osVersion: '2.102.0' };
  await beat(api, d2);
  await expect(row(page, 'd2').locator('[data-col="os"]')).toHaveText('2.102.0');
  // A failed update: "OS update failed" and the agent's reason.
  d2.state = {
    ...d2.state,
    status: 'OS update failed',
    lastUpdate: {
      os: {
        kind: 'os',
        version: '2.103.0',
        targetSetAt: new Date().toISOString(),
        outcome: 'failed',
        reason: 'write-root failed: no space left on device',
        at: new Date().toISOString(),
      },
    },
  };
  await beat(api, d2);
  await expect(row(page, 'd2').locator('[data-col="status"]')).toContainText('OS update failed');
  await expect(row(page, 'd2').locator('[data-col="status"]')).toContainText('no space left on device');
  d2.state = { osVersion: '2.101.0', supervisorVersion: '16.8.0', status: 'Idle' };
  await beat(api, d2);
});

test('without the token: a login page; a wrong token is refused, the right one signs in', async ({ page }) => {
  await page.goto(`${api}/`);
  const field = page.getByLabel('Operator token');
  await field.fill('not-the-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toContainText('refused');
  await field.fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Devices' })).toBeVisible();
  await expect(row(page, 'd1')).toBeVisible();
  // The browser's 401 of the wrong token is the one console error expected here.
  errors.splice(0, errors.length, ...errors.filter((e) => !/401/.test(e)));
});

test('Modify -> OS version: each version with its verdict; a downgrade is refused with its reason', async ({
  page,
}) => {
  await signIn(page);
  const modify = page.getByRole('button', { name: 'Modify' });
  await expect(modify).toBeDisabled();
  await page.getByRole('checkbox', { name: 'Select d1' }).check();
  await page.getByRole('checkbox', { name: 'Select d2' }).check();
  await expect(page.getByRole('checkbox', { name: 'Select all devices' })).not.toBeChecked();
  await modify.click();
  await page.getByRole('menuitem', { name: 'OS version' }).click();
  const dialog = page.getByRole('dialog', { name: 'OS version for 2 devices' });
  await expect(dialog).toBeVisible();
  const latest = dialog.getByRole('radio', { name: /^2\.103\.0/ });
  await expect(latest).toBeEnabled();
  await expect(latest).toHaveAccessibleName(/latest rolling release/);
  const down = dialog.getByRole('radio', { name: /^2\.100\.0/ });
  await expect(down).toBeDisabled();
  await expect(down).toHaveAccessibleName(/refused: OS 2\.100\.0 is older than the running 2\.101\.0/);
  await expect(down).toHaveAccessibleName(/ESR 2026\.10/);
  await expect(dialog.getByRole('button', { name: 'Apply' })).toBeDisabled();
  await latest.check();
  await expect(dialog.getByRole('button', { name: 'Apply' })).toBeEnabled();
  await test.info().attach('modify-dialog.png', { body: await page.screenshot(), contentType: 'image/png' });
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toBeHidden();
  await page.getByRole('checkbox', { name: 'Select all devices' }).check();
  await expect(page.getByText('3 of 3 selected')).toBeVisible();
  await modify.click();
  await page.getByRole('menuitem', { name: 'Supervisor version' }).click();
  const sv = page.getByRole('dialog', { name: 'Supervisor version for 3 devices' });
  await expect(sv.getByRole('radio', { name: /^16\.9\.0/ })).toBeEnabled();
  await sv.getByRole('button', { name: 'Cancel' }).click();
});

test('a device: Settings -> Supervisor version -> Save sets the target; its progress bar follows live', async ({
  page,
}) => {
  await signIn(page);
  await page.getByRole('link', { name: 'd1' }).click();
  await expect(page.getByRole('heading', { name: 'd1', level: 1 })).toBeVisible();
  await expect(page.getByRole('combobox', { name: 'OS version' })).toBeVisible();
  // Its uptime as its heartbeat says; a device the lab did not start has no console here.
  d1.state = { ...d1.state, uptimeSeconds: 125 };
  await beat(api, d1);
  await expect(page.locator('[data-field="uptime"]')).toHaveText(
    /^2 min \(since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)$/,
  );
  await expect(page.getByRole('region', { name: 'Console' })).toContainText('holds no serial console of this device');
  const sv = page.getByRole('combobox', { name: 'Supervisor version' });
  await sv.selectOption('16.9.0');
  await page.getByRole('form', { name: 'Supervisor version' }).getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('list', { name: 'Outcome per device' })).toContainText(
    'd1: target set, supervisor 16.9.0',
  );
  await expect(page.getByText('supervisor 16.9.0 (pending)')).toBeVisible();
  // The agent reports progress: the bar appears and moves without a reload.
  d1.state = { ...d1.state, status: 'Updating supervisor' };
  await beat(api, d1);
  await progress(api, d1, 40, 'supervisor: pulling 16.9.0');
  const bar = page.getByRole('progressbar', { name: 'Update progress of d1' });
  await expect(bar).toHaveAttribute('aria-valuenow', '40');
  await expect(page.getByRole('list', { name: 'Steps' })).toContainText('supervisor: pulling 16.9.0');
  await sendLog(api, d1, 'balenahup-2026.log', 'step checks ok\nstep fetch ok\n');
  await progress(api, d1, 100, 'supervisor: 16.9.0 runs');
  d1.state = { ...d1.state, status: 'Idle', supervisorVersion: '16.9.0' };
  await beat(api, d1);
  await expect(bar).toHaveAttribute('aria-valuenow', '100');
  await expect(page.locator('[data-field="supervisor"]')).toHaveText('16.9.0');
  // Now 16.8.0 is a downgrade: listed, refused with its reason, not selectable.
  await expect(sv.locator('option', { hasText: /^16\.8\.0 \(refused: .*older/ })).toBeDisabled();
  await expect(page.getByText('balenahup-2026.log')).toBeVisible();
  await expect(page.getByRole('table', { name: 'Progress history' })).toContainText('supervisor: pulling 16.9.0');
  await test.info().attach('device.png', { body: await page.screenshot({ fullPage: true }), contentType: 'image/png' });
  await page.getByRole('link', { name: 'All devices' }).click();
  await expect(page.getByRole('progressbar', { name: 'Update progress of d1' })).toHaveAttribute(
    'aria-valuenow',
    '100',
  );
});

test('Releases: lines, phases and end-of-life dates', async ({ page }) => {
  await signIn(page);
  await page.getByRole('link', { name: 'Releases' }).click();
  await expect(page.getByRole('heading', { name: 'Releases', level: 1 })).toBeVisible();
  const table = page.getByRole('table', { name: 'Releases of generic-amd64' });
  await expect(table.getByRole('row', { name: /^2\.103\.0 rolling latest rolling release/ })).toBeVisible();
  await expect(table.getByRole('row', { name: /^2\.88\.0 ESR 2026\.1 end of life no/ })).toBeVisible();
  await expect(page.getByRole('img', { name: /Release lines of generic-amd64/ })).toBeVisible();
  await test
    .info()
    .attach('releases.png', { body: await page.screenshot({ fullPage: true }), contentType: 'image/png' });
});

test('usable at 1280x800 and on a narrow window: nothing wider than the window but the table, which scrolls', async ({
  page,
}) => {
  for (const size of [
    { width: 1280, height: 800 },
    { width: 390, height: 800 },
  ]) {
    await page.setViewportSize(size);
    await signIn(page);
    await expect(row(page, 'd1')).toBeVisible();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow, `page overflow at ${size.width}px`).toBeLessThanOrEqual(0);
    await expect(page.getByRole('button', { name: 'Modify' })).toBeInViewport();
    // A device's page too: its selects list long verdicts, and must not widen the page.
    await page.getByRole('link', { name: 'd1' }).click();
    await expect(page.getByRole('combobox', { name: 'OS version' })).toBeVisible();
    const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(wide, `device page overflow at ${size.width}px`).toBeLessThanOrEqual(0);
    await page.goBack();
    await test.info().attach(`devices-${size.width}.png`, { body: await page.screenshot(), contentType: 'image/png' });
  }
});

test('a release the policy no longer maintains: refused, offered only when unsupported releases are allowed', async ({
  page,
}) => {
  // On ESR 2026.1, past its end of life: its own patch 2.88.1 is a standard update the policy refuses.
  const old = await registerFake(api, token, { name: 'old', osVersion: '2.88.0', supervisorVersion: '16.8.0' });
  await beat(api, old);
  await signIn(page);
  await page.getByRole('link', { name: 'old' }).click();
  const os = page.getByRole('combobox', { name: 'OS version' });
  const patch = os.locator('option', { hasText: /^2\.88\.1 / });
  await expect(patch).toBeDisabled();
  await expect(patch).toHaveText(/refused: .*end of life/);
  const allow = page.getByRole('checkbox', { name: 'Allow releases the support policy no longer maintains' });
  await allow.check();
  await expect(patch).toBeEnabled();
  await expect(patch).toHaveText(/unsupported, allowed on request for old/);
  await expect(os.locator('option', { hasText: /^2\.11\.0 / }), 'a downgrade stays refused').toBeDisabled();
  await os.selectOption('2.88.1');
  await allow.uncheck();
  await expect(os, 'unchecking takes the choice back').toHaveValue('');
  await expect(patch).toBeDisabled();
});
