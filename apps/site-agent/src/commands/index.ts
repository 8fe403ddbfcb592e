import type { Command } from 'commander';
import { registerPhantom } from './phantom.command';
import { registerPreprocess } from './preprocess.command';
import { registerInfo } from './info.command';
import { registerInit } from './init.command';
import { registerEnroll } from './enroll.command';
import { registerStatus } from './status.command';
import { registerData } from './data.command';
import { registerRun } from './run.command';
import { registerPredict } from './predict.command';
import { registerCalibrate } from './calibrate.command';
import { registerImport } from './import.command';
import { registerUi } from './ui.command';
import { registerRelabel } from './relabel.command';

/** Every `fedct-site` sub-command, in the order `--help` lists them. */
export function registerCommands(program: Command): void {
  registerInit(program);
  registerEnroll(program);
  registerStatus(program);
  registerImport(program);
  registerData(program);
  registerRelabel(program);
  registerRun(program);
  registerPredict(program);
  registerCalibrate(program);
  registerUi(program);
  registerInfo(program);
  registerPreprocess(program);
  registerPhantom(program);
}
