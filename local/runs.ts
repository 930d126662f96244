import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { dynamodbClient, resetClients } from '../lambdas/adapters/clients';
import { Ledger, type ListRunsOptions } from '../lambdas/adapters/ledger';
import { CrmSyncError } from '../lambdas/domain/errors';
import { sourceName } from '../lambdas/domain/run';
import {
  type ErrorView,
  type RunStatusView,
  type RunView,
  runStatusView,
  runView,
} from '../lambdas/domain/run-status';
import { LOCAL, startEmulators } from './emulators';

/** `local status` was given a run id the ledger does not hold. */
export class RunNotFoundError extends CrmSyncError {
  override readonly name = 'RunNotFoundError';
}

export type {
  ChunkView,
  ErrorView,
  PartitionView,
  RunStatusView,
  RunView,
  StepState,
} from '../lambdas/domain/run-status';
export { StateDirBusyError } from './state-dir-lock';

const isMissingTable = (err: unknown) => (err as Error).name === 'ResourceNotFoundException';

/**
 * The local ledger. Use it only once the emulators run and the endpoint variables are set: the
 * adapter's SDK client reads them when it makes its first call.
 */
export function localLedger(): Ledger {
  return new Ledger(LOCAL.ledgerTable);
}

/**
 * Starts only the emulators on the state dir (no state machine), points the SDK clients at them
 * and hands the ledger to `fn`; `undefined` when the state dir holds no DynamoDB data yet.
 */
async function withLedger<T>(stateDir: string, fn: (ledger: Ledger | undefined) => Promise<T>): Promise<T> {
  const dynamoDir = join(stateDir, 'dynamodb');
  if (!existsSync(dynamoDir) || readdirSync(dynamoDir).length === 0) return fn(undefined);
  // A state dir another process has open: StateDirBusyError from its lock, before LevelDB is opened.
  const emulators = await startEmulators(stateDir);
  try {
    Object.assign(process.env, {
      AWS_REGION: LOCAL.region,
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_ENDPOINT_URL_S3: emulators.s3Endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: emulators.dynamodbEndpoint,
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_TRACE_ENABLED: 'false',
      AWS_XRAY_CONTEXT_MISSING: 'IGNORE_ERROR',
    });
    delete process.env.AWS_PROFILE;
    // The adapters' SDK client is made on its first use, with the endpoints set above.
    resetClients();
    try {
      return await fn(localLedger());
    } finally {
      dynamodbClient().destroy();
    }
  } finally {
    await emulators.stop();
  }
}

/** The runs of the local ledger, newest first. */
export async function listLocalRuns(stateDir: string, options: ListRunsOptions = {}): Promise<RunView[]> {
  return withLedger(stateDir, async (ledger) => {
    if (!ledger) return [];
    try {
      return (await ledger.listRuns(options)).map(runView);
    } catch (err) {
      if (isMissingTable(err)) return [];
      throw err;
    }
  });
}

/** One run of the local ledger with its chunks and partitions; RunNotFoundError if there is none. */
export async function localRunStatus(stateDir: string, runId: string): Promise<RunStatusView> {
  const found = await withLedger(stateDir, async (ledger) => {
    if (!ledger) return undefined;
    try {
      const run = await ledger.getRun(runId);
      return run && runStatusView(run, await ledger.listSteps(runId));
    } catch (err) {
      if (isMissingTable(err)) return undefined;
      throw err;
    }
  });
  if (!found) throw new RunNotFoundError(`no run ${runId} in ${stateDir} (see crm-sync local runs)`);
  return found;
}

// ---------------------------------------------------------------------------------------------------
// Text output

const num = (n: number | undefined | null) =>
  n === undefined || n === null ? '-' : n.toLocaleString('en-US');
const secs = (ms: number | undefined | null) =>
  ms === undefined || ms === null ? '-' : `${(ms / 1000).toFixed(1)} s`;
/** ISO-8601 UTC to the second. */
const time = (iso: string | null) => (iso ? iso.replace(/\.\d+Z$/, 'Z') : '-');
const errorText = (e: ErrorView | undefined) => (e ? `${e.name}: ${e.message}` : '');

/** Columns padded to their widest cell; `numeric` columns aligned right. */
function table(header: string[], rows: string[][], numeric: ReadonlySet<number>, indent = ''): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    indent +
    cells
      .map((c, i) => (numeric.has(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** `local runs`: one line per run. */
export function formatRuns(runs: RunView[]): string {
  const header = [
    'RUN ID',
    'ENTITY',
    'STATUS',
    'STARTED',
    'DURATION',
    'ROWS',
    'APPLIED',
    'UNCHANGED',
    'SUPERSEDED',
    'DELETED',
    'REJECTED',
    'FILE',
    'ERROR',
  ];
  const rows = runs.map((r) => [
    r.runId,
    r.entity,
    r.dryRun ? `${r.status} ${DRY_RUN}` : r.status,
    time(r.startedAt),
    secs(r.durationMs),
    num(r.counts?.rows),
    num(r.counts?.applied),
    num(r.counts?.unchanged),
    num(r.counts?.superseded),
    num(r.counts?.deleted),
    num(r.counts?.rejected),
    r.source.key,
    r.error?.name ?? '',
  ]);
  const listed = table(header, rows, new Set([4, 5, 6, 7, 8, 9, 10]));
  return runs.some((r) => r.dryRun)
    ? `${listed}\n${DRY_RUN}: a dry run (local diff) wrote nothing; its counts are what a run would apply, leave unchanged and delete`
    : listed;
}

/** The marker of a dry run in `local runs` and `local status`. */
const DRY_RUN = '(DRY RUN)';

/** `local status <runId>`: the run, then its chunks and partitions. */
export function formatRunStatus(v: RunStatusView): string {
  const lines = [
    `run ${v.runId} → ${v.entity}: ${v.status}${v.dryRun ? ` ${DRY_RUN}: nothing was written, the counts are what a run would do` : ''}`,
  ];
  const version = v.source.versionId
    ? `version ${v.source.versionId}`
    : v.source.etag && `ETag ${v.source.etag}`;
  lines.push(`  file           ${sourceName(v.source)}${version ? ` (${version})` : ''}`);
  lines.push(`  started        ${time(v.startedAt)}`);
  lines.push(
    `  finished       ${v.finishedAt ? `${time(v.finishedAt)} (${secs(v.durationMs)})` : 'not yet'}`,
  );
  if (v.counts) {
    const c = v.counts;
    lines.push(
      `  rows           ${num(c.rows)}`,
      `    ${v.dryRun ? 'would apply ' : 'applied     '} ${num(c.applied)}`,
      `    unchanged    ${num(c.unchanged)}`,
      `    superseded   ${num(c.superseded)}`,
      `    ${v.dryRun ? 'would delete' : 'deleted     '} ${num(c.deleted)}`,
      `    rejected     ${num(c.rejected)}`,
    );
  } else {
    lines.push('  rows           - (counted by Reconcile, which this run did not reach)');
  }
  lines.push(`  duplicate keys ${num(v.duplicateKeys)}`);
  if (v.error) lines.push(`  error          ${errorText(v.error)}`);

  const chunks = v.steps.chunks;
  const succeeded = chunks.filter((c) => c.status === 'SUCCEEDED').length;
  lines.push(
    '',
    v.chunks === null
      ? 'chunks: none planned'
      : `chunks: ${num(v.chunks)} planned, ${num(succeeded)} succeeded`,
  );
  if (chunks.length > 0) {
    lines.push(
      table(
        ['CHUNK', 'STATUS', 'ROWS', 'REJECTED', 'SUPERSEDED', 'CANDIDATES', 'TIME', 'ERROR'],
        chunks.map((c) => [
          String(c.index),
          c.status,
          num(c.rows),
          num(c.rejected),
          num(c.superseded),
          num(c.candidates),
          secs(c.durationMs),
          errorText(c.error),
        ]),
        new Set([0, 2, 3, 4, 5, 6]),
        '  ',
      ),
    );
  }
  const partitions = v.steps.partitions;
  lines.push('', `partitions: ${num(v.partitions)} recorded`);
  if (partitions.length > 0) {
    lines.push(
      table(
        [
          'PARTITION',
          'STATUS',
          'CANDIDATES',
          'APPLIED',
          'UNCHANGED',
          'SUPERSEDED',
          'DELETED',
          'DUPLICATES',
          'TIME',
          'ERROR',
        ],
        partitions.map((p) => [
          String(p.partition),
          p.status,
          num(p.candidates),
          num(p.applied),
          num(p.unchanged),
          num(p.superseded),
          num(p.deleted),
          num(p.duplicateKeys),
          secs(p.durationMs),
          errorText(p.error),
        ]),
        new Set([0, 2, 3, 4, 5, 6, 7, 8]),
        '  ',
      ),
    );
  }
  return lines.join('\n');
}
