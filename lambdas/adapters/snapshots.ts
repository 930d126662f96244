import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { createGzip } from 'node:zlib';
import {
  type AttributeValue,
  DescribeTableCommand,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  UpdateItemCommand,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { Upload } from '@aws-sdk/lib-storage';
import { marshall } from '@aws-sdk/util-dynamodb';
import { type BackupKind, backupLedgerKey } from '../domain/snapshot';
import { dynamodbClient, s3Client } from './clients';
import { batchWrite, queryPages, scanSegmentRaw } from './dynamodb';
import { setFields, withoutKey } from './ledger';
import { headObject, readObject } from './s3';

/** The table's size estimate (DynamoDB updates it about every six hours; 0 when unknown). */
export async function tableSizeBytes(table: string): Promise<number> {
  const out = await dynamodbClient().send(new DescribeTableCommand({ TableName: table }));
  return out.Table?.TableSizeBytes ?? 0;
}

/** Whether the table holds no item (one strongly consistent read of at most one item). */
export async function isTableEmpty(
  table: string,
  only?: { name: string; value: string } | undefined,
): Promise<boolean> {
  if (only) {
    // A filter applies after Limit: page through (one attribute) until one of the entity's items shows.
    for await (const page of scanSegmentRaw(table, 0, 1, {
      consistent: true,
      only,
      projection: [only.name],
    })) {
      if (page.length > 0) return false;
    }
    return true;
  }
  const out = await dynamodbClient().send(
    new ScanCommand({ TableName: table, Limit: 1, ConsistentRead: true }),
  );
  return (out.Items ?? []).length === 0 && out.LastEvaluatedKey === undefined;
}

/** Puts raw items with BatchWriteItem (25 per call, retried; see batchWrite). Keys must be unique. */
export async function putRawItems(
  table: string,
  items: ReadonlyArray<Record<string, unknown>>,
): Promise<void> {
  const requests: WriteRequest[] = items.map((Item) => ({
    PutRequest: { Item: Item as Record<string, AttributeValue> },
  }));
  await batchWrite(table, requests, { inFlight: 8 });
}

export async function objectExists(bucket: string, key: string): Promise<boolean> {
  try {
    await headObject({ bucket, key });
    return true;
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return false;
    throw err;
  }
}

/** A whole object's bytes. */
export async function readObjectBytes(bucket: string, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await readObject({ bucket, key })) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

/**
 * Writes text into a gzip object as it comes (multipart upload: bounded memory), and gives back
 * the object's size and SHA-256 (of the gzip bytes, as stored).
 */
export class GzipObjectWriter {
  private readonly gzip = createGzip();
  private readonly hash = createHash('sha256');
  private bytes = 0;
  private readonly upload: Promise<unknown>;

  constructor(bucket: string, key: string, contentType: string) {
    const body = new PassThrough();
    this.gzip.on('data', (chunk: Buffer) => {
      this.hash.update(chunk);
      this.bytes += chunk.length;
    });
    this.gzip.pipe(body);
    this.gzip.on('error', (err) => body.destroy(err));
    this.upload = new Upload({
      client: s3Client(),
      params: { Bucket: bucket, Key: key, Body: body, ContentType: contentType },
      queueSize: 2,
      partSize: 8 * 1024 * 1024,
    }).done();
    // Seen by close(); never an unhandled rejection meanwhile.
    this.upload.catch(() => {});
  }

  async write(text: string): Promise<void> {
    if (!this.gzip.write(text)) await once(this.gzip, 'drain');
  }

  async close(): Promise<{ bytes: number; sha256: string }> {
    this.gzip.end();
    await this.upload;
    return { bytes: this.bytes, sha256: this.hash.digest('hex') };
  }

  /** Gives up: the upload fails (no object is completed). */
  abort(err: Error): void {
    this.gzip.destroy(err);
  }
}

export type BackupStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED';

/** A snapshot or restore as the ledger holds it (`BACKUP#<entity>` / `SNAPSHOT#<id>` or `RESTORE#<id>`). */
export interface BackupRecord {
  kind: BackupKind;
  id: string;
  entity: string;
  status: BackupStatus;
  startedAt: string;
  finishedAt?: string | undefined;
  executionName?: string | undefined;
  /** The snapshot's prefix (a restore: where it restores from). */
  prefix?: string | undefined;
  items?: number | undefined;
  error?: string | undefined;
  cause?: string | undefined;
}

/** Snapshot and restore records in the ledger table, beside the runs (which they do not show among). */
export class BackupLedger {
  constructor(private readonly table: string) {}

  async put(record: BackupRecord): Promise<void> {
    const key = backupLedgerKey(record.entity, record.kind, record.id);
    await dynamodbClient().send(
      new PutItemCommand({
        TableName: this.table,
        Item: marshall({ ...key, ...record }, { removeUndefinedValues: true }),
      }),
    );
  }

  async get(entity: string, kind: BackupKind, id: string): Promise<BackupRecord | undefined> {
    const out = await dynamodbClient().send(
      new GetItemCommand({
        TableName: this.table,
        Key: marshall(backupLedgerKey(entity, kind, id)),
        ConsistentRead: true,
      }),
    );
    if (!out.Item) return undefined;
    return withoutKey<BackupRecord>(out.Item);
  }

  /** Sets fields of an existing record (no-op when there is none, e.g. a prepare that never ran). */
  async update(
    entity: string,
    kind: BackupKind,
    id: string,
    fields: Partial<Omit<BackupRecord, 'kind' | 'id' | 'entity'>>,
  ): Promise<void> {
    const set = setFields(fields);
    if (!set) return;
    try {
      await dynamodbClient().send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: marshall(backupLedgerKey(entity, kind, id)),
          UpdateExpression: set.expression,
          ExpressionAttributeNames: set.names,
          ExpressionAttributeValues: marshall(set.values),
          ConditionExpression: 'attribute_exists(pk)',
        }),
      );
    } catch (err) {
      if ((err as Error).name !== 'ConditionalCheckFailedException') throw err;
    }
  }

  /** The snapshots and restores of an entity, newest first. */
  async list(entity: string): Promise<BackupRecord[]> {
    const records: BackupRecord[] = [];
    for await (const page of queryPages({
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: marshall({ ':pk': backupLedgerKey(entity, 'snapshot', 'x').pk }),
      ConsistentRead: true,
    })) {
      for (const raw of page) records.push(withoutKey<BackupRecord>(raw));
    }
    return records.sort((a, b) => b.startedAt.localeCompare(a.startedAt));
  }
}
