import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AttributeValue, ScanCommand } from '@aws-sdk/client-dynamodb';
import { type CrmSyncConfig, parseConfig } from '../../lambdas/domain/config';
import { runLocalFile } from '../../local/run';
import { copySnapshotOut, restoreLocalSnapshot, takeLocalSnapshot } from '../../local/snapshot';
import { cli, lastJson, ROOT, useLocalStack } from './support';

/**
 * Integration: backup and restore on the local stack, through the synthesized Snapshot and Restore
 * state machines: a round trip into an empty table is exact item by item (types, unicode and
 * crm-sync's own attributes included), a non-empty table is refused, and a corrupted part is refused
 * before anything is written.
 */
const ITEM = {
  target: { key: 'id' },
  fields: {
    id: { source: 'Id', required: true },
    code: { source: 'Code' },
    amount: { source: 'Amount', type: 'number' },
    active: { source: 'Active', type: 'boolean' },
    name: { source: 'Name' },
    updatedAt: { source: 'Modified', type: 'datetime', required: true },
  },
  updatedAt: 'updatedAt',
} as const;
const CONFIG: CrmSyncConfig = parseConfig({ entities: { item: ITEM, copy: ITEM, other: ITEM } });

const ROWS = [
  'Id,Code,Amount,Active,Name,Modified',
  'a1,00123,12.5,true,Zoë Łukaszewski 😀,2024-01-01T00:00:00Z',
  'a2,1e3,-0.001,false,"Line one\nline two, with ""quotes""",2024-01-02T00:00:00Z',
  'a3,007,123456789012345,TRUE,王小明,2024-01-03T00:00:00Z',
  'a4,=1+1,,false,   spaced   ,2024-01-04T00:00:00Z',
  ...Array.from(
    { length: 300 },
    (_, i) => `b${i},${String(i).padStart(5, '0')},${i * 1.25},${i % 2 === 0},n${i},2024-02-01T00:00:00Z`,
  ),
];

describe('backup and restore on the local stack', () => {
  const local = useLocalStack('backup', CONFIG);

  /** Every item of a table exactly as DynamoDB holds it, by id. */
  async function rawItems(entity: string): Promise<Array<Record<string, AttributeValue>>> {
    const items: Array<Record<string, AttributeValue>> = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out = await local.stack.dynamodbClient.send(
        new ScanCommand({
          TableName: local.stack.tableOf(entity),
          ExclusiveStartKey: start,
          ConsistentRead: true,
        }),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    return items.sort((a, b) => String(a.id?.S).localeCompare(String(b.id?.S)));
  }

  let snapshotId = '';

  beforeAll(async () => {
    const file = local.write('items.csv', `${ROWS.join('\n')}\n`);
    const run = await runLocalFile(local.stack, file, CONFIG, { entity: 'item', stateDir: local.stateDir });
    expect(run.status).toBe('SUCCEEDED');
  });

  it('snapshots a table and restores it into an empty table exactly, item by item', async () => {
    // Prepare
    const source = await rawItems('item');

    // Act
    const { result, manifest } = await takeLocalSnapshot(local.stack, CONFIG, {
      entity: 'item',
      formats: ['csv'],
    });
    snapshotId = result.snapshotId ?? '';
    const restored = await restoreLocalSnapshot(local.stack, CONFIG, {
      entity: 'copy',
      snapshot: snapshotId,
      fromEntity: 'item',
    });

    // Assess
    expect(result).toMatchObject({ status: 'SUCCEEDED', items: 304 });
    expect(manifest).toMatchObject({ entity: 'item', key: 'id', items: 304, formats: ['jsonl', 'csv'] });
    expect(restored).toMatchObject({ status: 'SUCCEEDED', items: 304, digest: result.digest });
    const copy = await rawItems('copy');
    expect(copy).toHaveLength(source.length);
    expect(copy).toEqual(source);
    // The types survived: a numeric-looking string, numbers, booleans, unicode, crm-sync's attributes.
    const a1 = source.find((i) => i.id?.S === 'a1');
    expect(a1).toMatchObject({
      code: { S: '00123' },
      amount: { N: '12.5' },
      active: { BOOL: true },
      name: { S: 'Zoë Łukaszewski 😀' },
    });
    expect(Object.keys(a1 ?? {})).toEqual(expect.arrayContaining(['_v', '_line', '_run', '_digest']));
    expect(source.find((i) => i.id?.S === 'a3')?.code).toEqual({ S: '007' });
  });

  it('refuses to restore into a table that holds items, and leaves it as it was', async () => {
    // Prepare
    const before = await rawItems('copy');

    // Act
    const again = await restoreLocalSnapshot(local.stack, CONFIG, {
      entity: 'copy',
      snapshot: snapshotId,
      fromEntity: 'item',
    });

    // Assess
    expect(again.status).toBe('FAILED');
    expect(again.error?.name).toBe('TargetNotEmptyError');
    expect(again.error?.message).toContain('is not empty');
    expect(await rawItems('copy')).toEqual(before);
  });

  it('refuses a snapshot with a corrupted part before writing anything, then restores a good one', async () => {
    // Prepare
    const { manifest } = await takeLocalSnapshot(local.stack, CONFIG, { entity: 'item', segments: 3 });
    if (!manifest) throw new Error('no manifest');
    const dir = mkdtempSync(join(tmpdir(), 'crm-sync-corrupt-'));
    await copySnapshotOut(local.stack, manifest, dir);
    const renamed = { ...manifest, snapshotId: `${manifest.snapshotId}-corrupt` };
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(renamed));
    const part = join(dir, 'part-00002.jsonl.gz');
    const bytes = readFileSync(part);
    bytes[bytes.length - 9] = (bytes[bytes.length - 9] ?? 0) ^ 0x01;
    writeFileSync(part, bytes);

    // Act
    const refused = await restoreLocalSnapshot(local.stack, CONFIG, { entity: 'other', snapshot: dir });
    const afterRefusal = await rawItems('other');
    const good = await restoreLocalSnapshot(local.stack, CONFIG, {
      entity: 'other',
      snapshot: manifest.snapshotId,
      fromEntity: 'item',
    });

    // Assess
    expect(refused.status).toBe('FAILED');
    expect(refused.error?.name).toBe('SnapshotCorruptError');
    expect(refused.error?.message).toContain('part-00002.jsonl.gz does not match the manifest');
    expect(afterRefusal).toEqual([]);
    // The failed restore gave the lock back: the next one runs, into the still-empty table.
    expect(good).toMatchObject({ status: 'SUCCEEDED', items: 304 });
    expect(await rawItems('other')).toEqual(await rawItems('item'));
  });

  it('a sync run after a snapshot still runs (the snapshot gave the lock back)', async () => {
    // Prepare
    const file = local.write('later.csv', `${ROWS[0]}\na1,00124,13,false,Later,2024-03-01T00:00:00Z\n`);

    // Act
    const run = await runLocalFile(local.stack, file, CONFIG, { entity: 'item', stateDir: local.stateDir });

    // Assess
    expect(run.status).toBe('SUCCEEDED');
    expect(run.counts?.applied).toBe(1);
  });
});

describe('crm-sync local export --out / local restore <dir> (separate processes)', () => {
  it('restores a CLI snapshot directory into a fresh state dir: `local export` of both is the same', async () => {
    // Prepare
    const base = mkdtempSync(join(tmpdir(), 'crm-sync-backup-cli-'));
    const [a, b, out] = ['a', 'b', 'snapshot'].map((d) => join(base, d)) as [string, string, string];
    const accounts = join(ROOT, 'examples/data/accounts.csv');
    expect((await cli(['local', 'run', accounts, '--entity', 'account', '--state-dir', a])).code).toBe(0);

    // Act
    const exported = await cli([
      'local',
      'export',
      '--entity',
      'account',
      '--format',
      'csv',
      '--out',
      out,
      '--json',
      '--state-dir',
      a,
    ]);
    const restored = await cli(['local', 'restore', out, '--entity', 'account', '--json', '--state-dir', b]);
    const refused = await cli(['local', 'restore', out, '--entity', 'account', '--json', '--state-dir', b]);
    const [rowsA, rowsB] = await Promise.all(
      [a, b].map((dir) =>
        cli(['local', 'export', '--entity', 'account', '--all-attributes', '--state-dir', dir]),
      ),
    );

    // Assess
    expect(exported.code).toBe(0);
    const snap = lastJson<{ items: number; out: { files: string[] } }>(exported.stdout);
    expect(snap.items).toBe(150);
    expect(snap.out.files).toEqual(
      expect.arrayContaining([
        join(out, 'manifest.json'),
        join(out, 'account.csv'),
        join(out, 'part-00000.jsonl.gz'),
      ]),
    );
    expect(readFileSync(join(out, 'account.csv'), 'utf8').split('\r\n')[0]).toMatch(/^id,name,/);
    expect(restored.code).toBe(0);
    expect(lastJson(restored.stdout)).toMatchObject({ status: 'SUCCEEDED', items: 150 });
    expect(refused.code).toBe(1);
    expect(lastJson(refused.stdout)).toMatchObject({
      status: 'FAILED',
      error: { name: 'TargetNotEmptyError' },
    });
    const sorted = (s: string) => s.trim().split('\n').sort();
    expect(sorted(rowsB?.stdout ?? '')).toHaveLength(150);
    expect(sorted(rowsB?.stdout ?? '')).toEqual(sorted(rowsA?.stdout ?? ''));
    expect(rowsA?.stderr).toMatch(/snapshot \S+: 150 items/);
  });
});
