import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { LocalRunResult } from '../local/local-stack';
import { runLocalFile } from '../local/run';
import { describeRun, log } from './format';
import { DEFAULT_CONFIG, FAULTS_HELP, faultsOf, ROOT, SEED_HELP } from './options';
import { withStack } from './stack';

/** `demo`: the bundled sample exports run through a fresh local stack, then run again. */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run the bundled sample exports through the local stack and print what happened')
    .option('--state-dir <dir>', 'where the demo keeps its data (default ./.crm-sync/demo, wiped first)')
    .option('--faults <spec>', FAULTS_HELP)
    .option('--seed <n>', SEED_HELP)
    .action(async (opts: { stateDir?: string; faults?: string; seed?: string }) => {
      const faults = faultsOf(opts);
      const stateDir = resolve(opts.stateDir ?? join(process.env.CRM_SYNC_HOME ?? '.crm-sync', 'demo'));
      rmSync(stateDir, { recursive: true, force: true });
      const examples = join(ROOT, 'examples', 'data');
      log(`crm-sync demo: local stack under ${stateDir}`);
      const results = await withStack({ stateDir, config: DEFAULT_CONFIG, faults }, async (stack, config) => {
        const runs: Array<[string, LocalRunResult]> = [];
        for (const [entity, file] of [
          ['account', 'accounts.csv'],
          ['contact', 'contacts.csv'],
        ] as const) {
          log(`\n▶ ${file} → ${entity}`);
          runs.push([file, await runLocalFile(stack, join(examples, file), config, { entity, stateDir })]);
        }
        log('\n▶ contacts.csv again (a rerun must change nothing)');
        runs.push([
          'contacts.csv (rerun)',
          await runLocalFile(stack, join(examples, 'contacts.csv'), config, {
            entity: 'contact',
            stateDir,
            rerun: 'demo-rerun',
          }),
        ]);
        return runs;
      });
      process.stdout.write('\n');
      for (const [file, r] of results) process.stdout.write(`${describeRun(r, file)}\n\n`);
      process.stdout.write(
        `Explore: npx crm-sync local export --entity contact --state-dir ${stateDir} | head\n`,
      );
      if (results.some(([, r]) => r.status === 'FAILED')) process.exitCode = 1;
    });
}
