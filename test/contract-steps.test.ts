import t from 'tap';
import {
  fetchDetail,
  imageDownloadDetail,
  parseFetchDownload,
  parseImageDownload,
} from '../lib/contract/download-detail.ts';
import {
  findFailedStep,
  parseStepLines,
  parseStepTimings,
  STEP_PHASES,
  stepLine,
  stepPrefix,
  stepRe,
  timedDetail,
} from '../lib/contract/steps.ts';
import { keptDetail, parseKept } from '../lib/contract/takeover.ts';

t.test('a step line round-trips through the parser', async (t) => {
  for (const phase of STEP_PHASES) {
    t.same(parseStepLines(stepLine('write-root', phase)), [
      { step: 'write-root', phase, seconds: undefined, detail: '' },
    ]);
  }
  const done = stepLine('fetch', 'done', timedDetail(15.73, 'full image'));
  t.equal(done, '[hup] step fetch done (15.7s) full image');
  t.same(parseStepLines(done), [{ step: 'fetch', phase: 'done', seconds: 15.7, detail: 'full image' }]);
  t.equal(timedDetail(0.04), '(0.0s)', 'no detail, no trailing space');
  t.same(parseStepLines(stepLine('flash', 'done', '(20s) ok', 'takeover'), 'takeover'), [
    { step: 'flash', phase: 'done', seconds: 20, detail: 'ok' },
  ]);
  t.same(parseStepLines(stepLine('flash', 'start', '', 'takeover')), [], 'each source by itself');
  t.equal(stepPrefix('takeover'), '[takeover] step ');
});

t.test("real lines from the harness's tests", async (t) => {
  const full =
    '2026-11-23T16:30:00.000Z [hup] step fetch done (15.7s) full image sha256:4b88 (56776804 bytes) from http://10.0.2.2:45379; 2 attempt(s), 1 resume(s)\n';
  t.same(parseFetchDownload(full), { kind: 'full', bytes: 56776804, source: 'http://10.0.2.2:45379' });
  t.same(
    parseFetchDownload('[hup] step fetch done (0.8s) delta sha256:892d (9538 bytes) from http://10.0.2.2:38081\n'),
    {
      kind: 'delta',
      bytes: 9538,
      source: 'http://10.0.2.2:38081',
    },
  );
  t.equal(parseFetchDownload('[hup] step fetch failed no registry delivered the new OS'), undefined);
  t.same(parseStepTimings(`[hup] step checks done (1.5s) device ok\n${full}`), [
    { step: 'checks', seconds: 1.5, detail: 'device ok' },
    {
      step: 'fetch',
      seconds: 15.7,
      detail: 'full image sha256:4b88 (56776804 bytes) from http://10.0.2.2:45379; 2 attempt(s), 1 resume(s)',
    },
  ]);
  const stage2 = [
    '[takeover] step copy-to-ram start',
    '[takeover] step copy-to-ram done (20s) 56534955 bytes of image in RAM, digest checked',
    '[takeover] step flash start',
    '[takeover] step flash failed writing /dev/vda failed: short write',
  ].join('\n');
  t.same(
    parseStepLines(stage2, 'takeover').filter((s) => s.phase !== 'start'),
    [
      { step: 'copy-to-ram', phase: 'done', seconds: 20, detail: '56534955 bytes of image in RAM, digest checked' },
      { step: 'flash', phase: 'failed', seconds: undefined, detail: 'writing /dev/vda failed: short write' },
    ],
  );
  t.same(findFailedStep(stage2, 'any'), { step: 'flash', why: 'writing /dev/vda failed: short write' });
  t.equal(findFailedStep(stage2), undefined, "the standard updater's failures only");
  const download =
    '[hup] step download done (65.9s) OS image 5.1.0 (56534779 bytes, android-sparse, sha256 722dae71e8c8) from the API in 1 attempt(s); simg-flash-arm64 (600096 bytes), cfi-flash-arm64 (600000 bytes)';
  t.same(parseImageDownload(download), { source: 'API', kind: 'image', bytes: 56534779 + 600096 + 600000 });
  t.equal(parseImageDownload('[hup] step download failed nope'), undefined);
  const rollback = '[hup] step rollback-health failed rolled back to root A; rebooting';
  t.ok(stepRe({ stepPattern: 'rollback-[\\w-]+', phase: 'failed', after: ' [^\\n]*rebooting' }).test(rollback));
  t.same(parseStepLines('[hup] step rollback-health start checking\n[hup] step commit done'), [
    { step: 'rollback-health', phase: 'start', seconds: undefined, detail: 'checking' },
    { step: 'commit', phase: 'done', seconds: undefined, detail: '' },
  ]);
});

t.test('stepRe spells the patterns the harness wrote by hand', async (t) => {
  t.equal(
    stepRe({ phase: 'done', after: String.raw` \(([\d.]+)s\) ?(.*)$` }).source,
    String.raw`\[hup\] step (\S+) done \(([\d.]+)s\) ?(.*)$`,
  );
  t.equal(
    stepRe({ source: 'takeover', phase: STEP_PHASES }).source,
    String.raw`\[takeover\] step (\S+) (start|done|failed)`,
  );
  t.equal(
    stepRe({ source: 'any', step: 'copy-to-ram', phase: 'start' }).source,
    String.raw`\[(?:hup|takeover)\] step copy-to-ram start`,
  );
  t.equal(
    stepRe({ source: 'takeover', phase: ['done', 'failed'], after: String.raw` ?(?:\((\d+)s\))? ?(.*)$` }).source,
    String.raw`\[takeover\] step (\S+) (done|failed) ?(?:\((\d+)s\))? ?(.*)$`,
  );
  t.equal(stepRe({ step: 'handover', phase: 'done' }).source, String.raw`\[hup\] step handover done`);
});

t.test('the download details the updaters print parse back', async (t) => {
  const delta = fetchDetail({ kind: 'delta', digest: 'sha256:892d', bytes: 9538, source: 'http://d:1' });
  t.same(parseFetchDownload(stepLine('fetch', 'done', timedDetail(0.8, delta))), {
    kind: 'delta',
    bytes: 9538,
    source: 'http://d:1',
  });
  const full = fetchDetail({
    kind: 'full',
    digest: 'sha256:4b88',
    bytes: 56776804,
    source: 'http://r:2',
    attempts: 2,
    resumes: 1,
  });
  t.same(parseFetchDownload(stepLine('fetch', 'done', timedDetail(15.7, full))), {
    kind: 'full',
    bytes: 56776804,
    source: 'http://r:2',
  });
  const image = imageDownloadDetail({
    version: '5.1.0',
    bytes: 100,
    format: 'android-sparse',
    sha256: '722dae71e8c8aaaaaaaa',
    attempts: 1,
    tools: [{ name: 'simg-flash-arm64', bytes: 7 }],
  });
  t.equal(
    image,
    'OS image 5.1.0 (100 bytes, android-sparse, sha256 722dae71e8c8) from the API in 1 attempt(s); simg-flash-arm64 (7 bytes)',
  );
  t.same(parseImageDownload(stepLine('download', 'done', timedDetail(1, image))), {
    source: 'API',
    kind: 'image',
    bytes: 107,
  });
  t.equal(
    parseKept(stepLine('restore', 'done', `(3s) ${keptDetail('config.json ssh-host-keys')}`, 'takeover')),
    'config.json ssh-host-keys',
  );
});
