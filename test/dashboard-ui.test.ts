/**
 * The dashboard page's pieces that hold logic, without a browser: the live state the event
 * stream feeds (state.ts), the versions a dialog lists with their verdicts (choices.ts), the
 * words of statuses and policy phases (format.ts) and the Releases timeline (timeline.ts).
 */
import t from 'tap';
import type { DashboardRow, DeviceChoices, PolicyAnswer, PolicyRelease } from '../harness/dashboard/wire.ts';
import { applyEvent, keepSelected, selectAllState, sortedRows, toggle } from '../harness/dashboard/ui/state.ts';
import {
  anyOverridable,
  jumpVerdict,
  needsMajorConfirmation,
  optionWords,
  versionOptions,
} from '../harness/dashboard/ui/choices.ts';
import {
  ago,
  duration,
  failureReason,
  joinLogParts,
  failureTitle,
  releaseWords,
  statusWords,
  uptimeWords,
} from '../harness/dashboard/ui/format.ts';
import { timeline } from '../harness/dashboard/ui/timeline.ts';

const row = (name: string, over: Partial<DashboardRow> = {}): DashboardRow => ({
  uuid: `u-${name}`,
  name,
  deviceType: 'generic-amd64',
  arch: 'amd64',
  osVersion: '2.101.0',
  supervisorVersion: '16.8.0',
  online: true,
  lastSeen: '2026-12-04T10:00:00.000Z',
  bootedAt: '2026-12-04T09:00:00.000Z',
  status: 'Idle',
  progress: null,
  target: null,
  targetProgress: 'none',
  ...over,
});

t.test('the live state: a snapshot replaces, a device event replaces its row, removed drops it', async (t) => {
  let s = applyEvent(new Map(), 'snapshot', { devices: [row('b'), row('a')] });
  t.same(
    sortedRows(s).map((r) => r.name),
    ['a', 'b'],
  );
  const before = s;
  s = applyEvent(s, 'device', row('a', { osVersion: '2.103.0' }));
  t.equal(s.get('u-a')?.osVersion, '2.103.0');
  t.equal(before.get('u-a')?.osVersion, '2.101.0', 'the old state is not changed in place');
  s = applyEvent(s, 'device', row('c'));
  t.equal(s.size, 3, 'a new device is added');
  s = applyEvent(s, 'removed', { uuid: 'u-b' });
  t.same([...s.keys()].sort(), ['u-a', 'u-c']);
  t.equal(applyEvent(s, 'removed', { uuid: 'nope' }), s, 'removing an unknown device changes nothing');
  s = applyEvent(s, 'snapshot', { devices: [row('z')] });
  t.same([...s.keys()], ['u-z'], 'a snapshot after a reconnect forgets what it does not list');
});

t.test('the selection follows the devices; select-all says all, none or some', async (t) => {
  const devices = applyEvent(new Map(), 'snapshot', { devices: [row('a'), row('b')] });
  let sel = toggle(new Set(), 'u-a', true);
  t.equal(selectAllState(sel, devices), 'some');
  sel = toggle(sel, 'u-b', true);
  t.equal(selectAllState(sel, devices), 'all');
  t.equal(selectAllState(new Set(), devices), 'none');
  const fewer = applyEvent(devices, 'removed', { uuid: 'u-b' });
  t.same([...keepSelected(sel, fewer)], ['u-a'], 'a device that is gone leaves the selection');
  t.equal(keepSelected(sel, devices), sel, 'the same set when nothing was dropped');
  t.same([...toggle(sel, 'u-a', false)], ['u-b']);
});

const release = (version: string, over: Partial<PolicyRelease>): PolicyRelease => ({
  version,
  line: 'rolling',
  published: '2026-10-01',
  phase: 'superseded',
  maintained: false,
  targets: [],
  ...over,
});

const POLICY: PolicyAnswer = {
  at: '2026-12-04T00:00:00.000Z',
  rules: { esrSupportMonths: 9, esrPhaseMonths: 3, maxJumpQuarters: 2 },
  deviceTypes: [
    {
      deviceType: 'generic-amd64',
      releases: [
        release('2.88.0', {
          line: '2026.1',
          phase: 'eol',
          endOfLife: '2026-10-12',
          lineStart: '2026-01-12',
          published: '2026-01-12',
        }),
        release('2.100.0', {
          line: '2026.10',
          phase: 'next-esr',
          maintained: true,
          endOfLife: '2027-07-12',
          lineStart: '2026-10-12',
        }),
        release('2.101.0', {
          endOfLife: '2026-10-26',
          supersededBy: '2.102.0',
          targets: [{ version: '2.103.0', guaranteed: true, reason: 'supported' }],
        }),
        release('2.11.0', { targets: [{ version: '2.103.0', guaranteed: false, reason: 'not-guaranteed' }] }),
        release('2.103.0', { phase: 'latest', maintained: true, published: '2026-11-30' }),
      ],
    },
  ],
};

const choices = (name: string, os: DeviceChoices['os'], supervisor: DeviceChoices['supervisor'] = []) => ({
  uuid: `u-${name}`,
  name,
  os,
  supervisor,
});

t.test('version choices: one option per version, newest first, with who may take it and why not', async (t) => {
  const devices = [row('a'), row('old', { osVersion: '2.11.0' }), row('off', { online: false })];
  const opts = versionOptions(
    'os',
    devices,
    [
      choices('a', [
        {
          version: '2.100.0',
          ok: false,
          refusal: { rule: 'no-downgrade', reason: 'OS 2.100.0 is older than 2.101.0' },
        },
        { version: '2.103.0', ok: true, method: 'standard' },
      ]),
      choices('old', [
        { version: '2.100.0', ok: true, method: 'standard' },
        { version: '2.103.0', ok: true, method: 'standard' },
      ]),
      choices('off', [
        { version: '2.100.0', ok: false, refusal: { rule: 'offline', reason: 'OS updates go to online devices only' } },
        { version: '2.103.0', ok: false, refusal: { rule: 'offline', reason: 'OS updates go to online devices only' } },
      ]),
    ],
    POLICY,
  );
  t.same(
    opts.map((o) => o.version),
    ['2.103.0', '2.100.0'],
    'newest first, by version order (not text)',
  );
  const [latest, esr] = opts;
  t.same(
    latest!.allowed.map((a) => a.name),
    ['a', 'old'],
  );
  t.same(
    latest!.refused.map((r) => [r.name, r.rule]),
    [['off', 'offline']],
  );
  t.ok(latest!.selectable);
  t.equal(latest!.policy, 'latest rolling release, maintained');
  t.same(latest!.notGuaranteed, ['old'], 'the jump from 2.11.0 is allowed but not guaranteed');
  t.match(optionWords(latest!, 3), /not guaranteed for old · 2 of 3 may take it; refused for off/);
  t.equal(esr!.policy, 'ESR 2026.10, Next-ESR, maintained until 2027-07-12');
  t.notOk(esr!.unsupported);
});

t.test('a version no device may take is not selectable, and says why', async (t) => {
  const refusal = { rule: 'no-downgrade', reason: 'OS 2.88.0 is older than 2.101.0' };
  const [o] = versionOptions(
    'os',
    [row('a'), row('b')],
    [
      choices('a', [{ version: '2.88.0', ok: false, refusal }]),
      choices('b', [{ version: '2.88.0', ok: false, refusal }]),
    ],
    POLICY,
  );
  t.notOk(o!.selectable);
  t.ok(o!.unsupported, 'end of life');
  t.equal(
    optionWords(o!, 2),
    'ESR 2026.1, end of life since 2026-10-12 · refused: OS 2.88.0 is older than 2.101.0 (and 1 more device)',
  );
});

t.test('a release the policy no longer maintains is offered only when unsupported releases are allowed', async (t) => {
  const eol = { rule: 'end-of-life', reason: '2.88.0 is on ESR line 2026.1, at end of life since 2026-10-12' };
  const downgrade = { rule: 'no-downgrade', reason: 'OS 2.88.0 is older than 2.101.0' };
  const batch = [
    choices('a', [{ version: '2.88.0', ok: false, refusal: eol }]),
    choices('b', [{ version: '2.88.0', ok: false, refusal: downgrade }]),
  ];
  const devices = [row('a', { osVersion: '2.11.0' }), row('b')];
  const [strict] = versionOptions('os', devices, batch, POLICY);
  t.notOk(strict!.selectable, 'refused for every device as the policy stands');
  t.ok(anyOverridable([strict!]), 'but the choice to allow it matters');
  t.match(optionWords(strict!, 2), /refused: 2\.88\.0 is on ESR line 2026\.1, at end of life/);
  const [allowed] = versionOptions('os', devices, batch, POLICY, true);
  t.ok(allowed!.selectable, 'allowed on request');
  t.match(
    optionWords(allowed!, 2, true),
    /unsupported, allowed on request for a · 1 of 2 may take it; refused for b$/,
    'the downgrade stays refused: only the policy is overridden',
  );
  const [onlyDowngrade] = versionOptions('os', [row('b')], [batch[1]!], POLICY, true);
  t.notOk(onlyDowngrade!.selectable, 'allowing unsupported releases does not allow a downgrade');
  t.notOk(anyOverridable([onlyDowngrade!]));
});

t.test("the API's warning for an allowed version is shown beside it", async (t) => {
  const [o] = versionOptions(
    'os',
    [row('a'), row('b')],
    [
      choices('a', [
        { version: '2.103.0', ok: true, warning: { rule: 'not-guaranteed', reason: 'a jump of 5 quarters' } },
      ]),
      choices('b', [
        { version: '2.103.0', ok: true, warning: { rule: 'not-guaranteed', reason: 'a jump of 5 quarters' } },
      ]),
    ],
  );
  t.equal(optionWords(o!, 2), 'warning: a jump of 5 quarters (and 1 more device)');
});

t.test('without a policy, or for a supervisor, the options carry only the API verdicts', async (t) => {
  const [o] = versionOptions('supervisor', [row('a')], [choices('a', [], [{ version: '16.9.0', ok: true }])]);
  t.equal(o!.policy, undefined);
  t.ok(o!.selectable);
  t.equal(optionWords(o!, 1), '');
  t.ok(needsMajorConfirmation('17.0.0', [row('a')]));
  t.notOk(needsMajorConfirmation('16.9.0', [row('a')]));
  t.equal(jumpVerdict(POLICY, row('a'), '2.103.0'), 'guaranteed');
  t.equal(jumpVerdict(POLICY, row('a'), '2.100.0'), 'not-a-target');
});

t.test('statuses: offline with the pending target; a failed update with its reason', async (t) => {
  const target = { osVersion: '2.103.0', setAt: '2026-12-04T10:00:00.000Z' };
  t.equal(
    statusWords(row('a', { online: false, target, targetProgress: 'pending' })),
    'Offline, target pending: OS 2.103.0',
  );
  t.equal(statusWords(row('a', { online: false, target, targetProgress: 'reached' })), 'Offline');
  t.equal(
    statusWords(
      row('a', {
        online: false,
        osVersion: '2.103.0',
        target: { ...target, supervisorVersion: '16.9.0' },
        targetProgress: 'pending',
      }),
    ),
    'Offline, target pending: supervisor 16.9.0',
    'the OS version it already runs is not pending',
  );
  t.equal(statusWords(row('a', { status: 'Updating OS' })), 'Updating OS');
  const failed = row('a', {
    target,
    targetProgress: 'failed',
    status: 'OS update failed',
    lastUpdate: {
      os: {
        kind: 'os',
        version: '2.103.0',
        targetSetAt: target.setAt,
        outcome: 'failed',
        reason: 'fetch failed: registry down',
        at: target.setAt,
      },
    },
  });
  t.equal(failureTitle(failed), 'OS update failed');
  t.equal(failureReason(failed), 'fetch failed: registry down');
  t.equal(failureTitle(row('a')), undefined);
  t.equal(failureTitle(row('a', { status: 'Supervisor update failed' })), 'Supervisor update failed');
  t.equal(failureReason(row('a', { status: 'Supervisor update failed' })), 'no reason given');
  t.equal(ago('2026-12-04T10:00:00.000Z', Date.parse('2026-12-04T10:00:12.000Z')), '12 s ago');
  t.equal(ago(null), 'never');
});

t.test('update logs: the parts of one file joined under its name, in the order the files came', async (t) => {
  t.same(
    joinLogParts([
      { name: 'upgrade.1.log', text: 'a\n', at: '1' },
      { name: 'rollback-health.2.log', text: 'r\n', at: '2' },
      { name: 'upgrade.1.log', text: 'b\n', at: '3' },
    ]),
    [
      { name: 'upgrade.1.log', text: 'a\nb\n', at: '3' },
      { name: 'rollback-health.2.log', text: 'r\n', at: '2' },
    ],
  );
});

t.test('uptime: since the boot while online; offline, as it was when last heard from', async (t) => {
  const now = Date.parse('2026-12-04T11:05:30.000Z');
  t.equal(uptimeWords(row('a'), now), '2 h 5 min (since 2026-12-04 09:00:00 UTC)');
  t.equal(uptimeWords(row('a', { bootedAt: '2026-12-04T11:05:00.000Z' }), now), '30 s (since 2026-12-04 11:05:00 UTC)');
  t.equal(
    uptimeWords(row('a', { online: false }), now),
    'offline; it had been up 1 h 0 min when last heard from',
    'not counting the time since it went silent',
  );
  t.equal(uptimeWords(row('a', { bootedAt: null }), now), 'unknown (its agent does not say)');
  t.equal(duration(3 * 86_400_000 + 4 * 3_600_000), '3 d 4 h');
});

t.test('policy words and the Releases timeline', async (t) => {
  const releases = POLICY.deviceTypes[0]!.releases;
  t.equal(releaseWords(releases[2]!), 'rolling, not maintained since 2026-10-26 (superseded by 2.102.0)');
  const tl = timeline(releases, POLICY.at);
  t.equal(tl.from, '2026-01-12');
  t.equal(tl.to, '2027-07-12');
  const esr = tl.lines.find((l) => l.line === '2026.10')!;
  t.same(
    esr.segments.map((s) => [s.phase, s.from, s.to]),
    [
      ['next-esr', '2026-10-12', '2027-01-12'],
      ['current-esr', '2027-01-12', '2027-04-12'],
      ['sunset-esr', '2027-04-12', '2027-07-12'],
    ],
  );
  const last = esr.segments.at(-1)!;
  t.equal(Math.round(last.left + last.width), 100, 'the last line ends at the right edge');
  t.ok(tl.today > 0 && tl.today < 100);
});
