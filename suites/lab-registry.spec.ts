import { execa } from 'execa';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BootPartition } from '../harness/disk/boot-partition.ts';
import type { UpdateOutcome, Verdict } from '../harness/update/types.ts';
import { repoRoot } from '../lib/paths.ts';
import { BASE_RELEASE, expect, NEXT_RELEASE, PINNED, test } from './fixtures.ts';
import {
  haveDockerRegistry,
  startDockerRegistry,
  startRedirectingFront,
  startTokenService,
  tokenIssuerCertificate,
} from './reference-registry.ts';

/**
 * A lab that keeps its OS images in its own registry: Debian's docker-registry with token
 * authentication (a token service of the test's own) behind a front that redirects blob
 * downloads to a separate store (307), as registries on S3 or a CDN do. The releases go in with
 * `huplab images push`, and `huplab hup --registry` updates an emulated device from there, as a
 * lab engineer runs both.
 */

const huplab = (args: string[], env: Record<string, string>) =>
  execa(join(repoRoot, 'node_modules', '.bin', 'tsx'), [join(repoRoot, 'harness/cli/main.ts'), ...args], {
    env: { HUPLAB_QUIET: '1', ...env },
    reject: false,
    timeout: 14 * 60_000,
  });

test.describe('lab registry', { tag: '@emulated' }, () => {
  test.skip(!haveDockerRegistry(), 'docker-registry is not installed (scripts/bootstrap.sh installs it)');

  test('huplab hup --registry pulls the full image from docker-registry with token auth and a 307 to a blob store', async ({
    lab,
    deviceProfile,
  }) => {
    test.setTimeout(20 * 60_000);
    const dir = mkdtempSync(join(tmpdir(), 'huplab-lab-registry-'));
    const password = randomBytes(12).toString('hex');
    const issuer = tokenIssuerCertificate(dir);
    const tokens = await startTokenService({
      key: issuer.key,
      certPem: issuer.certPem,
      service: 'lab-registry',
      issuer: 'lab-token-issuer',
      user: 'lab',
      password,
    });
    const registry = await startDockerRegistry(
      dir,
      [
        'auth:',
        '  token:',
        `    realm: ${tokens.url}`,
        '    service: lab-registry',
        '    issuer: lab-token-issuer',
        `    rootcertbundle: ${issuer.certFile}`,
      ].join('\n'),
    );
    const front = await startRedirectingFront(registry);
    const env = { HUPLAB_HOME: lab.dir, HUPLAB_REGISTRY_CREDS: `lab:${password}` };
    try {
      for (const release of [BASE_RELEASE, NEXT_RELEASE]) {
        const pushed = await huplab(
          ['images', 'push', '--device', deviceProfile, '--release', release, '--registry', front.url, '--json'],
          env,
        );
        expect(pushed.exitCode, pushed.stderr).toBe(0);
      }
      const pushTokens = tokens.requests.length;
      front.seen.length = 0;

      // delta-missing: the delta service has none, so the device pulls the whole image.
      const r = await huplab(
        [
          'hup',
          '--device',
          deviceProfile,
          '--from',
          BASE_RELEASE,
          '--to',
          NEXT_RELEASE,
          ...PINNED,
          '--fault',
          'delta-missing',
          '--registry',
          front.url,
          '--name',
          'labreg',
          '--json',
        ],
        env,
      );
      await test.info().attach('huplab-hup.stderr', { body: r.stderr, contentType: 'text/plain' });
      expect(r.exitCode, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout) as { ok: boolean; verdict: Verdict; outcome: UpdateOutcome };
      expect(
        report.verdict.checks.filter((c) => !c.ok),
        'every check of the verdict holds',
      ).toEqual([]);
      expect(report.ok).toBe(true);
      expect(report.outcome.after.version).toBe(NEXT_RELEASE);
      expect(report.outcome.download).toMatchObject({ kind: 'full', source: front.url });

      // The device went through the token service and was sent to the store for the layer.
      expect(tokens.requests.length, 'tokens were asked for the pull').toBeGreaterThan(pushTokens);
      expect(tokens.requests.slice(pushTokens).every((q) => q.startsWith('basic ') && /:pull/.test(q))).toBe(true);
      const layerGets = front.seen.filter((l) => /^front GET \/v2\/.+\/blobs\/sha256:\S+ Bearer /.test(l));
      expect(layerGets.length, front.seen.join('\n')).toBeGreaterThan(0);
      const storeGets = front.seen.filter((l) => /^store GET \/blobs\/sha256:\S+ -$/.test(l));
      expect(storeGets.length, 'the store served blobs, and got no credentials').toBeGreaterThan(0);

      // The device's own API key is for the lab backend: it never reached the lab's registry.
      const disk = join(lab.dir, 'devices', 'labreg', 'disk.img');
      const config = JSON.parse((await (await BootPartition.open(disk)).read('/config.json')).toString()) as {
        deviceApiKey: string;
        registryEndpoint: string;
      };
      expect(config.registryEndpoint).toBe(front.url);
      expect(config.deviceApiKey.length).toBeGreaterThan(10);
      expect(front.seen.filter((l) => l.includes(config.deviceApiKey))).toEqual([]);
    } finally {
      await front.stop();
      await registry.stop();
      await tokens.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a release the lab registry does not have is refused before any device starts', async ({
    lab,
    deviceProfile,
  }) => {
    const dir = mkdtempSync(join(tmpdir(), 'huplab-lab-registry-'));
    const registry = await startDockerRegistry(dir);
    try {
      const r = await huplab(
        [
          'hup',
          '--device',
          deviceProfile,
          '--from',
          BASE_RELEASE,
          '--to',
          NEXT_RELEASE,
          ...PINNED,
          '--registry',
          registry.url,
          '--name',
          'empty',
        ],
        { HUPLAB_HOME: lab.dir },
      );
      expect(r.exitCode).toBe(1);
      const errors = r.stderr.split('\n').filter((l) => l.startsWith('huplab: error:'));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toContain(`is not at ${registry.url}/huplab/`);
      expect(errors[0]).toContain('huplab images push');
      expect(existsSync(join(lab.dir, 'devices', 'empty', 'disk.img')), 'no device was flashed').toBe(false);
    } finally {
      await registry.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
