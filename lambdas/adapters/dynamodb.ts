import {
  type AttributeValue,
  BatchGetItemCommand,
  BatchWriteItemCommand,
  DescribeTableCommand,
  QueryCommand,
  type QueryCommandInput,
  ScanCommand,
  type ScanCommandInput,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { WriteRetriesExhaustedError } from '../domain/errors';
import { keyAttributes, keyOfItem, type TableKey } from '../domain/keys';
import { type TokenBucket, writeUnits } from '../domain/token-bucket';
import {
  canonicalDecimal,
  isExactNumber,
  isList,
  isStringSet,
  numberText,
  numberValue,
  type Value,
} from '../domain/value';
import { dynamodbClient } from './clients';

export type Item = Record<string, Value>;

/** Told the keys batchGet read and the requests batchWrite wrote, as each batch returns. */
export type TableWorkMeter = (kind: 'read' | 'write', count: number) => void;
let meter: TableWorkMeter | undefined;
/**
 * Installs (or, with undefined, removes) the meter: the local stack's progress lines show the merge's
 * and the verification's table work inside a partition. Nothing installs one in AWS: there it costs
 * one `undefined` check per batch.
 */
export function setTableWorkMeter(m: TableWorkMeter | undefined): void {
  meter = m;
}

/** The DynamoDB key of a record key (lambdas/domain/keys.ts): string attributes. */
export function keyAttributeMap(table: TableKey, key: string): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const [name, value] of Object.entries(keyAttributes(table, key))) out[name] = { S: value };
  return out;
}

/**
 * An item's values as attribute values: a string S, a number N (its canonical text), a boolean BOOL,
 * and the shapes value.ts describes as L, SS and M.
 */
export function toAttributeMap(item: Item): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const [k, v] of Object.entries(item)) out[k] = toAttributeValue(v);
  return out;
}

export function toAttributeValue(v: Value): AttributeValue {
  if (typeof v === 'string') return { S: v };
  if (typeof v === 'number') return { N: numberText(v) };
  if (typeof v === 'boolean') return { BOOL: v };
  if (isExactNumber(v)) return { N: v.N };
  if (isList(v)) return { L: v.L.map(toAttributeValue) };
  if (isStringSet(v)) return { SS: [...v.SS] };
  const m: Record<string, AttributeValue> = {};
  for (const [k, e] of Object.entries(v.M)) m[k] = toAttributeValue(e);
  return { M: m };
}

export function fromAttributeMap(map: Record<string, AttributeValue>): Item {
  const out: Item = {};
  for (const [k, v] of Object.entries(map)) out[k] = fromAttributeValue(v);
  return out;
}

/**
 * An attribute value as an item value. A number is read to its canonical text (DynamoDB returns its
 * own plain form; value.ts numberValue gives the one representation the transform gives too). A type
 * crm-sync never writes (NULL, B, NS, BS) was put there by someone else: kept visible as its JSON.
 */
export function fromAttributeValue(v: AttributeValue): Value {
  if (v.S !== undefined) return v.S;
  if (v.N !== undefined) {
    const canonical = canonicalDecimal(v.N);
    return canonical === undefined || canonical === 'digits' || canonical === 'range'
      ? Number(v.N)
      : numberValue(canonical);
  }
  if (v.BOOL !== undefined) return v.BOOL;
  if (v.L !== undefined) return { L: v.L.map(fromAttributeValue) };
  if (v.SS !== undefined) return { SS: v.SS };
  if (v.M !== undefined) {
    const m: Record<string, Value> = {};
    for (const [k, e] of Object.entries(v.M)) m[k] = fromAttributeValue(e);
    return { M: m };
  }
  return JSON.stringify(v);
}

export interface RetryPolicy {
  /** Attempts for one batch's unprocessed items before giving up. */
  maxAttempts: number;
  /** Base delay of the exponential backoff, in ms. */
  baseDelayMs: number;
  /** Cap of one delay, in ms. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 10, baseDelayMs: 50, maxDelayMs: 5000 };

/** Full jitter: a uniform delay in [0, min(cap, base·2^attempt)) (AWS Architecture Blog). */
export function backoffDelay(
  attempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  return Math.floor(random() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Additive-increase / multiplicative-decrease limit on calls in flight: halved when DynamoDB
 * pushes back (unprocessed items, throttling), raised by one per clean call up to `max`. Under
 * throttling the workers then back off together instead of each retrying at full speed.
 */
export class InFlightLimit {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  /** The lowest the limit went (for reports and tests). */
  lowest: number;

  constructor(
    private readonly max: number,
    private limit = max,
  ) {
    this.lowest = limit;
  }

  get current(): number {
    return this.limit;
  }

  async run<T>(call: () => Promise<T>): Promise<T> {
    while (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await call();
    } finally {
      this.active--;
      this.wake();
    }
  }

  /** DynamoDB pushed back: halve the limit. */
  slower(): void {
    this.limit = Math.max(1, Math.floor(this.limit / 2));
    this.lowest = Math.min(this.lowest, this.limit);
  }

  /** A clean call: one more in flight, up to the maximum. */
  faster(): void {
    if (this.limit < this.max) {
      this.limit++;
      this.wake();
    }
  }

  private wake(): void {
    while (this.waiting.length > 0 && this.active < this.limit) this.waiting.shift()?.();
  }
}

/** DynamoDB's size of an item (attribute names and values, UTF-8), for its write units. */
export function itemSize(item: Record<string, AttributeValue>): number {
  let bytes = 0;
  for (const [name, v] of Object.entries(item)) {
    bytes += Buffer.byteLength(name);
    if (v.S !== undefined) bytes += Buffer.byteLength(v.S);
    else if (v.N !== undefined) bytes += Math.ceil(v.N.length / 2) + 1;
    else bytes += 1;
  }
  return bytes;
}

/** Write units of a batch: puts by item size, deletes at 1 (DynamoDB charges the deleted item's size). */
function batchWriteUnits(batch: readonly WriteRequest[]): number {
  let units = 0;
  for (const r of batch) units += r.PutRequest?.Item ? writeUnits(itemSize(r.PutRequest.Item)) : 1;
  return units;
}

/** Waits until the rate ceiling allows `units` more (no ceiling: at once). */
async function throttle(rate: TokenBucket | undefined, units: number): Promise<void> {
  const wait = rate?.take(units) ?? 0;
  if (wait > 0) await sleep(wait);
}

/** Errors of DynamoDB that mean "slow down" (the SDK has already retried them). */
function isThrottling(err: unknown): boolean {
  const name = (err as Error).name;
  return (
    name === 'ProvisionedThroughputExceededException' ||
    name === 'ThrottlingException' ||
    name === 'RequestLimitExceeded'
  );
}

/** Whether a call that would start `waitMs` from now starts past the deadline (never, without one). */
function pastDeadline(deadline: number | undefined): (waitMs?: number) => boolean {
  return (waitMs = 0) => deadline !== undefined && Date.now() + waitMs >= deadline;
}

/**
 * Writes requests with BatchWriteItem: 25 per call, up to `inFlight` calls at once (an AIMD limit
 * that halves when DynamoDB returns unprocessed items or throttles), UnprocessedItems and
 * throttling retried with exponential backoff and full jitter until `policy.maxAttempts`, then
 * WriteRetriesExhaustedError. The caller guarantees no key appears twice. `rate`: a write ceiling in
 * write units per second (the worker's share of the table's throughput), waited on before each call.
 */
export async function batchWrite(
  table: string,
  requests: Iterable<WriteRequest>,
  options: {
    inFlight?: number;
    policy?: RetryPolicy;
    rate?: TokenBucket | undefined;
    /**
     * A time (ms since the epoch) after which no call starts: the requests not yet taken by the
     * table are handed back in `left` (with one, a batch whose retries run out goes to `left` too,
     * instead of WriteRetriesExhaustedError). Unset: every request is written or the call throws.
     */
    deadline?: number | undefined;
  } = {},
): Promise<{
  calls: number;
  retries: number;
  lowestInFlight: number;
  written: number;
  left: WriteRequest[];
}> {
  const policy = options.policy ?? DEFAULT_RETRY;
  // Batches are taken from `requests` as calls go out: a generator's requests are built 25 at a time,
  // not all at once (a merge partition's puts would otherwise sit in memory twice, as items and as
  // attribute maps).
  const source = requests[Symbol.iterator]();
  let exhausted = false;
  const nextBatch = (): WriteRequest[] => {
    const batch: WriteRequest[] = [];
    while (!exhausted && batch.length < 25) {
      const r = source.next();
      if (r.done) exhausted = true;
      else batch.push(r.value);
    }
    return batch;
  };
  let calls = 0;
  let retries = 0;
  let written = 0;
  let failed = false;
  const deadline = options.deadline;
  const left: WriteRequest[] = [];
  const late = pastDeadline(deadline);
  const workers = Math.max(1, options.inFlight ?? 8);
  const limit = new InFlightLimit(workers);
  const worker = async () => {
    while (!exhausted && !failed && !late()) {
      let pending = nextBatch();
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > 0) {
          const delay = backoffDelay(attempt, policy);
          if (deadline !== undefined && (attempt >= policy.maxAttempts || late(delay))) {
            // Past the deadline, or out of retries with a deadline: the next pass writes these.
            left.push(...pending);
            break;
          }
          if (attempt >= policy.maxAttempts) {
            throw new WriteRetriesExhaustedError(
              `${pending.length} writes to ${table} still unprocessed after ${policy.maxAttempts} attempts`,
            );
          }
          retries++;
          await sleep(delay);
        }
        calls++;
        const batch = pending;
        await throttle(options.rate, batchWriteUnits(batch));
        try {
          // A call that waited for its turn past the deadline is not sent.
          const out = await limit.run(() =>
            late()
              ? Promise.resolve(undefined)
              : dynamodbClient().send(new BatchWriteItemCommand({ RequestItems: { [table]: batch } })),
          );
          if (!out) {
            left.push(...batch);
            break;
          }
          pending = out.UnprocessedItems?.[table] ?? [];
          meter?.('write', batch.length - pending.length);
          written += batch.length - pending.length;
        } catch (err) {
          // Throttling the SDK's own retries did not absorb: back off and try the batch again.
          if (!isThrottling(err)) throw err;
          if (deadline === undefined && attempt + 1 >= policy.maxAttempts) {
            throw new WriteRetriesExhaustedError(
              `${batch.length} writes to ${table} still throttled after ${policy.maxAttempts} attempts`,
              { cause: err },
            );
          }
        }
        if (pending.length > 0) limit.slower();
        else limit.faster();
      }
    }
  };
  // One failure stops the other workers from starting new batches (the step is retried whole).
  const guarded = () =>
    worker().catch((err: unknown) => {
      failed = true;
      throw err;
    });
  // Calls in flight at the deadline finish (the SDK's own retries of throttling included): the
  // pass's margin (mergeDeadline) holds them.
  await Promise.all(Array.from({ length: workers }, guarded));
  // Stopped at the deadline: what was never taken from `requests` is left too.
  if (deadline !== undefined) for (let r = source.next(); !r.done; r = source.next()) left.push(r.value);
  return { calls, retries, lowestInFlight: limit.lowest, written, left };
}

export interface BatchGetOptions {
  projection?: readonly string[];
  inFlight?: number;
  policy?: RetryPolicy;
  /** A table with a sort key: every key is read with this sort key value. */
  sortKey?: { name: string; value: string };
  /** A read ceiling in read units per second (1 per key: items under 4 KB, strongly consistent). */
  rate?: TokenBucket | undefined;
}

/** Reads items by key, 100 per call, retrying UnprocessedKeys like batchWrite. */
export async function batchGet(
  table: string,
  keyName: string | TableKey,
  keys: readonly string[],
  options: BatchGetOptions = {},
): Promise<Map<string, Item>> {
  const out = await batchGetUntil(table, keyName, keys, options);
  return out.found;
}

/**
 * batchGet with a deadline (ms since the epoch) after which no call starts: the keys not yet read
 * are handed back in `left` (with a deadline, keys whose retries run out or stay throttled go to
 * `left` too, instead of WriteRetriesExhaustedError). Calls in flight at the deadline finish.
 * Unset: every key is read or the call throws.
 */
export async function batchGetUntil(
  table: string,
  keyName: string | TableKey,
  keys: readonly string[],
  options: BatchGetOptions & { deadline?: number | undefined } = {},
): Promise<{ found: Map<string, Item>; left: string[]; read: number }> {
  const policy = options.policy ?? DEFAULT_RETRY;
  const deadline = options.deadline;
  const late = pastDeadline(deadline);
  const found = new Map<string, Item>();
  const left: string[] = [];
  let read = 0;
  const batches: string[][] = [];
  const unique = [...new Set(keys)];
  for (let i = 0; i < unique.length; i += 100) batches.push(unique.slice(i, i + 100));
  const names: Record<string, string> = {};
  const projection = options.projection?.map((p, i) => {
    names[`#p${i}`] = p;
    return `#p${i}`;
  });
  const sortKey = options.sortKey;
  const schema: TableKey = typeof keyName === 'string' ? { partition: keyName } : keyName;
  const keyOf = (k: Record<string, AttributeValue>) => keyOfItem(schema, fromAttributeMap(k)) ?? '';
  const requestKey = (k: string): Record<string, AttributeValue> => {
    const attributes = keyAttributeMap(schema, k);
    return sortKey ? { ...attributes, [sortKey.name]: { S: sortKey.value } } : attributes;
  };
  let next = 0;
  const worker = async () => {
    while (next < batches.length && !late()) {
      let pending: Record<string, AttributeValue>[] = (batches[next++] ?? []).map(requestKey);
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > 0) {
          const delay = backoffDelay(attempt, policy);
          if (deadline !== undefined && (attempt >= policy.maxAttempts || late(delay))) {
            // Past the deadline, or out of retries with a deadline: the next pass reads these.
            left.push(...pending.map(keyOf));
            break;
          }
          if (attempt >= policy.maxAttempts) {
            throw new WriteRetriesExhaustedError(
              `${pending.length} reads from ${table} still unprocessed after ${policy.maxAttempts} attempts`,
            );
          }
          await sleep(delay);
        }
        await throttle(options.rate, pending.length);
        if (late()) {
          left.push(...pending.map(keyOf));
          break;
        }
        const asked = pending;
        let out: Awaited<ReturnType<typeof sendBatchGet>>;
        try {
          out = await sendBatchGet(table, asked, projection, names);
        } catch (err) {
          // Throttling the SDK's own retries did not absorb: with a deadline, back off and try again.
          if (deadline === undefined || !isThrottling(err)) throw err;
          continue;
        }
        for (const raw of out.Responses?.[table] ?? []) {
          const item = fromAttributeMap(raw);
          found.set(keyOfItem(schema, item) ?? '', item);
        }
        pending = (out.UnprocessedKeys?.[table]?.Keys as Record<string, AttributeValue>[] | undefined) ?? [];
        read += asked.length - pending.length;
        meter?.('read', asked.length - pending.length);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.inFlight ?? 4, batches.length) }, worker));
  // Stopped at the deadline: the batches never started are left too.
  for (; next < batches.length; next++) left.push(...(batches[next] ?? []));
  return { found, left, read };
}

function sendBatchGet(
  table: string,
  keys: Record<string, AttributeValue>[],
  projection: string[] | undefined,
  names: Record<string, string>,
) {
  return dynamodbClient().send(
    new BatchGetItemCommand({
      RequestItems: {
        [table]: {
          Keys: keys,
          ConsistentRead: true,
          ...(projection
            ? { ProjectionExpression: projection.join(','), ExpressionAttributeNames: names }
            : {}),
        },
      },
    }),
  );
}

/**
 * DynamoDB's approximate size of a table: DescribeTable's TableSizeBytes and ItemCount, which it
 * updates about every six hours (a table loaded since may answer 0). Undefined fields are absent.
 */
export async function describeTableStats(table: string): Promise<{ bytes?: number; items?: number }> {
  const out = await dynamodbClient().send(new DescribeTableCommand({ TableName: table }));
  return {
    ...(out.Table?.TableSizeBytes !== undefined ? { bytes: out.Table.TableSizeBytes } : {}),
    ...(out.Table?.ItemCount !== undefined ? { items: out.Table.ItemCount } : {}),
  };
}

/**
 * Whether the table holds no item: a Scan with Limit 1 that only counts (1 read unit at most).
 * An answer without a count is taken as "not empty", the safe side.
 */
export async function isTableEmpty(table: string): Promise<boolean> {
  const out = await dynamodbClient().send(
    new ScanCommand({ TableName: table, Limit: 1, Select: 'COUNT', ConsistentRead: true }),
  );
  return out.Count === 0 && out.LastEvaluatedKey === undefined;
}

/** Scans a whole table, page by page, with `segments` parallel segments. */
export async function* scanTable(
  table: string,
  options: { segments?: number; only?: { name: string; value: string } | undefined } = {},
): AsyncGenerator<Item[]> {
  const segments = options.segments ?? 1;
  const queues: Item[][] = [];
  let done = 0;
  let wake: (() => void) | undefined;
  let failure: unknown;
  const run = async (segment: number) => {
    for await (const page of scanSegment(table, segment, segments, {
      consistent: true,
      only: options.only,
    })) {
      queues.push(page);
      wake?.();
    }
  };
  for (let s = 0; s < segments; s++) {
    run(s)
      .catch((err: unknown) => {
        failure = err;
      })
      .finally(() => {
        done++;
        wake?.();
      });
  }
  while (true) {
    if (failure) throw failure;
    const page = queues.shift();
    if (page) {
      yield page;
      continue;
    }
    if (done === segments) return;
    await new Promise<void>((r) => {
      wake = r;
    });
    wake = undefined;
  }
}

/** Raw DynamoDB items, one page at a time. */
type RawPage = Array<Record<string, AttributeValue>>;

type PageKey = Record<string, AttributeValue> | undefined;

/** Every page of a Scan or Query, following LastEvaluatedKey. */
async function* pagesOf(
  read: (start: PageKey) => Promise<{ Items?: RawPage | undefined; LastEvaluatedKey?: PageKey }>,
): AsyncGenerator<RawPage> {
  let start: PageKey;
  do {
    const out = await read(start);
    yield out.Items ?? [];
    start = out.LastEvaluatedKey;
  } while (start);
}

/** Every page of a Scan: the items as DynamoDB returns them. */
export function scanPages(input: Omit<ScanCommandInput, 'ExclusiveStartKey'>): AsyncGenerator<RawPage> {
  return pagesOf((start) => dynamodbClient().send(new ScanCommand({ ...input, ExclusiveStartKey: start })));
}

/** Every page of a Query: the items as DynamoDB returns them. */
export function queryPages(input: Omit<QueryCommandInput, 'ExclusiveStartKey'>): AsyncGenerator<RawPage> {
  return pagesOf((start) => dynamodbClient().send(new QueryCommand({ ...input, ExclusiveStartKey: start })));
}

/**
 * One segment of a parallel scan (Segment `segment` of `total`), page by page, raw (DynamoDB's
 * attribute values, untouched). `consistent` false costs half the read units.
 */
export function scanSegmentRaw(
  table: string,
  segment: number,
  total: number,
  options: ScanOptions = {},
): AsyncGenerator<RawPage> {
  const names = options.projection?.map((_, i) => `#p${i}`);
  const attributeNames: Record<string, string> = Object.fromEntries(
    (names ?? []).map((n, i) => [n, options.projection?.[i] ?? '']),
  );
  if (options.only) attributeNames['#only'] = options.only.name;
  return scanPages({
    TableName: table,
    ConsistentRead: options.consistent ?? false,
    ...(total > 1 ? { Segment: segment, TotalSegments: total } : {}),
    ...(options.projection && names ? { ProjectionExpression: names.join(', ') } : {}),
    ...(options.only
      ? {
          FilterExpression: '#only = :only',
          ExpressionAttributeValues: { ':only': { S: options.only.value } },
        }
      : {}),
    ...(Object.keys(attributeNames).length > 0 ? { ExpressionAttributeNames: attributeNames } : {}),
  });
}

/**
 * A scan's options: `projection` (attribute names), `consistent` (strongly consistent reads, twice
 * the units), `only` (the items whose attribute `name` is `value`: one entity of a shared table).
 */
export interface ScanOptions {
  projection?: string[] | undefined;
  consistent?: boolean | undefined;
  only?: { name: string; value: string } | undefined;
}

/**
 * One segment of a parallel scan (Segment `segment` of `total`), page by page. `consistent` false
 * costs half the read units (verification scans consistently: it proves the run's puts).
 */
export async function* scanSegment(
  table: string,
  segment: number,
  total: number,
  options: ScanOptions = {},
): AsyncGenerator<Item[]> {
  for await (const page of scanSegmentRaw(table, segment, total, options)) yield page.map(fromAttributeMap);
}
