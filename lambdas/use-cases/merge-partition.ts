import pLimit from 'p-limit';
import { batchGetUntil } from '../adapters/dynamodb';
import { Ledger } from '../adapters/ledger';
import { logger } from '../adapters/powertools';
import { putObject, readText, readTextIfExists } from '../adapters/s3';
import { targetWriteRequests, tombstoneWriteRequests, writeMergeRequests } from '../adapters/target-writes';
import { TombstoneStore } from '../adapters/tombstones';
import { readPartLines, type StoredVersion } from '../domain/chunk';
import type { EntityConfig } from '../domain/config';
import { KeyCollisionError, LockLostError } from '../domain/errors';
import { entityFilterOf, entityKeys, type TableKey } from '../domain/keys';
import { notCarriedFields } from '../domain/mapping';
import { type CarriedAttributes, type MergeOutcome, PartitionMerger, storedVersionOf } from '../domain/merge';
import {
  formatMergeProgress,
  formatMergeReads,
  isMergeReadsText,
  type MergeProgressHeader,
  type MergeReadHeader,
  type MergeReads,
  type PartitionLeft,
  type PartitionOutcome,
  parseMergeProgress,
  parseMergeReads,
  readsEndPass,
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
import type { Value } from '../domain/value';

/** Where a merge reads and writes: the work bucket, the ledger table, the entity and its target table. */
export interface MergePartitionDeps {
  bucket: string;
  ledgerTable: string;
  entity: EntityConfig;
  table: string;
}

/** One pass over one partition: what its steps share. */
interface MergePass {
  /** The work bucket (parts, progress objects, reports). */
  bucket: string;
  job: WorkerJob;
  item: PartitionItem;
  entity: EntityConfig;
  table: string;
  /** The target table's key attributes (lambdas/domain/keys.ts). */
  tableKey: TableKey;
  ledger: Ledger;
  graves: TombstoneStore;
  progressKey: string;
  /** When the pass started (ms since the epoch). */
  started: number;
  /** When its writes stop (ms since the epoch; unset: when done). */
  until: number | undefined;
  /** This worker's write ceiling, WCU/s (its share of the table's throughput). */
  writeRate: TokenBucket | undefined;
  /** The entity's lock this run holds (unset: a dry run). */
  lock: HeldLock | undefined;
}

/** Who held the entity's lock before this pass (this run: nothing was given back since Plan), and since when the run holds it. */
interface HeldLock {
  before: string | undefined;
  since: string;
}

/** What an earlier pass of this partition saved: its writes left, or its reads. */
type SavedProgress =
  | { header: MergeProgressHeader; writes: StoredWrite[]; tombstoneWrites: StoredWrite[] }
  | { header: MergeReadHeader; reads: MergeReads };

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
  deps: MergePartitionDeps,
  job: WorkerJob,
  item: PartitionItem,
  deadline = Number.POSITIVE_INFINITY,
): Promise<PartitionOutcome> {
  const started = Date.now();
  const { entity, table } = deps;
  const ledger = new Ledger(deps.ledgerTable);
  const writeRate = job.writeUnitsPerSecond ? new TokenBucket(job.writeUnitsPerSecond) : undefined;
  const lock = job.dryRun ? undefined : await holdLock(ledger, job);
  const pass: MergePass = {
    bucket: deps.bucket,
    job,
    item,
    entity,
    table,
    tableKey: entityKeys(entity).table,
    ledger,
    graves: new TombstoneStore(deps.ledgerTable, job.entity),
    progressKey: workKeys.mergeProgress(job.workPrefix, item.partition),
    started,
    until: Number.isFinite(deadline) ? deadline : undefined,
    writeRate,
    lock,
  };
  const saved = lock && lock.before === job.runId ? await readSavedProgress(pass, lock) : undefined;
  if (saved && 'writes' in saved) {
    const { header, writes, tombstoneWrites } = saved;
    return writePass(pass, header.result, header.passes, writes, undefined, tombstoneWrites);
  }
  const readsSaved = saved && 'reads' in saved ? saved : undefined;
  const merger = await readParts(pass);
  const { reads, read } = await readStoredVersions(pass, merger, readsSaved?.reads);
  // Reads stop at the deadline too (only under the lock: a dry run keeps no progress).
  const readUntil = lock ? pass.until : undefined;
  if (lock && readsEndPass(reads, { deadline: readUntil, started, now: Date.now(), read })) {
    return saveReads(pass, lock, reads, read, readsSaved?.header);
  }
  const { outcome, mirrorDeletes, result } = await decide(pass, merger, reads, readsSaved?.header);
  // Written before the target's (writePass). A dry run stops here: it has classified every key and
  // writes nothing to the target or the ledger.
  const tombstoneWrites = job.dryRun ? [] : tombstoneWriteRequests(pass.graves, outcome.tombstones);
  return writePass(
    pass,
    result,
    readsSaved?.header.passes ?? 0,
    targetWriteRequests(pass.tableKey, job.runId, { ...outcome, mirrorDeletes }),
    () => writeReports(pass, outcome),
    tombstoneWrites,
  );
}

/**
 * The entity's lock, before anything is written: this run's (the usual case), or taken again when
 * it is free, which happens in the moments between a Step Functions redrive and the recorder taking
 * it back for the run. Another run holding it fails the partition (LockLostError): each key has one
 * writer. Returns who held it before (this run: nothing was given back since Plan), and when the
 * lock the run holds now was taken.
 */
async function holdLock(ledger: Ledger, job: WorkerJob): Promise<HeldLock> {
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
 * A later pass: the writes the last one left, or the reads, if it made them under the lock the run
 * holds now. A progress object that does not fit is logged and not used (the partition is merged
 * from its parts again).
 */
async function readSavedProgress(pass: MergePass, lock: HeldLock): Promise<SavedProgress | undefined> {
  const { job, item } = pass;
  const text = await readTextIfExists({ bucket: pass.bucket, key: pass.progressKey });
  if (text === '') return undefined;
  const expected = { runId: job.runId, partition: item.partition, lockSince: lock.since };
  const parsed = isMergeReadsText(text)
    ? parseMergeReads(text, expected, pass.tableKey)
    : parseMergeProgress(text, expected);
  if ('writes' in parsed || 'reads' in parsed) return parsed;
  logger.warn('merge progress not used: the partition is merged from its parts again', {
    runId: job.runId,
    partition: item.partition,
    reason: parsed.reason,
  });
  return undefined;
}

/** Every chunk's part of the partition. The winner rule does not depend on arrival order, so parts are read 8 at a time. */
async function readParts(pass: MergePass): Promise<PartitionMerger> {
  const { bucket, job, item } = pass;
  const merger = new PartitionMerger();
  const limit = pLimit(8);
  await Promise.all(
    Array.from({ length: item.chunks }, (_, chunk) =>
      limit(async () => {
        const text = await readText({
          bucket,
          key: workKeys.part(job.workPrefix, item.partition, chunk),
        });
        for (const line of readPartLines(text)) merger.add(line);
      }),
    ),
  );
  return merger;
}

/**
 * What the target holds of the partition's keys, and the tombstones of those it does not hold,
 * continuing the reads an earlier pass saved. Under the lock, reads stop at the deadline and hand
 * back the keys left: the next pass reads only those, then classifies. `read`: keys read now.
 */
async function readStoredVersions(
  pass: MergePass,
  merger: PartitionMerger,
  saved: MergeReads | undefined,
): Promise<{ reads: MergeReads; read: number }> {
  const { job, lock, graves } = pass;
  // Whole items: a read costs the same RCUs with or without a projection, and the content digest
  // must come from what the table holds now.
  // This worker's share of the table's throughput (Plan's layout): the workers together stay under it.
  const readRate = job.readUnitsPerSecond ? new TokenBucket(job.readUnitsPerSecond) : undefined;
  // A first load (the target was empty at Plan) has nothing stored to read, as long as this run
  // still holds the entity's lock: a run resumed after its lock was given back (a Step Functions
  // redrive after a failure) may find other runs' items, so it reads. A retried partition of a
  // first load writes its puts again: the same items, counted applied once.
  const firstLoad = job.targetEmpty === true && lock?.before === job.runId;
  const readUntil = lock ? pass.until : undefined;
  const reads: MergeReads = saved ?? {
    stored: new Map(),
    targetLeft: firstLoad ? [] : merger.keys(),
    tombstones: new Map(),
    tombstonesLeft: undefined,
  };
  let read = 0;
  if (reads.targetLeft.length > 0) {
    const out = await batchGetUntil(pass.table, pass.tableKey, reads.targetLeft, {
      rate: readRate,
      deadline: readUntil,
    });
    for (const [k, it] of out.found) reads.stored.set(k, it);
    reads.targetLeft = out.left;
    read += out.read;
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
    read += out.read;
  }
  return { reads, read };
}

/** Ends a pass after its reads: they go to the progress object, and the partition is left for the next pass. */
async function saveReads(
  pass: MergePass,
  lock: HeldLock,
  reads: MergeReads,
  read: number,
  saved: MergeReadHeader | undefined,
): Promise<PartitionLeft> {
  const { job, item } = pass;
  const header: MergeReadHeader = {
    version: 1,
    phase: 'read',
    runId: job.runId,
    partition: item.partition,
    lockSince: lock.since,
    passes: (saved?.passes ?? 0) + 1,
    durationMs: (saved?.durationMs ?? 0) + Date.now() - pass.started,
  };
  await putObject(pass.bucket, pass.progressKey, formatMergeReads(header, reads), 'application/x-ndjson');
  return {
    partition: item.partition,
    chunks: item.chunks,
    complete: false,
    left: readsLeft(reads),
    written: 0,
    phase: 'read',
    read,
  };
}

/**
 * Classifies every winner against what the target holds (PartitionMerger.finish), adds the mirror
 * deletes, and counts the partition's result (its durationMs: the read passes' so far).
 */
async function decide(
  pass: MergePass,
  merger: PartitionMerger,
  reads: MergeReads,
  saved: MergeReadHeader | undefined,
): Promise<{ outcome: MergeOutcome; mirrorDeletes: string[]; result: PartitionResult }> {
  const { bucket, job, item, entity } = pass;
  checkEntityTypes(entity, reads.stored, item.partition);
  const stored = new Map<string, StoredVersion>();
  for (const [k, it] of reads.stored) stored.set(k, storedVersionOf(it));
  // A partial export (a file without some mapped columns) updates the attributes it carries and
  // keeps the stored values of the others, unless the entity asks for whole-item replacement.
  const carry: CarriedAttributes | undefined =
    entity.onMissingColumns !== 'remove'
      ? { fields: notCarriedFields(job.columns, job.format, entity), items: reads.stored }
      : undefined;
  const outcome = merger.finish(stored, entity.writeMode, job.runId, reads.tombstones, carry);
  // Mirror mode: the items the full export leaves out, which CheckMirrorDeletes allowed (it refuses
  // the run before this step otherwise). Not source rows: they count apart from the row identity.
  const mirrorDeletes = job.mirror
    ? parseKeyLines(await readTextIfExists({ bucket, key: workKeys.mirror(job.workPrefix, item.partition) }))
    : [];
  for (const key of mirrorDeletes) outcome.merged.push({ k: key, o: 'mirror', h: null });
  const result: PartitionResult = {
    partition: item.partition,
    candidates: merger.candidates,
    applied: outcome.puts.length + outcome.alreadyApplied,
    unchanged: outcome.unchanged,
    superseded: outcome.superseded,
    deleted: outcome.deletes.length + outcome.alreadyDeleted,
    duplicateKeys: outcome.duplicates.length,
    ...(job.mirror ? { mirrorDeleted: mirrorDeletes.length } : {}),
    durationMs: saved?.durationMs ?? 0,
  };
  return { outcome, mirrorDeletes, result };
}

/**
 * On a table whose items carry the entity type, every stored item the partition's keys read must be
 * this entity's: else two entities' key templates overlap, and writing would overwrite (or delete)
 * the other entity's item. KeyCollisionError, before anything of the partition is written.
 */
function checkEntityTypes(
  entity: EntityConfig,
  stored: ReadonlyMap<string, Readonly<Record<string, Value>>>,
  partition: number,
): void {
  const only = entityFilterOf(entity);
  if (!only) return;
  for (const [key, it] of stored) {
    const type = it[only.name];
    if (type === only.value) continue;
    throw new KeyCollisionError(
      `key ${key} names an item of ${type === undefined ? `no entity (it has no ${only.name} attribute)` : `entity "${String(type)}" (${only.name})`}, not of "${only.value}": the key templates of the table's entities overlap; nothing of partition ${partition} was written`,
    );
  }
}

/** The first pass's merged and duplicates objects (written once its writes went out without an error). */
async function writeReports(pass: MergePass, outcome: MergeOutcome): Promise<void> {
  const { bucket, job, item } = pass;
  await putObject(
    bucket,
    workKeys.merged(job.workPrefix, item.partition),
    outcome.merged.map((m) => JSON.stringify(m)).join('\n'),
    'application/x-ndjson',
  );
  if (outcome.duplicates.length > 0) {
    await putObject(
      bucket,
      workKeys.duplicates(job.workPrefix, item.partition),
      outcome.duplicates.map((d) => JSON.stringify(d)).join('\n'),
      'application/x-ndjson',
    );
  }
}

/**
 * Writes `writes` until the deadline (tombstones first); then `reports`, and the progress object of
 * the writes left (a PartitionLeft), or the partition's result, recorded in the ledger. A dry run
 * writes nothing.
 */
async function writePass(
  pass: MergePass,
  result: PartitionResult,
  passes: number,
  writes: Iterable<StoredWrite>,
  reports: (() => Promise<void>) | undefined,
  tombstoneWrites: readonly StoredWrite[],
): Promise<PartitionOutcome> {
  const { bucket, job, item, lock } = pass;
  const out = lock
    ? await writeMergeRequests(pass.table, pass.graves, writes, tombstoneWrites, {
        rate: pass.writeRate,
        deadline: pass.until,
      })
    : { left: [], tombstonesLeft: [], written: 0 };
  await reports?.();
  const durationMs = result.durationMs + Date.now() - pass.started;
  if (lock && (out.left.length > 0 || out.tombstonesLeft.length > 0)) {
    const header: MergeProgressHeader = {
      version: 1,
      runId: job.runId,
      partition: item.partition,
      lockSince: lock.since,
      result: { ...result, durationMs },
      passes: passes + 1,
    };
    await putObject(
      bucket,
      pass.progressKey,
      formatMergeProgress(header, out.left, out.tombstonesLeft),
      'application/x-ndjson',
    );
    return {
      partition: item.partition,
      chunks: item.chunks,
      complete: false,
      left: out.left.length + out.tombstonesLeft.length,
      written: out.written,
    };
  }
  const done: PartitionResult = { ...result, durationMs };
  await pass.ledger.recordStep(job.runId, { kind: 'partition', ...done });
  return done;
}
