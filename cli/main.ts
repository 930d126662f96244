import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { stringify as toYaml } from 'yaml';
import { META_ATTRIBUTES } from '../lambdas/domain/chunk';
import { type CrmSyncConfig, getEntity, parseConfig, parseConfigText } from '../lambdas/domain/config';
import { CrmSyncError } from '../lambdas/domain/errors';
import { percent } from '../lambdas/domain/mirror';
import { PRESETS } from '../lambdas/domain/presets';
import { readEvents } from '../local/events';
import { parseFaultSeed, parseFaultSpec } from '../local/faults';
import { handleInterrupts, signalExitCode } from '../local/interrupted';
import { type LocalRunResult, LocalStack, type LocalStackOptions } from '../local/local-stack';
import { withElapsed } from '../local/progress';
import { formatReport, localReport, warningLines } from '../local/report';
import { redriveLocalRun, runLocalFile } from '../local/run';
import { formatRunStatus, formatRuns, listLocalRuns, localRunStatus } from '../local/runs';
import {
  copySnapshotOut,
  describeBackup,
  restoreLocalSnapshot,
  snapshotRows,
  takeLocalSnapshot,
} from '../local/snapshot';
import { type LocalSyncResult, syncLocal } from '../local/sync';
import { addEstimateCommand } from './estimate';

const ROOT = resolve(__dirname, '..');
const DEFAULT_CONFIG = join(ROOT, 'examples', 'crm-sync.config.json');

/** An error the user can act on: printed as one plain line, exit code 1. */
export class UsageError extends CrmSyncError {
  override readonly name = 'UsageError';
}

function stateDirOf(opt: string | undefined): string {
  return resolve(opt ?? process.env.CRM_SYNC_HOME ?? '.crm-sync');
}

function configFileOf(opt: string | undefined): string {
  const candidates = [opt, process.env.CRM_SYNC_CONFIG, 'crm-sync.config.json', 'crm-sync.config.yaml'];
  for (const c of candidates) {
    if (!c) continue;
    if (existsSync(c)) return resolve(c);
    if (c === opt || c === process.env.CRM_SYNC_CONFIG) throw new UsageError(`config file not found: ${c}`);
  }
  return DEFAULT_CONFIG;
}

function loadConfig(file: string): CrmSyncConfig {
  if (statSync(file, { throwIfNoEntry: false })?.isDirectory()) {
    throw new UsageError(`${file} is a directory, not a config file (give the path of crm-sync.config.json)`);
  }
  return parseConfigText(readFileSync(file, 'utf8'), file);
}

const log = (msg: string) => process.stderr.write(`${msg}\n`);

/** `--faults` / `--seed` → the stack's fault plan (errors are plain FaultSpecErrors). */
function faultsOf(opts: { faults?: string; seed?: string }): LocalStackOptions['faults'] {
  if (opts.faults === undefined) {
    if (opts.seed !== undefined) throw new UsageError('--seed only applies with --faults');
    return undefined;
  }
  return {
    rates: parseFaultSpec(opts.faults),
    seed: opts.seed === undefined ? undefined : parseFaultSeed(opts.seed),
  };
}

const FAULTS_HELP =
  'inject transient faults (local only), e.g. "worker-crash=0.2,throttle=0.1,unprocessed=0.3,s3-error=0.1,duplicate-trigger=1"';
const SEED_HELP = 'seed of the fault injection (default 1): the same seed injects the same faults';

async function withStack<T>(
  opts: {
    config?: string;
    stateDir?: string;
    verbose?: boolean;
    quiet?: boolean;
    faults?: LocalStackOptions['faults'];
  },
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

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('not a positive integer');
  return n;
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

/** A person-readable account of a run. */
export function describeRun(r: LocalRunResult, file: string): string {
  const would = r.dryRun ? 'would be ' : '';
  if (r.status === 'REFUSED') {
    // Nothing ran: the run, its duration and reports stay as they were.
    return [
      `crm-sync redrive of ${file} → ${r.entity}: REFUSED (nothing was run or changed)`,
      `  reason         ${r.error?.message ?? ''}`,
    ].join('\n');
  }
  const lines = [`crm-sync ${r.dryRun ? 'dry run' : 'run'} of ${file} → ${r.entity}: ${r.status}`];
  if (r.earlier)
    lines.push(`  ${(r.earlier.outcome === 'resumed' ? 'resumed' : 'note').padEnd(14)} ${r.earlier.message}`);
  if (r.runId) lines.push(`  run id         ${r.runId}`);
  if (r.dryRun) lines.push('  dry run        nothing was written; diff.csv lists the action per key');
  if (r.counts) {
    const c = r.counts;
    lines.push(
      `  rows           ${fmt(c.rows)}`,
      `    ${would}applied      ${fmt(c.applied)}`,
      `    unchanged    ${fmt(c.unchanged)}`,
      `    superseded   ${fmt(c.superseded)}  (older versions of a key, in the file or in the target)`,
      `    ${would}deleted      ${fmt(c.deleted)}`,
      `    rejected     ${fmt(c.rejected)}`,
      `  duplicate keys ${fmt(r.duplicateKeys)}`,
      `  chunks         ${fmt(r.chunks)} transformed, ${fmt(r.partitions)} partitions merged`,
    );
  }
  if (r.topReasons.length > 0) {
    lines.push(`  top reject reasons: ${r.topReasons.map((t) => `${t.reason} ×${t.count}`).join(', ')}`);
  }
  lines.push(...warningLines(r));
  if (r.reconciliation) {
    lines.push(
      `  reconciliation ${r.reconciliation.status} (${fmt(r.reconciliation.verifiedKeys)} keys verified)`,
    );
    for (const c of r.reconciliation.checks.filter((x) => !x.ok)) lines.push(`    ✗ ${c.name}: ${c.detail}`);
  }
  for (const ref of r.references ?? []) {
    lines.push(
      `  references     ${ref.field} → ${ref.entity}: ${fmt(ref.checked)} checked, ${fmt(ref.orphans)} orphans` +
        (ref.orphans > 0 ? ` (${fmt(ref.missingParents)} missing ${ref.entity} ids, see orphans.csv)` : ''),
    );
  }
  if (r.mirror) {
    const m = r.mirror;
    lines.push(
      `  mirror         ${fmt(m.candidates)} of ${fmt(m.targetItems)} items absent from the export (${percent(m.ratio)}, limit ${percent(m.maxDeleteRatio)}): ` +
        (m.allowed
          ? `${fmt(m.deleted)} ${would}deleted${m.forced ? ' (forced)' : ''}`
          : 'refused, nothing deleted') +
        (m.candidates > 0 ? ', see mirror-deletes.csv' : ''),
    );
  }
  if (r.rejects && (!r.rejects.allowed || r.rejects.forced)) {
    const d = r.rejects;
    lines.push(
      `  reject gate    ${fmt(d.rejected)} of ${fmt(d.rows)} rows rejected (${percent(d.ratio)}, limit ${percent(d.maxRejectRatio)}): ` +
        (d.allowed
          ? 'forced, the valid rows were loaded'
          : `${r.dryRun ? 'a run would be ' : ''}refused, nothing written`),
    );
  }
  if (r.error) lines.push(`  error          ${r.error.name}: ${r.error.message}`);
  if (r.faults) {
    const injected = Object.entries(r.faults).map(([k, n]) => `${k} ×${fmt(n)}`);
    lines.push(`  faults         ${injected.join(', ') || 'none'} (injected)`);
  }
  lines.push(`  time           ${(r.durationMs / 1000).toFixed(1)} s`);
  for (const [name, path] of Object.entries(r.reports)) lines.push(`  ${name.padEnd(14)} ${path}`);
  return lines.join('\n');
}

/** A person-readable line (or run account) per entity of `local sync`. */
function describeSync(r: LocalSyncResult): string {
  const older =
    r.older > 0 ? ` (${r.older} older export${r.older === 1 ? '' : 's'} not run: newest only)` : '';
  if (r.action === 'empty') return `${r.entity}: no export in inbox/${r.entity}/`;
  if (r.action === 'up-to-date' || !r.run)
    return `${r.entity}: up to date, ${r.key} ran as ${r.runId}${older}`;
  if (r.action === 'failed') return `${r.entity}: FAILED, ${r.run.earlier?.message ?? r.key}${older}`;
  return `${describeRun(r.run, r.key ?? '')}${older ? `\n  ${older.trim()}` : ''}`;
}

export function buildCli(): Command {
  const program = new Command('crm-sync')
    .description('Move and keep in sync CRM exports (CSV) into DynamoDB, locally or on AWS')
    .showHelpAfterError();

  const local = program
    .command('local')
    .description('run the embedded stack (dynalite + s3rver + the synthesized state machine)');
  const common = (c: Command) =>
    c
      .option('--config <file>', 'config file (JSON or YAML)')
      .option('--state-dir <dir>', 'where local data lives (default $CRM_SYNC_HOME or ./.crm-sync)')
      .option('--verbose', 'show worker logs')
      .option('--quiet', 'no progress lines on stderr');

  common(local.command('run <file>'))
    .description('upload a file to the local inbox and run the state machine on it')
    .requiredOption('--entity <name>', 'entity of the config the file holds')
    .option('--json', 'print the run summary as JSON on the last line of stdout')
    .option('--rerun', 'run again even if this exact file was already run (a new run id)')
    .option(
      '--force-deletes',
      'mirror mode: delete the items the export leaves out even above maxDeleteRatio',
    )
    .option(
      '--force',
      'load the valid rows even above maxRejectRatio, or a file with no data row (not --force-deletes)',
    )
    .option('--faults <spec>', FAULTS_HELP)
    .option('--seed <n>', SEED_HELP)
    .action(
      async (
        file: string,
        opts: {
          entity: string;
          json?: boolean;
          rerun?: boolean;
          forceDeletes?: boolean;
          force?: boolean;
          config?: string;
          stateDir?: string;
          verbose?: boolean;
          faults?: string;
          seed?: string;
        },
      ) => {
        const faults = faultsOf(opts);
        if (!existsSync(file)) throw new UsageError(`file not found: ${file}`);
        const result = await withStack({ ...opts, faults }, async (stack, config, stateDir) => {
          getEntity(config, opts.entity);
          return runLocalFile(stack, resolve(file), config, {
            entity: opts.entity,
            stateDir,
            rerun: opts.rerun ? new Date().toISOString() : undefined,
            forceDeletes: opts.forceDeletes,
            force: opts.force,
          });
        });
        if (opts.json) process.stdout.write(`${JSON.stringify(result)}\n`);
        else process.stdout.write(`${describeRun(result, file)}\n`);
        if (result.status === 'FAILED') process.exitCode = 1;
      },
    );

  common(local.command('diff <file>'))
    .description('show what a run of the file would do per key (a dry run): nothing is written')
    .requiredOption('--entity <name>', 'entity of the config the file holds')
    .option('--json', 'print the run summary as JSON on the last line of stdout')
    .action(
      async (
        file: string,
        opts: { entity: string; json?: boolean; config?: string; stateDir?: string; verbose?: boolean },
      ) => {
        if (!existsSync(file)) throw new UsageError(`file not found: ${file}`);
        const result = await withStack(opts, async (stack, config, stateDir) => {
          getEntity(config, opts.entity);
          return runLocalFile(stack, resolve(file), config, { entity: opts.entity, stateDir, dryRun: true });
        });
        if (opts.json) process.stdout.write(`${JSON.stringify(result)}\n`);
        else process.stdout.write(`${describeRun(result, file)}\n`);
        if (result.status === 'FAILED') process.exitCode = 1;
      },
    );

  common(local.command('redrive <runId>'))
    .description('resume a failed run: only its unfinished chunks and partitions run again')
    .option('--json', 'print the run summary as JSON on the last line of stdout')
    .action(
      async (
        runId: string,
        opts: { json?: boolean; config?: string; stateDir?: string; verbose?: boolean },
      ) => {
        const result = await withStack(opts, async (stack, config, stateDir) =>
          redriveLocalRun(stack, runId, config, { stateDir }),
        );
        if (opts.json) process.stdout.write(`${JSON.stringify(result)}\n`);
        else process.stdout.write(`${describeRun(result, runId)}\n`);
        if (result.status === 'FAILED' || result.status === 'REFUSED') process.exitCode = 1;
      },
    );

  common(local.command('sync'))
    .description(
      "run the newest export of each entity's local inbox, unless it already ran (what a schedule does)",
    )
    .option('--entity <name>', 'only this entity (default: every entity, referenced entities first)')
    .option(
      '--inbox <dir>',
      'first copy the newest file of <dir>/<entity>/ into the local inbox (if new or changed)',
    )
    .option('--json', 'print one JSON array of the per-entity results on the last line of stdout')
    .action(
      async (opts: {
        entity?: string;
        inbox?: string;
        json?: boolean;
        config?: string;
        stateDir?: string;
        verbose?: boolean;
        quiet?: boolean;
      }) => {
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
        if (opts.json) process.stdout.write(`${JSON.stringify(results)}\n`);
        else process.stdout.write(`${results.map(describeSync).join('\n')}\n`);
        if (results.some((r) => r.run?.status === 'FAILED' || r.action === 'failed')) process.exitCode = 1;
      },
    );

  common(local.command('export'))
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
      async (opts: {
        entity: string;
        format: 'jsonl' | 'csv';
        allAttributes?: boolean;
        out?: string;
        snapshotId?: string;
        segments?: number;
        json?: boolean;
        config?: string;
        stateDir?: string;
        verbose?: boolean;
      }) => {
        const rowsToStdout = opts.out === undefined && !opts.json;
        const result = await withStack({ ...opts, quiet: true }, async (stack, config) => {
          const taken = await takeLocalSnapshot(stack, config, {
            entity: opts.entity,
            ...(opts.format === 'csv' ? { formats: ['csv' as const] } : {}),
            ...(opts.snapshotId !== undefined ? { snapshotId: opts.snapshotId } : {}),
            ...(opts.segments !== undefined ? { segments: opts.segments } : {}),
          });
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
        if (opts.json) process.stdout.write(`${JSON.stringify(result)}\n`);
        else if (!rowsToStdout) process.stdout.write(`${describeBackup(result)}\n`);
        else if (result.status === 'FAILED') log(describeBackup(result));
        else log(`snapshot ${result.snapshotId}: ${result.items} items, ${result.manifest}`);
        if (result.pruned && !opts.json)
          log(
            `deleted older snapshots of ${opts.entity} (config local.keepSnapshots): ${result.pruned.join(', ')}`,
          );
        if (result.status === 'FAILED') process.exitCode = 1;
      },
    );

  common(local.command('restore <snapshot>'))
    .description(
      'load a snapshot (a directory written by `export --out`, or a snapshot id) into the empty table of an entity',
    )
    .requiredOption('--entity <name>', 'entity whose table is restored (it must be empty)')
    .option('--from-entity <name>', 'entity the snapshot id was taken of (default: --entity)')
    .option('--json', 'print the restore summary as one JSON line')
    .action(
      async (
        snapshot: string,
        opts: {
          entity: string;
          fromEntity?: string;
          json?: boolean;
          config?: string;
          stateDir?: string;
          verbose?: boolean;
        },
      ) => {
        const result = await withStack(opts, (stack, config) =>
          restoreLocalSnapshot(stack, config, {
            entity: opts.entity,
            snapshot,
            fromEntity: opts.fromEntity,
          }),
        );
        if (opts.json) process.stdout.write(`${JSON.stringify(result)}\n`);
        else process.stdout.write(`${describeBackup(result)}\n`);
        if (result.status === 'FAILED') process.exitCode = 1;
      },
    );

  local
    .command('runs')
    .description('list the runs in the local ledger, newest first')
    .option('--entity <name>', 'only the runs of this entity')
    .option('--limit <n>', 'only the newest n runs', positiveInteger)
    .option('--json', 'print the runs as one JSON array on stdout')
    .option('--state-dir <dir>', 'where local data lives (default $CRM_SYNC_HOME or ./.crm-sync)')
    .action(async (opts: { entity?: string; limit?: number; json?: boolean; stateDir?: string }) => {
      const stateDir = stateDirOf(opts.stateDir);
      const runs = await listLocalRuns(stateDir, { entity: opts.entity, limit: opts.limit });
      if (opts.json) process.stdout.write(`${JSON.stringify(runs)}\n`);
      else if (runs.length === 0) process.stdout.write(`no runs in ${stateDir}\n`);
      else process.stdout.write(`${formatRuns(runs)}\n`);
    });

  local
    .command('events')
    .description('list the RunFinished events the local event bus received, oldest first')
    .option('--json', 'print one event per line, as an EventBridge rule target receives it')
    .option('--state-dir <dir>', 'where local data lives (default $CRM_SYNC_HOME or ./.crm-sync)')
    .action((opts: { json?: boolean; stateDir?: string }) => {
      const events = readEvents(stateDirOf(opts.stateDir));
      if (opts.json) {
        for (const e of events) process.stdout.write(`${JSON.stringify(e)}\n`);
        return;
      }
      if (events.length === 0) process.stdout.write('no events\n');
      for (const e of events) {
        const d = e.detail as {
          runId?: string;
          entity?: string;
          status?: string;
          reconciliation?: string;
          error?: string;
          dryRun?: boolean;
        };
        const outcome = `${d.error ? `${d.status} (${d.error})` : `${d.status}, ${d.reconciliation}`}${d.dryRun ? ' (DRY RUN)' : ''}`;
        process.stdout.write(`${e.time}  ${e['detail-type']}  ${d.entity}  ${d.runId}  ${outcome}\n`);
      }
    });

  local
    .command('status <runId>')
    .description('show one run of the local ledger with its chunks and partitions')
    .option('--json', 'print the run as one JSON object on stdout')
    .option('--state-dir <dir>', 'where local data lives (default $CRM_SYNC_HOME or ./.crm-sync)')
    .action(async (runId: string, opts: { json?: boolean; stateDir?: string }) => {
      const view = await localRunStatus(stateDirOf(opts.stateDir), runId);
      if (opts.json) process.stdout.write(`${JSON.stringify(view)}\n`);
      else process.stdout.write(`${formatRunStatus(view)}\n`);
    });

  program
    .command('report <runId>')
    .description("print a local run's summary and where its report.html is")
    .option('--json', 'print {"summary": <summary.json>, "html": <path of report.html>} as one JSON line')
    .option('--state-dir <dir>', 'where local data lives (default $CRM_SYNC_HOME or ./.crm-sync)')
    .action(async (runId: string, opts: { json?: boolean; stateDir?: string }) => {
      const report = await localReport(stateDirOf(opts.stateDir), runId);
      if (opts.json)
        process.stdout.write(`${JSON.stringify({ summary: report.summary, html: report.htmlPath })}\n`);
      else process.stdout.write(`${formatReport(report)}\n`);
    });

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

  const cfg = program.command('config').description('validate or create a config file');
  cfg
    .command('validate <file>')
    .description('check a config file and list every problem')
    .action((file: string) => {
      if (!existsSync(file)) throw new UsageError(`config file not found: ${file}`);
      const config = loadConfig(file);
      const names = Object.keys(config.entities);
      process.stdout.write(`${file}: valid (${names.length} entities: ${names.join(', ')})\n`);
    });
  cfg
    .command('init')
    .description('write a config file from a preset')
    .addOption(new Option('--preset <name>', 'preset').choices(Object.keys(PRESETS)).makeOptionMandatory())
    .option('--out <file>', 'file to write (.json or .yaml)', 'crm-sync.config.json')
    .option('--force', 'overwrite an existing file')
    .action((opts: { preset: string; out: string; force?: boolean }) => {
      if (existsSync(opts.out) && !opts.force)
        throw new UsageError(`${opts.out} exists (use --force to overwrite)`);
      const preset = PRESETS[opts.preset];
      parseConfig(preset, `preset ${opts.preset}`);
      const text = /\.ya?ml$/.test(opts.out) ? toYaml(preset) : `${JSON.stringify(preset, null, 2)}\n`;
      writeFileSync(opts.out, text);
      process.stdout.write(`wrote ${opts.out} (preset ${opts.preset})\n`);
    });
  addEstimateCommand(
    program,
    (opt) => {
      const file = configFileOf(opt);
      return { file, config: loadConfig(file) };
    },
    DEFAULT_CONFIG,
  );
  return program;
}

/** Entry point: plain error lines, no stack traces, non-zero exit on failure. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (err) {
    const e = err as Error;
    process.stderr.write(`crm-sync: ${e instanceof CrmSyncError ? e.message : `${e.name}: ${e.message}`}\n`);
    if (process.env.CRM_SYNC_DEBUG) process.stderr.write(`${e.stack}\n`);
    process.exitCode = 1;
  }
}
