import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, type ErrorOptions } from 'commander';
import { z } from 'zod';
import { registerConfigCommands } from './config';
import { registerDemoCommand } from './demo';
import { registerEstimateCommand } from './estimate';
import { printError } from './format';
import { registerLocalRunCommands } from './local-run';
import { ROOT } from './options';
import { registerRunCommands } from './runs';
import { registerSnapshotCommands } from './snapshots';
import { registerTargetRunCommands } from './target-run';

/** The version `--version` prints: package.json's. */
function packageVersion(): string {
  const pkg = z.object({ version: z.string().min(1) });
  return pkg.parse(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))).version;
}

/**
 * A command of the CLI. A wrong invocation prints commander's error and the command's help, except a
 * missing required option: its one line (`error: required option '--entity <name>' not specified`)
 * says what to add.
 */
class CliCommand extends Command {
  override createCommand(name?: string): Command {
    return new CliCommand(name);
  }

  override error(message: string, errorOptions?: ErrorOptions): never {
    if (errorOptions?.code === 'commander.missingMandatoryOptionValue') this.showHelpAfterError(false);
    return super.error(message, errorOptions);
  }
}

export function buildCli(): Command {
  const program = new CliCommand('crm-sync')
    .description('Move and keep in sync CRM exports (CSV) into DynamoDB, locally or on AWS')
    .version(packageVersion())
    .option('--debug', 'on an error, print its stack trace too')
    .showHelpAfterError();
  const local = program
    .command('local')
    .description('run the embedded stack (dynalite + s3rver + the synthesized state machine)');
  registerLocalRunCommands(local);
  registerSnapshotCommands(local);
  registerRunCommands(program, local);
  registerTargetRunCommands(program);
  registerDemoCommand(program);
  registerConfigCommands(program);
  registerEstimateCommand(program);
  return program;
}

/** Entry point: plain error lines, no stack traces, non-zero exit on failure. `crm-sync` alone prints the help. */
export async function main(argv: string[]): Promise<void> {
  // `--debug` anywhere on the line: the error line is followed by its stack (and its causes').
  if (argv.slice(2).includes('--debug')) process.env.CRM_SYNC_DEBUG = '1';
  try {
    const program = buildCli();
    if (argv.length <= 2) program.outputHelp();
    else await program.parseAsync(argv);
  } catch (err) {
    printError(err);
    process.exitCode = 1;
  }
}
