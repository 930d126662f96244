import { DeleteItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { type CrmSyncConfig, parseConfig } from '../../lambdas/domain/config';
import { runLocalFile } from '../../local/run';
import { PERSON_ENTITY, PERSON_HEADER, useLocalStack } from './support';

/**
 * Integration: the two verification modes on the local stack. `full` scans the table, proves the
 * run's puts by the digest of the items it finds written by the run (a second pass reads every key
 * only when that digest differs) and reads the other decisions back, so an item added behind
 * crm-sync's back fails the next run; `sample:<n>` reads back about n keys and does not scan (cheap
 * for small deltas into huge tables), so it cannot see such an item: that is the trade, and the
 * report says which mode ran.
 */
const CONFIG: CrmSyncConfig = parseConfig({
  entities: {
    full: { ...PERSON_ENTITY, target: { key: 'id', tableName: 'crm-sync-verify-full' } },
    sampled: {
      ...PERSON_ENTITY,
      target: { key: 'id', tableName: 'crm-sync-verify-sampled' },
      verify: 'sample:20',
    },
    tampered: { ...PERSON_ENTITY, target: { key: 'id', tableName: 'crm-sync-verify-tampered' } },
    large: { ...PERSON_ENTITY, target: { key: 'id', tableName: 'crm-sync-verify-large' }, verify: 'full' },
    'large-mirror': {
      ...PERSON_ENTITY,
      target: { key: 'id', tableName: 'crm-sync-verify-large-mirror' },
      syncMode: 'mirror',
      maxDeleteRatio: 0.5,
    },
  },
});
const ROWS = Array.from(
  { length: 400 },
  (_, i) => `p${String(i).padStart(4, '0')},name ${i},2024-01-01T00:00:00Z,false`,
);

describe('verification modes on the local stack', () => {
  /** The Lambda tasks the state machine ran (children of a map included), and a change to make before one. */
  let tasks: string[] = [];
  let beforeVerify: (() => Promise<void>) | undefined;
  const local = useLocalStack('verify-modes', CONFIG, {
    beforeTask: async (state) => {
      tasks.push(state);
      if (state !== 'VerifyPartition' || !beforeVerify) return;
      const change = beforeVerify;
      beforeVerify = undefined;
      await change();
    },
  });
  beforeEach(() => {
    tasks = [];
    beforeVerify = undefined;
  });
  const run = (entity: string, file: string) =>
    runLocalFile(local.stack, file, CONFIG, { entity, stateDir: local.stateDir });
  const addByHand = (entity: string) =>
    local.stack.dynamodbClient.send(
      new PutItemCommand({
        TableName: local.stack.tableOf(entity),
        Item: marshall({ id: 'zz-by-hand', name: 'not from any export' }),
      }),
    );

  it.each([
    ['full', 400, 'full'],
    ['sampled', 400, 'sampled'],
  ])('%s: loads 400 rows and matches', async (entity) => {
    // Act
    const result = await run(
      entity,
      local.write(`${entity}-1.csv`, `${PERSON_HEADER}\n${ROWS.join('\n')}\n`),
    );

    // Assess
    expect(result.reconciliation?.status).toBe('MATCHED');
    const content = result.reconciliation?.checks.find((c) => c.name === 'content');
    if (entity === 'full') {
      expect(result.reconciliation?.verifiedKeys).toBe(400);
      expect(content?.detail).toBe(
        '400 of 400 keys verified against the target (400 puts by the digest of the 400 items the run wrote), 400 stored items checked for provenance, 0 differ',
      );
    } else {
      // About 20 of 400 keys (the hash picks each with probability 20/400), and no scan
      expect(result.reconciliation?.verifiedKeys).toBeGreaterThan(5);
      expect(result.reconciliation?.verifiedKeys).toBeLessThan(45);
      expect(content?.detail).toMatch(
        /^\d+ of 400 keys verified against the target \(sample of about 20\), 0 differ$/,
      );
    }
  });

  it('full mode proves the puts by digest; a put deleted before verification is named by a key-by-key pass', async () => {
    // Prepare: the item p0007 disappears after the merge wrote it, before verification reads.
    const file = local.write('tampered-1.csv', `${PERSON_HEADER}\n${ROWS.join('\n')}\n`);
    const update = `${PERSON_HEADER}\np0399,renamed,2024-03-01T00:00:00Z,false\n`;
    const clean = await run('full', local.write('full-update.csv', update));
    const cleanTasks = tasks;
    tasks = [];
    beforeVerify = async () => {
      await local.stack.dynamodbClient.send(
        new DeleteItemCommand({ TableName: local.stack.tableOf('tampered'), Key: marshall({ id: 'p0007' }) }),
      );
    };

    // Act
    const result = await run('tampered', file);

    // Assess
    expect(clean.reconciliation?.status).toBe('MATCHED');
    expect(clean.counts?.applied).toBe(1);
    expect(cleanTasks).toContain('VerifyPartition');
    expect(cleanTasks).not.toContain('VerifyPartitionByKey');
    expect(tasks).toContain('VerifyPartitionByKey');
    expect(result.status).toBe('FAILED');
    expect(result.reconciliation?.status).toBe('MISMATCHED');
    expect(result.reconciliation?.mismatchedKeys).toEqual([
      { key: 'p0007', problem: 'missing', scope: 'run' },
    ]);
    expect(result.reconciliation?.checks.find((c) => c.name === 'content')?.detail).toBe(
      '400 of 400 keys verified against the target (key by key: the digest of the items the run wrote differed from its puts), 399 stored items checked for provenance, 1 differ',
    );
  });

  it('a table that reports a large size is scanned in more segments than partitions: every item counted once, full verification and mirror deletes still match', async () => {
    // Prepare: 400 items in each table, then DescribeTable (the local seam) says 2M items / 1 GB,
    // which no single worker scans in its time (half the verify worker's 60 s): Plan sizes the scans at
    // 12 segments.
    await run('large', local.write('large-1.csv', `${PERSON_HEADER}\n${ROWS.join('\n')}\n`));
    await run('large-mirror', local.write('large-mirror-1.csv', `${PERSON_HEADER}\n${ROWS.join('\n')}\n`));
    const renamed = ROWS.slice(0, 50).map((r) =>
      r.replace(',name ', ',renamed ').replace('2024-01-01', '2024-02-01'),
    );
    const added = Array.from(
      { length: 100 },
      (_, i) => `p${400 + i},name ${400 + i},2024-01-01T00:00:00Z,false`,
    );
    const delta = local.write('large-2.csv', `${PERSON_HEADER}\n${[...renamed, ...added].join('\n')}\n`);
    const fewer = local.write('large-mirror-2.csv', `${PERSON_HEADER}\n${ROWS.slice(0, 350).join('\n')}\n`);
    process.env.CRM_SYNC_TABLE_STATS = JSON.stringify({ bytes: 1e9, items: 2_000_000 });
    const count = (name: string) => tasks.filter((t) => t === name).length;
    try {
      // Act
      tasks = [];
      const full = await run('large', delta);
      const fullTasks = { verify: count('VerifyPartition'), byKey: count('VerifyPartitionByKey') };
      tasks = [];
      const mirror = await run('large-mirror', fewer);
      const mirrorTasks = { scan: count('ScanTargetSegment'), plan: count('PlanPartitionDeletes') };

      // Assess: one verify worker per segment, more than the partitions
      expect(full.partitions).toBe(1);
      expect(fullTasks).toEqual({ verify: 12, byKey: 0 });
      expect(full.reconciliation?.status).toBe('MATCHED');
      expect(full.counts?.applied).toBe(150);
      const checks = full.reconciliation?.checks ?? [];
      expect(checks.find((c) => c.name === 'all-verified')?.detail).toBe(
        '12 of 12 scan segments (1 partitions) verified',
      );
      // The 500 stored items each scanned once over the 12 segments; the 150 puts proven by the sum
      expect(checks.find((c) => c.name === 'content')?.detail).toBe(
        '150 of 150 keys verified against the target (150 puts by the digest of the 150 items the run wrote), 500 stored items checked for provenance, 0 differ',
      );
      // Mirror: the 400 target keys found once over the 12 key-scan segments, the 50 left out deleted
      expect(mirrorTasks).toEqual({ scan: 12, plan: mirror.partitions });
      expect(mirror.reconciliation?.status).toBe('MATCHED');
      expect(mirror.mirror).toMatchObject({ targetItems: 400, candidates: 50, deleted: 50 });
      expect(await local.items('large-mirror')).toHaveLength(350);
    } finally {
      delete process.env.CRM_SYNC_TABLE_STATS;
    }
  });

  it('full mode fails the next run over an item added by hand; sample mode does not scan for it', async () => {
    // Prepare
    await addByHand('full');
    await addByHand('sampled');
    const delta = `${PERSON_HEADER}\np0001,renamed,2024-02-01T00:00:00Z,false\n`;

    // Act
    const full = await run('full', local.write('full-2.csv', delta));
    const sampled = await run('sampled', local.write('sampled-2.csv', delta));

    // Assess
    expect(full.status).toBe('FAILED');
    expect(full.reconciliation?.status).toBe('MISMATCHED');
    expect(full.reconciliation?.mismatchedKeys).toEqual([
      { key: 'zz-by-hand', problem: 'not written by crm-sync', scope: 'table' },
    ]);
    expect(sampled.status).toBe('SUCCEEDED');
    expect(sampled.reconciliation?.status).toBe('MATCHED');
    expect(sampled.counts?.applied).toBe(1);
  });
});
