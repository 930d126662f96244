import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { basename, isAbsolute, relative, resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { type CrmSyncConfig, getEntity, parseConfig } from '../lambdas/domain/config';
import { type CostItem, type Estimate, estimateRun } from '../lambdas/domain/estimate';
import { resolveFormat } from '../lambdas/domain/jsonl';
import { PRESETS } from '../lambdas/domain/presets';
import { averageRowBytes, sampleRows } from '../lambdas/domain/sizing';
import { DEFAULT_CONFIG, positiveNumber, resolveConfig, UsageError } from './options';

/** Bytes of a file read to count its rows and their average size. */
const SAMPLE_BYTES = 1024 * 1024;

/** Rows and average row bytes of a local file, from its first MiB (every row when it is smaller). */
export function sampleFile(
  path: string,
  format: 'auto' | 'csv' | 'jsonl',
): { rows: number; avgRowBytes: number; bytes: number } {
  const size = statSync(path).size;
  const head = Buffer.alloc(Math.min(SAMPLE_BYTES, size));
  const fd = openSync(path, 'r');
  try {
    readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  const wholeFile = head.length === size;
  const resolved = resolveFormat(format, path, head.toString('utf8', 0, 64));
  const sample = sampleRows(head, { format: resolved, wholeFile });
  const avgRowBytes = averageRowBytes(sample, head.length);
  const headerBytes = head.length - sample.bytes;
  const rows = wholeFile
    ? sample.rows
    : Math.max(1, Math.round((size - Math.min(headerBytes, 64 * 1024)) / avgRowBytes));
  return { rows, avgRowBytes, bytes: size };
}

const usd = (n: number) => `$${n < 0.01 && n > 0 ? n.toFixed(4) : n.toFixed(2)}`;
const num = (n: number) => Math.round(n).toLocaleString('en-US');
const MiB = 1024 * 1024;

function duration(seconds: number): string {
  if (seconds < 90) return `${seconds.toFixed(0)} s`;
  if (seconds < 5400) return `${(seconds / 60).toFixed(0)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** Which config an estimate is for, as its first line names it. */
export interface EstimateConfigSource {
  /** `file`: a config file; `preset`: a built-in preset; `demo`: the built-in demo config. */
  kind: 'file' | 'preset' | 'demo';
  /** The file as the user reads it, or the preset's name. */
  name: string;
}

function configLabel(c: EstimateConfigSource): string {
  if (c.kind === 'preset') return `preset ${c.name}`;
  if (c.kind === 'demo') return `the built-in DEMO config (${c.name})`;
  return `config ${c.name}`;
}

/** The person-readable estimate. */
export function formatEstimate(
  e: Estimate,
  entity: string,
  source: EstimateConfigSource = { kind: 'file', name: '(config)' },
): string {
  const l = e.layout;
  const needed = l.checks.find((c) => c.name === 'partitions needed');
  const gib = e.sourceBytes / 1024 ** 3;
  const lines = [
    `crm-sync estimate for "${entity}" with ${configLabel(source)}: ${num(e.rows)} rows × ${num(e.avgRowBytes)} B = ${gib >= 1 ? `${gib.toFixed(1)} GiB` : `${(e.sourceBytes / MiB).toFixed(1)} MiB`}`,
    `  prices: ${e.prices.region}, checked ${e.prices.checked} (lambdas/domain/estimate.ts, PRICES)`,
  ];
  if (source.kind === 'demo') {
    lines.push(
      `  note: the demo config is for the laptop demo${l.chunkBytesFromConfig ? ` (source.chunkBytes ${num(l.chunkBytes)} B: many small chunks)` : ''}, not for a run in AWS; estimate yours with --config <file> or --preset ${Object.keys(PRESETS).join('|')}`,
    );
  }
  lines.push(
    '',
    'Layout',
    `  chunks        ${num(l.chunks)} × ${l.chunkBytes >= MiB ? `${(l.chunkBytes / MiB).toFixed(0)} MiB` : `${(l.chunkBytes / 1024).toFixed(0)} KiB`}${l.chunkBytesFromConfig ? ' (source.chunkBytes)' : ''}, ${num(l.transformConcurrency)} transform workers at once`,
    `  partitions    ${num(l.partitions)} × ${num(l.rowsPerPartition)} rows${needed && !needed.ok ? ` (the most there can be: ${num(needed.value)} needed)` : ''}, ${num(l.mergeConcurrency)} merge workers at once, ${num(l.writeUnitsPerWorker)} WCU/s each`,
    `  table         ${l.table.mode}, ${num(l.table.writeUnitsPerSecond)} WCU/s, ${num(l.table.readUnitsPerSecond)} RCU/s; items ~${num(l.itemBytes)} B (${l.writeUnitsPerItem} WCU, ${l.readUnitsPerItem} RCU)`,
    '',
    e.verdict.runnable
      ? 'Cost of one run (USD)'
      : 'Cost of one run (USD), were it to run (it cannot: see the errors at the end)',
  );
  const row = (i: CostItem) =>
    `  ${i.service.padEnd(15)} ${i.item.padEnd(38)} ${num(i.quantity).padStart(15)} ${i.unit.padEnd(11)} ${usd(i.usd).padStart(10)}`;
  for (const i of e.items) lines.push(row(i));
  lines.push(`  ${'total, DynamoDB on-demand'.padEnd(82)} ${usd(e.totals.onDemand).padStart(10)}`);
  for (const i of e.provisioned.filter((p) => p.item.includes('provisioned'))) lines.push(row(i));
  lines.push(`  ${'total, DynamoDB provisioned'.padEnd(82)} ${usd(e.totals.provisioned).padStart(10)}`);
  const s = l.seconds;
  lines.push(
    '',
    `Wall time       ${duration(s.total)} (plan ${duration(s.plan)}, transform ${duration(s.transform)}, merge ${duration(s.merge)}, verify ${duration(s.verify)}, reconcile ${duration(s.reconcile)})`,
    `Import from S3  ${usd(e.importFromS3.usd)} for ${gib.toFixed(2)} GiB: ${e.importFromS3.note}`,
  );
  // The limits the verdict reports as errors are not repeated as warnings.
  const broken = new Set(l.checks.filter((c) => !c.ok && c.kind === 'quota').map((c) => c.name));
  for (const w of l.warnings) {
    const name = w.slice(0, w.indexOf(':'));
    if (broken.has(name) || (!e.verdict.runnable && / the run would take /.test(w))) continue;
    lines.push(`warning: ${w}`);
  }
  for (const err of e.verdict.errors) lines.push(`error: ${err}`);
  for (const c of e.verdict.changes) lines.push(`change: ${c}`);
  return lines.join('\n');
}

/**
 * `crm-sync estimate [file] --entity X (--config f | --preset p) [--rows N --avg-bytes B] [--json]`:
 * the predicted cost and time of one run in AWS. `--config` resolves like the other commands'
 * (CRM_SYNC_CONFIG, ./crm-sync.config.json); when that finds nothing but the built-in demo config,
 * the estimate refuses: the demo's settings would misprice a real run.
 * A run Plan would refuse, or one estimated past the execution's time limit, prints the estimate with
 * `error:` and `change:` lines and exits 1.
 */
export function registerEstimateCommand(program: Command): void {
  program
    .command('estimate [file]')
    .description(
      'predict the AWS cost and wall time of one run, itemized (from a file, or --rows and --avg-bytes), for --config or --preset',
    )
    .requiredOption('--entity <name>', 'entity of the config the data is for')
    .option('--rows <n>', 'data rows of the file', positiveNumber)
    .option('--avg-bytes <n>', 'average bytes of a row', positiveNumber)
    .option('--config <file>', 'config file (JSON or YAML) of the deployment')
    .addOption(
      new Option('--preset <name>', 'estimate for a built-in preset instead of a config file')
        .choices(Object.keys(PRESETS))
        .conflicts('config'),
    )
    .option(
      '--max-concurrency <n>',
      "Lambda workers at once, at most (the stack's maxConcurrency)",
      positiveNumber,
    )
    .option('--json', 'print the estimate as one JSON document')
    .action(
      (
        file: string | undefined,
        opts: {
          entity: string;
          rows?: number;
          avgBytes?: number;
          config?: string;
          preset?: string;
          maxConcurrency?: number;
          json?: boolean;
        },
      ) => {
        const { config, source } = configOf(opts);
        const entity = getEntity(config, opts.entity);
        let rows = opts.rows;
        let avgRowBytes = opts.avgBytes;
        if (file !== undefined) {
          if (!existsSync(file)) throw new UsageError(`file not found: ${file}`);
          const sampled = sampleFile(file, entity.source.format);
          rows ??= sampled.rows;
          avgRowBytes ??= sampled.avgRowBytes;
        }
        if (rows === undefined || avgRowBytes === undefined) {
          throw new UsageError('estimate needs a file, or both --rows and --avg-bytes');
        }
        const estimate = estimateRun({
          rows: Math.round(rows),
          avgRowBytes,
          entity,
          maxConcurrency: opts.maxConcurrency,
        });
        if (opts.json) {
          process.stdout.write(
            `${JSON.stringify({ entity: opts.entity, config: source, file: file === undefined ? undefined : basename(file), ...estimate })}\n`,
          );
        } else process.stdout.write(`${formatEstimate(estimate, opts.entity, source)}\n`);
        if (!estimate.verdict.runnable) process.exitCode = 1;
      },
    );
}

/** A path as the user reads it: relative to the working directory when under it. */
function shown(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

function configOf(opts: { config?: string | undefined; preset?: string | undefined }): {
  config: CrmSyncConfig;
  source: EstimateConfigSource;
} {
  if (opts.preset !== undefined) {
    const preset = PRESETS[opts.preset];
    if (!preset) throw new UsageError(`unknown preset: ${opts.preset}`);
    return {
      config: parseConfig(preset, `preset ${opts.preset}`),
      source: { kind: 'preset', name: opts.preset },
    };
  }
  const { file, config } = resolveConfig(opts.config);
  const demo = resolve(file) === resolve(DEFAULT_CONFIG);
  if (demo && opts.config === undefined && !process.env.CRM_SYNC_CONFIG) {
    throw new UsageError(
      `estimate needs the config you will deploy: --config <file>, or --preset ${Object.keys(PRESETS).join('|')} ` +
        `(found no crm-sync.config.json or .yaml here and CRM_SYNC_CONFIG is unset). The built-in demo config is ` +
        `tuned for a laptop demo and would misprice a run in AWS; to estimate it anyway: --config ${shown(DEFAULT_CONFIG)}`,
    );
  }
  return { config, source: { kind: demo ? 'demo' : 'file', name: shown(file) } };
}
