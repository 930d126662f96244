/**
 * The scale planner: how a run of one file is laid out so that it stays inside AWS limits and
 * inside the target table's throughput, whatever the file size. Pure arithmetic (no AWS imports):
 * Plan (lambdas/use-cases/plan-chunks.ts) runs it on the object size and a sample of its rows, the stack
 * (lib/crm-sync-stack.ts) takes the function settings from here, and the cost estimator
 * (lambdas/domain/estimate.ts) prices the layout it returns.
 *
 * What adapts:
 * - chunk size: 8 MiB for files up to ~3 GB, then growing with the file (about 400 chunks) up to
 *   128 MiB, and never more than a transform worker processes in half its time limit or holds in
 *   half its memory. An explicit `source.chunkBytes` wins.
 * - partitions: enough that one merge worker finishes its partition in half its time limit at the
 *   table throughput it gets, and at most `partitionRows` rows each (max 10,000 partitions).
 * - Map concurrency: transform workers as many as the S3 request rate of the part uploads allows;
 *   merge workers as many as the table's write throughput feeds, each with its own write ceiling
 *   (the token bucket of the DynamoDB adapter), so that the workers together stay under the table
 *   instead of throttling blindly.
 */
import type { EntityConfig } from './config';
import { entityKeys } from './keys';
import { RUN_TIMEOUT_SECONDS } from './run';

const KiB = 1024;
const MiB = 1024 * KiB;

/** AWS limits the layout must respect (DESIGN.md, "Limits to design for (AWS)"). */
export const AWS_LIMITS = {
  /** Step Functions state input/output and Map child input. */
  statePayloadBytes: 256 * KiB,
  /** Events in one Standard execution's history. */
  standardHistoryEvents: 25_000,
  /** MaxConcurrency of a Distributed Map. */
  mapConcurrency: 10_000,
  /** Lambda timeout. */
  lambdaSeconds: 15 * 60,
  /** Lambda synchronous request and response. */
  lambdaPayloadBytes: 6 * MiB,
  /** An EXPRESS child execution (the Distributed Map workers). */
  expressSeconds: 5 * 60,
  batchWriteItems: 25,
  batchWriteBytes: 16 * MiB,
  itemBytes: 400 * KiB,
  /** S3 request rates per prefix (the run's parts share `work/<runId>/`). */
  s3PutsPerSecond: 3_500,
  s3GetsPerSecond: 5_500,
} as const;

/**
 * Memory and timeout of the crm-sync functions: the stack deploys these, the planner sizes work for
 * them. The workers run in EXPRESS children (5 minutes): 60 s each, so that three attempts to the
 * timeout and the retries' delays still fit (lib/sync-state-machine.ts, workerWorstCaseSeconds).
 * Plan streams the whole object to find record boundaries: it gets a full vCPU and the 15 minutes.
 */
export const FUNCTIONS = {
  plan: { memoryMb: 1769, timeoutSeconds: 900 },
  transform: { memoryMb: 1769, timeoutSeconds: 60 },
  merge: { memoryMb: 1769, timeoutSeconds: 60 },
  verify: { memoryMb: 1024, timeoutSeconds: 60 },
  reconcile: { memoryMb: 1024, timeoutSeconds: 900 },
} as const;

/** The run state machine's own time limit (lib/sync-state-machine.ts), defined with the run. */
export { RUN_TIMEOUT_SECONDS };

/**
 * Throughputs the planner assumes on Lambda (arm64). Where they come from:
 * - `npm run bench` measured the transform hot path (split, parse, map, validate, dedupe, digest,
 *   serialize) at 70,600 rows/s = 19.5 MB/s on one local core, and the splitter + parser at 124 MB/s
 *   (README, Performance). Since then the digest moved to the merge and the hot path measures
 *   25.8 MB/s on a slower hour; the planner keeps the earlier, conservative figures. Per row that is ~12 µs of work plus ~8 ns per byte. Lambda's 1769 MB
 *   vCPU, S3 streaming and the part uploads are counted at 3.5× slower: 42 µs per row and 35 MB/s.
 * - Plan's scan (the splitter only, one S3 stream): 80 MB/s, the lower of one S3 GET stream
 *   (~90 MB/s) and the splitter on one vCPU.
 * - Merge worker: BatchWriteItem 25 items a call, 8 in flight at ~50 ms: 4,000 items/s; BatchGetItem
 *   100 keys a call, 4 in flight at ~40 ms: 10,000 keys/s; ~20 µs of CPU per row (JSON parse,
 *   digest, classify, marshal). Locally, dynalite on disk took ~5,400 rows/s with 8 batches in flight.
 * These are estimates for sizing and the cost estimator, not measurements on Lambda.
 */
export const THROUGHPUT = {
  transformSecondsPerRow: 42e-6,
  transformBytesPerSecond: 35e6,
  planScanBytesPerSecond: 80e6,
  mergeWriteItemsPerSecond: 4_000,
  mergeReadKeysPerSecond: 10_000,
  mergeCpuSecondsPerRow: 20e-6,
  /** One small S3 GET or PUT (a part object), seconds. */
  s3RequestSeconds: 0.04,
  /** Parts a merge worker reads at once (lambdas/handlers/merge.ts). */
  mergePartReadsInFlight: 8,
  /** Connections a worker's S3 client uploads parts on at once (the SDK's default socket pool). */
  s3Sockets: 50,
  /** Start-up of a worker invocation inside its EXPRESS child (warm), seconds. */
  invocationOverheadSeconds: 0.3,
  /**
   * One strongly consistent Scan page (DynamoDB returns at most 1 MB of items a page) there and
   * back, seconds: an assumption for sizing (a page costs 256 read units), not measured on AWS.
   */
  scanPageSeconds: 0.25,
  /**
   * CPU per scanned item of a verify worker (unmarshal, content digest, provenance, set digest):
   * measured at 13.6 µs an item locally (73,600 items/s of 7-field contacts on one core), counted
   * 3.5× slower on Lambda like the transform. Mirror's key-only scan costs less; it is sized alike.
   */
  scanCpuSecondsPerItem: 48e-6,
} as const;

/** Work is sized to finish in this share of a worker's time limit (the rest absorbs slow starts). */
const WORKER_TIME_SHARE = 0.5;
/** A chunk's or partition's state is kept under this share of the worker's memory. */
const WORKER_MEMORY_SHARE = 0.5;
/** JS heap bytes per byte of an item held in a worker (objects, strings, the serialized part). */
const HEAP_PER_ITEM_BYTE = 4;
/** Adaptive chunks: at least this (8 MiB: the per-invocation overhead stays small)… */
export const MIN_CHUNK_BYTES = 8 * MiB;
/** …at most this… */
export const MAX_CHUNK_BYTES = 128 * MiB;
/** …and about this many chunks for a big file (fewer, larger chunks mean fewer part objects). */
const TARGET_CHUNKS = 400;
/** Chunk size when the config sets none and nothing is known of the file. */
export const DEFAULT_CHUNK_BYTES = MIN_CHUNK_BYTES;
/** Bytes of one Scan page at most (DynamoDB's 1 MB limit of a Scan response). */
export const SCAN_PAGE_BYTES = MiB;
/** DynamoDB's limit of TotalSegments in a parallel Scan. */
export const MAX_SCAN_SEGMENTS = 1_000_000;
/** Partitions are numbered p0000–p9999 in the work keys. */
export const MAX_PARTITIONS = 10_000;
/**
 * Lambda workers running at once when nothing else is said (CRM_SYNC_MAX_CONCURRENCY): half the
 * default regional concurrency quota of 1,000, leaving room for the account's other functions.
 */
export const DEFAULT_MAX_CONCURRENCY = 500;
/** Share of the table's throughput the run plans to use (the rest for other readers and writers). */
export const TABLE_UTILIZATION = 0.9;
/**
 * A new on-demand table serves 4,000 write and 12,000 read units per second at once (its warm
 * throughput); it scales higher after sustained traffic, which the planner does not count on.
 */
export const ON_DEMAND_WARM = { writeUnitsPerSecond: 4_000, readUnitsPerSecond: 12_000 } as const;
/** Bytes an item carries beyond its fields: `_v`, `_line`, `_run`, `_digest` names and values. */
const META_ITEM_BYTES = 120;
/** Upper bound of the Reconcile summary kept in the execution's state (counts, checks, report keys). */
const SUMMARY_BYTES = 8 * KiB;
/** A chunk item of the manifest / one child's Items entry, as JSON. */
const CHUNK_ITEM_BYTES = 90;
const PARTITION_ITEM_BYTES = 35;

/** The target table's throughput, as the planner uses it. */
export interface TableThroughput {
  mode: 'on-demand' | 'provisioned';
  writeUnitsPerSecond: number;
  readUnitsPerSecond: number;
}

/** The entity's `target.throughput`, or the warm throughput of a new on-demand table. */
export function tableThroughput(entity: Pick<EntityConfig, 'target'>): TableThroughput {
  const t = entity.target.throughput;
  if (!t) return { mode: 'on-demand', ...ON_DEMAND_WARM };
  if (t.mode === 'provisioned') {
    return {
      mode: 'provisioned',
      writeUnitsPerSecond: t.writeCapacityUnits,
      readUnitsPerSecond: t.readCapacityUnits,
    };
  }
  return {
    mode: 'on-demand',
    writeUnitsPerSecond: t.writeUnitsPerSecond,
    readUnitsPerSecond: t.readUnitsPerSecond,
  };
}

export type SizingEntity = Pick<EntityConfig, 'source' | 'partitionRows' | 'target' | 'fields'>;

export interface SizingInput {
  /** Bytes of the (UTF-8) object the chunks cut. */
  objectBytes: number;
  /** Average bytes of a data row, from a sample of the file (or counted). */
  avgRowBytes: number;
  /** Data rows, when counted (after Plan's scan); else objectBytes / avgRowBytes. */
  rows?: number | undefined;
  /** Chunks, when cut; else objectBytes / chunkBytes. */
  chunks?: number | undefined;
  entity: SizingEntity;
  /** Lambda workers at once, at most (default DEFAULT_MAX_CONCURRENCY). */
  maxConcurrency?: number | undefined;
  /** Bytes of the job every worker receives (WorkerJob as JSON); else estimated from the mapping. */
  jobBytes?: number | undefined;
  /** The table's throughput, when not the entity's `target.throughput` (an unmetered local table). */
  table?: TableThroughput | undefined;
}

/** One AWS (or run) limit and where the layout stands against it. */
export interface LimitCheck {
  name: string;
  value: number;
  limit: number;
  ok: boolean;
  /** `quota`: a hard AWS limit (exceeding it fails the run); `time`: an estimate against a time limit. */
  kind: 'quota' | 'time';
}

export interface Layout {
  rows: number;
  objectBytes: number;
  avgRowBytes: number;
  /** Estimated bytes of one target item (fields, names, crm-sync's attributes). */
  itemBytes: number;
  writeUnitsPerItem: number;
  /** Write units a put costs the table's global secondary indexes (indexWriteUnitsOf). */
  indexWriteUnitsPerItem: number;
  readUnitsPerItem: number;
  chunkBytes: number;
  /** Whether chunkBytes is the config's (`source.chunkBytes`) rather than sized here. */
  chunkBytesFromConfig: boolean;
  chunks: number;
  partitions: number;
  rowsPerPartition: number;
  transformConcurrency: number;
  mergeConcurrency: number;
  verifyConcurrency: number;
  table: TableThroughput;
  /** Write ceiling of each merge worker (WCU/s): together they stay under the table. */
  writeUnitsPerWorker: number;
  /** Read ceiling of each merge or verify worker (RCU/s). */
  readUnitsPerWorker: number;
  seconds: {
    plan: number;
    chunk: number;
    partition: number;
    verifyPartition: number;
    transform: number;
    merge: number;
    verify: number;
    reconcile: number;
    total: number;
  };
  payloads: {
    /** The job in every worker's input. */
    jobBytes: number;
    /** Plan's output ($.plan). */
    planOutputBytes: number;
    /** The largest state of the execution (after Reconcile). */
    stateBytes: number;
    /** One Map child's input (BatchInput + Items): also the worker's Lambda request. */
    childInputBytes: number;
    /** A worker's Lambda response. */
    workerResponseBytes: number;
    /** The manifests in S3 the Distributed Maps read. */
    chunkManifestBytes: number;
    partitionManifestBytes: number;
    /** One BatchWriteItem request at 25 items. */
    batchWriteBytes: number;
  };
  history: {
    /** Standard execution history events of a run that needs no retry. */
    events: number;
    /** With every retry of every state used up, and the failure path. */
    worstCaseEvents: number;
    /** Billed Standard state transitions (no retry). */
    transitions: number;
  };
  checks: LimitCheck[];
  /** What a person should know: a time limit the estimate exceeds, a table too slow for the file. */
  warnings: string[];
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/** Bytes a key attribute's value adds per field it reads (its share of the row is counted already). */
const KEY_FIELD_BYTES = 16;

/**
 * Estimated bytes of one item: the row's bytes, the field names, crm-sync's own attributes, and
 * the attributes the key config adds (templated keys, index keys, the entity type): each name, its
 * literal text and a share per field it reads.
 */
export function itemBytesOf(avgRowBytes: number, entity: Pick<EntityConfig, 'fields' | 'target'>): number {
  let names = 0;
  for (const name of Object.keys(entity.fields)) names += name.length;
  for (const d of entityKeys(entity).derived) {
    names += d.name.length;
    for (const p of d.parts) names += 'literal' in p ? p.literal.length : KEY_FIELD_BYTES;
  }
  return Math.ceil(avgRowBytes + names + META_ITEM_BYTES);
}

/**
 * Write units one put costs the table's global secondary indexes, beyond the table's own: an index
 * holding the whole item (`all`) the item's units, a keys-only index one unit. An update that moves
 * an item's index key costs the index a delete too: not counted (a load mostly adds or keeps keys).
 */
export function indexWriteUnitsOf(itemBytes: number, entity: Pick<EntityConfig, 'target'>): number {
  let units = 0;
  for (const ix of entityKeys(entity).indexes)
    units += ix.projection === 'all' ? Math.ceil(itemBytes / KiB) : 1;
  return units;
}

/** Transform seconds for a chunk of `bytes` with rows of `avgRowBytes` and `partitions` part uploads. */
function chunkSeconds(bytes: number, avgRowBytes: number, partitions: number): number {
  const rows = bytes / avgRowBytes;
  const uploads = ((partitions + 1) / THROUGHPUT.s3Sockets) * THROUGHPUT.s3RequestSeconds;
  return (
    THROUGHPUT.invocationOverheadSeconds +
    rows * THROUGHPUT.transformSecondsPerRow +
    bytes / THROUGHPUT.transformBytesPerSecond +
    uploads
  );
}

/** Largest chunk a transform worker handles in its time and memory share. */
function maxChunkBytes(avgRowBytes: number, itemBytes: number): number {
  // Less the start-up and the part uploads at the most partitions there can be.
  const budget =
    FUNCTIONS.transform.timeoutSeconds * WORKER_TIME_SHARE -
    THROUGHPUT.invocationOverheadSeconds -
    ((MAX_PARTITIONS + 1) / THROUGHPUT.s3Sockets) * THROUGHPUT.s3RequestSeconds;
  const perByte = THROUGHPUT.transformSecondsPerRow / avgRowBytes + 1 / THROUGHPUT.transformBytesPerSecond;
  const byTime = budget / perByte;
  const memory = FUNCTIONS.transform.memoryMb * MiB * WORKER_MEMORY_SHARE;
  const byMemory = (memory / (itemBytes * HEAP_PER_ITEM_BYTE)) * avgRowBytes;
  return Math.max(MiB, Math.floor(Math.min(MAX_CHUNK_BYTES, byTime, byMemory)));
}

/**
 * The chunk size Plan cuts the object with: the config's `source.chunkBytes` when set, else sized to
 * the object (see the module comment).
 */
export function chunkBytesFor(objectBytes: number, avgRowBytes: number, entity: SizingEntity): number {
  if (entity.source.chunkBytes !== undefined) return entity.source.chunkBytes;
  const avg = Math.max(1, avgRowBytes);
  const max = maxChunkBytes(avg, itemBytesOf(avg, entity));
  const wanted = Math.ceil(objectBytes / TARGET_CHUNKS / MiB) * MiB;
  return clamp(wanted, Math.min(MIN_CHUNK_BYTES, max), max);
}

/** Bytes of the worker job when only the mapping is known: the mapped source columns as the header. */
function estimatedJobBytes(entity: SizingEntity): number {
  let columns = 0;
  for (const f of Object.values(entity.fields)) columns += f.source.length + 3;
  return 600 + 2 * columns;
}

/**
 * Events of the run's Standard execution: ClaimRun, PlanChunks and Reconcile (Lambda tasks: entered,
 * scheduled, started, succeeded, exited), three Distributed Maps (entered, started, map run started
 * and succeeded, succeeded, exited: their children are separate EXPRESS executions with their own
 * history, so the parent's count does not grow with chunks or partitions), two Choices and the final
 * Succeed, plus the execution's start and end. The worst case uses every retry (ClaimRun waiting up
 * to 30 times for a busy entity, 3 transient retries per task, 2 per Map) and the failure path.
 */
const HISTORY = (() => {
  const tasks = 3;
  const maps = 3;
  const events = 2 + tasks * 5 + maps * 6 + 2 * 2 + 2;
  const retryEvents = (30 + 3) * 3 + 2 * 3 * 3 + maps * 2 * 4;
  const failurePath = 5 + 3 * 3 + 2;
  return { events, worstCaseEvents: events + retryEvents + failurePath, transitions: tasks + maps + 2 + 1 };
})();

/**
 * Lays out a run: chunk size and count, partitions, Map concurrency, per-worker table throughput,
 * the time each stage takes, payload sizes and history, and every limit checked.
 */
export function planLayout(input: SizingInput): Layout {
  const { entity } = input;
  const avgRowBytes = Math.max(1, input.avgRowBytes);
  const objectBytes = Math.max(0, input.objectBytes);
  const rows = Math.max(0, Math.round(input.rows ?? objectBytes / avgRowBytes));
  const itemBytes = itemBytesOf(avgRowBytes, entity);
  const wcu = Math.ceil(itemBytes / KiB);
  const rcu = Math.ceil(itemBytes / (4 * KiB));
  const maxConcurrency = clamp(
    Math.floor(input.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY),
    1,
    AWS_LIMITS.mapConcurrency,
  );
  const chunkBytesFromConfig = entity.source.chunkBytes !== undefined;
  const chunkBytes = chunkBytesFor(objectBytes, avgRowBytes, entity);
  const chunks = Math.max(1, input.chunks ?? Math.ceil(objectBytes / chunkBytes));
  const table = input.table ?? tableThroughput(entity);
  const writeBudget = table.writeUnitsPerSecond * TABLE_UTILIZATION;
  const readBudget = table.readUnitsPerSecond * TABLE_UTILIZATION;

  // Merge: a worker reads its parts, then the stored items, then writes, so it writes only part of
  // the time (writeShare). As many workers as keep the table's write budget busy on average; each
  // one's ceiling is its share of the budget over the time it writes. When the workers' writes line
  // up, DynamoDB's pushback slows them (the adapter's AIMD limit).
  const workerMaxWcu = THROUGHPUT.mergeWriteItemsPerSecond * wcu;
  const workerMaxRcu = THROUGHPUT.mergeReadKeysPerSecond * rcu;
  const fullSpeedPerRow = wcu / workerMaxWcu + rcu / workerMaxRcu + THROUGHPUT.mergeCpuSecondsPerRow;
  const writeShare = wcu / workerMaxWcu / fullSpeedPerRow;
  const readShare = rcu / workerMaxRcu / fullSpeedPerRow;
  const byTable = Math.max(1, Math.ceil(writeBudget / (workerMaxWcu * writeShare)));
  const mergeCap = Math.min(byTable, maxConcurrency, AWS_LIMITS.mapConcurrency);
  const writeCeiling = (workers: number) => Math.min(workerMaxWcu, writeBudget / (workers * writeShare));
  const readCeiling = (workers: number) => Math.min(workerMaxRcu, readBudget / (workers * readShare));
  const perRow = (workers: number) =>
    wcu / writeCeiling(workers) + rcu / readCeiling(workers) + THROUGHPUT.mergeCpuSecondsPerRow;
  const partsSeconds = (chunks / THROUGHPUT.mergePartReadsInFlight) * THROUGHPUT.s3RequestSeconds;
  const partitionBudget =
    FUNCTIONS.merge.timeoutSeconds * WORKER_TIME_SHARE - partsSeconds - THROUGHPUT.invocationOverheadSeconds;
  // With too many chunks a merge worker spends its whole budget reading one part per chunk: no
  // partition size fits then (the `merge part reads` check), and the partition count is not the cause.
  const partsFit = partitionBudget >= perRow(mergeCap);
  const rowsByTime = Math.floor(partitionBudget / perRow(mergeCap));
  const rowsByMemory = Math.floor(
    (FUNCTIONS.merge.memoryMb * MiB * WORKER_MEMORY_SHARE) / (itemBytes * HEAP_PER_ITEM_BYTE),
  );
  const rowsPerPartitionMax = Math.max(1, Math.min(entity.partitionRows, rowsByTime, rowsByMemory));
  const partitions = clamp(Math.ceil(rows / rowsPerPartitionMax), 1, MAX_PARTITIONS);
  const rowsPerPartition = Math.ceil(rows / partitions);
  // No more workers than the rounds over the partitions need: each then gets a larger share.
  const evenly = (workers: number, items: number) => Math.ceil(items / Math.ceil(items / workers));
  const mergeConcurrency = evenly(Math.max(1, Math.min(mergeCap, partitions)), partitions);
  const writeUnitsPerWorker = Math.max(1, Math.floor(writeCeiling(mergeConcurrency)));
  const verifyConcurrency = Math.max(
    1,
    Math.min(partitions, maxConcurrency, Math.ceil(readBudget / workerMaxRcu), AWS_LIMITS.mapConcurrency),
  );
  const readUnitsPerWorker = Math.max(
    1,
    Math.floor(Math.min(readCeiling(mergeConcurrency), readBudget / verifyConcurrency)),
  );

  // Transform: every chunk uploads one part per partition; keep the run's PUT rate under S3's.
  const chunk = chunkSeconds(Math.min(chunkBytes, objectBytes || chunkBytes), avgRowBytes, partitions);
  const byPutRate = Math.floor((AWS_LIMITS.s3PutsPerSecond * chunk) / (partitions + 1));
  const transformConcurrency = Math.max(
    1,
    Math.min(chunks, maxConcurrency, AWS_LIMITS.mapConcurrency, Math.max(1, byPutRate)),
  );

  const partition =
    THROUGHPUT.invocationOverheadSeconds + partsSeconds + rowsPerPartition * perRow(mergeConcurrency);
  // The merge workers' write rate averaged over their partitions: what the table sees.
  const averageWriteUnits = (mergeConcurrency * rowsPerPartition * wcu) / partition;
  // Verify (full): reads every key of the partition back, and its share of a table scan.
  const verifyPerRow = (rcu + rcu / 2) / Math.min(workerMaxRcu, readBudget / verifyConcurrency);
  const verifyPartition =
    THROUGHPUT.invocationOverheadSeconds + THROUGHPUT.s3RequestSeconds + rowsPerPartition * verifyPerRow;
  const plan = 2 + objectBytes / THROUGHPUT.planScanBytesPerSecond;
  const transform = Math.ceil(chunks / transformConcurrency) * chunk;
  const merge = Math.ceil(partitions / mergeConcurrency) * partition;
  const verify = Math.ceil(partitions / verifyConcurrency) * verifyPartition;
  const reconcile =
    2 + ((3 * partitions + chunks) / THROUGHPUT.mergePartReadsInFlight) * THROUGHPUT.s3RequestSeconds;
  const total = plan + transform + merge + verify + reconcile;

  const jobBytes = input.jobBytes ?? estimatedJobBytes(entity);
  const planOutputBytes = jobBytes + 1_200;
  const payloads: Layout['payloads'] = {
    jobBytes,
    planOutputBytes,
    stateBytes: planOutputBytes + 3 * 400 + 1_000 + SUMMARY_BYTES,
    childInputBytes: jobBytes + 100 + CHUNK_ITEM_BYTES,
    workerResponseBytes: 2 * KiB,
    chunkManifestBytes: chunks * CHUNK_ITEM_BYTES,
    partitionManifestBytes: partitions * PARTITION_ITEM_BYTES,
    batchWriteBytes: AWS_LIMITS.batchWriteItems * itemBytes,
  };
  const seconds = { plan, chunk, partition, verifyPartition, transform, merge, verify, reconcile, total };
  const checks = limitChecks({
    payloads,
    seconds,
    itemBytes,
    transformConcurrency,
    mergeConcurrency,
    verifyConcurrency,
    partitions,
    partitionsNeeded: partsFit ? Math.ceil(rows / rowsPerPartitionMax) : partitions,
    partReadSeconds: THROUGHPUT.invocationOverheadSeconds + partsSeconds,
    partReadBudget: FUNCTIONS.merge.timeoutSeconds * WORKER_TIME_SHARE,
    chunks,
    averageWriteUnits,
    tableWriteUnits: table.writeUnitsPerSecond,
  });
  const warnings = checks
    .filter((c) => !c.ok)
    .map((c) => `${c.name}: ${fmtNumber(c.value)} exceeds ${fmtNumber(c.limit)}`);
  if (seconds.total > RUN_TIMEOUT_SECONDS) {
    warnings.push(
      `at ${fmtNumber(table.writeUnitsPerSecond)} WCU/s the run would take ${(seconds.total / 3600).toFixed(1)} h: ` +
        `raise the table's throughput (target.throughput: warm throughput or provisioned capacity)`,
    );
  }
  return {
    rows,
    objectBytes,
    avgRowBytes,
    itemBytes,
    writeUnitsPerItem: wcu,
    indexWriteUnitsPerItem: indexWriteUnitsOf(itemBytes, entity),
    readUnitsPerItem: rcu,
    chunkBytes,
    chunkBytesFromConfig,
    chunks,
    partitions,
    rowsPerPartition,
    transformConcurrency,
    mergeConcurrency,
    verifyConcurrency,
    table,
    writeUnitsPerWorker,
    readUnitsPerWorker,
    seconds,
    payloads,
    history: { ...HISTORY },
    checks,
    warnings,
  };
}

function limitChecks(l: {
  payloads: Layout['payloads'];
  seconds: Layout['seconds'];
  itemBytes: number;
  transformConcurrency: number;
  mergeConcurrency: number;
  verifyConcurrency: number;
  partitions: number;
  partitionsNeeded: number;
  partReadSeconds: number;
  partReadBudget: number;
  chunks: number;
  averageWriteUnits: number;
  tableWriteUnits: number;
}): LimitCheck[] {
  const check = (
    name: string,
    value: number,
    limit: number,
    kind: LimitCheck['kind'] = 'quota',
  ): LimitCheck => ({
    name,
    value: Math.ceil(value),
    limit,
    ok: value <= limit,
    kind,
  });
  const p = l.payloads;
  return [
    check('plan output bytes (state payload)', p.planOutputBytes, AWS_LIMITS.statePayloadBytes),
    check('execution state bytes', p.stateBytes, AWS_LIMITS.statePayloadBytes),
    check('map child input bytes', p.childInputBytes, AWS_LIMITS.statePayloadBytes),
    check('worker request bytes (Lambda payload)', p.childInputBytes, AWS_LIMITS.lambdaPayloadBytes),
    check('worker response bytes (Lambda payload)', p.workerResponseBytes, AWS_LIMITS.lambdaPayloadBytes),
    check('Standard history events (worst case)', HISTORY.worstCaseEvents, AWS_LIMITS.standardHistoryEvents),
    check('transform Map concurrency', l.transformConcurrency, AWS_LIMITS.mapConcurrency),
    check('merge Map concurrency', l.mergeConcurrency, AWS_LIMITS.mapConcurrency),
    check('verify Map concurrency', l.verifyConcurrency, AWS_LIMITS.mapConcurrency),
    check('partitions needed', l.partitionsNeeded, MAX_PARTITIONS),
    check(
      `merge part reads, seconds (one part per chunk, ${fmtNumber(l.chunks)} chunks)`,
      l.partReadSeconds,
      l.partReadBudget,
    ),
    check('item bytes', l.itemBytes, AWS_LIMITS.itemBytes),
    check('BatchWriteItem bytes', p.batchWriteBytes, AWS_LIMITS.batchWriteBytes),
    check('merge write rate, average (WCU/s)', l.averageWriteUnits, l.tableWriteUnits),
    check('plan scan seconds', l.seconds.plan, FUNCTIONS.plan.timeoutSeconds, 'time'),
    check('transform chunk seconds', l.seconds.chunk, FUNCTIONS.transform.timeoutSeconds, 'time'),
    check('merge partition seconds', l.seconds.partition, FUNCTIONS.merge.timeoutSeconds, 'time'),
    check('verify partition seconds', l.seconds.verifyPartition, FUNCTIONS.verify.timeoutSeconds, 'time'),
    check('reconcile seconds', l.seconds.reconcile, FUNCTIONS.reconcile.timeoutSeconds, 'time'),
  ];
}

function fmtNumber(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/**
 * Data rows and their bytes in the first bytes of a file (the sample Plan and `estimate` size a run
 * with): records end at a line break outside double quotes (CSV) or at any line break (JSON Lines);
 * the CSV header, blank lines and a record cut off at the end of the sample (unless `wholeFile`)
 * are not counted.
 */
export function sampleRows(
  head: Uint8Array,
  options: { format: 'csv' | 'jsonl'; wholeFile: boolean },
): { rows: number; bytes: number } {
  const csv = options.format === 'csv';
  let start = head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf ? 3 : 0;
  let quoted = false;
  let headerSeen = !csv;
  let rows = 0;
  let bytes = 0;
  const record = (end: number) => {
    const length = end - start;
    const blank = length === 0 || (length === 1 && head[start] === 0x0d);
    if (!blank) {
      if (headerSeen) {
        rows++;
        bytes += length + 1;
      } else headerSeen = true;
    }
  };
  for (let i = start; i < head.length; i++) {
    const c = head[i];
    if (c === 0x22 && csv) quoted = !quoted;
    else if (c === 0x0a && !quoted) {
      record(i);
      start = i + 1;
    }
  }
  if (options.wholeFile && start < head.length) record(head.length);
  return { rows, bytes };
}

/** Average row bytes of a sample, or the sample's size when not one whole row fits in it. */
export function averageRowBytes(sample: { rows: number; bytes: number }, sampleBytes: number): number {
  return sample.rows > 0 ? sample.bytes / sample.rows : Math.max(1, sampleBytes);
}

/** DescribeTable's TableSizeBytes and ItemCount (DynamoDB updates them about every six hours). */
export interface TableStats {
  bytes: number;
  items: number;
}

export interface ScanSegmentsInput {
  /** DescribeTable's answer, or nothing when it gave none. */
  table: TableStats | undefined;
  /** Data rows of this run: the merge may add as many items before the verify scan. */
  rows: number;
  /** Estimated bytes of one item (the layout's itemBytes). */
  itemBytes: number;
  /** Merge partitions of the run: there are as many verify workers at least. */
  partitions: number;
}

export interface ScanSegments {
  /** TotalSegments of the verify and mirror scans: one worker each. */
  segments: number;
  /** The table the segments are sized for (an upper estimate). */
  tableItems: number;
  tableBytes: number;
  /** Estimated seconds one worker scans its segment. */
  secondsPerSegment: number;
}

/**
 * How many parallel scan segments the verify scan (full mode) and mirror mode's key scan use, so
 * that one worker scans its segment in half its time limit (WORKER_TIME_SHARE of the verify
 * function's timeout): each 1 MB page costs THROUGHPUT.scanPageSeconds, each item
 * THROUGHPUT.scanCpuSecondsPerItem. The table is what DescribeTable said plus every row of this run
 * (a stale answer, six hours old, cannot size a table smaller than the run makes it; the larger of
 * its bytes and its items at `itemBytes` counts). At least `partitions` (those workers run anyway,
 * and verify worker i also reads partition i by key), at most MAX_SCAN_SEGMENTS.
 */
export function scanSegmentsFor(input: ScanSegmentsInput): ScanSegments {
  const itemBytes = Math.max(1, input.itemBytes);
  const rows = Math.max(0, input.rows);
  const described = {
    items: Math.max(0, input.table?.items ?? 0),
    bytes: Math.max(0, input.table?.bytes ?? 0),
  };
  const tableItems = described.items + rows;
  const tableBytes = Math.max(described.bytes, described.items * itemBytes) + rows * itemBytes;
  const scanSeconds =
    Math.ceil(tableBytes / SCAN_PAGE_BYTES) * THROUGHPUT.scanPageSeconds +
    tableItems * THROUGHPUT.scanCpuSecondsPerItem;
  const budget = FUNCTIONS.verify.timeoutSeconds * WORKER_TIME_SHARE - THROUGHPUT.invocationOverheadSeconds;
  const byTime = Math.ceil(scanSeconds / budget);
  const segments = clamp(Math.max(byTime, Math.floor(input.partitions)), 1, MAX_SCAN_SEGMENTS);
  return {
    segments,
    tableItems,
    tableBytes,
    secondsPerSegment: THROUGHPUT.invocationOverheadSeconds + scanSeconds / segments,
  };
}
