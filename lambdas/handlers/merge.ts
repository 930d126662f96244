import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import type { WriteRequest } from '@aws-sdk/client-dynamodb';
import middy from '@middy/core';
import pLimit from 'p-limit';
import { batchGetUntil, batchWrite, toAttributeMap } from '../adapters/dynamodb';
import { Ledger } from '../adapters/ledger';
import { logger, tracer } from '../adapters/powertools';
import { putObject, readText, readTextIfExists } from '../adapters/s3';
import { TombstoneStore } from '../adapters/tombstones';
import { partitionItemSchema, workerBatchSchema } from '../contract/job';
import { partitionOutcomeSchema } from '../contract/results';
import { META, readPartLines, type StoredVersion } from '../domain/chunk';
import { getEntity } from '../domain/config';
import { LockLostError } from '../domain/errors';
import { notCarriedFields } from '../domain/mapping';
import { type CarriedAttributes, PartitionMerger, storedVersionOf } from '../domain/merge';
import {
  formatMergeProgress,
  formatMergeReads,
  isMergeReadsText,
  isPartitionLeft,
  type MergeProgressHeader,
  type MergeReadHeader,
  type MergeReads,
  mergeDeadline,
  type PartitionOutcome,
  parseMergeProgress,
  parseMergeReads,
  readsDone,
  readsLeft,
  type StoredWrite,
} from '../domain/merge-progress';
import { parseKeyLines } from '../domain/mirror';
import {
  LOCK_LEASE_MS,
  type PartitionItem,
  type PartitionResult,
  type WorkerJob,
  workKeys,
} from '../domain/run';
import { TokenBucket } from '../domain/token-bucket';
import { parseEvent, targetTable, workerEnv } from './env';

const eventSchema = workerBatchSchema({}, partitionItemSchema);

/**
 * The entity's lock, before anything is written: this run's (the usual case), or taken again when
 * it is free, which happens in the moments between a Step Functions redrive and the recorder taking
 * it back for the run. Another run holding it fails the partition (LockLostError): each key has one
 * writer. Returns who held it before (this run: nothing was given back since Plan), and when the
 * lock the run holds now was taken.
 */
async function holdLock(
  ledger: Ledger,
  job: WorkerJob,
): Promise<{ before: string | undefined; since: string }> {
  const held = await ledger.lockOf(job.entity);
  if (held?.runId === job.runId) return { before: held.runId, since: held.since };
  const now = Date.now();
  const lock = await ledger.acquireLock(job.entity, job.runId, LOCK_LEASE_MS, now);
  if (!lock.acquired) {
    throw new LockLostError(
      `run ${lock.holder} of "${job.entity}" holds the entity's lock (since ${lock.since}): ` +
        `redrive run ${job.runId} after it ends`,
    );
  }
  return { before: held?.runId, since: new Date(now).toISOString() };
}

/**
 * Merges one partition: reads its part of every chunk, so it holds every version of its keys,
 * picks the winner per key, reads what the target holds (BatchGetItem), classifies each winner and
 * writes puts and deletes with BatchWriteItem. Re-running it after a crash converges: what was
 * already written reads back as unchanged.
 *
 * Writes stop at `deadline` (a time-bounded pass): the counts, fixed by this first classification,
 * and the writes left go to a progress object under the work prefix, and the partition comes back
 * as a PartitionLeft. The next pass (the workflow's merge loop) reads that object, under the same
 * lock, and writes only what is left; the last pass records and returns the PartitionResult.
 */
export async function mergePartition(
  job: WorkerJob,
  item: PartitionItem,
  deadline = Number.POSITIVE_INFINITY,
): Promise<PartitionOutcome> {
  const started = Date.now();
  const env = workerEnv();
  const entity = getEntity(env.config, job.entity);
  const table = targetTable(env, job.entity);
  const keyName = entity.target.key;
  const ledger = new Ledger(env.ledgerTable);
  const writeRate = job.writeUnitsPerSecond ? new TokenBucket(job.writeUnitsPerSecond) : undefined;
  const progressKey = workKeys.mergeProgress(job.workPrefix, item.partition);
  const lock = job.dryRun ? undefined : await holdLock(ledger, job);

  /**
   * Writes `writes` until the deadline; then `reports` (the first pass's merged and duplicates
   * objects: only once its writes went out without an error), and the progress object, or the
   * partition's result.
   */
  const graves = new TombstoneStore(env.ledgerTable, job.entity);
  const until = Number.isFinite(deadline) ? deadline : undefined;
  const writePass = async (
    result: PartitionResult,
    passes: number,
    writes: Iterable<StoredWrite>,
    reports?: () => Promise<void>,
    tombstoneWrites: readonly StoredWrite[] = [],
  ): Promise<PartitionOutcome> => {
    // Tombstones first: a crash between them and the deletes leaves items that the retry deletes
    // again. The target's writes start only once every tombstone is written.
    const graved = lock
      ? await graves.putRequests(tombstoneWrites as WriteRequest[], until)
      : { left: [], written: 0 };
    const out = !lock
      ? { left: [], written: 0 }
      : graved.left.length > 0
        ? { left: [...writes] as WriteRequest[], written: 0 }
        : await batchWrite(table, writes as Iterable<WriteRequest>, {
            inFlight: 8,
            rate: writeRate,
            ...(until !== undefined ? { deadline: until } : {}),
          });
    await reports?.();
    const durationMs = result.durationMs + Date.now() - started;
    if (lock && (out.left.length > 0 || graved.left.length > 0)) {
      const header: MergeProgressHeader = {
        version: 1,
        runId: job.runId,
        partition: item.partition,
        lockSince: lock.since,
        result: { ...result, durationMs },
        passes: passes + 1,
      };
      await putObject(
        env.bucket,
        progressKey,
        formatMergeProgress(header, out.left as StoredWrite[], graved.left as StoredWrite[]),
        'application/x-ndjson',
      );
      return {
        partition: item.partition,
        chunks: item.chunks,
        complete: false,
        left: out.left.length + graved.left.length,
        written: out.written + graved.written,
      };
    }
    const done: PartitionResult = { ...result, durationMs };
    await ledger.recordStep(job.runId, { kind: 'partition', ...done });
    return done;
  };

  // A later pass: the writes the last one left, or the reads, if it made them under the lock the
  // run holds now.
  let saved: { header: MergeReadHeader; reads: MergeReads } | undefined;
  if (lock && lock.before === job.runId) {
    const text = await readTextIfExists({ bucket: env.bucket, key: progressKey });
    if (text !== '') {
      const expected = { runId: job.runId, partition: item.partition, lockSince: lock.since };
      const parsed = isMergeReadsText(text)
        ? parseMergeReads(text, expected, keyName)
        : parseMergeProgress(text, expected);
      if ('writes' in parsed) {
        const { header, writes, tombstoneWrites } = parsed;
        return writePass(header.result, header.passes, writes, undefined, tombstoneWrites);
      }
      if ('reads' in parsed) saved = parsed;
      else {
        logger.warn('merge progress not used: the partition is merged from its parts again', {
          runId: job.runId,
          partition: item.partition,
          reason: parsed.reason,
        });
      }
    }
  }

  const merger = new PartitionMerger();
  // The winner rule does not depend on arrival order, so parts are read 8 at a time.
  const limit = pLimit(8);
  await Promise.all(
    Array.from({ length: item.chunks }, (_, chunk) =>
      limit(async () => {
        const text = await readText({
          bucket: env.bucket,
          key: workKeys.part(job.workPrefix, item.partition, chunk),
        });
        for (const line of readPartLines(text)) merger.add(line);
      }),
    ),
  );

  // Whole items: a read costs the same RCUs with or without a projection, and the content digest
  // must come from what the table holds now.
  // This worker's share of the table's throughput (Plan's layout): the workers together stay under it.
  const readRate = job.readUnitsPerSecond ? new TokenBucket(job.readUnitsPerSecond) : undefined;
  // A first load (the target was empty at Plan) has nothing stored to read, as long as this run
  // still holds the entity's lock: a run resumed after its lock was given back (a Step Functions
  // redrive after a failure) may find other runs' items, so it reads. A retried partition of a
  // first load writes its puts again: the same items, counted applied once.
  const firstLoad = job.targetEmpty === true && lock?.before === job.runId;
  // Reads stop at the deadline too (only under the lock: a dry run keeps no progress), and hand
  // back the keys left: the next pass reads only those, then classifies.
  const readUntil = lock ? until : undefined;
  const reads: MergeReads = saved?.reads ?? {
    stored: new Map(),
    targetLeft: firstLoad ? [] : merger.keys(),
    tombstones: new Map(),
    tombstonesLeft: undefined,
  };
  let readNow = 0;
  if (reads.targetLeft.length > 0) {
    const out = await batchGetUntil(table, keyName, reads.targetLeft, {
      rate: readRate,
      deadline: readUntil,
    });
    for (const [k, it] of out.found) reads.stored.set(k, it);
    reads.targetLeft = out.left;
    readNow += out.read;
  }
  // Tombstones matter only for keys the target does not hold, and only once the entity has any.
  if (reads.targetLeft.length === 0 && reads.tombstonesLeft === undefined) {
    const absent = merger.keys().filter((k) => !reads.stored.has(k));
    reads.tombstonesLeft = absent.length > 0 && (await graves.any()) ? absent : [];
  }
  if (reads.targetLeft.length === 0 && reads.tombstonesLeft && reads.tombstonesLeft.length > 0) {
    const out = await graves.getUntil(reads.tombstonesLeft, readUntil);
    for (const [k, t] of out.found) reads.tombstones.set(k, t);
    reads.tombstonesLeft = out.left;
    readNow += out.read;
  }
  // Reads that took more than half of the pass leave the rest (classify, tombstones, writes, the
  // reports) to a pass of its own: a pass never starts them without the time to save what is left.
  const late = readUntil !== undefined && readNow > 0 && readUntil - Date.now() < (readUntil - started) / 2;
  if (lock && readUntil !== undefined && (!readsDone(reads) || late)) {
    const header: MergeReadHeader = {
      version: 1,
      phase: 'read',
      runId: job.runId,
      partition: item.partition,
      lockSince: lock.since,
      passes: (saved?.header.passes ?? 0) + 1,
      durationMs: (saved?.header.durationMs ?? 0) + Date.now() - started,
    };
    await putObject(env.bucket, progressKey, formatMergeReads(header, reads), 'application/x-ndjson');
    return {
      partition: item.partition,
      chunks: item.chunks,
      complete: false,
      left: readsLeft(reads),
      written: 0,
      phase: 'read',
      read: readNow,
    };
  }
  const storedItems = reads.stored;
  const stored = new Map<string, StoredVersion>();
  for (const [k, it] of storedItems) stored.set(k, storedVersionOf(it));
  const tombstones = reads.tombstones;
  // A partial export (a file without some mapped columns) updates the attributes it carries and
  // keeps the stored values of the others, unless the entity asks for whole-item replacement.
  const carry: CarriedAttributes | undefined =
    entity.onMissingColumns !== 'remove'
      ? { fields: notCarriedFields(job.columns, job.format, entity), items: storedItems }
      : undefined;
  const outcome = merger.finish(stored, entity.writeMode, job.runId, tombstones, carry);
  // Written before the target's (writePass). A dry run stops here: it has classified every key and
  // writes nothing to the target or the ledger.
  const tombstoneWrites = job.dryRun ? [] : (graves.requests(outcome.tombstones) as StoredWrite[]);
  // Mirror mode: the items the full export leaves out, which CheckMirrorDeletes allowed (it refuses
  // the run before this step otherwise). Not source rows: they count apart from the row identity.
  const mirrorDeletes = job.mirror
    ? parseKeyLines(
        await readTextIfExists({ bucket: env.bucket, key: workKeys.mirror(job.workPrefix, item.partition) }),
      )
    : [];
  for (const key of mirrorDeletes) outcome.merged.push({ k: key, o: 'mirror', h: null });
  // Built as batches go out (batchWrite pulls 25 at a time): the attribute maps of a whole partition
  // never sit in memory beside its items.
  function* requests(): Generator<WriteRequest> {
    for (const c of outcome.puts) {
      yield {
        PutRequest: {
          Item: toAttributeMap({
            ...c.item,
            [META.version]: c.version,
            [META.line]: c.line,
            [META.run]: job.runId,
            [META.digest]: c.digest,
          }),
        },
      };
    }
    for (const c of outcome.deletes) yield { DeleteRequest: { Key: { [keyName]: { S: c.key } } } };
    for (const key of mirrorDeletes) yield { DeleteRequest: { Key: { [keyName]: { S: key } } } };
  }
  const reports = async () => {
    await putObject(
      env.bucket,
      workKeys.merged(job.workPrefix, item.partition),
      outcome.merged.map((m) => JSON.stringify(m)).join('\n'),
      'application/x-ndjson',
    );
    if (outcome.duplicates.length > 0) {
      await putObject(
        env.bucket,
        workKeys.duplicates(job.workPrefix, item.partition),
        outcome.duplicates.map((d) => JSON.stringify(d)).join('\n'),
        'application/x-ndjson',
      );
    }
  };
  const result: PartitionResult = {
    partition: item.partition,
    candidates: merger.candidates,
    applied: outcome.puts.length + outcome.alreadyApplied,
    unchanged: outcome.unchanged,
    superseded: outcome.superseded,
    deleted: outcome.deletes.length + outcome.alreadyDeleted,
    duplicateKeys: outcome.duplicates.length,
    ...(job.mirror ? { mirrorDeleted: mirrorDeletes.length } : {}),
    durationMs: saved?.header.durationMs ?? 0,
  };
  return writePass(
    result,
    saved?.header.passes ?? 0,
    requests() as Iterable<StoredWrite>,
    reports,
    tombstoneWrites,
  );
}

/**
 * Merges the Map's partitions. With Lambda's context, each pass writes until mergeDeadline of the
 * invocation's remaining time, and a partition it did not finish comes back as a PartitionLeft
 * (`complete: false`) for the workflow's next pass; without one (a direct call), until done.
 */
export async function mergeHandler(
  event: unknown,
  context?: { getRemainingTimeInMillis?: () => number },
): Promise<{ partitions: PartitionOutcome[] }> {
  const deadline = mergeDeadline(Date.now(), context?.getRemainingTimeInMillis?.());
  const data = parseEvent(eventSchema, event, 'merge');
  const job = data.BatchInput.job;
  const ledger = new Ledger(workerEnv().ledgerTable);
  const partitions: PartitionOutcome[] = [];
  for (const item of data.Items) {
    // A resumed run: a partition that already succeeded keeps its writes, reports and counts.
    const result = await ledger.runStep(
      job.runId,
      { kind: 'partition', partition: item.partition },
      partitionOutcomeSchema,
      () => mergePartition(job, item, deadline),
    );
    logger.info(isPartitionLeft(result) ? 'partition left for the next pass' : 'partition merged', {
      runId: job.runId,
      partition: item.partition,
      ...(isPartitionLeft(result)
        ? { left: result.left, written: result.written }
        : { applied: result.applied }),
    });
    partitions.push(result);
  }
  return { partitions };
}

export const handler = middy(mergeHandler)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(captureLambdaHandler(tracer, { captureResponse: false }));
