import type { ChildProcess } from 'node:child_process';
import type { Page } from '@playwright/test';
import { stepLine } from '../lib/contract/steps.ts';
import { BASE_RELEASE, expect, test } from './fixtures.ts';
import { apiUrl, fleet, huplab, onDevice, operator, serve, startDevice as start } from './fleet-cli.ts';

/**
 * The lab dashboard driven as the seeds' users drive theirs (issue 19), in Debian's chromium,
 * against `huplab serve` and two emulated generic-amd64 devices started with `huplab device
 * start`: a refused choice starts nothing; Modify -> OS version -> Apply updates both, their
 * progress bars and OS versions moving without a reload; a device's Settings -> Supervisor
 * version -> Save upgrades its supervisor without a reboot. Screenshots go to the report.
 */
const DEVICES = ['dash1', 'dash2'];

// Debian's chromium (Playwright's own browser download is not available here), at 1280x800.
test.use({
  viewport: { width: 1280, height: 800 },
  launchOptions: { executablePath: process.env.HUPLAB_CHROMIUM ?? '/usr/bin/chromium' },
});

test.describe('dashboard', { tag: ['@emulated', '@fleet'] }, () => {
  test.describe.configure({ mode: 'serial' });
  let server: ChildProcess | undefined;

  test.beforeAll(async ({ lab }) => {
    server = await serve(lab);
  });

  test.afterAll(async ({ lab }) => {
    for (const n of DEVICES) await huplab(lab, ['device', 'stop', '--force', '--name', n], 60_000);
    if (server && server.exitCode === null) await huplab(lab, ['serve', '--stop']);
  });

  /** The page's errors and console errors from now on: a test ends with none. */
  const consoleErrors = (page: Page) => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    return errors;
  };

  const shot = async (page: Page, name: string) =>
    test.info().attach(name, { body: await page.screenshot({ fullPage: true }), contentType: 'image/png' });

  test('Modify -> OS version -> Apply updates two devices live; Settings -> Supervisor version -> Save', async ({
    lab,
    page,
  }) => {
    test.setTimeout(50 * 60_000);
    const errors = consoleErrors(page);
    await Promise.all(DEVICES.map((n) => start(lab, n, BASE_RELEASE)));
    // The policy's own choice: the latest release of the device type (allowed and maintained).
    const policy = (await (await operator(lab, '/v1/policy?deviceType=generic-amd64')).json()) as {
      deviceTypes: Array<{ releases: Array<{ version: string; phase: string }> }>;
    };
    const target = policy.deviceTypes[0]!.releases.find((r) => r.phase === 'latest')!.version;
    const api = await apiUrl(lab);
    await page.goto(`${api}/#token=${lab.operatorToken}`);
    await expect(page.getByRole('status', { name: 'Live updates' })).toHaveText('Live');
    await page.evaluate(() => Object.assign(window, { sameDocument: true }));
    const row = (n: string) => page.locator(`tr[data-device="${n}"]`);
    for (const n of DEVICES) {
      await expect(row(n)).toContainText('Online');
      await page.getByRole('checkbox', { name: `Select ${n}` }).check();
    }

    // A refused choice: a downgrade is listed with its reason and cannot be applied; nothing starts.
    await page.getByRole('button', { name: 'Modify' }).click();
    await page.getByRole('menuitem', { name: 'OS version' }).click();
    const dialog = page.getByRole('dialog', { name: 'OS version for 2 devices' });
    const older = dialog.getByRole('radio', { name: /^2\.100\.0/ });
    await expect(older).toBeDisabled();
    await expect(older).toHaveAccessibleName(/refused: OS 2\.100\.0 is older than the running/);
    const next = dialog.getByRole('radio', { name: new RegExp(`^${target.replaceAll('.', '\\.')}`) });
    await expect(next).toBeEnabled();
    await shot(page, 'modify-dialog.png');
    const rows = await fleet(lab);
    for (const n of DEVICES) expect(rows.get(n)!.targetProgress, 'nothing started').toBe('none');

    await next.check();
    await dialog.getByRole('button', { name: 'Apply' }).click();
    const outcomes = dialog.getByRole('list', { name: 'Outcome per device' });
    await expect(outcomes).toBeVisible({ timeout: 15 * 60_000 });
    for (const n of DEVICES) await expect(outcomes).toContainText(`${n}: target set, OS ${target}`);
    await shot(page, 'applied.png');
    await dialog.getByRole('button', { name: 'Close' }).click();

    // Both bars move and reach 100 %, and the OS version column changes, all without a reload.
    const seen = new Map<string, Set<number>>(DEVICES.map((n) => [n, new Set()]));
    let midShot = false;
    const deadline = Date.now() + 40 * 60_000;
    for (;;) {
      for (const n of DEVICES) {
        const bar = page.getByRole('progressbar', { name: `Update progress of ${n}` });
        if (await bar.count()) seen.get(n)!.add(Number(await bar.getAttribute('aria-valuenow')));
      }
      if (!midShot && [...seen.values()].some((s) => [...s].some((v) => v > 0 && v < 100))) {
        midShot = true;
        await shot(page, 'progress.png');
      }
      const os = await Promise.all(DEVICES.map((n) => row(n).locator('[data-col="os"]').textContent()));
      const done = DEVICES.every((n) => seen.get(n)!.has(100)) && os.every((v) => v === target);
      if (done) break;
      const failed = await page.getByText('OS update failed').count();
      if (failed) {
        await shot(page, 'failed.png');
        throw new Error(`an update failed: ${await page.locator('td[data-col="status"]').allTextContents()}`);
      }
      if (Date.now() > deadline) throw new Error(`not done in time: ${JSON.stringify([...seen])}, OS ${os}`);
      await page.waitForTimeout(1000);
    }
    for (const n of DEVICES) {
      const values = [...seen.get(n)!];
      test.info().annotations.push({ type: `progress of ${n}`, description: values.join(' ') });
      expect(values.filter((v) => v < 100).length, `${n}'s bar moved before it reached 100`).toBeGreaterThan(0);
    }
    expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
    await shot(page, 'updated.png');

    // One device's Settings: Supervisor version -> Save; the new supervisor runs, no reboot.
    const bootId = await onDevice(lab, 'dash1', 'cat /proc/sys/kernel/random/boot_id');
    await page.getByRole('link', { name: 'dash1' }).click();
    await expect(page.getByRole('heading', { name: 'dash1', level: 1 })).toBeVisible();
    // Its summary says how long it has been up (it rebooted into the new OS minutes ago), and
    // the console shows the serial console's last lines as the lab server reads them.
    await expect(page.locator('[data-field="uptime"]')).toHaveText(/^\d+ (s|min) \(since \d{4}-\d\d-\d\d /);
    const consoleLines = page.getByRole('region', { name: 'Console' }).getByLabel('Last console lines');
    await expect(consoleLines).not.toBeEmpty({ timeout: 30_000 });
    const tail = (await (await operator(lab, `/v1/devices/${rows.get('dash1')!.uuid}/console?lines=5`)).json()) as {
      lines: string[];
    };
    expect(tail.lines.length, 'the API reads the same console').toBeGreaterThan(0);
    // The agent sent the updater's log from /mnt/data/balenahup: its steps, to the reboot.
    const logs = page.getByRole('region', { name: 'Update logs' });
    await expect(logs).toContainText(stepLine('write-root', 'done'), { timeout: 60_000 });
    await expect(logs).toContainText(stepLine('reboot', 'start'));
    await page.getByRole('combobox', { name: 'Supervisor version' }).selectOption('16.9.0');
    await page.getByRole('form', { name: 'Supervisor version' }).getByRole('button', { name: 'Save' }).click();
    await expect(page.getByRole('list', { name: 'Outcome per device' })).toContainText('dash1: target set', {
      timeout: 10 * 60_000,
    });
    await expect(page.locator('[data-field="supervisor"]')).toHaveText('16.9.0', { timeout: 15 * 60_000 });
    expect(await onDevice(lab, 'dash1', 'cat /proc/sys/kernel/random/boot_id'), 'no reboot').toBe(bootId);
    await shot(page, 'supervisor.png');
    expect(errors, 'no console errors').toEqual([]);
  });

  test('an offline device shows offline with its pending target, and carries it out when back', async ({
    lab,
    page,
  }) => {
    test.setTimeout(25 * 60_000);
    const errors = consoleErrors(page);
    const api = await apiUrl(lab);
    await page.goto(`${api}/#token=${lab.operatorToken}`);
    const row = page.locator('tr[data-device="dash2"]');
    await expect(row).toContainText('Online');
    const before = (await fleet(lab)).get('dash2')!.supervisorVersion;
    expect(before, 'dash2 still runs the supervisor it was flashed with').not.toBe('16.9.0');
    await huplab(lab, ['device', 'link', '--name', 'dash2', 'down']);
    await expect(row).toContainText('Offline', { timeout: 120_000 });
    await page.getByRole('link', { name: 'dash2' }).click();
    await expect(page.locator('[data-field="uptime"]')).toHaveText(/^offline; it had been up /);
    await page.getByRole('combobox', { name: 'Supervisor version' }).selectOption('16.9.0');
    await page.getByRole('form', { name: 'Supervisor version' }).getByRole('button', { name: 'Save' }).click();
    await expect(page.getByRole('list', { name: 'Outcome per device' })).toContainText('dash2: target set', {
      timeout: 10 * 60_000,
    });
    await page.getByRole('link', { name: 'All devices' }).first().click();
    await expect(row.locator('[data-col="status"]')).toHaveText('Offline, target pending: supervisor 16.9.0');
    await shot(page, 'offline-pending.png');
    await new Promise((r) => setTimeout(r, 15_000));
    expect((await fleet(lab)).get('dash2')!.supervisorVersion, 'nothing happens while offline').toBe(before);
    await huplab(lab, ['device', 'link', '--name', 'dash2', 'up']);
    await expect(row.locator('[data-col="supervisor"]')).toHaveText('16.9.0', { timeout: 15 * 60_000 });
    await expect(row).toContainText('Online');
    await shot(page, 'back-online.png');
    expect(errors, 'no console errors').toEqual([]);
  });
});
