import { resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { META_ATTRIBUTES } from '../lambdas/domain/chunk';
import {
  copySnapshotOut,
  describeBackup,
  type LocalBackupResult,
  restoreLocalSnapshot,
  snapshotRows,
  takeLocalSnapshot,
} from '../local/snapshot';
import { log, printResult } from './format';
import { positiveInteger, type StackCommandOptions, withStackOptions } from './options';
import { withStack } from './stack';

/** `local export` and `local restore`: snapshots of an entity's table, and loading one back. */
export function registerSnapshotCommands(local: Command): void {
  withStackOptions(local.command('export'))
    .description(
      'snapshot the target table of an entity (one point in time: the entity is locked meanwhile) and print its rows, or copy the snapshot to --out',
    )
    .requiredOption('--entity <name>', 'entity to export')
    .addOption(
      new Option('--format <format>', 'rows printed (csv: the snapshot gets CSV parts too)')
        .choices(['jsonl', 'csv'])
        .default('jsonl'),
    )
    .option('--all-attributes', "include crm-sync's own attributes (_v, _line, _run, _digest)")
    .option('--out <dir>', 'copy the snapshot (manifest.json, parts; <entity>.csv with --format csv) here')
    .option('--snapshot-id <id>', 'id of the snapshot (default: its start time and execution)')
    .option('--segments <n>', 'parallel scan segments (default: 8, more for large tables)', positiveInteger)
    .option('--json', 'print the snapshot summary as one JSON line instead of the rows')
    .action(
      async (
        opts: StackCommandOptions & {
          entity: string;
          format: 'jsonl' | 'csv';
          allAttributes?: boolean;
          out?: string;
          snapshotId?: string;
          segments?: number;
          json?: boolean;
        },
      ) => {
        const rowsToStdout = opts.out === undefined && !opts.json;
        const result = await withStack({ ...opts, quiet: true }, async (stack, config) => {
          const taken = await takeLocalSnapshot(stack, config, snapshotRequest(opts));
          const { manifest } = taken;
          if (manifest && opts.out !== undefined) {
            const dir = resolve(opts.out);
            taken.result.out = { dir, files: await copySnapshotOut(stack, manifest, dir) };
          }
          if (manifest && rowsToStdout) {
            const rows = snapshotRows(stack, manifest, {
              format: opts.format,
              allAttributes: opts.allAttributes,
              hidden: META_ATTRIBUTES,
            });
            for await (const text of rows) process.stdout.write(text);
          }
          return taken.result;
        });
        if (!rowsToStdout) printResult(opts.json, result, () => describeBackup(result));
        else if (result.status === 'FAILED') log(describeBackup(result));
        else log(`snapshot ${result.snapshotId}: ${result.items} items, ${result.manifest}`);
        if (result.pruned && !opts.json)
          log(
            `deleted older snapshots of ${opts.entity} (config local.keepSnapshots): ${result.pruned.join(', ')}`,
          );
        if (result.status === 'FAILED') process.exitCode = 1;
      },
    );

  withStackOptions(local.command('restore <snapshot>'))
    .description(
      'load a snapshot (a directory written by `export --out`, or a snapshot id) into the empty table of an entity',
    )
    .requiredOption('--entity <name>', 'entity whose table is restored (it must be empty)')
    .option('--from-entity <name>', 'entity the snapshot id was taken of (default: --entity)')
    .option('--json', 'print the restore summary as one JSON line')
    .action(localRestore);
}

export type RestoreOpts = StackCommandOptions & { entity: string; fromEntity?: string; json?: boolean };

/** `local restore` (and `restore` without --stack): load a snapshot into the entity's empty table. */
export async function localRestore(snapshot: string, opts: RestoreOpts): Promise<void> {
  const result = await withStack(opts, (stack, config) =>
    restoreLocalSnapshot(stack, config, { entity: opts.entity, snapshot, fromEntity: opts.fromEntity }),
  );
  printBackup(result, opts.json);
}

/** A snapshot's or restore's account; a failed one exits 1. */
export function printBackup(result: LocalBackupResult, json: boolean | undefined): void {
  printResult(json, result, () => describeBackup(result));
  if (result.status === 'FAILED') process.exitCode = 1;
}

/** `snapshot` without --stack: a snapshot of the local table, its account printed (`local export --json` prints it as JSON). */
export async function localSnapshot(
  opts: StackCommandOptions & {
    entity: string;
    snapshotId?: string;
    format: 'jsonl' | 'csv';
    segments?: number;
    json?: boolean;
  },
): Promise<void> {
  const result = await withStack({ ...opts, quiet: true }, async (stack, config) => {
    const taken = await takeLocalSnapshot(stack, config, snapshotRequest(opts));
    return taken.result;
  });
  printBackup(result, opts.json);
}

/** What a snapshot command asks for: its entity, the CSV parts with `--format csv`, an id, segments. */
export function snapshotRequest(opts: {
  entity: string;
  format: 'jsonl' | 'csv';
  snapshotId?: string | undefined;
  segments?: number | undefined;
}): { entity: string; formats?: Array<'csv'>; snapshotId?: string; segments?: number } {
  return {
    entity: opts.entity,
    ...(opts.format === 'csv' ? { formats: ['csv' as const] } : {}),
    ...(opts.snapshotId !== undefined ? { snapshotId: opts.snapshotId } : {}),
    ...(opts.segments !== undefined ? { segments: opts.segments } : {}),
  };
}
