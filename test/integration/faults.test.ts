import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type AttributeValue, ScanCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { type CONTACT_COLUMNS, generateContacts } from '../../examples/generate';
import { parseConfigText } from '../../lambdas/domain/config';
import type { FaultKind, FaultRates } from '../../local/faults';
import { type LocalRunResult, LocalStack } from '../../local/local-stack';
import { runLocalFile } from '../../local/run';
import { readCsv } from './reference';

/**
 * Integration: fault injection (`--faults`) on the local stack. A generated dirty export and then a
 * delta (updates, deletes of stored items, stale rows, two versions of one key, deletes of absent
 * keys) run fault-free in one state dir, then with each fault kind alone and with a mix, each in a
 * fresh state dir: every run must succeed, reconcile, report the same counts as the fault-free run,
 * and leave the same table (the `_run` attribute aside), with faults really injected.
 */

const ROOT = resolve(__dirname, '../..');
const base = mkdtempSync(join(tmpdir(), 'crm-sync-faults-'));
const configFile = join(base, 'crm-sync.config.json');
const configJson = JSON.parse(readFileSync(join(ROOT, 'examples/crm-sync.config.json'), 'utf8'));
// Small chunks and partitions: ~20 transform and ~12 merge invocations for the export.
configJson.entities.contact.source = { chunkBytes: 16 * 1024 };
configJson.entities.contact.partitionRows = 100;
writeFileSync(configFile, JSON.stringify(configJson));
const config = parseConfigText(JSON.stringify(configJson), configFile);

const exportFile = join(base, 'contacts.csv');
writeFileSync(exportFile, [...generateContacts({ rows: 1000, seed: 7 })].join(''));
const deltaFile = join(base, 'contacts-delta.csv');

type Table = Map<string, Record<string, unknown>>;
interface Outcome {
  runs: LocalRunResult[];
  table: Table;
  faults: Partial<Record<FaultKind, number>>;
  /** The injector's progress lines (`⚡ worker-crash: MergePartition (partition 1) crashed after…`). */
  log: string[];
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
      // `_run` names the run that wrote the item; everything else must be identical.
      const { _run, ...item } = unmarshall(raw);
      items.set(String(item.id), item);
    }
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}

/**
 * The delta: from the rows the fault-free export stored, newer updates, newer deletes, stale rows
 * (older than stored: superseded), one key in two versions, and deletes of keys never stored.
 */
function writeDelta(stored: Table): void {
  const [header, ...rows] = readCsv(exportFile);
  const col = (name: (typeof CONTACT_COLUMNS)[number]) => header?.cells.indexOf(name) ?? -1;
  const [id, title, modified, deleted] = [col('Id'), col('Title'), col('LastModifiedDate'), col('IsDeleted')];
  const live = rows.filter((r) => stored.has(r.cells[id] ?? '') && r.cells[deleted] === 'false');
  const seen = new Set<string>();
  const unique = live.filter((r) => !seen.has(r.cells[id] ?? '') && seen.add(r.cells[id] ?? ''));
  const edit = (r: { cells: string[] }, changes: Record<number, string>) =>
    r.cells.map((c, i) => changes[i] ?? c);
  const out: string[][] = [];
  unique.slice(0, 60).forEach((r, i) => {
    out.push(edit(r, { [title]: `Updated ${i}`, [modified]: '2031-01-01T00:00:00.000Z' }));
  });
  unique.slice(60, 120).forEach((r) => {
    out.push(edit(r, { [modified]: '2031-01-01T00:00:00.000Z', [deleted]: 'true' }));
  });
  unique.slice(120, 150).forEach((r) => {
    out.push(edit(r, { [title]: 'Stale', [modified]: '2001-01-01T00:00:00.000Z' }));
  });
  unique.slice(150, 170).forEach((r, i) => {
    out.push(edit(r, { [title]: `First ${i}`, [modified]: '2031-02-01T00:00:00.000Z' }));
    out.push(edit(r, { [title]: `Second ${i}`, [modified]: '2031-03-01T00:00:00.000Z' }));
  });
  for (let i = 0; i < 20; i++) {
    const r = unique[170 + i];
    if (!r) break;
    out.push(
      edit(r, {
        [id]: `003NEVER${String(i).padStart(10, '0')}`,
        [deleted]: 'true',
        [modified]: '2031-01-01T00:00:00.000Z',
      }),
    );
  }
  const q = (cells: readonly string[]) => cells.map((c) => `"${c.replaceAll('"', '""')}"`).join(',');
  writeFileSync(deltaFile, `${[header?.cells ?? [], ...out].map(q).join('\r\n')}\r\n`);
}

/** One fresh state dir and stack: the export, then the delta. */
async function runCase(name: string, rates?: FaultRates, seed = 11): Promise<Outcome> {
  // The handlers' SDK clients belong to their module instance and keep the endpoints of the first
  // stack they talked to: a fresh module registry gives this stack's handlers fresh clients.
  jest.resetModules();
  const stateDir = mkdtempSync(join(base, `${name}-`));
  // The synthesized definition is cached per state dir: synthesize once, not once per case.
  if (existsSync(join(base, 'cache')))
    cpSync(join(base, 'cache'), join(stateDir, 'cache'), { recursive: true });
  const log: string[] = [];
  const stack = await LocalStack.start({
    onProgress: (m) => {
      if (m.startsWith('⚡')) log.push(m);
    },
    stateDir,
    config,
    configFile,
    faults: rates ? { rates, seed } : undefined,
    // Retries happen as the definition says, only without the seconds of waiting between them.
    retryIntervalMs: 20,
  });
  try {
    const first = await runLocalFile(stack, exportFile, config, { entity: 'contact', stateDir });
    if (!rates) {
      writeDelta(await scan(stack));
      cpSync(join(stateDir, 'cache'), join(base, 'cache'), { recursive: true });
    }
    const second = await runLocalFile(stack, deltaFile, config, { entity: 'contact', stateDir });
    return { runs: [first, second], table: await scan(stack), faults: stack.faults?.counts() ?? {}, log };
  } finally {
    await stack.stop();
  }
}

/** What must not depend on faults: status, counts, chunking, reconciliation, the table. */
const essence = (r: LocalRunResult) => ({
  status: r.status,
  error: r.error,
  counts: r.counts,
  duplicateKeys: r.duplicateKeys,
  chunks: r.chunks,
  partitions: r.partitions,
  reconciliation: r.reconciliation?.status,
  mismatchedKeys: r.reconciliation?.mismatchedKeys,
});

describe('fault injection on the local stack', () => {
  let clean: Outcome;

  beforeAll(async () => {
    clean = await runCase('fault-free');
  });

  it('runs the export and the delta fault-free as the baseline', () => {
    const [exp, delta] = clean.runs.map(essence);
    expect(exp).toMatchObject({ status: 'SUCCEEDED', reconciliation: 'MATCHED' });
    expect(delta).toMatchObject({ status: 'SUCCEEDED', reconciliation: 'MATCHED' });
    expect(exp?.chunks).toBeGreaterThan(10);
    expect(exp?.partitions).toBeGreaterThan(5);
    for (const r of clean.runs) {
      const c = r.counts;
      if (!c) throw new Error('no counts');
      expect(c.applied + c.unchanged + c.superseded + c.deleted + c.rejected).toBe(c.rows);
      expect(r.faults).toBeUndefined();
    }
    // The delta: 60 updates + 20 second versions applied, 60 deletes, 30 stale + 20 first versions
    // superseded, 20 deletes of keys never stored unchanged.
    expect(clean.runs[1]?.counts).toEqual({
      rows: 210,
      applied: 80,
      unchanged: 20,
      superseded: 50,
      deleted: 60,
      rejected: 0,
    });
  });

  const cases: Array<[string, FaultRates]> = [
    ['worker-crash', { 'worker-crash': 0.5 }],
    ['throttle', { throttle: 0.05 }],
    ['unprocessed', { unprocessed: 0.5 }],
    ['s3-error', { 's3-error': 0.2 }],
    ['duplicate-trigger', { 'duplicate-trigger': 1 }],
    [
      'mix',
      { 'worker-crash': 0.3, throttle: 0.03, unprocessed: 0.3, 's3-error': 0.1, 'duplicate-trigger': 1 },
    ],
  ];

  it.each(cases)('%s: same runs, same counts, same table as the fault-free run', async (name, rates) => {
    // Act
    const faulty = await runCase(name, rates);

    // Assess
    for (const kind of Object.keys(rates) as FaultKind[]) expect(faulty.faults[kind]).toBeGreaterThan(0);
    for (const [i, r] of faulty.runs.entries()) {
      expect(essence(r)).toEqual(essence(clean.runs[i] as LocalRunResult));
      expect(Object.keys(r.faults ?? {}).sort()).toEqual(Object.keys(rates).sort());
    }
    expect(faulty.table.size).toBe(clean.table.size);
    expect(faulty.table).toEqual(clean.table);
    if (name === 'worker-crash') {
      // The at-least-once cases happened: workers that crashed after (and during) their work ran again.
      expect(faulty.log.some((l) => /MergePartition .* crashed after its work/.test(l))).toBe(true);
      expect(faulty.log.some((l) => /TransformChunk .* crashed after its work/.test(l))).toBe(true);
      expect(faulty.log.some((l) => /crashed during its work/.test(l))).toBe(true);
    }
  });
});
