import type { WriteRequest } from '@aws-sdk/client-dynamodb';
import { type Candidate, META, type Tombstone } from '../domain/chunk';
import type { TableKey } from '../domain/keys';
import type { StoredWrite } from '../domain/merge-progress';
import type { TokenBucket } from '../domain/token-bucket';
import { batchWrite, keyAttributeMap, toAttributeMap } from './dynamodb';
import type { TombstoneStore } from './tombstones';

/**
 * A merge's writes as BatchWriteItem requests, in the order they go out: the winners' puts (the item
 * with the version, line, run and digest attributes), the deletes, then the mirror deletes (keys the
 * full export left out). Built as batches go out (batchWrite pulls 25 at a time): the attribute maps
 * of a whole partition never sit in memory beside its items.
 */
export function* targetWriteRequests(
  table: TableKey,
  runId: string,
  writes: {
    puts: readonly Candidate[];
    deletes: readonly Pick<Candidate, 'key'>[];
    mirrorDeletes: readonly string[];
  },
): Generator<StoredWrite> {
  for (const c of writes.puts) {
    yield {
      PutRequest: {
        Item: toAttributeMap({
          ...c.item,
          [META.version]: c.version,
          [META.line]: c.line,
          [META.run]: runId,
          [META.digest]: c.digest,
        }),
      },
    };
  }
  for (const c of writes.deletes) yield { DeleteRequest: { Key: keyAttributeMap(table, c.key) } };
  for (const key of writes.mirrorDeletes) yield { DeleteRequest: { Key: keyAttributeMap(table, key) } };
}

/** The ledger's write requests of a merge's tombstones, as the progress object keeps them. */
export function tombstoneWriteRequests(
  graves: TombstoneStore,
  tombstones: ReadonlyArray<{ key: string; tombstone: Tombstone }>,
): StoredWrite[] {
  return graves.requests(tombstones) as StoredWrite[];
}

/**
 * Writes a merge pass's requests until `deadline` (ms since the epoch; unset: all): the tombstones
 * first, then the target's. A crash between them and the deletes leaves items that the retry deletes
 * again; the target's writes start only once every tombstone is written (else they are all left).
 * The requests not written come back in `left` and `tombstonesLeft` (the next pass's).
 */
export async function writeMergeRequests(
  table: string,
  graves: TombstoneStore,
  writes: Iterable<StoredWrite>,
  tombstoneWrites: readonly StoredWrite[],
  options: { rate: TokenBucket | undefined; deadline: number | undefined },
): Promise<{ left: StoredWrite[]; tombstonesLeft: StoredWrite[]; written: number }> {
  // A progress object's requests are the JSON of the WriteRequests an earlier pass built.
  const graved = await graves.putRequests(tombstoneWrites as WriteRequest[], options.deadline);
  const out =
    graved.left.length > 0
      ? { left: [...writes] as WriteRequest[], written: 0 }
      : await batchWrite(table, writes as Iterable<WriteRequest>, {
          inFlight: 8,
          rate: options.rate,
          ...(options.deadline !== undefined ? { deadline: options.deadline } : {}),
        });
  return {
    left: out.left as StoredWrite[],
    tombstonesLeft: graved.left as StoredWrite[],
    written: out.written + graved.written,
  };
}
