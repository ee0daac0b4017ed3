/**
 * `--registry` and its companions, the same on `hup`, `qualify` and `powercut`: the lab's own
 * registry for the devices to pull hostapps from (harness/backend/external-registry.ts).
 */
import type { Command } from 'commander';
import type { ExternalRegistryInput } from '../backend/external-registry.ts';

export function addRegistryOptions(cmd: Command): Command {
  return cmd
    .option(
      '--registry <url>',
      "the lab's registry the devices pull the hostapps from, as this host reaches it (e.g. http://127.0.0.1:5000; default: $HUPLAB_REGISTRY, else the built-in one)",
    )
    .option(
      '--registry-fallback <url>',
      'a second registry the devices fall back to (default: $HUPLAB_REGISTRY_FALLBACK)',
    )
    .option(
      '--registry-repository <name>',
      'repository the releases were pushed to with `huplab images push` (default: $HUPLAB_REGISTRY_REPOSITORY, else huplab/<device type>)',
    )
    .option(
      '--registry-creds <user:password>',
      'credentials (or a token) to pull with, on the host and the devices (default: $HUPLAB_REGISTRY_CREDS; anonymous without)',
    )
    .option('--registry-ca <file>', "the registry's CA certificate (PEM), trusted besides the system roots");
}

/** The registry options as given on the command line (variables fill in the rest). */
export function registryInput(o: ExternalRegistryInput): ExternalRegistryInput {
  return {
    ...(o.registry !== undefined ? { registry: o.registry } : {}),
    ...(o.registryFallback !== undefined ? { registryFallback: o.registryFallback } : {}),
    ...(o.registryRepository !== undefined ? { registryRepository: o.registryRepository } : {}),
    ...(o.registryCreds !== undefined ? { registryCreds: o.registryCreds } : {}),
    ...(o.registryCa !== undefined ? { registryCa: o.registryCa } : {}),
  };
}

/** The same, as the HUPLAB_REGISTRY* variables of a child process (the suites of `qualify`). */
export function registryEnv(o: ExternalRegistryInput): Record<string, string> {
  const env: Record<string, string> = {};
  if (o.registry !== undefined) env.HUPLAB_REGISTRY = o.registry;
  if (o.registryFallback !== undefined) env.HUPLAB_REGISTRY_FALLBACK = o.registryFallback;
  if (o.registryRepository !== undefined) env.HUPLAB_REGISTRY_REPOSITORY = o.registryRepository;
  if (o.registryCreds !== undefined) env.HUPLAB_REGISTRY_CREDS = o.registryCreds;
  if (o.registryCa !== undefined) env.HUPLAB_REGISTRY_CA = o.registryCa;
  return env;
}
