import { randomUUID } from 'node:crypto';
import { JSONPath } from 'jsonpath-plus';
import pLimit from 'p-limit';

/** Evaluates a payload template (`"key.$": "$.path"` / `"$$.ctx"`) like Step Functions' JSONPath mode. */
export function evalTemplate(template: unknown, input: unknown, context: unknown): unknown {
  if (Array.isArray(template)) return template.map((t) => evalTemplate(t, input, context));
  if (!template || typeof template !== 'object') return template;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(template as Record<string, unknown>)) {
    if (k.endsWith('.$') && typeof v === 'string') {
      out[k.slice(0, -2)] = queryPath(v, input, context);
    } else {
      out[k] = evalTemplate(v, input, context);
    }
  }
  return out;
}

function queryPath(path: string, input: unknown, context: unknown): unknown {
  if (path.startsWith('States.'))
    throw new Error(`local Distributed Map: intrinsic functions are not supported (${path})`);
  const fromContext = path.startsWith('$$');
  const value = JSONPath({
    path: fromContext ? path.slice(1) : path,
    json: (fromContext ? context : input) as object,
    wrap: false,
  });
  if (value === undefined)
    throw Object.assign(new Error(`Path not found: ${path}`), { name: 'States.Runtime' });
  return value;
}

/**
 * Children of one local Distributed Map run at once in this process: `$CRM_SYNC_LOCAL_MAP_CONCURRENCY`,
 * default 2. Measured on 2 cores (workers in this process, dynalite in its own): more at once adds
 * no speed, and memory then grows with the file (1M rows: 10 merge partitions of 50k rows at once).
 */
export function localProcessConcurrency(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.CRM_SYNC_LOCAL_MAP_CONCURRENCY;
  if (text === undefined || text === '') return 2;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new Error(`CRM_SYNC_LOCAL_MAP_CONCURRENCY must be a positive integer, got "${text}"`);
  }
  return n;
}

export interface ObjectStore {
  getText(bucket: string, key: string): Promise<string>;
  putText(bucket: string, key: string, text: string): Promise<void>;
}

/** Runs the ItemProcessor for one batch/item; rejects with the child's error. */
export type ChildRunner = (processor: Record<string, unknown>, input: unknown) => Promise<unknown>;

export interface DistributedMapProgress {
  state: string;
  done: number;
  failed: number;
  total: number;
}

interface ChildRecord {
  ExecutionArn: string;
  Name: string;
  Input: string;
  InputDetails: { Included: boolean };
  StartDate: string;
  StopDate: string;
  StateMachineArn: string;
  Status: 'SUCCEEDED' | 'FAILED';
  Output?: string;
  OutputDetails?: { Included: boolean };
  Error?: string;
  Cause?: string;
}

/**
 * The parts of a DISTRIBUTED Map that aws-local-stepfunctions does not execute: ItemReader (JSON
 * array in S3), ItemSelector, ItemBatcher (MaxItemsPerBatch, BatchInput), MaxConcurrency(Path),
 * ToleratedFailurePercentage/Count and ResultWriter (manifest.json + SUCCEEDED_n/FAILED_n.json,
 * the layout Step Functions writes). Children run through `runChild`, so their Retry runs as in AWS.
 */
export async function runDistributedMap(options: {
  stateName: string;
  state: Record<string, unknown>;
  input: unknown;
  context: Record<string, unknown>;
  store: ObjectStore;
  runChild: ChildRunner;
  executionArn: string;
  onProgress?: ((p: DistributedMapProgress) => void) | undefined;
  /**
   * At most this many children at once in this process, whatever MaxConcurrency says: local
   * children share one process's memory and JS thread, so more of them at once only adds memory
   * (a merge child holds its whole partition). Unset: MaxConcurrency alone.
   */
  processConcurrency?: number | undefined;
  /**
   * A redrive of this Map: the Map Run it started before. Its children that succeeded (as its
   * ResultWriter recorded them) are not run again; the others are, as a Map Run redrive does.
   */
  mapRunId?: string | undefined;
  /** Told the Map Run's id when it starts (a redrive needs it). */
  onMapRun?: ((mapRunId: string) => void) | undefined;
}): Promise<unknown> {
  const { state, input, context, store } = options;
  const reader = state.ItemReader as
    | { Resource: string; ReaderConfig?: { InputType?: string }; Parameters?: unknown }
    | undefined;
  let items: unknown[];
  if (reader) {
    if (!reader.Resource.endsWith(':s3:getObject') || (reader.ReaderConfig?.InputType ?? 'JSON') !== 'JSON') {
      throw new Error(`local Distributed Map: only JSON ItemReader over s3:getObject is supported`);
    }
    const p = evalTemplate(reader.Parameters, input, context) as { Bucket: string; Key: string };
    let text: string;
    try {
      text = await options.store.getText(p.Bucket, p.Key);
    } catch (err) {
      throw Object.assign(new Error(`could not read s3://${p.Bucket}/${p.Key}: ${(err as Error).message}`), {
        name: 'States.ItemReaderFailed',
      });
    }
    const parsed = JSON.parse(text) as unknown;
    if (!Array.isArray(parsed))
      throw Object.assign(new Error('ItemReader: not a JSON array'), { name: 'States.ItemReaderFailed' });
    items = parsed;
  } else {
    const path = (state.ItemsPath as string | undefined) ?? '$';
    items = queryPath(path, input, context) as unknown[];
  }

  const selector = state.ItemSelector ?? state.Parameters;
  const selected = items.map((item, index) =>
    selector
      ? evalTemplate(selector, input, { ...context, Map: { Item: { Index: index, Value: item } } })
      : item,
  );
  const batcher = state.ItemBatcher as { MaxItemsPerBatch?: number; BatchInput?: unknown } | undefined;
  const payloads: unknown[] = [];
  if (batcher) {
    const size = batcher.MaxItemsPerBatch ?? 1;
    const batchInput = batcher.BatchInput ? evalTemplate(batcher.BatchInput, input, context) : undefined;
    for (let i = 0; i < selected.length; i += size) {
      payloads.push({
        ...(batchInput !== undefined ? { BatchInput: batchInput } : {}),
        Items: selected.slice(i, i + size),
      });
    }
  } else {
    payloads.push(...selected);
  }

  const processor = state.ItemProcessor as Record<string, unknown>;
  const mapRunId = options.mapRunId ?? `${options.stateName}-${randomUUID().slice(0, 8)}`;
  const mapRunArn = `${options.executionArn.replace(':execution:', ':mapRun:')}/${mapRunId}`;
  options.onMapRun?.(mapRunId);
  const writer = state.ResultWriter as { Parameters?: unknown; Arguments?: unknown } | undefined;
  const destination = writer
    ? (evalTemplate(writer.Parameters ?? writer.Arguments, input, context) as {
        Bucket: string;
        Prefix?: string;
      })
    : undefined;
  const prefix = destination
    ? `${destination.Prefix ? `${destination.Prefix.replace(/\/$/, '')}/` : ''}${mapRunId}/`
    : '';
  const before =
    options.mapRunId && destination ? await succeededBefore(store, destination.Bucket, prefix) : new Map();
  // MaxConcurrencyPath: read from the state's input, a non-negative integer (0: no limit), as in AWS.
  const concurrency =
    typeof state.MaxConcurrencyPath === 'string'
      ? queryPath(state.MaxConcurrencyPath, input, context)
      : state.MaxConcurrency;
  if (concurrency !== undefined && !(Number.isInteger(concurrency) && (concurrency as number) >= 0)) {
    throw Object.assign(
      new Error(`MaxConcurrency must be a non-negative integer, got ${String(concurrency)}`),
      {
        name: 'States.Runtime',
      },
    );
  }
  const limit = pLimit(
    Math.max(1, Math.min((concurrency as number | undefined) || 1000, options.processConcurrency ?? 1000)),
  );
  const records: ChildRecord[] = [];
  let done = 0;
  let failed = 0;
  await Promise.all(
    payloads.map((payload, i) =>
      limit(async () => {
        const kept = before.get(i);
        if (kept && kept.Input === JSON.stringify(payload)) {
          records[i] = kept;
          done++;
          return;
        }
        const start = new Date().toISOString();
        const base = {
          ExecutionArn: `${mapRunArn}:${i}`,
          Name: `${mapRunId}-${i}`,
          Input: JSON.stringify(payload),
          InputDetails: { Included: true },
          StartDate: start,
          StateMachineArn: mapRunArn,
        };
        try {
          const output = await options.runChild(processor, payload);
          records[i] = {
            ...base,
            StopDate: new Date().toISOString(),
            Status: 'SUCCEEDED',
            Output: JSON.stringify(output),
            OutputDetails: { Included: true },
          };
        } catch (err) {
          failed++;
          const e = err as Error;
          records[i] = {
            ...base,
            StopDate: new Date().toISOString(),
            Status: 'FAILED',
            Error: e.name,
            Cause: e.message,
          };
        }
        done++;
        options.onProgress?.({ state: options.stateName, done, failed, total: payloads.length });
      }),
    ),
  );

  let output: unknown = records.map((r) => (r.Output ? JSON.parse(r.Output) : null));
  if (destination) {
    const p = destination;
    const succeeded = records.filter((r) => r.Status === 'SUCCEEDED');
    const failures = records.filter((r) => r.Status === 'FAILED');
    const files: Record<'SUCCEEDED' | 'FAILED' | 'PENDING', Array<{ Key: string; Size: number }>> = {
      SUCCEEDED: [],
      FAILED: [],
      PENDING: [],
    };
    for (const [status, list] of [
      ['SUCCEEDED', succeeded],
      ['FAILED', failures],
    ] as const) {
      if (list.length === 0) continue;
      const key = `${prefix}${status}_0.json`;
      const text = JSON.stringify(list);
      await store.putText(p.Bucket, key, text);
      files[status].push({ Key: key, Size: Buffer.byteLength(text) });
    }
    const manifestKey = `${prefix}manifest.json`;
    await store.putText(
      p.Bucket,
      manifestKey,
      JSON.stringify({ DestinationBucket: p.Bucket, MapRunArn: mapRunArn, ResultFiles: files }),
    );
    output = { MapRunArn: mapRunArn, ResultWriterDetails: { Bucket: p.Bucket, Key: manifestKey } };
  }

  const tolerancePct = (state.ToleratedFailurePercentage as number | undefined) ?? 0;
  const toleranceCount = state.ToleratedFailureCount as number | undefined;
  const overPct = payloads.length > 0 && (failed / payloads.length) * 100 > tolerancePct;
  const overCount = toleranceCount !== undefined && failed > toleranceCount;
  if (failed > 0 && (toleranceCount !== undefined ? overCount : overPct)) {
    const first = records.find((r) => r.Status === 'FAILED');
    throw Object.assign(
      new Error(
        `${failed} of ${payloads.length} child executions failed (first: ${first?.Error}: ${first?.Cause ?? ''})`,
      ),
      { name: 'States.ExceedToleratedFailureThreshold' },
    );
  }
  return output;
}

/** The children of an earlier attempt of a Map Run that succeeded, by index (its SUCCEEDED_n.json). */
async function succeededBefore(
  store: ObjectStore,
  bucket: string,
  prefix: string,
): Promise<Map<number, ChildRecord>> {
  const kept = new Map<number, ChildRecord>();
  let manifest: { ResultFiles?: { SUCCEEDED?: Array<{ Key: string }> } };
  try {
    manifest = JSON.parse(await store.getText(bucket, `${prefix}manifest.json`)) as typeof manifest;
  } catch {
    return kept; // the attempt ended before it wrote its results: every child runs again
  }
  for (const f of manifest.ResultFiles?.SUCCEEDED ?? []) {
    for (const r of JSON.parse(await store.getText(bucket, f.Key)) as ChildRecord[]) {
      const index = Number(r.ExecutionArn.slice(r.ExecutionArn.lastIndexOf(':') + 1));
      if (Number.isSafeInteger(index)) kept.set(index, r);
    }
  }
  return kept;
}
