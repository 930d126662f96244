import { statSync } from 'node:fs';
import type { Command } from 'commander';
import { Option } from 'commander';
import type { LocalRunResult } from '../local/local-stack';
import { withElapsed } from '../local/progress';
import { restoreOnStack, snapshotOnStack } from './aws/backup';
import { REAL_WAITING } from './aws/executions';
import {
  diffExportOnStack,
  diffOnStack,
  redriveOnStack,
  runExportOnStack,
  runOnStack,
  type StartedRun,
} from './aws/run';
import { withAwsStack } from './aws/session';
import { syncOnStack } from './aws/sync';
import { awsTargetOf, type TargetOptions, withTargetOptions } from './aws/target';
import { runInputOf } from './export-paths';
import { log, printResult } from './format';
import {
  diffOptions,
  existingFile,
  localDiff,
  localRedrive,
  localRun,
  localSync,
  printRun,
  printSync,
  type RunOpts,
  redriveOptions,
  runOptions,
  type SyncOpts,
  syncOptions,
} from './local-run';
import {
  positiveInteger,
  resolveConfig,
  type StackCommandOptions,
  UsageError,
  withStackOptions,
} from './options';
import { localRestore, localSnapshot, printBackup, type RestoreOpts, snapshotRequest } from './snapshots';

const NO_WAIT_HELP = 'with --stack: return once the execution started, without following it';

const isStarted = (r: LocalRunResult | StartedRun): r is StartedRun => 'executionArn' in r;

/** A run's account, or, with `--no-wait`, the execution that was started. */
function printOutcome(result: LocalRunResult | StartedRun, name: string, json: boolean | undefined): void {
  if (isStarted(result)) {
    printResult(json, result, () => `crm-sync ${name} → ${result.entity}: started ${result.executionArn}`);
    return;
  }
  printRun(result, name, json);
  if (result.status === 'REFUSED') process.exitCode = 1;
}

/** `--no-wait` follows nothing locally: a local run is the process itself. */
function local<T>(opts: { wait: boolean }, run: () => Promise<T>): Promise<T> {
  if (!opts.wait) throw new UsageError('--no-wait only applies with --stack or --target aws');
  return run();
}

const progressOf = (opts: { quiet?: boolean }) => (opts.quiet ? undefined : withElapsed(log));

/**
 * `run`, `diff` and `redrive` at the top level: on the local stack as `local run|diff|redrive`, or
 * with `--stack` / `--target aws` on a deployed stack. The result is printed the same way.
 */
export function registerTargetRunCommands(program: Command): void {
  withTargetOptions(runOptions(withStackOptions(program.command('run <paths...>'))))
    .option('--no-wait', NO_WAIT_HELP)
    .action(async (paths: string[], opts: RunOpts & TargetOptions & { wait: boolean }) => {
      const target = awsTargetOf(opts);
      if (!target) return local(opts, () => localRun(paths, opts));
      // Paths are checked before any call; the entity names are then the stack's.
      for (const p of paths) existingFile(p);
      const runOpts = {
        entity: opts.entity,
        noWait: !opts.wait,
        rerun: opts.rerun ? new Date().toISOString() : undefined,
        force: opts.force,
        forceDeletes: opts.forceDeletes,
      };
      const ctx = { onProgress: progressOf(opts), waiting: REAL_WAITING };
      let label = paths.join(', ');
      const result = await withAwsStack(target, (stack) => {
        const input = runInputOf(paths, opts.entity, Object.keys(stack.entities));
        label = input.label;
        return input.kind === 'file'
          ? runOnStack(stack, input.label, statSync(input.path).size, runOpts, ctx)
          : runExportOnStack(stack, input.files, input.name, input.label, runOpts, ctx);
      });
      printOutcome(result, label, opts.json);
    });

  withTargetOptions(diffOptions(withStackOptions(program.command('diff <paths...>'))))
    .option('--no-wait', NO_WAIT_HELP)
    .action(
      async (
        paths: string[],
        opts: StackCommandOptions & TargetOptions & { entity: string; json?: boolean; wait: boolean },
      ) => {
        const target = awsTargetOf(opts);
        if (!target) return local(opts, () => localDiff(paths, opts));
        // Paths are checked before any call; the entity names are then the stack's.
        for (const p of paths) existingFile(p);
        const diffOpts = { entity: opts.entity, noWait: !opts.wait };
        const ctx = { onProgress: progressOf(opts), waiting: REAL_WAITING };
        let label = paths.join(', ');
        const result = await withAwsStack(target, (stack) => {
          const input = runInputOf(paths, opts.entity, Object.keys(stack.entities));
          label = input.label;
          return input.kind === 'file'
            ? diffOnStack(stack, input.label, diffOpts, ctx)
            : diffExportOnStack(stack, input.files, input.name, diffOpts, ctx);
        });
        printOutcome(result, label, opts.json);
      },
    );

  withTargetOptions(redriveOptions(withStackOptions(program.command('redrive <runId>'))))
    .option('--no-wait', NO_WAIT_HELP)
    .action(
      async (
        runId: string,
        opts: StackCommandOptions & TargetOptions & { json?: boolean; wait: boolean },
      ) => {
        const target = awsTargetOf(opts);
        if (!target) return local(opts, () => localRedrive(runId, opts));
        const result = await withAwsStack(target, (stack) =>
          redriveOnStack(
            stack,
            runId,
            { noWait: !opts.wait },
            { onProgress: progressOf(opts), waiting: REAL_WAITING },
          ),
        );
        printOutcome(result, runId, opts.json);
      },
    );

  withTargetOptions(withStackOptions(program.command('snapshot')))
    .description('snapshot the target table of an entity (a consistent point in time) and print its account')
    .requiredOption('--entity <name>', 'entity whose table is snapshotted')
    .addOption(
      new Option('--format <format>', 'csv: the snapshot gets CSV parts too')
        .choices(['jsonl', 'csv'])
        .default('jsonl'),
    )
    .option('--snapshot-id <id>', 'id of the snapshot (default: its start time and execution)')
    .option('--segments <n>', 'parallel scan segments (default: 8, more for large tables)', positiveInteger)
    .option('--json', 'print the snapshot summary as one JSON line')
    .action(
      async (
        opts: StackCommandOptions &
          TargetOptions & {
            entity: string;
            format: 'jsonl' | 'csv';
            snapshotId?: string;
            segments?: number;
            json?: boolean;
          },
      ) => {
        const target = awsTargetOf(opts);
        if (!target) return localSnapshot(opts);
        const result = await withAwsStack(target, (stack) =>
          snapshotOnStack(stack, snapshotRequest(opts), {
            onProgress: progressOf(opts),
            waiting: REAL_WAITING,
          }),
        );
        printBackup(result, opts.json);
      },
    );

  withTargetOptions(withStackOptions(program.command('restore <snapshot>')))
    .description(
      'load a snapshot (its id; locally also a directory of `local export --out`) into the empty table of an entity',
    )
    .requiredOption('--entity <name>', 'entity whose table is restored (it must be empty)')
    .option('--from-entity <name>', 'entity the snapshot id was taken of (default: --entity)')
    .option('--json', 'print the restore summary as one JSON line')
    .action(async (snapshot: string, opts: RestoreOpts & TargetOptions) => {
      const target = awsTargetOf(opts);
      if (!target) return localRestore(snapshot, opts);
      const result = await withAwsStack(target, (stack) =>
        restoreOnStack(
          stack,
          { entity: opts.entity, snapshot, fromEntity: opts.fromEntity },
          {
            onProgress: progressOf(opts),
            waiting: REAL_WAITING,
          },
        ),
      );
      printBackup(result, opts.json);
    });

  withTargetOptions(syncOptions(withStackOptions(program.command('sync')))).action(
    async (opts: SyncOpts & TargetOptions) => {
      const target = awsTargetOf(opts);
      if (!target) return localSync(opts);
      if (opts.inbox !== undefined)
        throw new UsageError('--inbox copies into the local inbox: drop it with --stack');
      // The config names the entities and their keys, as deployed (the run ids derive from it).
      const { config } = resolveConfig(opts.config);
      const results = await withAwsStack(target, (stack) =>
        syncOnStack(
          stack,
          config,
          { entity: opts.entity },
          { onProgress: progressOf(opts), waiting: REAL_WAITING },
        ),
      );
      printSync(results, opts.json);
    },
  );
}
