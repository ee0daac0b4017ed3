import { expect, test } from '@playwright/test';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { TESTS, runReporter } from '../helpers/report-run.ts';

// report.html as a person sees it, in a real browser (Debian's chromium: playwright.config.ts,
// project `report`), with scripts disabled and the network cut: the page must stand alone.
test.use({ javaScriptEnabled: false, offline: true });

const { dir, summary } = runReporter(TESTS, { maxLogBytes: 8192 });
const url = pathToFileURL(join(dir, 'report.html')).href;
const section = (title: string) => `#t-${summary.tests.find((x) => x.title === title)!.id}`;

test.beforeEach(async ({ page }) => {
  const external: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith('file:')) external.push(r.url());
  });
  await page.goto(url);
  test.info().annotations.push({ type: 'external requests', description: external.join(' ') || 'none' });
  expect(external).toEqual([]);
});

test('a failed test is open at its failed attempt and error', async ({ page }) => {
  const failed = page.locator(section('data-full is refused'));
  await expect(failed).toHaveAttribute('open', '');
  await expect(failed.locator('details.attempt').first()).toHaveAttribute('open', '');
  await expect(failed.locator('pre.error').first()).toBeVisible();
  await expect(failed.locator('pre.error').first()).toContainText('expect(received).toEqual(expected)');
  await expect(failed.locator('td.check-fail').first()).toBeVisible();
  const infra = page.locator(section('qemu never starts'));
  await expect(infra.locator('summary').first()).toContainText('infrastructure');
  await expect(infra.locator('pre.error').first()).toContainText('infrastructure: QEMU failed to start');
});

test('a passed test is folded until its summary is clicked', async ({ page }) => {
  const passed = page.locator(section('delta update commits'));
  await expect(passed.locator('.timeline').first()).toBeHidden();
  await passed.locator('summary').first().click();
  const attempt = passed.locator('details.attempt').first();
  await expect(attempt).toBeVisible();
  await expect(passed.locator('.timeline').first()).toBeHidden(); // a passed attempt stays folded too
  await attempt.locator('summary').first().click();
  await expect(passed.locator('.timeline').first()).toBeVisible();
});

test('timeline bars are as wide as their steps', async ({ page }) => {
  const timeline = page.locator(section('data-full is refused')).locator('.timeline').first();
  await expect(timeline).toBeVisible();
  const track = await timeline.locator('[data-step="write-root"] .tl-track').boundingBox();
  const widths: Record<string, number> = {};
  for (const step of ['checks', 'fetch', 'write-root', 'reboot']) {
    const box = await timeline.locator(`[data-step="${step}"] .tl-bar`).boundingBox();
    expect(box, step).not.toBeNull();
    widths[step] = box!.width;
  }
  expect(track!.width).toBeGreaterThan(100);
  // 12.4 s of 15.7 s; 0.9 s of 15.7 s (the smallest steps are drawn at least 2 px wide)
  expect(widths['write-root']! / track!.width).toBeCloseTo(12.4 / 15.7, 2);
  expect(widths.fetch! / track!.width).toBeCloseTo(0.9 / 15.7, 2);
  expect(widths['write-root']!).toBeGreaterThan(widths.checks! * 10);
  expect(widths.reboot!).toBeGreaterThanOrEqual(2);
  // Bars follow each other: write-root starts where fetch ends.
  const fetch = await timeline.locator('[data-step="fetch"] .tl-bar').boundingBox();
  const write = await timeline.locator('[data-step="write-root"] .tl-bar').boundingBox();
  expect(write!.x).toBeCloseTo(fetch!.x + fetch!.width, 0);
  await test
    .info()
    .attach('report.png', { body: await page.screenshot({ fullPage: false }), contentType: 'image/png' });
});

test('logs read as text: markup shown, not run; the cut says so', async ({ page }) => {
  const passed = page.locator(section('delta update commits'));
  await passed.locator('summary').first().click();
  await passed.locator('details.attempt > summary').first().click();
  const log = passed.locator('details.log', { hasText: 't1234-0-serial.log' });
  await log.locator('summary').click();
  await expect(log.locator('pre')).toContainText('<script>alert(1)</script> & more');
  const long = page.locator(section('qemu never starts')).locator('details.log', { hasText: 'long-serial.log' });
  await long.locator('summary').click();
  await expect(long.locator('.cut')).toBeVisible();
  await expect(long.locator('.cut')).toContainText('cut from the middle of this 61 kB log');
});
