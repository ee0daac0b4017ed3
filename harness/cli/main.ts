#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HuplabError } from '../../lib/errors.ts';
import { repoRoot } from '../../lib/paths.ts';
import { registerDemo } from './demo-command.ts';
import { registerDevice } from './device-command.ts';
import { registerHup } from './hup-command.ts';
import { registerImages } from './images-command.ts';
import { registerQualify } from './qualify-command.ts';
import { registerReleases } from './releases-command.ts';
import { registerPowercut } from './powercut-command.ts';
import { registerLab } from './lab-command.ts';
import { registerServe } from './serve-command.ts';
import { registerFleet } from './fleet-command.ts';
import { reportError } from './output.ts';

const program = new Command()
  .name('huplab')
  .description('Hardware-in-the-loop test and simulation harness for balenaOS-style host OS updates')
  .version((JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version)
  // Parser errors (unknown option, missing argument, unknown command) go through the same
  // reporter as every other error: one `huplab: error:` line, or the one JSON document under
  // --json. Commander's own error text is not printed; its help and version are. Subcommands
  // inherit both settings when they are created, so they are set before the commands.
  .exitOverride()
  .configureOutput({ outputError: () => {} })
  // huplab's own options (--version, --help) come before the command: after it, `--version V`
  // is the command's (`huplab fleet os --version 2.102.0`).
  .enablePositionalOptions();
registerImages(program);
registerDevice(program);
registerHup(program);
registerQualify(program);
registerReleases(program);
registerPowercut(program);
registerLab(program);
registerServe(program);
registerFleet(program);
registerDemo(program);

/** The command line's (sub)command path as far as it names known commands, e.g. "huplab device start". */
function commandPath(argv: string[]): string {
  const names = ['huplab'];
  let cmd: Command = program;
  for (const arg of argv) {
    if (arg.startsWith('-')) break;
    const sub = cmd.commands.find((c) => c.name() === arg || c.aliases().includes(arg));
    if (!sub) break;
    names.push(sub.name());
    cmd = sub;
  }
  return names.join(' ');
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (!(err instanceof CommanderError)) throw err;
  // --help and --version: Commander printed them; their status is 0.
  if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0)
    process.exit(err.exitCode);
  const args = process.argv.slice(2);
  const where = commandPath(args);
  // A command group without its subcommand: Commander printed the group's help on stderr.
  const message =
    err.code === 'commander.help' || err.code === 'commander.executeSubCommandAsync'
      ? `${where === 'huplab' ? 'no command given' : `${where}: no subcommand given`}`
      : err.message.replace(/^error: /, '').replace(/\.$/, '');
  const status = reportError(
    new HuplabError('usage', message, { hint: `see \`${where} --help\`` }),
    args.includes('--json'),
  );
  process.exit(status);
}
