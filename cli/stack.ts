import { mkdirSync } from 'node:fs';
import type { CrmSyncConfig } from '../lambdas/domain/config';
import { handleInterrupts, signalExitCode } from '../local/interrupted';
import { LocalStack, type LocalStackOptions } from '../local/local-stack';
import { withElapsed } from '../local/progress';
import { log } from './format';
import { configFileOf, loadConfig, type StackCommandOptions, stateDirOf } from './options';

/**
 * Runs `fn` on a started local stack (its config and state dir resolved from the options) and
 * stops the stack after. Ctrl-C stops the runs, records them and ends the process once it is stopped.
 */
export async function withStack<T>(
  opts: StackCommandOptions & { faults?: LocalStackOptions['faults'] },
  fn: (stack: LocalStack, config: CrmSyncConfig, stateDir: string) => Promise<T>,
): Promise<T> {
  const configFile = configFileOf(opts.config);
  const config = loadConfig(configFile);
  const stateDir = stateDirOf(opts.stateDir);
  mkdirSync(stateDir, { recursive: true });
  const stack = await LocalStack.start({
    stateDir,
    config,
    configFile,
    verbose: opts.verbose,
    onProgress: opts.quiet ? undefined : withElapsed(log),
    faults: opts.faults,
  });
  const interrupts = handleInterrupts(stack, log);
  try {
    return await fn(stack, config, stateDir);
  } finally {
    interrupts.uninstall();
    await stack.stop();
    // Ctrl-C: its line is printed and the run recorded; the command ends here, not with its output.
    const signal = interrupts.signal();
    if (signal) process.exit(signalExitCode(signal));
  }
}
