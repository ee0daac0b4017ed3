/**
 * The download's progress at the API (updater/common/progress.ts, DownloadProgress): the bar
 * moves through the download's band as bytes arrive, throttled (2 s, or 5 points), never back,
 * one report in flight, the last state sent at the end; the message says how much arrived.
 * First against a recording reporter and a hand-driven clock, then end to end: a real download
 * from a slow HTTP server reported to the backend's real API.
 */
import { createServer } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startBackend } from '../harness/backend/index.ts';
import { downloadProgressMessage, parseDownloadProgress } from '../lib/contract/index.ts';
import { sha256Digest } from '../lib/oci/digest.ts';
import { downloadVerified } from '../lib/oci/download.ts';
import type { DeviceConfig } from '../updater/common/config.ts';
import { DownloadProgress, ProgressReporter } from '../updater/common/progress.ts';

const TOTAL = 56_810_598;

/** A reporter that records, and a clock the test moves. */
function rig(opts: { hold?: boolean } = {}) {
  let now = 1_000_000;
  const reports: Array<{ percent: number; message: string; status: string | undefined; attempts: number | undefined }> =
    [];
  let release: (() => void) | undefined;
  const reporter = {
    report: (percent: number, message: string, status?: string, attempts?: number) => {
      reports.push({ percent, message, status, attempts });
      return opts.hold ? new Promise<boolean>((r) => (release = () => r(true))) : Promise.resolve(true);
    },
  };
  const bar = new DownloadProgress(reporter, { kind: 'full', band: [50, 69], now: () => now });
  return {
    bar,
    reports,
    tick: (ms: number) => (now += ms),
    release: () => release?.(),
  };
}

const settle = () => new Promise((r) => setImmediate(r));

t.test('nothing before 2 s unless the bar moved 5 points; then one report, in the band, saying how much', async (t) => {
  const { bar, reports, tick } = rig();
  for (let i = 1; i <= 50; i++) {
    tick(30);
    bar.update(i * 20_000, TOTAL); // 1 MB in 1.5 s: under a point of the bar
  }
  await settle();
  t.same(reports, [], 'throttled: no report within 2 s for a small move');
  tick(500);
  bar.update(1_200_000, TOTAL);
  await settle();
  t.same(reports, [
    { percent: 50, message: 'Downloading the new OS: 1.2 of 56.8 MB', status: 'updating', attempts: 1 },
  ]);
  bar.update(1_300_000, TOTAL);
  await settle();
  t.equal(reports.length, 1, 'the next one waits again');
  // A big move (a fast link): due at once, before the 2 s.
  tick(100);
  bar.update(TOTAL / 2, TOTAL);
  await settle();
  t.equal(reports.length, 2);
  t.equal(reports[1]!.percent, 59, '50 + half of the 19-point band, rounded down');
  t.same(parseDownloadProgress(reports[1]!.message), { kind: 'full', mb: 28.4, totalMb: 56.8 });
});

t.test('never back: a download that starts over (the fallback) keeps the bar where it was', async (t) => {
  const { bar, reports, tick } = rig();
  tick(2_000);
  bar.update(TOTAL * 0.8, TOTAL);
  await settle();
  tick(2_000);
  bar.update(1_000_000, TOTAL);
  await settle();
  t.same(
    reports.map((r) => r.percent),
    [65, 65],
  );
  t.equal(reports[1]!.message, 'Downloading the new OS: 1.0 of 56.8 MB', 'the message tells the truth');
});

t.test('one report in flight: updates meanwhile are not queued; finish sends the last state once', async (t) => {
  const { bar, reports, tick, release } = rig({ hold: true });
  tick(2_000);
  bar.update(10_000_000, TOTAL);
  tick(5_000);
  bar.update(30_000_000, TOTAL);
  bar.update(TOTAL, TOTAL);
  await settle();
  t.equal(reports.length, 1, 'the first is still in flight');
  const done = bar.finish();
  release();
  await settle();
  release();
  await done;
  t.same(
    reports.map((r) => [r.percent, r.message]),
    [
      [53, 'Downloading the new OS: 10.0 of 56.8 MB'],
      [69, 'Downloading the new OS: 56.8 of 56.8 MB'],
    ],
  );
  await bar.finish();
  t.equal(reports.length, 2, 'finish again: nothing new to say');
  t.same(
    bar.sent,
    reports.map((r) => ({ percent: r.percent, message: r.message })),
  );
});

t.test(
  'the messages parse back; a delta says so; under a megabyte in kB; an unknown size is a question mark',
  async (t) => {
    t.equal(downloadProgressMessage('full', 12_345_678, TOTAL), 'Downloading the new OS: 12.3 of 56.8 MB');
    t.equal(downloadProgressMessage('delta', 160_000, 1_280_000), 'Downloading the new OS (delta): 0.2 of 1.3 MB');
    t.equal(downloadProgressMessage('delta', 12_400, 41_600), 'Downloading the new OS (delta): 12 of 42 kB');
    t.same(parseDownloadProgress(downloadProgressMessage('delta', 160_000, 1_280_000)), {
      kind: 'delta',
      mb: 0.2,
      totalMb: 1.3,
    });
    t.same(parseDownloadProgress(downloadProgressMessage('delta', 12_400, 41_600)), {
      kind: 'delta',
      mb: 0.012,
      totalMb: 0.042,
    });
    t.same(parseDownloadProgress(downloadProgressMessage('full', 5e6, undefined)), {
      kind: 'full',
      mb: 5,
      totalMb: undefined,
    });
    t.equal(parseDownloadProgress('Running OS update'), undefined);
    t.equal(parseDownloadProgress('Downloading the new OS: 1 of 2 GB'), undefined);
  },
);

t.test('end to end: a slow download reported to the real API moves the bar several times', async (t) => {
  const body = Buffer.alloc(2_000_000, 7);
  const digest = sha256Digest(body);
  // 20 chunks 120 ms apart: about 2.4 s.
  const server = createServer(async (_req, res) => {
    res.writeHead(200, { 'content-length': String(body.length) });
    for (let i = 0; i < 20; i++) {
      res.write(body.subarray(i * 100_000, (i + 1) * 100_000));
      await new Promise((r) => setTimeout(r, 120));
    }
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const backend = await startBackend({});
  t.teardown(() => backend.stop());
  const config = {
    uuid: 'd0wn01',
    deviceType: 'generic-amd64',
    apiEndpoint: backend.urls.api,
    deviceApiKey: backend.registerDevice('d0wn01'),
  } as DeviceConfig;
  const reporter = new ProgressReporter(config, () => {});
  const bar = new DownloadProgress(reporter, { kind: 'full', band: [50, 69], minIntervalMs: 300, minPoints: 100 });
  const dir = await mkdtemp(join(tmpdir(), 'huplab-progress-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await downloadVerified({
    url: new URL(`http://127.0.0.1:${(server.address() as { port: number }).port}/blob`),
    digest,
    destPath: join(dir, 'blob'),
    source: 'test server',
    what: 'blob',
    timeoutMs: 5_000,
    retries: 0,
    retryDelayMs: 10,
    expectedSize: body.length,
    onProgress: (b, total) => bar.update(b, total),
  }).finally(() => bar.finish());
  const history = backend.api.device('d0wn01')?.history ?? [];
  const percents = history.map((h) => h.percent);
  t.ok(new Set(percents).size >= 4, `several distinct percentages: ${percents.join(' ')}`);
  t.same(
    percents,
    [...percents].sort((a, b) => a - b),
    'never back',
  );
  t.ok(
    percents.every((p) => p >= 50 && p <= 69),
    'within the band',
  );
  t.ok(
    history.every((h) => parseDownloadProgress(h.message)?.totalMb === 2),
    'each says how much of the 2.0 MB',
  );
  t.same(history.at(-1), { ...history.at(-1), percent: 69, message: 'Downloading the new OS: 2.0 of 2.0 MB' });
  t.ok(history.length <= 12, `throttled: ${history.length} reports for 20 chunks`);
});
