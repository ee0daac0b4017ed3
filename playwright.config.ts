import { defineConfig } from '@playwright/test';
import type { DeviceOptions } from './suites/fixtures.ts';
import { readdirSync } from 'node:fs';
import { cpus } from 'node:os';

/**
 * HIL suites: one Playwright project per device profile, so that `--project raspberrypi3-64`
 * runs the same suites on another board. Each worker drives its own emulated device (a TCG
 * guest wants about one core), so the default is one worker per core, at most two.
 */
const profiles = readdirSync(new URL('./devices', import.meta.url)).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5));

export default defineConfig<DeviceOptions>({
  testDir: './suites',
  timeout: 6 * 60_000,
  expect: { timeout: 30_000 },
  fullyParallel: false,
  workers: Number(process.env.HUPLAB_WORKERS ?? Math.max(1, Math.min(2, cpus().length))),
  retries: Number(process.env.HUPLAB_RETRIES ?? 0),
  outputDir: 'reports/test-results',
  reporter: [
    ['list'],
    ['junit', { outputFile: 'reports/junit.xml' }],
    ['html', { outputFolder: 'reports/html', open: 'never' }],
  ],
  projects: profiles.map((name) => ({ name, use: { deviceProfile: name } })),
});
