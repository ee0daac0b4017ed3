/**
 * `--registry` and its companions, the same on `hup`, `qualify` and `powercut`: the lab's own
 * registry for the devices to pull hostapps from (harness/backend/external-registry.ts).
 */
import type { Command } from 'commander';
import { type ExternalRegistryInput, REGISTRY_VARIABLES } from '../backend/external-registry.ts';

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
  const input: ExternalRegistryInput = {};
  for (const [option] of REGISTRY_VARIABLES) if (o[option] !== undefined) input[option] = o[option];
  return input;
}

/** The same, as the HUPLAB_REGISTRY* variables of a child process (the suites of `qualify`). */
export function registryEnv(o: ExternalRegistryInput): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [option, variable] of REGISTRY_VARIABLES) {
    const value = o[option];
    if (value !== undefined) env[variable] = value;
  }
  return env;
}
