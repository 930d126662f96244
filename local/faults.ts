import { AsyncLocalStorage } from 'node:async_hooks';
import {
  type AttributeValue,
  type DynamoDBClient,
  ProvisionedThroughputExceededException,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { type S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { CrmSyncError } from '../lambdas/domain/errors';
import { fmix32, fnv1a32 } from '../lambdas/domain/hash';
import { mulberry32 } from './random';

/**
 * Fault injection for local mode (`crm-sync local run --faults "<kind>=<rate>,…" --seed N`).
 *
 * Faults are injected where AWS would produce them, never in domain code:
 * - `throttle`: the handlers' DynamoDB client throws ProvisionedThroughputExceededException before
 *   sending (SDK middleware inside the SDK's retry loop, so the SDK's own retry strategy runs);
 * - `unprocessed`: BatchWriteItem / BatchGetItem send only part of the request and return the rest
 *   as UnprocessedItems / UnprocessedKeys (so the adapters' backoff runs);
 * - `s3-error`: GetObject / PutObject of the handlers' S3 client throw a retryable 500 InternalError
 *   or 503 SlowDown before sending;
 * - `worker-crash`: a Distributed Map worker invocation fails before, during (after some of its SDK
 *   calls: the rest never happens) or after its work, so the state machine's Retry runs it again;
 * - `duplicate-trigger`: the same object triggers the state machine twice, concurrently.
 *
 * Every decision is a pure function of the seed and of what is decided (kind, the request's items
 * or object, the invocation's payload, the attempt number), not of a shared random stream: the same
 * seed gives the same requests the same faults however the workers interleave. (Where the workers'
 * own requests depend on timing — a merge batches its keys in the order its parts arrived — the
 * faults follow the requests, so SDK-level counts can differ a little between two runs.) Faults are
 * bounded so that a run still completes: a request, an item or an invocation fails at most
 * MAX_CONSECUTIVE_FAULTS times in a row, never on the SDK's last attempt, never when the SDK's retry
 * quota could not pay for the retry, and never more often than the state's Retry allows.
 */

export const FAULT_KINDS = [
  'worker-crash',
  'throttle',
  'unprocessed',
  's3-error',
  'duplicate-trigger',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
export type FaultRates = Partial<Record<FaultKind, number>>;

/** The seed when `--seed` is not given: a run with the same faults spec is reproducible. */
export const DEFAULT_FAULT_SEED = 1;

/** At most this many injected failures in a row for one request, one item or one invocation. */
export const MAX_CONSECUTIVE_FAULTS = 2;

/** `--faults` or `--seed` is not understood. */
export class FaultSpecError extends CrmSyncError {
  override readonly name = 'FaultSpecError';
}

const isKind = (k: string): k is FaultKind => (FAULT_KINDS as readonly string[]).includes(k);

/**
 * Parses `kind=rate,…` (rates from 0 to 1, or percentages like `20%`). Unknown kinds, repeated kinds
 * and bad rates are errors that say what is wrong.
 */
export function parseFaultSpec(spec: string): FaultRates {
  const expected = `expected "<kind>=<rate>,…" with kinds ${FAULT_KINDS.join(', ')} and rates from 0 to 1`;
  if (spec.trim() === '') throw new FaultSpecError(`--faults: empty; ${expected}`);
  const rates: FaultRates = {};
  for (const part of spec.split(',')) {
    const entry = part.trim();
    const eq = entry.indexOf('=');
    if (eq < 0) throw new FaultSpecError(`--faults: "${entry}" is not <kind>=<rate>; ${expected}`);
    const kind = entry.slice(0, eq).trim();
    const value = entry.slice(eq + 1).trim();
    if (!isKind(kind)) {
      throw new FaultSpecError(`--faults: unknown fault kind "${kind}" (kinds: ${FAULT_KINDS.join(', ')})`);
    }
    if (rates[kind] !== undefined) throw new FaultSpecError(`--faults: "${kind}" is given twice`);
    const percent = value.endsWith('%');
    const digits = percent ? value.slice(0, -1) : value;
    const rate = Number(digits) / (percent ? 100 : 1);
    if (!/^(\d+(\.\d*)?|\.\d+)$/.test(digits) || !(rate >= 0 && rate <= 1)) {
      throw new FaultSpecError(
        `--faults: the rate of ${kind} must be a number from 0 to 1 (or 0% to 100%), not "${value}"`,
      );
    }
    rates[kind] = rate;
  }
  return rates;
}

/** Parses `--seed`: an integer from 0 to 2^32 - 1. */
export function parseFaultSeed(text: string): number {
  const n = Number(text.trim());
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n > 0xffffffff) {
    throw new FaultSpecError(`--seed: expected an integer from 0 to 4294967295, not "${text}"`);
  }
  return n;
}

/** The spec back as text (`throttle=0.3,unprocessed=0.5`), in FAULT_KINDS order. */
export function formatFaultSpec(rates: FaultRates): string {
  return FAULT_KINDS.filter((k) => rates[k] !== undefined)
    .map((k) => `${k}=${rates[k]}`)
    .join(',');
}

/** FNV-1a over UTF-16 code units, finished with murmur3's avalanche: a 32-bit hash of a string. */
export function hash32(text: string): number {
  return fmix32(fnv1a32(text));
}

/** The random stream of one decision: depends only on the seed and the decision's key. */
export function randomFor(seed: number, key: string): () => number {
  return mulberry32(hash32(`${seed >>> 0}|${key}`));
}

/**
 * How many times a state's Retry lets an error of this name be retried: the MaxAttempts of the
 * first retrier that matches it (Step Functions' rule), 0 when none does.
 */
export function retryBudget(retry: unknown, errorName: string): number {
  if (!Array.isArray(retry)) return 0;
  for (const r of retry as Array<{ ErrorEquals?: string[]; MaxAttempts?: number }>) {
    const names = r.ErrorEquals ?? [];
    if (names.includes(errorName) || names.includes('States.ALL') || names.includes('States.TaskFailed')) {
      return r.MaxAttempts ?? 3;
    }
  }
  return 0;
}

/** A Task state bound to a Lambda handler, as the fault injector needs to know it. */
export interface FaultTask {
  /** State name (TransformChunk, MergePartition, ClaimRun, …). */
  state: string;
  /** Whether the state is a Distributed Map worker (the default targets of `worker-crash`). */
  worker: boolean;
  /** The state's Retry definition. */
  retry: unknown;
}

/** Error names a crashed invocation fails with, as Step Functions reports them. */
const CRASH_ERRORS = {
  before: 'Lambda.ServiceException',
  during: 'Lambda.Unknown',
  after: 'Lambda.ServiceException',
};
type CrashMode = keyof typeof CRASH_ERRORS;

/** One invocation that crashes during its work: the `crashAt`-th SDK call fails, and every later one. */
interface DyingInvocation {
  crashAt: number;
  calls: number;
  dead: boolean;
  inFlight: number;
  onIdle: (() => void) | undefined;
}

/** The error a handler sees from an SDK call of an invocation that has crashed. */
class InvocationCrashed extends Error {
  override readonly name = 'InvocationCrashed';
}

export interface FaultInjectorOptions {
  rates: FaultRates;
  seed?: number | undefined;
  /** State names whose invocations `worker-crash` may crash; default: the Distributed Map workers. */
  crashStates?: readonly string[] | undefined;
  onProgress?: ((message: string) => void) | undefined;
}

type Handler = (args: { input: Record<string, unknown>; request?: unknown }) => Promise<{
  output: Record<string, unknown>;
  response: unknown;
}>;
type Middleware = (next: Handler, context: { commandName?: string }) => Handler;

const MIDDLEWARE = { calls: 'crmSyncFaultsCalls', transient: 'crmSyncFaultsTransient' } as const;

const fakeRequestId = (random: () => number) =>
  Array.from({ length: 16 }, () => Math.floor(random() * 16).toString(16))
    .join('')
    .toUpperCase();

/** Injects the faults of one spec; counts what it injected. One per local stack. */
export class FaultInjector {
  readonly rates: FaultRates;
  readonly seed: number;
  private readonly injected = new Map<FaultKind, number>();
  private readonly occurrences = new Map<string, number>();
  private readonly strips = new Map<number, number>();
  /** Per logical SDK request (its `amz-sdk-invocation-id`, the same on every retry): key and faults. */
  private readonly requests = new Map<string, { key: string; injected: number }>();
  /** Key attributes per table: fingerprints name the items (not their content, which holds times). */
  private keySchema: Record<string, readonly string[]> = {};
  private readonly invocations = new Map<string, { attempts: number; crashes: number }>();
  private readonly dying = new AsyncLocalStorage<DyingInvocation>();
  private readonly installed: Array<{ remove(name: string): boolean }> = [];

  constructor(private readonly options: FaultInjectorOptions) {
    this.rates = { ...options.rates };
    this.seed = (options.seed ?? DEFAULT_FAULT_SEED) >>> 0;
    for (const k of FAULT_KINDS) if (this.rates[k] !== undefined) this.injected.set(k, 0);
  }

  /** Faults injected so far, per kind of the spec. */
  counts(): Partial<Record<FaultKind, number>> {
    return Object.fromEntries(this.injected) as Partial<Record<FaultKind, number>>;
  }

  /** Reports what a run got on the progress stream: `faults injected: throttle ×12, …`. */
  report(counts: Record<string, number>): void {
    const parts = Object.entries(counts).map(([k, n]) => `${k} ×${n}`);
    this.options.onProgress?.(
      `faults injected (seed ${this.seed}): ${parts.length > 0 ? parts.join(', ') : 'none'}`,
    );
  }

  private hit(kind: FaultKind, key: string): boolean {
    const rate = this.rates[kind] ?? 0;
    return rate > 0 && randomFor(this.seed, `${kind}|${key}`)() < rate;
  }

  private count(kind: FaultKind): void {
    this.injected.set(kind, (this.injected.get(kind) ?? 0) + 1);
  }

  /** How many times `key` was seen before: tells apart identical requests made again later. */
  private occurrence(key: string): number {
    const n = this.occurrences.get(key) ?? 0;
    this.occurrences.set(key, n + 1);
    return n;
  }

  // ------------------------------------------------------------------------------------------------
  // Triggers

  /** Whether this trigger of an object fires a second time (`duplicate-trigger`); counts it. */
  duplicateTrigger(objectKey: string): { delayMs: number } | undefined {
    const key = `${objectKey}#${this.occurrence(`trigger|${objectKey}`)}`;
    if (!this.hit('duplicate-trigger', key)) return undefined;
    this.count('duplicate-trigger');
    this.options.onProgress?.(`⚡ duplicate-trigger: ${objectKey} triggers the state machine twice`);
    return { delayMs: Math.floor(randomFor(this.seed, `duplicate-delay|${key}`)() * 50) };
  }

  // ------------------------------------------------------------------------------------------------
  // Lambda invocations

  /**
   * Runs one invocation of a Task's handler, or crashes it (`worker-crash`): before the handler
   * runs, during its work (one of its SDK calls fails and every later one does too, as if the process
   * died: what was sent before lands, nothing after) or after it finished (the result is lost). The
   * state machine's Retry then invokes it again with the same payload.
   */
  async invoke<T>(task: FaultTask, event: unknown, run: () => Promise<T>): Promise<T> {
    const targeted = this.options.crashStates ? this.options.crashStates.includes(task.state) : task.worker;
    if (!targeted || !this.rates['worker-crash']) return run();
    const key = `${task.state}|${hash32(JSON.stringify(event ?? null))}`;
    const log = this.invocations.get(key) ?? { attempts: 0, crashes: 0 };
    this.invocations.set(key, log);
    const attempt = log.attempts++;
    // Leave at least one retry of the state for errors that are not ours (e.g. exhausted throttling).
    const budget = Math.min(
      retryBudget(task.retry, CRASH_ERRORS.after),
      retryBudget(task.retry, CRASH_ERRORS.during),
    );
    if (log.crashes >= Math.min(MAX_CONSECUTIVE_FAULTS, budget - 1)) return run();
    if (!this.hit('worker-crash', `${key}|${attempt}`)) return run();
    const random = randomFor(this.seed, `worker-crash-mode|${key}|${attempt}`);
    const r = random();
    let mode: CrashMode = r < 0.2 ? 'before' : r < 0.5 ? 'during' : 'after';
    const what = `${task.state}${describeItems(event)}`;
    if (mode === 'during') {
      const dying: DyingInvocation = {
        crashAt: 1 + Math.floor(random() * 12),
        calls: 0,
        dead: false,
        inFlight: 0,
        onIdle: undefined,
      };
      let failure: unknown;
      const ok = await this.dying.run(dying, run).then(
        () => true,
        (err: unknown) => {
          failure = err;
          return false;
        },
      );
      if (!dying.dead) {
        // Fewer SDK calls than the crash point: the work is done, so this is a crash after it.
        if (!ok) throw failure;
        mode = 'after';
      } else if (dying.inFlight > 0) {
        // What the dead process sent before it died still lands; the retry starts after that.
        await new Promise<void>((resolve) => {
          dying.onIdle = resolve;
        });
      }
    } else if (mode === 'after') {
      await run();
    }
    log.crashes++;
    this.count('worker-crash');
    const when = { before: 'before its work', during: 'during its work', after: 'after its work' }[mode];
    this.options.onProgress?.(`⚡ worker-crash: ${what} crashed ${when} (attempt ${attempt + 1})`);
    throw Object.assign(new Error(`injected fault: the invocation of ${what} crashed ${when}`), {
      name: CRASH_ERRORS[mode],
    });
  }

  // ------------------------------------------------------------------------------------------------
  // SDK clients

  /** Adds the SDK-level faults to the clients the handlers use (and the crash-during hook). */
  async install(
    clients: { s3: S3Client; dynamodb: DynamoDBClient },
    keySchema: Record<string, readonly string[]> = {},
  ): Promise<void> {
    this.keySchema = keySchema;
    const add = (
      stack: { add(mw: never, options: never): void; remove(name: string): boolean },
      transient: Middleware,
    ) => {
      stack.remove(MIDDLEWARE.calls);
      stack.remove(MIDDLEWARE.transient);
      stack.add(
        this.callsMiddleware() as never,
        { step: 'initialize', priority: 'high', name: MIDDLEWARE.calls } as never,
      );
      // finalizeRequest, low priority: inside the SDK's retry loop (retryMiddleware is high).
      stack.add(
        transient as never,
        { step: 'finalizeRequest', priority: 'low', name: MIDDLEWARE.transient } as never,
      );
      this.installed.push(stack);
    };
    const quota = async (client: S3Client | DynamoDBClient) =>
      new RetryQuota((await client.config.retryStrategy()) as RetryStrategyLike);
    add(clients.dynamodb.middlewareStack as never, this.throttleMiddleware(await quota(clients.dynamodb)));
    add(clients.s3.middlewareStack as never, this.s3ErrorMiddleware(await quota(clients.s3)));
  }

  /** Removes the middleware from the clients again. */
  uninstall(): void {
    for (const stack of this.installed.splice(0)) {
      stack.remove(MIDDLEWARE.calls);
      stack.remove(MIDDLEWARE.transient);
    }
  }

  /** Outermost: the crash-during hook, then `unprocessed` for BatchWriteItem / BatchGetItem. */
  private callsMiddleware(): Middleware {
    return (next, context) => async (args) => {
      const dying = this.dying.getStore();
      if (dying) {
        dying.calls++;
        if (dying.dead || dying.calls >= dying.crashAt) {
          dying.dead = true;
          throw new InvocationCrashed('the invocation crashed: this call was never sent');
        }
        dying.inFlight++;
        try {
          return await this.unprocessed(next, context, args);
        } finally {
          dying.inFlight--;
          if (dying.inFlight === 0) dying.onIdle?.();
        }
      }
      return this.unprocessed(next, context, args);
    };
  }

  /**
   * `unprocessed`: sends only part of a BatchWriteItem / BatchGetItem and returns the rest as
   * UnprocessedItems / UnprocessedKeys, as DynamoDB does under load. An item is held back at most
   * MAX_CONSECUTIVE_FAULTS times.
   */
  private async unprocessed(
    next: Handler,
    context: { commandName?: string },
    args: Parameters<Handler>[0],
  ): ReturnType<Handler> {
    const command = context.commandName;
    const write = command === 'BatchWriteItemCommand';
    if (!this.rates.unprocessed || (!write && command !== 'BatchGetItemCommand')) return next(args);
    const requestItems = (args.input.RequestItems ?? {}) as Record<string, unknown>;
    const fingerprint = this.fingerprint(command, args.input);
    const key = `${fingerprint}#${this.occurrence(fingerprint)}`;
    if (!this.hit('unprocessed', key)) return next(args);
    const random = randomFor(this.seed, `unprocessed-subset|${key}`);
    const kept: Record<string, unknown> = {};
    const held: Record<string, unknown> = {};
    for (const [table, entry] of Object.entries(requestItems)) {
      const list = (write ? entry : (entry as { Keys: unknown[] }).Keys) as unknown[];
      const prints = list.map((x) => hash32(`${table}|${this.itemKey(table, x)}`));
      const eligible = list
        .map((_, i) => i)
        .filter((i) => (this.strips.get(prints[i] ?? 0) ?? 0) < MAX_CONSECUTIVE_FAULTS);
      const hold = new Set(eligible.filter(() => random() < 0.5));
      if (hold.size === 0 && eligible.length > 0)
        hold.add(eligible[Math.floor(random() * eligible.length)] ?? 0);
      const keep = list.filter((_, i) => !hold.has(i));
      const back = list.filter((_, i) => hold.has(i));
      for (const i of hold) this.strips.set(prints[i] ?? 0, (this.strips.get(prints[i] ?? 0) ?? 0) + 1);
      const shape = (items: unknown[]) => (write ? items : { ...(entry as object), Keys: items });
      if (keep.length > 0) kept[table] = shape(keep);
      if (back.length > 0) held[table] = shape(back);
    }
    if (Object.keys(held).length === 0) return next(args);
    this.count('unprocessed');
    const field = write ? 'UnprocessedItems' : 'UnprocessedKeys';
    if (Object.keys(kept).length === 0) {
      // Nothing left to send: DynamoDB answers with every item unprocessed.
      const output = {
        ...(write ? {} : { Responses: {} }),
        [field]: held,
        $metadata: { httpStatusCode: 200, requestId: fakeRequestId(random), attempts: 1, totalRetryDelay: 0 },
      };
      return { output, response: {} };
    }
    const result = await next({ ...args, input: { ...args.input, RequestItems: kept } });
    const already = (result.output[field] ?? {}) as Record<string, unknown>;
    const merged: Record<string, unknown> = { ...already };
    for (const [table, back] of Object.entries(held)) {
      if (write) {
        merged[table] = [
          ...((already[table] as WriteRequest[] | undefined) ?? []),
          ...(back as WriteRequest[]),
        ];
      } else {
        const prior = already[table] as { Keys?: Record<string, AttributeValue>[] } | undefined;
        const b = back as { Keys: Record<string, AttributeValue>[] };
        merged[table] = { ...b, Keys: [...(prior?.Keys ?? []), ...b.Keys] };
      }
    }
    return { ...result, output: { ...result.output, [field]: merged } };
  }

  /**
   * Per SDK attempt: the logical request and the decision key of this attempt; `undefined` when this
   * attempt must go through (it is the SDK's last one, or the request already failed
   * MAX_CONSECUTIVE_FAULTS times).
   */
  private attempt(
    args: Parameters<Handler>[0],
    fingerprint: () => string,
  ): { key: string; request: { injected: number } } | undefined {
    const headers = (args.request as { headers?: Record<string, string> } | undefined)?.headers ?? {};
    const id = headers['amz-sdk-invocation-id'];
    const m = /attempt=(\d+); max=(\d+)/.exec(headers['amz-sdk-request'] ?? '');
    const attempt = m ? Number(m[1]) : 1;
    const max = m ? Number(m[2]) : Number.POSITIVE_INFINITY;
    let request = id === undefined ? undefined : this.requests.get(id);
    if (!request) {
      const print = fingerprint();
      request = { key: `${print}#${this.occurrence(print)}`, injected: 0 };
      if (id !== undefined) this.requests.set(id, request);
    }
    if (attempt >= max || request.injected >= MAX_CONSECUTIVE_FAULTS) {
      if (id !== undefined) this.requests.delete(id);
      return undefined;
    }
    return { key: `${request.key}|attempt ${attempt}`, request };
  }

  /** Sends an attempt that got no fault; a logical request that succeeded is forgotten. */
  private async pass(next: Handler, args: Parameters<Handler>[0]): ReturnType<Handler> {
    const result = await next(args);
    const id = (args.request as { headers?: Record<string, string> } | undefined)?.headers?.[
      'amz-sdk-invocation-id'
    ];
    if (id !== undefined) this.requests.delete(id);
    return result;
  }

  /** A DynamoDB item's key (by the table's key schema), else the item itself. */
  private itemKey(table: string, request: unknown): string {
    const r = request as {
      PutRequest?: { Item: Record<string, unknown> };
      DeleteRequest?: { Key: Record<string, unknown> };
    };
    const item = (r.PutRequest?.Item ?? r.DeleteRequest?.Key ?? request) as Record<string, unknown>;
    const names = this.keySchema[table];
    return JSON.stringify(names ? names.map((n) => item[n]) : item);
  }

  /**
   * What a DynamoDB request is about, without what changes from run to run (timestamps, durations
   * in ledger items): table and item keys where the request names items, else the whole input.
   */
  private fingerprint(command: string | undefined, input: Record<string, unknown>): string {
    const table = String(input.TableName ?? '');
    let what: unknown;
    if (input.Key !== undefined) what = [table, input.Key];
    else if (input.Item !== undefined) what = [table, this.itemKey(table, input.Item)];
    else if (command === 'BatchWriteItemCommand' || command === 'BatchGetItemCommand') {
      what = Object.entries((input.RequestItems ?? {}) as Record<string, unknown>).map(([t, entry]) => [
        t,
        (Array.isArray(entry) ? entry : ((entry as { Keys?: unknown[] }).Keys ?? []))
          .map((x) => this.itemKey(t, x))
          .sort(),
      ]);
    } else what = input;
    return `${command}|${hash32(JSON.stringify(what))}`;
  }

  /** `throttle`: ProvisionedThroughputExceededException before the request is sent. */
  private throttleMiddleware(quota: RetryQuota): Middleware {
    return (next, context) => async (args) => {
      if (!this.rates.throttle) return next(args);
      const command = context.commandName ?? '';
      const slot = this.attempt(args, () => this.fingerprint(command, args.input));
      if (!slot || !this.hit('throttle', slot.key) || !quota.take(RETRY_COST.throttling)) {
        return this.pass(next, args);
      }
      slot.request.injected++;
      this.count('throttle');
      throw new ProvisionedThroughputExceededException({
        message:
          'The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API. (injected by crm-sync --faults)',
        $metadata: { httpStatusCode: 400, requestId: fakeRequestId(randomFor(this.seed, slot.key)) },
      });
    };
  }

  /** `s3-error`: a retryable 500 InternalError or 503 SlowDown for GetObject / PutObject. */
  private s3ErrorMiddleware(quota: RetryQuota): Middleware {
    return (next, context) => async (args) => {
      const command = context.commandName ?? '';
      if (!this.rates['s3-error'] || (command !== 'GetObjectCommand' && command !== 'PutObjectCommand')) {
        return next(args);
      }
      const { Bucket, Key, Range } = args.input as { Bucket?: string; Key?: string; Range?: string };
      const slot = this.attempt(args, () => `${command}|${Bucket}/${Key}|${Range ?? ''}`);
      if (!slot || !this.hit('s3-error', slot.key)) return this.pass(next, args);
      const random = randomFor(this.seed, `s3-error-kind|${slot.key}`);
      const slowDown = random() < 0.5;
      if (!quota.take(slowDown ? RETRY_COST.throttling : RETRY_COST.other)) return this.pass(next, args);
      slot.request.injected++;
      this.count('s3-error');
      throw new S3ServiceException({
        name: slowDown ? 'SlowDown' : 'InternalError',
        $fault: 'server',
        message: `${slowDown ? 'Please reduce your request rate.' : 'We encountered an internal error. Please try again.'} (injected by crm-sync --faults)`,
        $metadata: {
          httpStatusCode: slowDown ? 503 : 500,
          requestId: fakeRequestId(random),
          extendedRequestId: fakeRequestId(random),
        },
      });
    };
  }
}

/** What the SDK's standard retry strategy exposes of its retry quota. */
type RetryStrategyLike = {
  getCapacity?: () => number;
  standardRetryStrategy?: { getCapacity?: () => number };
};

/** Cost of one retry in the SDK's retry quota (standard mode): after a throttling error, after another one. */
const RETRY_COST = { throttling: 5, other: 14 } as const;
/** Capacity of the quota that injected faults never use up (three retries after a non-throttling error). */
const QUOTA_RESERVE = 3 * RETRY_COST.other;

/**
 * The SDK's retry quota of one client (500 tokens; each retry takes its cost, each success gives some
 * back; when it is empty the SDK stops retrying). In Lambda every worker has its own clients; here all
 * workers share one per process, so injected faults would drain it ~10× faster than in AWS: a fault is
 * injected only when the quota can pay for its retry and keep a reserve.
 */
class RetryQuota {
  private pending = 0;

  constructor(private readonly strategy: RetryStrategyLike | undefined) {}

  take(cost: number): boolean {
    const standard = this.strategy?.getCapacity ? this.strategy : this.strategy?.standardRetryStrategy;
    const capacity = standard?.getCapacity?.();
    if (capacity === undefined) return true;
    if (capacity - this.pending - cost < QUOTA_RESERVE) return false;
    // The SDK takes the cost within a few microtasks of the error; until then it is reserved here.
    this.pending += cost;
    setImmediate(() => {
      this.pending -= cost;
    });
    return true;
  }
}

/** ` chunk 3` / ` partition 1` from a worker's event, for progress lines. */
function describeItems(event: unknown): string {
  const items = (event as { Items?: Array<Record<string, unknown>> } | null)?.Items;
  if (!Array.isArray(items)) return '';
  const ids = items.map((i) =>
    typeof i.partition === 'number'
      ? `partition ${i.partition}`
      : typeof i.index === 'number'
        ? `chunk ${i.index}`
        : '',
  );
  return ids.some(Boolean) ? ` (${ids.filter(Boolean).join(', ')})` : '';
}
