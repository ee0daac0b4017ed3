/**
 * `huplab images push`: a built release's hostapp into an external registry, digests unchanged,
 * so a lab or a fleet can pull the very image the release record names.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { buildRelease } from '../../images/builder/release-build.ts';
import { loadRelease } from '../../images/recipe.ts';
import { HuplabError } from '../../lib/errors.ts';
import { parseCredentials, type RegistryCredentials } from '../../lib/oci/auth.ts';
import { RegistryClient } from '../../lib/oci/client.ts';
import { shortDigest } from '../../lib/oci/digest.ts';
import { pushLayout } from '../../lib/oci/push.ts';
import { loadProfile } from '../../lib/profile.ts';
import { makeOutput } from './output.ts';
import { run } from './run.ts';

interface PushOptions {
  release: string;
  device: string;
  registry: string;
  repository?: string;
  tag?: string;
  creds?: string;
  caCert?: string;
  json?: boolean;
}

export function registerImagesPush(images: Command): void {
  images
    .command('push')
    .description("put a release's hostapp (OCI image) into a registry, digests unchanged")
    .requiredOption('--release <version>', 'OS release, e.g. 2.102.0')
    .requiredOption('--device <profile>', 'device profile, e.g. generic-amd64')
    .requiredOption('--registry <url>', 'registry, e.g. https://registry.example.com or http://127.0.0.1:5000')
    .option('--repository <name>', 'repository in the registry (default: huplab/<device type>)')
    .option('--tag <tag>', 'tag to push (default: the release version)')
    .option('--creds <user:password>', 'credentials, or a bearer token (default: $HUPLAB_REGISTRY_CREDS)')
    .option('--ca-cert <file>', 'CA certificate (PEM) of an https registry, besides the system roots')
    .option('--json', 'print the result as JSON')
    .action(
      run(async (o: PushOptions) => {
        const out = makeOutput(!!o.json);
        const profile = await loadProfile(o.device);
        const recipe = await loadRelease(o.release);
        if (!recipe.deviceTypes.includes(profile.deviceType)) {
          throw new HuplabError(
            'release-not-for-device',
            `release ${recipe.version} is not built for ${profile.deviceType} (it supports ${recipe.deviceTypes.join(', ')})`,
            { hint: 'pick another release or device' },
          );
        }
        const registry = /^[a-z][a-z0-9+.-]*:\/\//i.test(o.registry) ? o.registry : `https://${o.registry}`;
        const credsText = o.creds ?? process.env.HUPLAB_REGISTRY_CREDS;
        const credentials: RegistryCredentials | undefined = credsText ? parseCredentials(credsText) : undefined;
        const caCertificate = o.caCert
          ? await readFile(o.caCert, 'utf8').catch((err: Error) => {
              throw new HuplabError('ca-cert-unreadable', `cannot read the CA certificate ${o.caCert}: ${err.message}`);
            })
          : undefined;
        const client = new RegistryClient(registry, {
          timeoutMs: 120_000,
          ...(credentials ? { credentials } : {}),
          ...(caCertificate ? { caCertificate } : {}),
        });
        // The registry and the credentials first: a typo should not wait for a build.
        await client.pingRegistry();
        const build = await buildRelease(profile, recipe, out.narrator);
        const repository = o.repository ?? `huplab/${profile.deviceType}`;
        const tag = o.tag ?? recipe.version;
        const started = Date.now();
        const pushed = await out.narrator.step(`push ${recipe.version} to ${client.baseUrl}/${repository}:${tag}`, () =>
          pushLayout(client, {
            layoutDir: build.hostapp.dir,
            repository,
            tag,
            manifestDigest: build.hostapp.manifest.digest,
            onBlob: (b) =>
              out.narrator.info(`${b.pushed ? 'pushed' : 'already there'}: ${shortDigest(b.digest)} (${b.size} bytes)`),
          }),
        );
        // Read it back as a device would: the registry must serve the digest the release names.
        const check = await client.getManifest(repository, tag);
        if (check.digest !== build.hostapp.manifest.digest) {
          throw new HuplabError(
            'digest-mismatch',
            `registry ${client.baseUrl}: ${repository}:${tag} now serves ${shortDigest(check.digest)}, not the pushed ${shortDigest(build.hostapp.manifest.digest)}`,
          );
        }
        const host = new URL(client.baseUrl).host;
        const seconds = (Date.now() - started) / 1000;
        out.result(
          {
            registry: client.baseUrl,
            repository,
            tag,
            digest: pushed.digest,
            mediaType: pushed.mediaType,
            reference: `${host}/${repository}@${pushed.digest}`,
            blobs: pushed.blobs,
            seconds,
          },
          () => [
            `pushed ${host}/${repository}:${tag}`,
            `digest ${pushed.digest}`,
            `reference ${host}/${repository}@${pushed.digest}`,
            `${pushed.blobs.filter((b) => b.pushed).length} of ${pushed.blobs.length} blobs sent in ${seconds.toFixed(1)} s`,
          ],
        );
      }),
    );
}
