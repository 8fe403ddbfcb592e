import type { Command } from 'commander';
import { registerPhantom } from './phantom.command';
import { registerPreprocess } from './preprocess.command';
import { registerInfo } from './info.command';

/** Every `fedct-site` sub-command, in the order `--help` lists them. */
export function registerCommands(program: Command): void {
  registerInfo(program);
  registerPreprocess(program);
  registerPhantom(program);
}
