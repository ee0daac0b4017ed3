#!/usr/bin/env node
import { Command } from 'commander';
import { registerDemo } from './demo-command.ts';
import { registerDevice } from './device-command.ts';
import { registerHup } from './hup-command.ts';
import { registerImages } from './images-command.ts';
import { registerQualify } from './qualify-command.ts';
import { registerPowercut } from './powercut-command.ts';
import { registerLab } from './lab-command.ts';

const program = new Command()
  .name('huplab')
  .description('Hardware-in-the-loop test and simulation harness for balenaOS-style host OS updates')
  .showHelpAfterError('(run with --help for usage)');
registerImages(program);
registerDevice(program);
registerHup(program);
registerQualify(program);
registerPowercut(program);
registerLab(program);
registerDemo(program);
await program.parseAsync(process.argv);
