import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type AttributeValue, ScanCommand } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { generateContacts } from '../../examples/generate';
import { parseConfigText } from '../../lambdas/domain/config';
import type { FaultRates } from '../../local/faults';
import { type LocalRunResult, LocalStack } from '../../local/local-stack';
import { runLocalFile } from '../../local/run';

/**
 * Integration: the merge under heavy throttling. One large partition, and a merge function whose
 * timeout is scaled down (the local stack fails an invocation at it, as Lambda does) so that the
 * faults keep its writes going well past it: the merge must hand back what is left at its
 * deadline and finish in later passes of the workflow's merge loop, with the counts and the table
 * of a fault-free run.
 */

// A faulty case runs about 20 merge passes: minutes on a loaded 2-core machine.
jest.setTimeout(480_000);

const ROOT = resolve(__dirname, '../..');
const base = mkdtempSync(join(tmpdir(), 'crm-sync-merge-passes-'));
const configFile = join(base, 'crm-sync.config.json');
const configJson = JSON.parse(readFileSync(join(ROOT, 'examples/crm-sync.config.json'), 'utf8'));
// A few chunks, one partition: every row's write goes through one merge worker.
configJson.entities.contact.source = { chunkBytes: 256 * 1024 };
configJson.entities.contact.partitionRows = 100_000;
writeFileSync(configFile, JSON.stringify(configJson));
const config = parseConfigText(JSON.stringify(configJson), configFile);

const exportFile = join(base, 'contacts.csv');
writeFileSync(exportFile, [...generateContacts({ rows: 3000, seed: 7 })].join(''));

/**
 * The merge function's timeout in these runs: a small share of what the faults make it take, and
 * enough for a pass's reads of its parts under s3-error on a loaded 2-core machine (5 s was not).
 */
const MERGE_TIMEOUT_MS = 10_000;
/**
 * The merge function's timeout in the second run over the loaded table: a pass reads about a
 * quarter of its keys, and its 2 s margin holds a read in flight through the SDK's own retries.
 */
const UPDATE_MERGE_TIMEOUT_MS = 8000;

type Table = Map<string, Record<string, unknown>>;
interface Outcome {
  run: LocalRunResult;
  table: Table;
  /** Objects the merge loop wrote (seen as each pass ended): the manifests of partitions left, and the progress objects. */
  loopObjects: string[];
}

async function scan(stack: LocalStack): Promise<Table> {
  const items: Table = new Map();
  let start: Record<string, AttributeValue> | undefined;
  do {
    const out = await stack.dynamodbClient.send(
      new ScanCommand({
        TableName: stack.tableOf('contact'),
        ExclusiveStartKey: start,
        ConsistentRead: true,
      }),
    );
    for (const raw of out.Items ?? []) {
      const { _run, ...item } = unmarshall(raw);
      items.set(String(item.id), item);
    }
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}

async function loopObjects(stack: LocalStack): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const out = await stack.s3Client.send(
      new ListObjectsV2Command({ Bucket: stack.bucket, Prefix: 'work/', ContinuationToken: token }),
    );
    for (const o of out.Contents ?? []) {
      if (o.Key && /merge-passes\/left-|merge-progress\//.test(o.Key)) keys.push(o.Key);
    }
    token = out.NextContinuationToken;
  } while (token);
  return keys;
}

async function runCase(name: string, rates?: FaultRates): Promise<Outcome> {
  jest.resetModules();
  const stateDir = mkdtempSync(join(base, `${name}-`));
  if (existsSync(join(base, 'cache')))
    cpSync(join(base, 'cache'), join(stateDir, 'cache'), { recursive: true });
  const seen = new Set<string>();
  const stack: LocalStack = await LocalStack.start({
    stateDir,
    config,
    configFile,
    faults: rates ? { rates, seed: 3 } : undefined,
    retryIntervalMs: 20,
    ...(rates ? { functionTimeoutsMs: { merge: MERGE_TIMEOUT_MS } } : {}),
    // The loop's objects as each pass ends (a run that succeeds has its work objects pruned).
    beforeTask: async (state) => {
      if (state === 'CheckMerge') for (const k of await loopObjects(stack)) seen.add(k);
    },
  });
  try {
    const run = await runLocalFile(stack, exportFile, config, { entity: 'contact', stateDir });
    if (!existsSync(join(base, 'cache')))
      cpSync(join(stateDir, 'cache'), join(base, 'cache'), { recursive: true });
    for (const k of await loopObjects(stack)) seen.add(k);
    return { run, table: await scan(stack), loopObjects: [...seen].sort() };
  } finally {
    await stack.stop();
  }
}

/**
 * A second run of the export over the table the first (fault-free) run loaded: its merge reads
 * every key from the target (and the tombstones of those it does not hold) before it classifies,
 * so the reads, not the writes, are what the faults keep going past the timeout.
 */
async function runUpdateCase(name: string, rates?: FaultRates): Promise<Outcome> {
  jest.resetModules();
  const stateDir = mkdtempSync(join(base, `${name}-`));
  if (existsSync(join(base, 'cache')))
    cpSync(join(base, 'cache'), join(stateDir, 'cache'), { recursive: true });
  const loader = await LocalStack.start({ stateDir, config, configFile, retryIntervalMs: 20 });
  try {
    await runLocalFile(loader, exportFile, config, { entity: 'contact', stateDir });
  } finally {
    await loader.stop();
  }
  jest.resetModules();
  const seen = new Set<string>();
  const stack: LocalStack = await LocalStack.start({
    stateDir,
    config,
    configFile,
    faults: rates ? { rates, seed: 3 } : undefined,
    retryIntervalMs: 20,
    ...(rates ? { functionTimeoutsMs: { merge: UPDATE_MERGE_TIMEOUT_MS } } : {}),
    // The loop's objects as each pass ends (a run that succeeds has its work objects pruned).
    beforeTask: async (state) => {
      if (state === 'CheckMerge') for (const k of await loopObjects(stack)) seen.add(k);
    },
  });
  try {
    const run = await runLocalFile(stack, exportFile, config, {
      entity: 'contact',
      stateDir,
      rerun: 'again',
    });
    for (const k of await loopObjects(stack)) seen.add(k);
    return { run, table: await scan(stack), loopObjects: [...seen].sort() };
  } finally {
    await stack.stop();
  }
}

const essence = (r: LocalRunResult) => ({
  status: r.status,
  error: r.error,
  counts: r.counts,
  duplicateKeys: r.duplicateKeys,
  chunks: r.chunks,
  partitions: r.partitions,
  reconciliation: r.reconciliation?.status,
});

describe('the merge under throttling past its timeout', () => {
  let clean: Outcome;

  beforeAll(async () => {
    clean = await runCase('fault-free');
  });

  it('merges the fault-free run in one pass', () => {
    // Assess
    expect(essence(clean.run)).toMatchObject({
      status: 'SUCCEEDED',
      reconciliation: 'MATCHED',
      partitions: 1,
    });
    expect(clean.run.counts?.applied).toBeGreaterThan(2500);
    expect(clean.loopObjects).toEqual([]);
  });

  it.each<[string, FaultRates]>([
    ['the fault matrix', { 'worker-crash': 0.5, throttle: 0.5, unprocessed: 0.8, 's3-error': 0.4 }],
    ['throttling alone', { throttle: 0.5, unprocessed: 0.8 }],
  ])(
    '%s: passes that hand back what is left, the counts and the table of the fault-free run',
    async (name, rates) => {
      // Act
      const faulty = await runCase(name.replaceAll(' ', '-'), rates);

      // Assess
      expect(essence(faulty.run)).toEqual(essence(clean.run));
      expect(faulty.table.size).toBe(clean.table.size);
      expect(faulty.table).toEqual(clean.table);
      // More than one pass: a partition was handed back at least once, and a pass of what was left ran.
      expect(faulty.loopObjects.some((k) => k.includes('merge-progress/p0000'))).toBe(true);
      expect(faulty.loopObjects.some((k) => k.includes('merge-passes/left-0002'))).toBe(true);
    },
  );

  it('the fault matrix over a loaded table: the counts and the table of the fault-free run', async () => {
    // Prepare
    const cleanUpdate = await runUpdateCase('update-fault-free');

    // Act
    const faulty = await runUpdateCase('update-fault-matrix', {
      'worker-crash': 0.5,
      throttle: 0.5,
      unprocessed: 0.8,
      's3-error': 0.4,
    });

    // Assess
    expect(essence(cleanUpdate.run)).toMatchObject({ status: 'SUCCEEDED', reconciliation: 'MATCHED' });
    expect(cleanUpdate.run.counts?.unchanged).toBeGreaterThan(2500);
    expect(essence(faulty.run)).toEqual(essence(cleanUpdate.run));
    expect(faulty.table).toEqual(cleanUpdate.table);
    // Whether a pass hands its reads back here depends on how long the SDK's jittered retries take
    // (measured: 1 run in 3 read everything in the first pass), so the passes are not counted; the
    // hand-back rule itself is held by test/unit/merge-progress.test.ts (readsEndPass).
  });
});
