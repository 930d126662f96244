import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { getEntity } from '../lambdas/domain/config';
import type { LocalRunResult } from '../local/local-stack';
import { withElapsed } from '../local/progress';
import { redriveLocalRun, runLocalExport, runLocalFile } from '../local/run';
import { type LocalSyncResult, syncLocal } from '../local/sync';
import { type RunInput, runInputOf } from './export-paths';
import { describeRun, describeSync, log, printResult } from './format';
import {
  FAULTS_HELP,
  faultsOf,
  resolveConfig,
  SEED_HELP,
  type StackCommandOptions,
  UsageError,
  withStackOptions,
} from './options';
import { withStack } from './stack';

const JSON_HELP = 'print the run summary as JSON on the last line of stdout';
const ENTITY_HELP = 'entity of the config the file holds';

/** A run's account on stdout; a failed run exits 1. */
export function printRun(result: LocalRunResult, name: string, json: boolean | undefined): void {
  printResult(json, result, () => describeRun(result, name));
  if (result.status === 'FAILED') process.exitCode = 1;
}

export function existingFile(file: string): string {
  if (!existsSync(file)) throw new UsageError(`file not found: ${file}`);
  return resolve(file);
}

export type RunOpts = StackCommandOptions & {
  entity: string;
  json?: boolean;
  rerun?: boolean;
  forceDeletes?: boolean;
  force?: boolean;
  faults?: string;
  seed?: string;
};

export function runOptions(c: Command): Command {
  return c
    .description(
      'upload a file to the inbox and run the state machine on it; a directory, or several files, run as one multi-file export',
    )
    .requiredOption('--entity <name>', ENTITY_HELP)
    .option('--json', JSON_HELP)
    .option('--rerun', 'run again even if this exact file was already run (a new run id)')
    .option(
      '--force-deletes',
      'mirror mode: delete the items the export leaves out even above maxDeleteRatio',
    )
    .option(
      '--force',
      'load the valid rows even above maxRejectRatio, or a file with no data row (not --force-deletes)',
    );
}

export function diffOptions(c: Command): Command {
  return c
    .description(
      'show what a run of the file would do per key (a dry run): nothing is written; a directory, or several files, as one multi-file export',
    )
    .requiredOption('--entity <name>', ENTITY_HELP)
    .option('--json', JSON_HELP);
}

export function redriveOptions(c: Command): Command {
  return c
    .description('resume a failed run: only its unfinished chunks and partitions run again')
    .option('--json', JSON_HELP);
}

/** What `run <paths...>` runs (cli/export-paths.ts), checked against the config before any stack starts. */
export function runInputFor(
  paths: readonly string[],
  opts: StackCommandOptions & { entity: string },
): RunInput {
  const { config } = resolveConfig(opts.config);
  getEntity(config, opts.entity);
  return runInputOf(paths, opts.entity, Object.keys(config.entities));
}

/**
 * `local run <paths...>`: one file, or a directory's files or several files as one multi-file
 * export (runLocalExport: the parts under `inbox/<entity>/<name>/`, then `_SUCCESS`).
 */
export async function localRun(paths: readonly string[], opts: RunOpts): Promise<void> {
  const faults = faultsOf(opts);
  const input = runInputFor(paths, opts);
  const result = await withStack({ ...opts, faults }, async (stack, config, stateDir) => {
    const options = {
      entity: opts.entity,
      stateDir,
      rerun: opts.rerun ? new Date().toISOString() : undefined,
      forceDeletes: opts.forceDeletes,
      force: opts.force,
    };
    return input.kind === 'file'
      ? runLocalFile(stack, input.path, config, options)
      : runLocalExport(stack, input.files, input.name, config, options);
  });
  printRun(result, input.label, opts.json);
}

/**
 * `local diff <paths...>`: a dry run of one file, or of a directory's files or several files as
 * one multi-file export (runLocalExport: the parts under `dry-run/<entity>/<name>/`).
 */
export async function localDiff(
  paths: readonly string[],
  opts: StackCommandOptions & { entity: string; json?: boolean },
) {
  const input = runInputFor(paths, opts);
  const result = await withStack(opts, async (stack, config, stateDir) => {
    const options = { entity: opts.entity, stateDir, dryRun: true };
    return input.kind === 'file'
      ? runLocalFile(stack, input.path, config, options)
      : runLocalExport(stack, input.files, input.name, config, options);
  });
  printRun(result, input.label, opts.json);
}

export async function localRedrive(runId: string, opts: StackCommandOptions & { json?: boolean }) {
  const result = await withStack(opts, async (stack, config, stateDir) =>
    redriveLocalRun(stack, runId, config, { stateDir }),
  );
  printRun(result, runId, opts.json);
  if (result.status === 'REFUSED') process.exitCode = 1;
}

/** `local run`, `local diff`, `local redrive` and `local sync`: the commands that run the state machine. */
export function registerLocalRunCommands(local: Command): void {
  runOptions(withStackOptions(local.command('run <paths...>')))
    .option('--faults <spec>', FAULTS_HELP)
    .option('--seed <n>', SEED_HELP)
    .action(localRun);
  diffOptions(withStackOptions(local.command('diff <paths...>'))).action(localDiff);
  redriveOptions(withStackOptions(local.command('redrive <runId>'))).action(localRedrive);

  syncOptions(withStackOptions(local.command('sync'))).action(localSync);
}

export type SyncOpts = StackCommandOptions & { entity?: string; inbox?: string; json?: boolean };

export function syncOptions(c: Command): Command {
  return c
    .description("run the newest export of each entity's inbox, unless it already ran (what a schedule does)")
    .option('--entity <name>', 'only this entity (default: every entity, referenced entities first)')
    .option(
      '--inbox <dir>',
      'local only: first copy the newest export of <dir>/<entity>/ (a file, or an export folder with its parts and marker) into the local inbox (if new or changed)',
    )
    .option('--json', 'print one JSON array of the per-entity results on the last line of stdout');
}

/** The per-entity results of a sync; a failed run exits 1. */
export function printSync(results: LocalSyncResult[], json: boolean | undefined): void {
  printResult(json, results, () => results.map(describeSync).join('\n'));
  if (results.some((r) => r.run?.status === 'FAILED' || r.action === 'failed')) process.exitCode = 1;
}

export async function localSync(opts: SyncOpts): Promise<void> {
  if (opts.inbox !== undefined && !existsSync(opts.inbox)) {
    throw new UsageError(`inbox folder not found: ${opts.inbox}`);
  }
  const results = await withStack(opts, async (stack, config, stateDir) => {
    if (opts.entity !== undefined) getEntity(config, opts.entity);
    return syncLocal(stack, config, {
      entity: opts.entity,
      stateDir,
      inboxDir: opts.inbox === undefined ? undefined : resolve(opts.inbox),
      onProgress: opts.quiet ? undefined : withElapsed(log),
    });
  });
  printSync(results, opts.json);
}
