import { defineConfig, type ReporterDescription } from '@playwright/test';
import type { DeviceOptions } from './suites/fixtures.ts';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { inventoryPath, loadInventory } from './harness/board/inventory.ts';
import { advancedSuiteFor } from './harness/update/suite-releases.ts';
import { checkVariant } from './images/recipe.ts';
import { LAYOUT_1X } from './lib/partition/resin-1x.ts';

/**
 * HIL suites: one Playwright project per device profile, so that `--project raspberrypi3-64`
 * runs the same suites on another board. Each worker drives its own emulated device (a TCG
 * guest wants about one core), so the default is one worker per core, at most two.
 */
const profiles = readdirSync(new URL('./devices', import.meta.url))
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.slice(0, -5));

/**
 * Profiles of the resinOS 1.x line run only the 1.x suites (suites/onex-*.spec.ts): the 2.x
 * suites update along an A/B line these devices do not have.
 */
const onexProfiles = new Set(
  profiles.filter(
    (name) =>
      (JSON.parse(readFileSync(new URL(`./devices/${name}.json`, import.meta.url), 'utf8')) as { layout?: string })
        .layout === LAYOUT_1X,
  ),
);

/**
 * Real boards: with HUPLAB_INVENTORY set, one project per profile found in the lab inventory
 * (`--project board-raspberrypi3-64`), each worker driving one board of it. The same suites run;
 * those that only an emulated device can serve (@emulated: host-side disk edits, volatile-cache
 * power cuts) are left out.
 */
/**
 * HUPLAB_VARIANT=production runs the suites on production images (every device flashed and every
 * release published in that variant); default: each recipe's own variant (development).
 */
const osVariant = process.env.HUPLAB_VARIANT ? checkVariant(process.env.HUPLAB_VARIANT, 'HUPLAB_VARIANT') : undefined;

const inventory = process.env.HUPLAB_INVENTORY ? await loadInventory(inventoryPath()) : undefined;
const boardProfiles = [...new Set(inventory?.boards.map((b) => b.profile) ?? [])];

/**
 * Where a run's reports go: `huplab qualify` gives each run a folder of its own; a plain
 * `playwright test` writes into reports/. The huplab reporter writes summary.json and
 * report.html there (harness/report/), JUnit writes junit.xml, and Playwright's own HTML report
 * (left out by `huplab qualify`: HUPLAB_PLAYWRIGHT_HTML=0) goes to html/.
 */
const reportDir = process.env.HUPLAB_REPORT_DIR ?? 'reports';
const reporter: ReporterDescription[] = [
  ['list'],
  ['junit', { outputFile: join(reportDir, 'junit.xml') }],
  ...(process.env.HUPLAB_PLAYWRIGHT_HTML === '0'
    ? []
    : [['html', { outputFolder: join(reportDir, 'html'), open: 'never' }] as ReporterDescription]),
  ['./harness/report/reporter.ts', { outputDir: reportDir }],
];

export default defineConfig<DeviceOptions>({
  testDir: './suites',
  timeout: 10 * 60_000,
  expect: { timeout: 30_000 },
  fullyParallel: false,
  workers: Number(process.env.HUPLAB_WORKERS ?? Math.max(1, Math.min(2, cpus().length))),
  retries: Number(process.env.HUPLAB_RETRIES ?? 0),
  outputDir: join(reportDir, 'test-results'),
  reporter,
  projects: [
    // hup-advanced and fleet-advanced run where an advanced path leads away from the profile
    // (JetPack 4, a 32-bit Pi).
    ...profiles.map((name) => ({
      name,
      use: { deviceProfile: name, ...(osVariant ? { osVariant } : {}) },
      ...(onexProfiles.has(name)
        ? { testMatch: /onex-[^/]*\.spec\.ts$/ }
        : {
            testIgnore: advancedSuiteFor(name)
              ? /onex-[^/]*\.spec\.ts$/
              : /((hup|fleet)-advanced|onex-[^/]*)\.spec\.ts$/,
          }),
    })),
    ...boardProfiles.map((name) => ({
      name: `board-${name}`,
      grepInvert: /@emulated/,
      use: { deviceProfile: name, driver: 'board' as const, ...(osVariant ? { osVariant } : {}) },
    })),
    // The huplab report in a real browser (`npm run report:browser`): Debian's chromium, since
    // Playwright's own browser download is not available here (scripts/bootstrap.sh installs it).
    {
      name: 'report',
      testDir: './test/browser',
      testMatch: '*.spec.ts',
      timeout: 60_000,
      use: {
        browserName: 'chromium',
        launchOptions: { executablePath: process.env.HUPLAB_CHROMIUM ?? '/usr/bin/chromium' },
      },
    },
  ],
});
