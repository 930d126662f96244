import { GetItemCommand, PutItemCommand, type WriteRequest } from '@aws-sdk/client-dynamodb';
import type { Tombstone } from '../domain/chunk';
import { dynamodbClient } from './clients';
import { batchGetUntil, batchWrite, toAttributeMap } from './dynamodb';

/**
 * Tombstones of deleted items, kept in the ledger table outside the target (DESIGN.md "Deletes"):
 * one item per deleted key (`TOMB#<entity>#<key>` / `TOMB`) holding the delete's (version, line),
 * the run that wrote it and whether that delete removed an item. A marker item per entity
 * (`TOMBS#<entity>` / `META`) records that the entity has any, so loads of entities that never
 * delete pay no extra reads.
 */
export class TombstoneStore {
  constructor(
    private readonly table: string,
    private readonly entity: string,
  ) {}

  private pk(key: string): string {
    return `TOMB#${this.entity}#${key}`;
  }

  /** Whether this entity has ever had a tombstone (one consistent GetItem). */
  async any(): Promise<boolean> {
    const out = await dynamodbClient().send(
      new GetItemCommand({
        TableName: this.table,
        Key: { pk: { S: `TOMBS#${this.entity}` }, sk: { S: 'META' } },
        ConsistentRead: true,
      }),
    );
    return out.Item !== undefined;
  }

  /** The tombstones of these keys (consistent reads). */
  async get(keys: readonly string[]): Promise<Map<string, Tombstone>> {
    return (await this.getUntil(keys)).found;
  }

  /**
   * The tombstones of these keys, read until `deadline` (ms since the epoch; unset: all): the keys
   * not read by then come back in `left`.
   */
  async getUntil(
    keys: readonly string[],
    deadline?: number,
  ): Promise<{ found: Map<string, Tombstone>; left: string[]; read: number }> {
    const found = new Map<string, Tombstone>();
    if (keys.length === 0) return { found, left: [], read: 0 };
    const prefix = this.pk('');
    const out = await batchGetUntil(
      this.table,
      'pk',
      keys.map((k) => this.pk(k)),
      { sortKey: { name: 'sk', value: 'TOMB' }, ...(deadline !== undefined ? { deadline } : {}) },
    );
    for (const [pk, it] of out.found) {
      found.set(pk.slice(prefix.length), {
        version: String(it.version ?? ''),
        line: Number(it.line ?? 0),
        run: String(it.run ?? ''),
        removed: it.removed === true,
      });
    }
    return { found, left: out.left.map((pk) => pk.slice(prefix.length)), read: out.read };
  }

  /** Writes tombstones (the marker first, so a reader never misses one). */
  async put(entries: ReadonlyArray<{ key: string; tombstone: Tombstone }>): Promise<void> {
    await this.putRequests(this.requests(entries));
  }

  /** The ledger's write requests of these tombstones. */
  requests(entries: ReadonlyArray<{ key: string; tombstone: Tombstone }>): WriteRequest[] {
    const at = new Date().toISOString();
    return entries.map(({ key, tombstone }) => ({
      PutRequest: {
        Item: toAttributeMap({
          pk: this.pk(key),
          sk: 'TOMB',
          entity: this.entity,
          key,
          ...tombstone,
          at,
        }),
      },
    }));
  }

  /**
   * Writes tombstone requests (the marker first), until `deadline` (ms since the epoch; unset: all):
   * the requests not written by then come back in `left`.
   */
  async putRequests(
    requests: readonly WriteRequest[],
    deadline?: number,
  ): Promise<{ left: WriteRequest[]; written: number }> {
    if (requests.length === 0) return { left: [], written: 0 };
    await dynamodbClient().send(
      new PutItemCommand({
        TableName: this.table,
        Item: { pk: { S: `TOMBS#${this.entity}` }, sk: { S: 'META' } },
      }),
    );
    const out = await batchWrite(this.table, requests, {
      inFlight: 4,
      ...(deadline !== undefined ? { deadline } : {}),
    });
    return { left: out.left, written: out.written };
  }
}
