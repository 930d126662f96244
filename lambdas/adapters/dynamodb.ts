import {
  type AttributeValue,
  BatchGetItemCommand,
  BatchWriteItemCommand,
  ScanCommand,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { WriteRetriesExhaustedError } from '../domain/errors';
import type { Scalar } from '../domain/normalize';
import { dynamodb } from './clients';

export type Item = Record<string, Scalar>;

/** Flat scalar items only (crm-sync's target model): string, number, boolean. */
export function toAttributeMap(item: Item): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const [k, v] of Object.entries(item)) {
    if (typeof v === 'string') out[k] = { S: v };
    else if (typeof v === 'number') out[k] = { N: String(v) };
    else out[k] = { BOOL: v };
  }
  return out;
}

export function fromAttributeMap(map: Record<string, AttributeValue>): Item {
  const out: Item = {};
  for (const [k, v] of Object.entries(map)) {
    if (v.S !== undefined) out[k] = v.S;
    else if (v.N !== undefined) out[k] = Number(v.N);
    else if (v.BOOL !== undefined) out[k] = v.BOOL;
  }
  return out;
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
 * Writes requests with BatchWriteItem: 25 per call, `inFlight` calls at once, UnprocessedItems
 * retried with exponential backoff and full jitter until `policy.maxAttempts`, then
 * WriteRetriesExhaustedError. The caller guarantees no key appears twice.
 */
export async function batchWrite(
  table: string,
  requests: readonly WriteRequest[],
  options: { inFlight?: number; policy?: RetryPolicy } = {},
): Promise<{ calls: number; retries: number }> {
  const policy = options.policy ?? DEFAULT_RETRY;
  const batches: WriteRequest[][] = [];
  for (let i = 0; i < requests.length; i += 25) batches.push(requests.slice(i, i + 25));
  let calls = 0;
  let retries = 0;
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < batches.length && !failed) {
      let pending = batches[next++] ?? [];
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > 0) {
          if (attempt >= policy.maxAttempts) {
            throw new WriteRetriesExhaustedError(
              `${pending.length} writes to ${table} still unprocessed after ${policy.maxAttempts} attempts`,
            );
          }
          retries++;
          await sleep(backoffDelay(attempt, policy));
        }
        calls++;
        const out = await dynamodb.send(new BatchWriteItemCommand({ RequestItems: { [table]: pending } }));
        pending = out.UnprocessedItems?.[table] ?? [];
      }
    }
  };
  // One failure stops the other workers from starting new batches (the step is retried whole).
  const guarded = () =>
    worker().catch((err: unknown) => {
      failed = true;
      throw err;
    });
  await Promise.all(Array.from({ length: Math.min(options.inFlight ?? 8, batches.length) }, guarded));
  return { calls, retries };
}

/** Reads items by key, 100 per call, retrying UnprocessedKeys like batchWrite. */
export async function batchGet(
  table: string,
  keyName: string,
  keys: readonly string[],
  options: {
    projection?: readonly string[];
    inFlight?: number;
    policy?: RetryPolicy;
    /** A table with a sort key: every key is read with this sort key value. */
    sortKey?: { name: string; value: string };
  } = {},
): Promise<Map<string, Item>> {
  const policy = options.policy ?? DEFAULT_RETRY;
  const found = new Map<string, Item>();
  const batches: string[][] = [];
  const unique = [...new Set(keys)];
  for (let i = 0; i < unique.length; i += 100) batches.push(unique.slice(i, i + 100));
  const names: Record<string, string> = {};
  const projection = options.projection?.map((p, i) => {
    names[`#p${i}`] = p;
    return `#p${i}`;
  });
  let next = 0;
  const worker = async () => {
    while (next < batches.length) {
      const sortKey = options.sortKey;
      let pending: Record<string, AttributeValue>[] = (batches[next++] ?? []).map((k) =>
        sortKey ? { [keyName]: { S: k }, [sortKey.name]: { S: sortKey.value } } : { [keyName]: { S: k } },
      );
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > 0) {
          if (attempt >= policy.maxAttempts) {
            throw new WriteRetriesExhaustedError(
              `${pending.length} reads from ${table} still unprocessed after ${policy.maxAttempts} attempts`,
            );
          }
          await sleep(backoffDelay(attempt, policy));
        }
        const out = await dynamodb.send(
          new BatchGetItemCommand({
            RequestItems: {
              [table]: {
                Keys: pending,
                ConsistentRead: true,
                ...(projection
                  ? { ProjectionExpression: projection.join(','), ExpressionAttributeNames: names }
                  : {}),
              },
            },
          }),
        );
        for (const raw of out.Responses?.[table] ?? []) {
          const item = fromAttributeMap(raw);
          found.set(String(item[keyName]), item);
        }
        pending = (out.UnprocessedKeys?.[table]?.Keys as Record<string, AttributeValue>[] | undefined) ?? [];
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.inFlight ?? 4, batches.length) }, worker));
  return found;
}

/** Scans a whole table, page by page, with `segments` parallel segments. */
export async function* scanTable(table: string, options: { segments?: number } = {}): AsyncGenerator<Item[]> {
  const segments = options.segments ?? 1;
  const queues: Item[][] = [];
  let done = 0;
  let wake: (() => void) | undefined;
  let failure: unknown;
  const run = async (segment: number) => {
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out = await dynamodb.send(
        new ScanCommand({
          TableName: table,
          ExclusiveStartKey: start,
          ConsistentRead: true,
          ...(segments > 1 ? { Segment: segment, TotalSegments: segments } : {}),
        }),
      );
      queues.push((out.Items ?? []).map(fromAttributeMap));
      wake?.();
      start = out.LastEvaluatedKey;
    } while (start);
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
