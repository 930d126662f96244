/**
 * The cost and time of one run in AWS, before running it (`crm-sync estimate`): the run is laid out
 * by the scale planner (lambdas/domain/sizing.ts), its requests, compute and table units are counted
 * from that layout, and priced with the table below. Pure arithmetic, no AWS calls.
 */
import {
  FUNCTIONS,
  type Layout,
  planLayout,
  RUN_TIMEOUT_SECONDS,
  type SizingEntity,
  type TableThroughput,
} from './sizing';

const GiB = 1024 ** 3;

/**
 * Prices in US East (N. Virginia), USD, as published on the AWS pricing pages (S3, Lambda, Step
 * Functions, DynamoDB) and checked on 2026-11-26. DynamoDB on-demand is the price since its
 * November 2024 reduction. Free tiers are not deducted. Change them here: nothing else holds prices.
 */
export const PRICES = {
  region: 'us-east-1',
  checked: '2026-11-26',
  /** S3 Standard PUT, COPY, POST, LIST requests, per 1,000. */
  s3PutPer1000: 0.005,
  /** S3 Standard GET, HEAD (and other) requests, per 1,000. */
  s3GetPer1000: 0.0004,
  /** Lambda on arm64 (Graviton), per GB-second (first tier). */
  lambdaArmGbSecond: 0.0000133334,
  /** Lambda requests, per million. */
  lambdaRequestsPerMillion: 0.2,
  /** Step Functions Standard state transitions, per 1,000. */
  standardTransitionsPer1000: 0.025,
  /** Step Functions Express requests, per million. */
  expressRequestsPerMillion: 1.0,
  /** Step Functions Express duration, per GB-second (first tier), billed in 64 MB and 100 ms steps. */
  expressGbSecond: 0.00001667,
  /** DynamoDB on-demand write request units, per million. */
  dynamodbWritePerMillion: 0.625,
  /** DynamoDB on-demand read request units, per million. */
  dynamodbReadPerMillion: 0.125,
  /** DynamoDB provisioned write capacity unit, per hour. */
  dynamodbWcuHour: 0.00065,
  /** DynamoDB provisioned read capacity unit, per hour. */
  dynamodbRcuHour: 0.00013,
  /** DynamoDB Import from S3, per GB of uncompressed source data. */
  dynamodbImportPerGb: 0.15,
} as const;

export type Prices = { [K in keyof typeof PRICES]: (typeof PRICES)[K] extends string ? string : number };

/** Express children are billed in 64 MB steps of memory; crm-sync's payloads fit in the first. */
const EXPRESS_MEMORY_GB = 64 / 1024;
/** ClaimRun's invocation (HEAD, ledger claim and lock), seconds. */
const CLAIM_SECONDS = 1;
/** Ledger writes (and reads) per chunk, partition and verification, plus the run's own items. */
const LEDGER_ITEMS_PER_RUN = 10;

/** What one run uses, counted from its layout. */
export interface Usage {
  s3: {
    manifests: { puts: number; gets: number };
    source: { puts: number; gets: number };
    parts: { puts: number; gets: number };
    reports: { puts: number; gets: number };
  };
  lambda: { gbSeconds: number; requests: number };
  stepFunctions: { standardTransitions: number; expressRequests: number; expressGbSeconds: number };
  dynamodb: {
    /** Write request units of the target (merge) and the ledger. */
    writeUnits: number;
    /** Read request units: the merge's strongly consistent reads, the verification's read-back and scan, the ledger. */
    readUnits: number;
    /** Provisioned capacity that serves the run's rate, held for the run's (whole) hours. */
    provisioned: { writeCapacityUnits: number; readCapacityUnits: number; hours: number };
  };
  /** Uncompressed bytes of the source (what Import from S3 charges for). */
  sourceBytes: number;
}

export interface EstimateInput {
  rows: number;
  avgRowBytes: number;
  entity: SizingEntity;
  /** Lambda workers at once, at most (default: sizing's DEFAULT_MAX_CONCURRENCY). */
  maxConcurrency?: number | undefined;
  /** Share of the rows the run writes (1: a first load, every row is new or changed). */
  changedShare?: number | undefined;
  /** The table's throughput, when not the entity's `target.throughput`. */
  table?: TableThroughput | undefined;
}

export interface CostItem {
  service: 'S3' | 'Lambda' | 'Step Functions' | 'DynamoDB';
  item: string;
  quantity: number;
  unit: string;
  usd: number;
}

export interface Estimate {
  rows: number;
  avgRowBytes: number;
  sourceBytes: number;
  layout: Layout;
  usage: Usage;
  prices: Prices;
  /** Every line, priced; DynamoDB units at on-demand prices. */
  items: CostItem[];
  /** DynamoDB under provisioned capacity instead (the other lines unchanged). */
  provisioned: CostItem[];
  totals: { onDemand: number; provisioned: number };
  /** DynamoDB Import from S3 of the same file into a new table. */
  importFromS3: { usd: number; cheaper: boolean; note: string };
  /** Whether the run can run at all (Plan's refusal, the execution's time limit) and what to change. */
  verdict: Verdict;
}

const gb = (mb: number) => mb / 1024;
/** Express duration as billed: 100 ms steps. */
const billedSeconds = (s: number) => Math.ceil(s * 10) / 10;

/** Counts the requests, compute and table units of a run laid out as `layout`. */
export function runUsage(layout: Layout, changedShare = 1): Usage {
  const { chunks, partitions, rows, seconds } = layout;
  const writes = Math.round(rows * changedShare);
  const s3: Usage['s3'] = {
    // chunks.json and partitions.json; the three Maps read them and write manifest + results.
    manifests: { puts: 2 + 3 * 2, gets: 3 + 3 * 2 },
    // HEAD (claim), the head and the scan (plan), one range per chunk (transform).
    source: { puts: 0, gets: 3 + chunks },
    // One part per partition and chunk plus a rejects object per chunk; the merge reads every part.
    parts: { puts: chunks * (partitions + 1), gets: chunks * partitions },
    // merged + duplicates per partition; verify reads merged; reconcile reads merged, duplicates,
    // findings and rejects, and writes summary, HTML, rejects and duplicates reports.
    reports: { puts: 2 * partitions + 4, gets: partitions + 3 * partitions + chunks },
  };
  const planGb = gb(FUNCTIONS.plan.memoryMb);
  const gbSeconds =
    planGb * (CLAIM_SECONDS + seconds.plan) +
    chunks * seconds.chunk * gb(FUNCTIONS.transform.memoryMb) +
    partitions * seconds.partition * gb(FUNCTIONS.merge.memoryMb) +
    partitions * seconds.verifyPartition * gb(FUNCTIONS.verify.memoryMb) +
    seconds.reconcile * gb(FUNCTIONS.reconcile.memoryMb);
  const children = chunks + 2 * partitions;
  const expressGbSeconds =
    EXPRESS_MEMORY_GB *
    (chunks * billedSeconds(seconds.chunk) +
      partitions * billedSeconds(seconds.partition) +
      partitions * billedSeconds(seconds.verifyPartition));
  const ledger = chunks + 2 * partitions + LEDGER_ITEMS_PER_RUN;
  // Merge: one strongly consistent read per key (a miss costs 1 too); verify: the same read-back,
  // and a scan of the table's items (eventually consistent: half a unit per 4 KB).
  const scanUnits = Math.ceil((rows * layout.itemBytes) / 4096 / 2);
  const readUnits = 2 * rows * layout.readUnitsPerItem + scanUnits + ledger;
  // A put writes the table and each global secondary index (billed alike, on demand).
  const writeUnits = writes * (layout.writeUnitsPerItem + layout.indexWriteUnitsPerItem) + ledger;
  return {
    s3,
    lambda: { gbSeconds, requests: 2 + chunks + 2 * partitions + 1 },
    stepFunctions: {
      standardTransitions: layout.history.transitions,
      expressRequests: children,
      expressGbSeconds,
    },
    dynamodb: {
      writeUnits,
      readUnits,
      provisioned: {
        writeCapacityUnits: layout.table.writeUnitsPerSecond,
        readCapacityUnits: layout.table.readUnitsPerSecond,
        hours: Math.max(1, Math.ceil(seconds.total / 3600)),
      },
    },
    sourceBytes: layout.objectBytes,
  };
}

/** USD to a billionth: the lines of a small run are fractions of a cent. */
const round = (usd: number) => Math.round(usd * 1e9) / 1e9;

/** Prices a run's usage: one line per item, DynamoDB on-demand and, separately, provisioned. */
export function priceUsage(
  usage: Usage,
  prices: Prices = PRICES,
): { items: CostItem[]; provisioned: CostItem[] } {
  const s3 = usage.s3;
  const item = (service: CostItem['service'], name: string, quantity: number, unit: string, usd: number) => ({
    service,
    item: name,
    quantity,
    unit,
    usd: round(usd),
  });
  const puts = (name: string, n: number) =>
    item('S3', `${name} PUT`, n, 'requests', (n / 1000) * prices.s3PutPer1000);
  const gets = (name: string, n: number) =>
    item('S3', `${name} GET`, n, 'requests', (n / 1000) * prices.s3GetPer1000);
  const sf = usage.stepFunctions;
  const common: CostItem[] = [
    puts('manifests and map results', s3.manifests.puts),
    gets('manifests and map results', s3.manifests.gets),
    gets('source', s3.source.gets),
    puts('parts', s3.parts.puts),
    gets('parts', s3.parts.gets),
    puts('merged and reports', s3.reports.puts),
    gets('merged and reports', s3.reports.gets),
    item(
      'Lambda',
      'compute (arm64)',
      usage.lambda.gbSeconds,
      'GB-s',
      usage.lambda.gbSeconds * prices.lambdaArmGbSecond,
    ),
    item(
      'Lambda',
      'requests',
      usage.lambda.requests,
      'requests',
      (usage.lambda.requests / 1e6) * prices.lambdaRequestsPerMillion,
    ),
    item(
      'Step Functions',
      'Standard state transitions',
      sf.standardTransitions,
      'transitions',
      (sf.standardTransitions / 1000) * prices.standardTransitionsPer1000,
    ),
    item(
      'Step Functions',
      'Express requests',
      sf.expressRequests,
      'requests',
      (sf.expressRequests / 1e6) * prices.expressRequestsPerMillion,
    ),
    item(
      'Step Functions',
      'Express duration',
      sf.expressGbSeconds,
      'GB-s',
      sf.expressGbSeconds * prices.expressGbSecond,
    ),
  ];
  const d = usage.dynamodb;
  const onDemand: CostItem[] = [
    item(
      'DynamoDB',
      'write request units (on-demand)',
      d.writeUnits,
      'WRU',
      (d.writeUnits / 1e6) * prices.dynamodbWritePerMillion,
    ),
    item(
      'DynamoDB',
      'read request units (on-demand)',
      d.readUnits,
      'RRU',
      (d.readUnits / 1e6) * prices.dynamodbReadPerMillion,
    ),
  ];
  const p = d.provisioned;
  const provisioned: CostItem[] = [
    item(
      'DynamoDB',
      `write capacity (provisioned, ${p.hours} h)`,
      p.writeCapacityUnits * p.hours,
      'WCU-hours',
      p.writeCapacityUnits * p.hours * prices.dynamodbWcuHour,
    ),
    item(
      'DynamoDB',
      `read capacity (provisioned, ${p.hours} h)`,
      p.readCapacityUnits * p.hours,
      'RCU-hours',
      p.readCapacityUnits * p.hours * prices.dynamodbRcuHour,
    ),
  ];
  return { items: [...common, ...onDemand], provisioned: [...common, ...provisioned] };
}

const sum = (items: readonly CostItem[]) => round(items.reduce((t, i) => t + i.usd, 0));

/** The whole estimate of one run: layout, usage, priced lines, totals and the Import from S3 comparison. */
export function estimateRun(input: EstimateInput, prices: Prices = PRICES): Estimate {
  const sourceBytes = Math.round(input.rows * input.avgRowBytes);
  const layout = planLayout({
    objectBytes: sourceBytes,
    avgRowBytes: input.avgRowBytes,
    rows: input.rows,
    entity: input.entity,
    maxConcurrency: input.maxConcurrency,
    table: input.table,
  });
  const usage = runUsage(layout, input.changedShare ?? 1);
  const { items, provisioned } = priceUsage(usage, prices);
  const totals = { onDemand: sum(items), provisioned: sum(provisioned) };
  const importUsd = round((sourceBytes / GiB) * prices.dynamodbImportPerGb);
  const cheaper = importUsd < Math.min(totals.onDemand, totals.provisioned);
  const estimate: Omit<Estimate, 'verdict'> = {
    rows: input.rows,
    avgRowBytes: input.avgRowBytes,
    sourceBytes,
    layout,
    usage,
    prices,
    items,
    provisioned,
    totals,
    importFromS3: {
      usd: importUsd,
      cheaper,
      note: cheaper
        ? 'Import from S3 is cheaper for a first load into a new, empty table when the file needs no validation, dedupe, newer-wins or reconciliation; it cannot load into an existing table'
        : 'crm-sync is cheaper or equal; Import from S3 also only creates a new table, without validation, dedupe, newer-wins or reconciliation',
    },
  };
  return { ...estimate, verdict: verdictOf(estimate, input) };
}

/** Whether the run an estimate describes can run, and if not what to change. */
export interface Verdict {
  /** False when Plan refuses the layout or the run would pass its execution time limit. */
  runnable: boolean;
  /** Why it cannot run, one sentence each (empty when runnable). */
  errors: string[];
  /** What to change, one sentence each (empty when runnable). */
  changes: string[];
  /** The most rows of this row size one run can take within the limits (when the run cannot). */
  maxRowsPerRun?: number | undefined;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** A layout Plan would accept (no quota check broken) that ends before the execution's time limit. */
function fits(layout: Layout): boolean {
  return (
    layout.seconds.total <= RUN_TIMEOUT_SECONDS && !layout.checks.some((c) => !c.ok && c.kind === 'quota')
  );
}

/**
 * The most rows of `input`'s row size that one run takes inside the limits (binary search over the
 * planner: wall time grows with the rows), or 0 when not even one row fits.
 */
export function maxRowsPerRun(input: EstimateInput): number {
  const layoutOf = (rows: number) =>
    planLayout({
      objectBytes: Math.round(rows * input.avgRowBytes),
      avgRowBytes: input.avgRowBytes,
      rows,
      entity: input.entity,
      maxConcurrency: input.maxConcurrency,
      table: input.table,
    });
  if (!fits(layoutOf(1))) return 0;
  let lo = 1;
  let hi = Math.max(2, input.rows);
  while (fits(layoutOf(hi)) && hi < 1e12) hi *= 2;
  while (hi - lo > Math.max(1, lo * 0.001)) {
    const mid = Math.floor((lo + hi) / 2);
    if (fits(layoutOf(mid))) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * The estimate's outcome: a run whose layout breaks a quota check is refused by Plan (PlanLimitError,
 * nothing written), and a run estimated past the execution's time limit (RUN_TIMEOUT_SECONDS) would
 * fail with States.Timeout after spending that long; either is not a run to start. Says what to change.
 */
export function verdictOf(estimate: Pick<Estimate, 'layout'>, input: EstimateInput): Verdict {
  const l = estimate.layout;
  const errors: string[] = [];
  const changes: string[] = [];
  const broken = l.checks.filter((c) => !c.ok && c.kind === 'quota');
  if (broken.length > 0) {
    errors.push(
      `Plan refuses this run (the run cannot be laid out inside AWS limits): ${broken.map((c) => `${c.name} ${fmt(c.value)} > ${fmt(c.limit)}`).join('; ')}`,
    );
    // Sized chunks are as large as a worker takes: then only a split of the export helps (below).
    if (l.chunkBytesFromConfig && broken.some((c) => c.name.startsWith('merge part reads'))) {
      changes.push(
        `fewer, larger chunks: raise source.chunkBytes (${fmt(l.chunkBytes)} B cuts ${fmt(l.chunks)} chunks, and every merge worker reads one part per chunk) or remove it so the planner sizes chunks`,
      );
    }
  }
  const s = l.seconds;
  if (s.total > RUN_TIMEOUT_SECONDS) {
    errors.push(
      `the run would take ${(s.total / 3600).toFixed(1)} h, past the execution's ${RUN_TIMEOUT_SECONDS / 3600} h time limit: it would fail (States.Timeout) after running ${RUN_TIMEOUT_SECONDS / 3600} h`,
    );
    const slowest = (['transform', 'merge', 'verify'] as const).reduce((a, b) => (s[b] > s[a] ? b : a));
    if (slowest === 'merge') {
      changes.push(
        `more merge workers at once: raise the table's write throughput (target.throughput, now ${fmt(l.table.writeUnitsPerSecond)} WCU/s: ${fmt(l.mergeConcurrency)} merge workers)`,
      );
    } else if (slowest === 'verify') {
      changes.push(
        `raise the table's read throughput (target.throughput, now ${fmt(l.table.readUnitsPerSecond)} RCU/s)`,
      );
    } else {
      changes.push(
        `more transform workers at once (--max-concurrency, the stack's maxConcurrency; now ${fmt(l.transformConcurrency)})${l.chunkBytesFromConfig ? ', or larger chunks (source.chunkBytes)' : ''}`,
      );
    }
  }
  if (errors.length === 0) return { runnable: true, errors, changes };
  const most = maxRowsPerRun(input);
  if (most > 0) changes.push(`or split the export into files of at most ${fmt(most)} rows (one run each)`);
  return { runnable: false, errors, changes, maxRowsPerRun: most };
}
