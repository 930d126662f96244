/**
 * The loads a user writes without crm-sync, for the end-to-end comparison (bench/e2e.ts). Each runs
 * in a process of its own (so its peak RSS is its own), against a fresh dynalite started the way the
 * local stack starts it (local/emulators.ts startDynalite), and prints one JSON line (LoadResult):
 *
 *   node --import tsx bench/baseline.ts <batch|put> <file.csv> <dynamoDir> [--limit N] [--in-flight N]
 *
 * batch: csv-parse stream (`columns: true`) → map to the target's attribute names → the checks a
 *   careful user writes (Id and LastName present, email shape, phone digits, real calendar dates),
 *   IsDeleted rows skipped → BatchWriteItem of 25, `--in-flight` batches (default 8) in flight,
 *   UnprocessedItems retried. BatchWriteItem refuses a batch naming one key twice, so a repeated key
 *   within a batch keeps the later row; across batches the last writer wins (not the newest row).
 * put: the same rows, one conditional PutItem per row (newer LastModifiedDate wins), `--in-flight`
 *   (default 32) in flight; `--limit` reads only the first N rows (it is slow).
 *
 * Skipped on purpose (crm-sync does them): exact dedupe by (LastModifiedDate, line) across the file,
 * normalization (E.164 phones, ISO-8601 UTC dates, trimmed names), rejects with reasons, content
 * digests, newer-wins against the stored item (batch), reconciliation, reports.
 */
import { createReadStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  type AttributeValue,
  BatchWriteItemCommand,
  ConditionalCheckFailedException,
  CreateTableCommand,
  DynamoDBClient,
  PutItemCommand,
  ScanCommand,
  type WriteRequest,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { parse } from 'csv-parse';
import { startDynalite } from '../local/emulators';

export const BASELINE_TABLE = 'contacts';
const CONFIG = join(__dirname, '..', 'examples', 'crm-sync.config.json');

export type LoadMode = 'batch' | 'put';

export interface LoadResult {
  mode: LoadMode;
  /** Data rows the parser produced. */
  rowsRead: number;
  /** Rows that failed the user's checks. */
  invalid: number;
  /** IsDeleted rows (not loaded). */
  deleted: number;
  /** PutRequests (batch) or PutItem calls (put) sent. */
  writes: number;
  /** BatchWriteItem calls, retries of unprocessed items included (batch). */
  calls: number;
  /** Conditional puts refused because the stored row was newer (put). */
  conditionFailed: number;
  /** Bytes of the file the rows came from (the whole file, or the prefix read with --limit). */
  bytes: number;
  /** From opening the file to the last write acknowledged. */
  ms: number;
  /** Items in the table afterwards (Scan, not timed). */
  items: number;
  /** Distinct keys of the loaded rows (put mode only: it keeps a set). */
  distinctKeys?: number;
  inFlight: number;
}

/** Target attribute ← source column, from the example config (what a user's mapping says). */
function mappingOf(): Array<[string, string]> {
  const config = JSON.parse(readFileSync(CONFIG, 'utf8')) as {
    entities: { contact: { fields: Record<string, { source: string }> } };
  };
  return Object.entries(config.entities.contact.fields).map(([target, f]) => [target, f.source]);
}

const EMAIL = /^[^\s@]+@[^\s@,]+\.[^\s@,]+$/;

/** At least 10 digits and no letters, once an extension (`ext. 31`, `x31`) is set aside. */
function validPhone(v: string): boolean {
  const number = v.replace(/\s*(?:ext\.?|x)\s*\d+\s*$/i, '');
  return !/[a-z]/i.test(number) && number.replace(/\D/g, '').length >= 10;
}

/** `YYYY-MM-DD…` naming a day that exists. */
function validDate(v: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(v);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
}

type Row = Record<string, string>;

/** The user's mapping and checks: the item to write, 'deleted', or 'invalid'. */
export function toItem(
  row: Row,
  mapping: ReadonlyArray<[string, string]>,
): Record<string, AttributeValue> | 'deleted' | 'invalid' {
  if (row.IsDeleted === 'true') return 'deleted';
  const id = row.Id?.trim();
  if (!id || !row.LastName?.trim()) return 'invalid';
  if (row.Email && !EMAIL.test(row.Email.trim())) return 'invalid';
  if (row.Phone && !validPhone(row.Phone)) return 'invalid';
  if (row.MobilePhone && !validPhone(row.MobilePhone)) return 'invalid';
  for (const col of ['CreatedDate', 'LastModifiedDate', 'Birthdate']) {
    const v = row[col];
    if (v && !validDate(v)) return 'invalid';
  }
  const item: Record<string, AttributeValue> = {};
  for (const [target, source] of mapping) {
    const v = row[source]?.trim();
    if (!v) continue;
    item[target] =
      source === 'HasOptedOutOfEmail' || source === 'IsDeleted' ? { BOOL: v === 'true' } : { S: v };
  }
  return item;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function batchWriteAll(client: DynamoDBClient, requests: WriteRequest[], stats: { calls: number }) {
  let pending = requests;
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (attempt > 0) await sleep(Math.random() * Math.min(2000, 25 * 2 ** attempt));
    stats.calls++;
    const out = await client.send(new BatchWriteItemCommand({ RequestItems: { [BASELINE_TABLE]: pending } }));
    pending = out.UnprocessedItems?.[BASELINE_TABLE] ?? [];
  }
}

export async function countItems(client: DynamoDBClient, table: string): Promise<number> {
  const segments = 4;
  const counts = await Promise.all(
    Array.from({ length: segments }, async (_, segment) => {
      let n = 0;
      let start: Record<string, AttributeValue> | undefined;
      do {
        const out = await client.send(
          new ScanCommand({
            TableName: table,
            Select: 'COUNT',
            Segment: segment,
            TotalSegments: segments,
            ExclusiveStartKey: start,
          }),
        );
        n += out.Count ?? 0;
        start = out.LastEvaluatedKey;
      } while (start);
      return n;
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
}

export function dynamoClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

export async function load(
  mode: LoadMode,
  file: string,
  dynamoDir: string,
  options: { limit?: number | undefined; inFlight?: number | undefined },
): Promise<LoadResult> {
  const dynamo = await startDynalite(dynamoDir);
  const client = dynamoClient(dynamo.endpoint);
  try {
    await client.send(
      new CreateTableCommand({
        TableName: BASELINE_TABLE,
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      }),
    );
    await waitUntilTableExists(
      { client, minDelay: 0.05, maxDelay: 0.5, maxWaitTime: 60 },
      { TableName: BASELINE_TABLE },
    );
    const mapping = mappingOf();
    const inFlight = options.inFlight ?? (mode === 'batch' ? 8 : 32);
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    const result: LoadResult = {
      mode,
      rowsRead: 0,
      invalid: 0,
      deleted: 0,
      writes: 0,
      calls: 0,
      conditionFailed: 0,
      bytes: 0,
      ms: 0,
      items: 0,
      inFlight,
    };
    const keys = mode === 'put' ? new Set<string>() : undefined;
    const running = new Set<Promise<void>>();
    const track = (p: Promise<void>): void => {
      const tracked = p.then(() => {
        running.delete(tracked);
      });
      running.add(tracked);
    };
    let failure: unknown;
    const started = performance.now();
    const parser = createReadStream(file, { highWaterMark: 1024 * 1024 }).pipe(
      parse({ columns: true, bom: true, info: true }),
    );
    let batch = new Map<string, WriteRequest>();
    const flush = (): void => {
      const requests = [...batch.values()];
      batch = new Map();
      result.writes += requests.length;
      track(
        batchWriteAll(client, requests, result).catch((err: unknown) => {
          failure ??= err;
        }),
      );
    };
    for await (const { record, info } of parser as AsyncIterable<{ record: Row; info: { bytes: number } }>) {
      if (result.rowsRead >= limit) break;
      result.rowsRead++;
      result.bytes = info.bytes;
      const item = toItem(record, mapping);
      if (item === 'deleted') result.deleted++;
      else if (item === 'invalid') result.invalid++;
      else {
        const key = (item.id as { S: string }).S;
        if (keys) {
          keys.add(key);
          const version = item.lastModifiedDate ?? { S: '' };
          result.writes++;
          track(
            client
              .send(
                new PutItemCommand({
                  TableName: BASELINE_TABLE,
                  Item: { ...item, _v: version },
                  ConditionExpression: 'attribute_not_exists(id) OR #v < :v',
                  ExpressionAttributeNames: { '#v': '_v' },
                  ExpressionAttributeValues: { ':v': version },
                }),
              )
              .then(
                () => undefined,
                (err: unknown) => {
                  if (err instanceof ConditionalCheckFailedException) result.conditionFailed++;
                  else failure ??= err;
                },
              ),
          );
        } else {
          batch.set(key, { PutRequest: { Item: item } });
          if (batch.size === 25) flush();
        }
      }
      while (running.size >= inFlight) await Promise.race(running);
      if (failure) throw failure;
    }
    parser.destroy();
    if (batch.size > 0) flush();
    await Promise.all(running);
    if (failure) throw failure;
    result.ms = Math.round(performance.now() - started);
    result.items = await countItems(client, BASELINE_TABLE);
    if (keys) result.distinctKeys = keys.size;
    return result;
  } finally {
    client.destroy();
    await dynamo.stop();
  }
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { limit: { type: 'string' }, 'in-flight': { type: 'string' } },
  });
  const [mode, file, dir] = positionals;
  if ((mode !== 'batch' && mode !== 'put') || !file || !dir) {
    throw new Error('usage: baseline.ts <batch|put> <file.csv> <dynamoDir> [--limit N] [--in-flight N]');
  }
  const result = await load(mode, file, dir, {
    limit: values.limit === undefined ? undefined : Number(values.limit),
    inFlight: values['in-flight'] === undefined ? undefined : Number(values['in-flight']),
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exitCode = 1;
  });
}
