import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { type CrmSyncConfig, getEntity } from '../lambdas/domain/config';
import { CrmSyncError } from '../lambdas/domain/errors';
import { type CostItem, type Estimate, estimateRun } from '../lambdas/domain/estimate';
import { resolveFormat } from '../lambdas/domain/jsonl';
import { averageRowBytes, sampleRows } from '../lambdas/domain/sizing';

/** A wrong `estimate` invocation: printed as one plain line, exit code 1. */
export class EstimateUsageError extends CrmSyncError {
  override readonly name = 'EstimateUsageError';
}

/** Bytes of a file read to count its rows and their average size. */
const SAMPLE_BYTES = 1024 * 1024;

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('not a positive number');
  return n;
}

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

/** The person-readable estimate. */
export function formatEstimate(e: Estimate, entity: string): string {
  const l = e.layout;
  const gib = e.sourceBytes / 1024 ** 3;
  const lines = [
    `crm-sync estimate for "${entity}": ${num(e.rows)} rows × ${num(e.avgRowBytes)} B = ${gib >= 1 ? `${gib.toFixed(1)} GiB` : `${(e.sourceBytes / MiB).toFixed(1)} MiB`}`,
    `  prices: ${e.prices.region}, checked ${e.prices.checked} (lambdas/domain/estimate.ts, PRICES)`,
    '',
    'Layout',
    `  chunks        ${num(l.chunks)} × ${l.chunkBytes >= MiB ? `${(l.chunkBytes / MiB).toFixed(0)} MiB` : `${(l.chunkBytes / 1024).toFixed(0)} KiB`}${l.chunkBytesFromConfig ? ' (source.chunkBytes)' : ''}, ${num(l.transformConcurrency)} transform workers at once`,
    `  partitions    ${num(l.partitions)} × ${num(l.rowsPerPartition)} rows, ${num(l.mergeConcurrency)} merge workers at once, ${num(l.writeUnitsPerWorker)} WCU/s each`,
    `  table         ${l.table.mode}, ${num(l.table.writeUnitsPerSecond)} WCU/s, ${num(l.table.readUnitsPerSecond)} RCU/s; items ~${num(l.itemBytes)} B (${l.writeUnitsPerItem} WCU, ${l.readUnitsPerItem} RCU)`,
    '',
    'Cost of one run (USD)',
  ];
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
  for (const w of l.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}

/**
 * `crm-sync estimate [file] --entity X [--rows N --avg-bytes B] [--config f] [--json]`: the predicted
 * cost and time of one run in AWS. `loadConfig` resolves `--config` like the other commands.
 */
export function addEstimateCommand(
  program: Command,
  loadConfig: (file: string | undefined) => CrmSyncConfig,
): void {
  program
    .command('estimate [file]')
    .description(
      'predict the AWS cost and wall time of one run, itemized (from a file, or --rows and --avg-bytes)',
    )
    .requiredOption('--entity <name>', 'entity of the config the data is for')
    .option('--rows <n>', 'data rows of the file', positiveNumber)
    .option('--avg-bytes <n>', 'average bytes of a row', positiveNumber)
    .option('--config <file>', 'config file (JSON or YAML)')
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
          maxConcurrency?: number;
          json?: boolean;
        },
      ) => {
        const config = loadConfig(opts.config);
        const entity = getEntity(config, opts.entity);
        let rows = opts.rows;
        let avgRowBytes = opts.avgBytes;
        if (file !== undefined) {
          if (!existsSync(file)) throw new EstimateUsageError(`file not found: ${file}`);
          const sampled = sampleFile(file, entity.source.format);
          rows ??= sampled.rows;
          avgRowBytes ??= sampled.avgRowBytes;
        }
        if (rows === undefined || avgRowBytes === undefined) {
          throw new EstimateUsageError('estimate needs a file, or both --rows and --avg-bytes');
        }
        const estimate = estimateRun({
          rows: Math.round(rows),
          avgRowBytes,
          entity,
          maxConcurrency: opts.maxConcurrency,
        });
        if (opts.json) {
          process.stdout.write(
            `${JSON.stringify({ entity: opts.entity, file: file === undefined ? undefined : basename(file), ...estimate })}\n`,
          );
        } else process.stdout.write(`${formatEstimate(estimate, opts.entity)}\n`);
      },
    );
}
