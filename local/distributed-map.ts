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

/** Step Functions' payload quota: 256 KiB of UTF-8 JSON per state input or output, task result, execution input or output. */
export const PAYLOAD_LIMIT_BYTES = 262_144;

/** The longest an EXPRESS execution (a Distributed Map's EXPRESS child) may run: 5 minutes. */
export const EXPRESS_TIME_LIMIT_MS = 300_000;

/**
 * The time limit of a local EXPRESS child: `$CRM_SYNC_LOCAL_EXPRESS_LIMIT_MS`, default 300000 (the
 * 5 minutes of Step Functions). Tests scale it down to see a child time out without waiting 5 minutes.
 */
export function localExpressTimeLimitMs(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.CRM_SYNC_LOCAL_EXPRESS_LIMIT_MS;
  if (text === undefined || text === '') return EXPRESS_TIME_LIMIT_MS;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new Error(
      `CRM_SYNC_LOCAL_EXPRESS_LIMIT_MS must be a positive integer of milliseconds, got "${text}"`,
    );
  }
  return n;
}

/** A Retry or Catch entry: the part that decides whether it handles an error. */
interface ErrorMatcher {
  ErrorEquals: string[];
}

/**
 * An error Step Functions raises itself, with whether a Retry or Catch of the failing state may
 * handle it (aws-local-stepfunctions reads `isRetryable` / `isCatchable`).
 */
export class StatesError extends Error {
  constructor(
    name: string,
    message: string,
    readonly isRetryable = true,
    readonly isCatchable = true,
  ) {
    super(message);
    this.name = name;
  }
}

/**
 * Whether the first of `matchers` that matches a terminal error names it: `States.ALL` (and
 * `States.TaskFailed`) never match `States.DataLimitExceeded` in Step Functions, only its own
 * name does. aws-local-stepfunctions takes the first matcher that matches in its own way, so the
 * error is handled only when the first of those names it (an explicit entry after a wildcard
 * entry is not reached locally).
 */
function namedFirst(matchers: unknown, name: string): boolean {
  if (!Array.isArray(matchers)) return false;
  for (const m of matchers as ErrorMatcher[]) {
    const errors = m.ErrorEquals ?? [];
    if (errors.includes(name)) return true;
    if (errors.includes('States.ALL') || errors.includes('States.TaskFailed')) return false;
  }
  return false;
}

/** The size Step Functions counts for a payload: the UTF-8 bytes of its JSON text. */
export function payloadBytes(value: unknown): number {
  const text = JSON.stringify(value);
  return text === undefined ? 4 : Buffer.byteLength(text, 'utf8');
}

/**
 * Fails like Step Functions when `value` is over the 256 KiB payload quota: `States.DataLimitExceeded`,
 * a terminal error that `States.ALL` does not catch or retry; `state` (the failing state's
 * definition) decides whether one of its own Retry/Catch entries names it.
 */
export function checkPayload(value: unknown, what: string, state?: Record<string, unknown>): void {
  const bytes = payloadBytes(value);
  if (bytes <= PAYLOAD_LIMIT_BYTES) return;
  const name = 'States.DataLimitExceeded';
  throw new StatesError(
    name,
    `${what} is ${bytes} bytes, over the payload limit of ${PAYLOAD_LIMIT_BYTES} bytes (256 KiB)`,
    namedFirst(state?.Retry, name),
    namedFirst(state?.Catch, name),
  );
}

export interface ObjectStore {
  getText(bucket: string, key: string): Promise<string>;
  putText(bucket: string, key: string, text: string): Promise<void>;
}

/**
 * Runs the ItemProcessor for one batch/item; rejects with the child's error. `signal` aborts when
 * the child is past its time limit (the child is stopped, as Step Functions stops it).
 */
export type ChildRunner = (
  processor: Record<string, unknown>,
  input: unknown,
  signal: AbortSignal,
) => Promise<unknown>;

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
  Status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT';
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
 * The quotas of Step Functions hold: every child's input (the batch, BatchInput included) and output
 * within 256 KiB, and an EXPRESS child stopped at its time limit (States.Timeout); such a child
 * fails, and counts against the tolerated failures like any other.
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
  /** An EXPRESS child's time limit; unset: 5 minutes, as in Step Functions. STANDARD children have none here. */
  expressTimeLimitMs?: number | undefined;
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
  const batcher = state.ItemBatcher as
    | { MaxItemsPerBatch?: number; MaxInputBytesPerBatch?: number; BatchInput?: unknown }
    | undefined;
  const payloads: unknown[] = [];
  if (batcher) {
    const byBytes = batcher.MaxInputBytesPerBatch !== undefined;
    const size = batcher.MaxItemsPerBatch ?? (byBytes ? Number.POSITIVE_INFINITY : 1);
    const maxBytes = Math.min(batcher.MaxInputBytesPerBatch ?? PAYLOAD_LIMIT_BYTES, PAYLOAD_LIMIT_BYTES);
    const batchInput = batcher.BatchInput ? evalTemplate(batcher.BatchInput, input, context) : undefined;
    const batchOf = (items: unknown[]) => ({
      ...(batchInput !== undefined ? { BatchInput: batchInput } : {}),
      Items: items,
    });
    // With MaxInputBytesPerBatch, a batch (BatchInput included) takes items while it stays within
    // that many bytes; without it, only MaxItemsPerBatch cuts, and a batch over 256 KiB fails below.
    const emptyBytes = byBytes ? payloadBytes(batchOf([])) : 0;
    let items: unknown[] = [];
    let bytes = emptyBytes;
    for (const item of selected) {
      // The item's JSON, and the comma before it when it is not the first.
      const itemBytes = byBytes ? payloadBytes(item) + (items.length > 0 ? 1 : 0) : 0;
      if (items.length > 0 && (items.length >= size || (byBytes && bytes + itemBytes > maxBytes))) {
        payloads.push(batchOf(items));
        items = [];
        bytes = emptyBytes;
        items.push(item);
        bytes += byBytes ? payloadBytes(item) : 0;
        continue;
      }
      items.push(item);
      bytes += itemBytes;
    }
    if (items.length > 0) payloads.push(batchOf(items));
    for (const [i, payload] of payloads.entries()) {
      checkPayload(payload, `the input of ${options.stateName}'s child ${i} (one batch)`, state);
    }
  } else {
    for (const [i, item] of selected.entries()) {
      checkPayload(item, `the input of ${options.stateName}'s child ${i}`, state);
    }
    payloads.push(...selected);
  }
  const processorConfig = (
    state.ItemProcessor as { ProcessorConfig?: { ExecutionType?: string } } | undefined
  )?.ProcessorConfig;
  const timeLimitMs =
    processorConfig?.ExecutionType === 'EXPRESS'
      ? (options.expressTimeLimitMs ?? EXPRESS_TIME_LIMIT_MS)
      : undefined;

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
  options.onProgress?.({ state: options.stateName, done, failed, total: payloads.length });
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
        const controller = new AbortController();
        let timer: NodeJS.Timeout | undefined;
        try {
          const run = options.runChild(processor, payload, controller.signal);
          const output = await (timeLimitMs === undefined
            ? run
            : Promise.race([
                run,
                new Promise<never>((_, reject) => {
                  timer = setTimeout(() => {
                    controller.abort();
                    reject(
                      new StatesError(
                        'States.Timeout',
                        `the EXPRESS child execution ran past its limit of ${timeLimitMs} ms`,
                      ),
                    );
                  }, timeLimitMs);
                }),
              ]));
          checkPayload(output, `the output of ${options.stateName}'s child ${i}`);
          records[i] = {
            ...base,
            StopDate: new Date().toISOString(),
            Status: 'SUCCEEDED',
            Output: JSON.stringify(output),
            OutputDetails: { Included: true },
          };
        } catch (err) {
          failed++;
          // The child's own error, not the runner's wrapper around it (ExecutionError { cause }).
          const outer = err as Error;
          const e = outer.name === 'ExecutionError' && outer.cause instanceof Error ? outer.cause : outer;
          records[i] = {
            ...base,
            StopDate: new Date().toISOString(),
            Status: e.name === 'States.Timeout' ? 'TIMED_OUT' : 'FAILED',
            Error: e.name,
            Cause: e.message,
          };
        } finally {
          clearTimeout(timer);
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
    const failures = records.filter((r) => r.Status !== 'SUCCEEDED');
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
    const first = records.find((r) => r.Status !== 'SUCCEEDED');
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

/** A state's effective input: its InputPath applied to the raw input (Step Functions' JSONPath mode). */
export function stateInputOf(state: Record<string, unknown>, rawInput: unknown, context: unknown): unknown {
  if (!('InputPath' in state)) return rawInput;
  if (state.InputPath === null) return {};
  return queryPath(String(state.InputPath), rawInput, context);
}

/**
 * A state's output from its result: ResultSelector, then ResultPath into the raw input, then
 * OutputPath, as Step Functions applies them. ResultPath takes `$`, `null` (discard) or a
 * `$.a.b` path of names.
 */
export function stateOutputOf(
  state: Record<string, unknown>,
  rawInput: unknown,
  result: unknown,
  context: unknown,
): unknown {
  let out = state.ResultSelector ? evalTemplate(state.ResultSelector, result, context) : result;
  if ('ResultPath' in state) out = setResultPath(state.ResultPath, rawInput, out);
  if ('OutputPath' in state)
    out = state.OutputPath === null ? {} : queryPath(String(state.OutputPath), out, context);
  return out;
}

function setResultPath(path: unknown, rawInput: unknown, result: unknown): unknown {
  if (path === null) return rawInput;
  if (path === '$') return result;
  const names =
    typeof path === 'string' && /^\$(\.[A-Za-z_][\w-]*)+$/.test(path) ? path.slice(2).split('.') : undefined;
  if (!names) {
    throw new StatesError(
      'States.Runtime',
      `local Distributed Map: unsupported ResultPath ${String(path)}`,
      false,
      false,
    );
  }
  if (!rawInput || typeof rawInput !== 'object' || Array.isArray(rawInput)) {
    throw new StatesError(
      'States.ResultPathMatchFailure',
      `ResultPath ${path} needs an object as the state's input`,
    );
  }
  const root = { ...(rawInput as Record<string, unknown>) };
  let node = root;
  for (const [i, name] of names.entries()) {
    if (i === names.length - 1) {
      node[name] = result;
      break;
    }
    const next = node[name];
    const copy =
      next && typeof next === 'object' && !Array.isArray(next)
        ? { ...(next as Record<string, unknown>) }
        : {};
    node[name] = copy;
    node = copy;
  }
  return root;
}

/**
 * A whole Distributed Map state as Step Functions runs it: InputPath, the Map Run, then
 * ResultSelector / ResultPath / OutputPath, and the state's output held to the 256 KiB quota
 * (`States.DataLimitExceeded`). `rawInput` is the state's input before InputPath.
 */
export async function runDistributedMapState(
  options: Omit<Parameters<typeof runDistributedMap>[0], 'input'> & { rawInput: unknown },
): Promise<unknown> {
  const { rawInput, ...rest } = options;
  const input = stateInputOf(options.state, rawInput, options.context);
  const result = await runDistributedMap({ ...rest, input });
  const output = stateOutputOf(options.state, rawInput, result, options.context);
  checkPayload(output, `the output of ${options.stateName}`, options.state);
  return output;
}
