import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type AttributeValue,
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  PutItemCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { ChunkAccumulator, META, writeLimits, writtenItemSize } from '../../lambdas/domain/chunk';
import { type CrmSyncConfig, getEntity, parseConfig } from '../../lambdas/domain/config';
import {
  dynamoItemSize,
  keyFits,
  MAX_ITEM_BYTES,
  MAX_PARTITION_KEY_BYTES,
} from '../../lambdas/domain/item-size';
import { bindHeader } from '../../lambdas/domain/mapping';
import type { RunRecord } from '../../lambdas/domain/run';
import type { Value } from '../../lambdas/domain/value';
import { type DynamoDbLocal, dynamoDbLocalMissing, startDynamoDbLocal } from './dynamodb-local';
import { NOTE_ENTITY } from './support';

/**
 * Conformance: the project's DynamoDB adapters against Amazon's own DynamoDB Local (beside dynalite,
 * which every other test uses), the size rule of the transform against what DynamoDB Local stores
 * and refuses, the deviations of dynalite, and one local run end to end on DynamoDB Local.
 */
const missing = dynamoDbLocalMissing();
if (missing && process.env.CI) throw new Error(`DynamoDB Local must run in CI: ${missing}`);
if (missing) process.stderr.write(`dynamodb-local.test.ts skipped: ${missing}\n`);
const suite = missing ? describe.skip : describe;

type Adapters = typeof import('../../lambdas/adapters/dynamodb');
type LedgerModule = typeof import('../../lambdas/adapters/ledger');
type TombstonesModule = typeof import('../../lambdas/adapters/tombstones');
type SnapshotsModule = typeof import('../../lambdas/adapters/snapshots');

const TARGET = 'conformance-target';
const LEDGER = 'conformance-ledger';
const RUN_ID = 'notes-0123456789abcdef0123';
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

suite('DynamoDB Local conformance', () => {
  let local: DynamoDbLocal | undefined;
  let raw: DynamoDBClient;
  let ddb: Adapters;
  let ledgerModule: LedgerModule;
  let tombstones: TombstonesModule;
  let snapshots: SnapshotsModule;
  let dynalite: { endpoint: string; stop(): Promise<void> } | undefined;
  let dynaliteClient: DynamoDBClient;

  /** A test whose failure shows what DynamoDB Local printed. */
  const check = (name: string, fn: () => Promise<void>) =>
    it(name, async () => {
      try {
        await fn();
      } catch (err) {
        if (err instanceof Error)
          err.message += `\n--- DynamoDB Local output ---\n${local?.output().slice(-4000)}`;
        throw err;
      }
    });

  async function createTables(client: DynamoDBClient): Promise<void> {
    const tables = [
      { TableName: TARGET, keys: [{ name: 'id', type: 'HASH' as const }] },
      {
        TableName: LEDGER,
        keys: [
          { name: 'pk', type: 'HASH' as const },
          { name: 'sk', type: 'RANGE' as const },
        ],
      },
    ];
    for (const t of tables) {
      await client.send(
        new CreateTableCommand({
          TableName: t.TableName,
          BillingMode: 'PAY_PER_REQUEST',
          KeySchema: t.keys.map((k) => ({ AttributeName: k.name, KeyType: k.type })),
          AttributeDefinitions: t.keys.map((k) => ({ AttributeName: k.name, AttributeType: 'S' })),
        }),
      );
      await waitUntilTableExists(
        { client, maxWaitTime: 60, minDelay: 0.05, maxDelay: 0.5 },
        { TableName: t.TableName },
      );
    }
  }

  beforeAll(async () => {
    local = await startDynamoDbLocal();
    // The adapters' clients read these when first required (below).
    Object.assign(process.env, {
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_ENDPOINT_URL_DYNAMODB: local.endpoint,
    });
    delete process.env.AWS_PROFILE;
    raw = new DynamoDBClient({ endpoint: local.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
    await createTables(raw);
    ddb = require('../../lambdas/adapters/dynamodb') as Adapters;
    ledgerModule = require('../../lambdas/adapters/ledger') as LedgerModule;
    tombstones = require('../../lambdas/adapters/tombstones') as TombstonesModule;
    snapshots = require('../../lambdas/adapters/snapshots') as SnapshotsModule;
    const { startDynalite } = require('../../local/emulators') as typeof import('../../local/emulators');
    dynalite = await startDynalite(mkdtempSync(join(tmpdir(), 'crm-sync-conformance-dynalite-')), 'inline');
    dynaliteClient = new DynamoDBClient({
      endpoint: dynalite.endpoint,
      region: 'us-east-1',
      credentials,
      maxAttempts: 1,
    });
    await createTables(dynaliteClient);
  }, 180_000);

  afterAll(async () => {
    raw?.destroy();
    dynaliteClient?.destroy();
    await dynalite?.stop();
    await local?.stop();
  });

  const put = (client: DynamoDBClient, table: string, item: Record<string, AttributeValue>) =>
    client.send(new PutItemCommand({ TableName: table, Item: item })).then(
      () => 'stored',
      (err: Error) => `${err.name}: ${err.message}`,
    );

  check('starts in well under a minute', async () => {
    expect(local?.startupMs).toBeLessThan(90_000);
  });

  check(
    'batchWrite: 25 per call, no retries, every item stored; scans by segment and batchGet see them all',
    async () => {
      // Prepare
      const items = Array.from({ length: 60 }, (_, i) => ({
        id: `p${String(i).padStart(2, '0')}`,
        n: i,
        ok: i % 2 === 0,
      }));
      // Act
      const written = await ddb.batchWrite(
        TARGET,
        items.map((it) => ({ PutRequest: { Item: ddb.toAttributeMap(it) } })),
      );
      const scanned: Array<Record<string, unknown>> = [];
      for await (const page of ddb.scanTable(TARGET, { segments: 4 })) scanned.push(...page);
      const perSegment: string[][] = [];
      for (let s = 0; s < 4; s++) {
        const keys: string[] = [];
        for await (const page of ddb.scanSegment(TARGET, s, 4, { consistent: true }))
          keys.push(...page.map((i) => String(i.id)));
        perSegment.push(keys);
      }
      const got = await ddb.batchGet(TARGET, 'id', [...items.map((i) => i.id), 'absent']);
      // Assess
      expect(written).toEqual({ calls: 3, retries: 0, lowestInFlight: 8, written: 60, left: [] });
      expect(scanned.sort((a, b) => String(a.id).localeCompare(String(b.id)))).toEqual(items);
      expect(perSegment.flat().sort()).toEqual(items.map((i) => i.id));
      expect(perSegment.filter((s) => s.length > 0).length).toBeGreaterThan(1);
      expect(got.size).toBe(60);
      expect(got.get('p07')).toEqual({ id: 'p07', n: 7, ok: false });
      expect(await ddb.isTableEmpty(TARGET)).toBe(false);
      // DynamoDB Local keeps ItemCount and TableSizeBytes live (AWS: refreshed about every six hours).
      expect((await ddb.describeTableStats(TARGET)).items).toBe(60);
      expect(await snapshots.tableSizeBytes(TARGET)).toBeGreaterThan(0);
    },
  );

  check(
    'batchWrite refuses a batch with an item over 400 KB whole (the failure the transform now prevents)',
    async () => {
      // Prepare: 24 small puts and one item of 409,601 bytes in one batch.
      const big = { id: 'big', x: 'x'.repeat(MAX_ITEM_BYTES + 1 - 'id'.length - 'big'.length - 'x'.length) };
      expect(dynamoItemSize(big)).toBe(MAX_ITEM_BYTES + 1);
      const small = Array.from({ length: 24 }, (_, i) => ({ id: `s${i}` }));
      // Act
      const attempt = ddb.batchWrite(
        TARGET,
        [...small, big].map((it) => ({ PutRequest: { Item: ddb.toAttributeMap(it) } })),
      );
      // Assess
      await expect(attempt).rejects.toMatchObject({
        name: 'ValidationException',
        message: expect.stringMatching(/Item size has exceeded/),
      });
      expect(
        (
          await ddb.batchGet(
            TARGET,
            'id',
            small.map((s) => s.id),
          )
        ).size,
      ).toBe(0);
    },
  );

  check('batchWrite refuses two writes of one key in a batch (the caller keeps keys unique)', async () => {
    await expect(
      ddb.batchWrite(TARGET, [
        { PutRequest: { Item: { id: { S: 'dup' } } } },
        { DeleteRequest: { Key: { id: { S: 'dup' } } } },
      ]),
    ).rejects.toMatchObject({ name: 'ValidationException', message: expect.stringMatching(/duplicates/) });
  });

  check("the ledger's conditional claim, lock, lease takeover and release", async () => {
    // Prepare
    const ledger = new ledgerModule.Ledger(LEDGER);
    const run = (runId: string): RunRecord => ({
      runId,
      entity: 'notes',
      status: 'RUNNING',
      source: { bucket: 'b', key: 'k', etag: 'e' },
      configHash: 'h',
      startedAt: new Date().toISOString(),
    });
    // Act / Assess: a second claim of the same run finds the first.
    expect(await ledger.claim(run('run-a'))).toEqual({ claimed: true });
    const again = await ledger.claim(run('run-a'));
    expect(again).toMatchObject({ claimed: false, existing: { runId: 'run-a', status: 'RUNNING' } });
    await ledger.claim(run('run-b'));
    // The lock: held by a running run, refused to another, taken again by its holder.
    const now = Date.now();
    expect(await ledger.acquireLock('notes', 'run-a', 60_000, now)).toEqual({ acquired: true });
    expect(await ledger.acquireLock('notes', 'run-b', 60_000, now)).toMatchObject({
      acquired: false,
      holder: 'run-a',
    });
    expect(await ledger.acquireLock('notes', 'run-a', 60_000, now)).toEqual({ acquired: true });
    // Released only by its holder.
    await ledger.releaseLock('notes', 'run-b');
    expect(await ledger.lockHolder('notes')).toBe('run-a');
    // An expired lease is taken over.
    expect(await ledger.acquireLock('notes', 'run-b', 60_000, now + 120_000)).toEqual({ acquired: true });
    expect(await ledger.lockHolder('notes')).toBe('run-b');
    // A finished holder's lock is taken over at once.
    await ledger.updateRun('run-b', { status: 'SUCCEEDED' });
    expect(await ledger.acquireLock('notes', 'run-a', 60_000, now + 120_000)).toEqual({ acquired: true });
    await ledger.releaseLock('notes', 'run-a');
    expect(await ledger.lockHolder('notes')).toBeUndefined();
    // updateRun of a run never claimed fails its condition.
    await expect(ledger.updateRun('never', { status: 'FAILED' })).rejects.toMatchObject({
      name: 'ConditionalCheckFailedException',
    });
  });

  check(
    'tombstones and backup records round-trip; an update of a missing backup record is a no-op',
    async () => {
      // Prepare
      const graves = new tombstones.TombstoneStore(LEDGER, 'notes');
      const backups = new snapshots.BackupLedger(LEDGER);
      // Act
      const before = await graves.any();
      await graves.put([{ key: 'p1', tombstone: { version: 'v1', line: 3, run: RUN_ID, removed: true } }]);
      await backups.put({
        kind: 'snapshot',
        id: 's1',
        entity: 'notes',
        status: 'RUNNING',
        startedAt: '2024-01-01T00:00:00Z',
      });
      await backups.update('notes', 'snapshot', 's1', { status: 'SUCCEEDED', items: 3 });
      await backups.update('notes', 'snapshot', 'missing', { status: 'FAILED' });
      // Assess
      expect(before).toBe(false);
      expect(await graves.any()).toBe(true);
      expect(await graves.get(['p1', 'p2'])).toEqual(
        new Map([['p1', { version: 'v1', line: 3, run: RUN_ID, removed: true }]]),
      );
      expect(await backups.get('notes', 'snapshot', 's1')).toMatchObject({ status: 'SUCCEEDED', items: 3 });
      expect(await backups.get('notes', 'snapshot', 'missing')).toBeUndefined();
      expect((await backups.list('notes')).map((b) => b.id)).toEqual(['s1']);
    },
  );

  describe("the transform's size rule agrees with DynamoDB Local", () => {
    const entity = getEntity(
      parseConfig({
        entities: {
          notes: {
            target: { key: 'id' },
            fields: {
              id: { source: 'Id', required: true },
              a: { source: 'A' },
              n: { source: 'N', type: 'number' },
              ok: { source: 'Ok', type: 'boolean' },
              modified: { source: 'Modified', type: 'datetime', required: true },
            },
            updatedAt: 'modified',
            source: { maxFieldBytes: MAX_ITEM_BYTES },
          },
        },
      }),
      'notes',
    );
    const limits = writeLimits({ entity: 'notes', runId: RUN_ID });
    const version = '2024-01-01T00:00:00.000Z';
    /** The item the merge writes for a kept row (the largest `_line`, a digest of its length). */
    const written = (item: Record<string, Value>, v: string) => ({
      ...item,
      [META.version]: v,
      [META.line]: Number.MAX_SAFE_INTEGER,
      [META.run]: RUN_ID,
      [META.digest]: 'd'.repeat(27),
    });

    it.each([
      ['ASCII', 'x'],
      ['2-byte', 'é'],
      ['3-byte', '日'],
      ['4-byte', '😀'],
    ])(
      '%s characters: the largest item the rule accepts is stored, the smallest it rejects is refused',
      async (_label, char) => {
        // Prepare: a cell of `char`s (padded with ASCII) that makes the written item exactly 409,600 bytes.
        const base = writtenItemSize(
          { id: 'p1', a: '', n: 12345678, ok: true, modified: version },
          version,
          limits,
        );
        const fill = MAX_ITEM_BYTES - base;
        const count = Math.floor(fill / Buffer.byteLength(char));
        const at = char.repeat(count) + 'x'.repeat(fill - count * Buffer.byteLength(char));
        const over = `${at}x`;
        const acc = new ChunkAccumulator(
          entity,
          bindHeader(['Id', 'A', 'N', 'Ok', 'Modified'], entity),
          ',',
          MAX_ITEM_BYTES * 2,
          'csv',
          limits,
        );
        // Act
        acc.add({ line: 2, offset: 0, bytes: Buffer.from(`p1,${at},12345678,true,2024-01-01T00:00:00Z`) });
        acc.add({ line: 3, offset: 0, bytes: Buffer.from(`p2,${over},12345678,true,2024-01-01T00:00:00Z`) });
        const kept = acc.winners.get('p1');
        if (!kept) throw new Error('the row at the limit was rejected');
        const accepted = written(acc.itemOf(kept), kept.version);
        const refused = written({ ...acc.itemOf(kept), id: 'p2', a: over }, kept.version);
        // Assess
        expect(acc.rejects.map((r) => [r.line, r.reasons])).toEqual([[3, ['item_too_large']]]);
        expect(dynamoItemSize(accepted)).toBe(MAX_ITEM_BYTES);
        expect(await put(raw, TARGET, ddb.toAttributeMap(accepted))).toBe('stored');
        expect(await put(raw, TARGET, ddb.toAttributeMap(refused))).toMatch(
          /^ValidationException: Item size has exceeded/,
        );
      },
    );

    it.each([
      ['ASCII', 'k'],
      ['3-byte', '日'],
      ['4-byte', '😀'],
    ])(
      '%s keys: the longest key the rule accepts is stored, the shortest it rejects is refused',
      async (_label, char) => {
        // Prepare: keys of 2,048 bytes and of 2,049 or more (the next whole character).
        const n = Math.floor(MAX_PARTITION_KEY_BYTES / Buffer.byteLength(char));
        const fits = char.repeat(n) + 'k'.repeat(MAX_PARTITION_KEY_BYTES - n * Buffer.byteLength(char));
        const tooLong = `${fits}k`;
        // Act / Assess
        expect([keyFits(fits, MAX_PARTITION_KEY_BYTES), keyFits(tooLong, MAX_PARTITION_KEY_BYTES)]).toEqual([
          true,
          false,
        ]);
        expect(await put(raw, TARGET, { id: { S: fits } })).toBe('stored');
        expect(await put(raw, TARGET, { id: { S: tooLong } })).toMatch(
          /^ValidationException: Hash primary key values must be under 2048 bytes/,
        );
      },
    );

    check(
      "a delete row's tombstone: the longest key the rule allows a delete is stored, one byte more is refused",
      async () => {
        // Prepare
        const graves = new tombstones.TombstoneStore(LEDGER, 'notes');
        const longest = 'k'.repeat(limits.maxDeleteKeyBytes);
        const tombstone = { version: 'v1', line: 2, run: RUN_ID, removed: false };
        // Act / Assess
        await expect(graves.put([{ key: longest, tombstone }])).resolves.toBeUndefined();
        await expect(graves.put([{ key: `${longest}k`, tombstone }])).rejects.toMatchObject({
          name: 'ValidationException',
        });
      },
    );
  });

  check('dynalite deviates: it sizes strings and keys by characters, and reports no ItemCount', async () => {
    // Prepare: cases where the two must agree with the rule, and where dynalite does not.
    const item = (bytes: number, char: string) => {
      // `id` + `aaa` + `x`: 6 bytes besides the value.
      const n = Math.floor((bytes - 6) / Buffer.byteLength(char));
      return { id: 'aaa', x: char.repeat(n) + 'x'.repeat(bytes - 6 - n * Buffer.byteLength(char)) };
    };
    const cases: Array<[string, string, Record<string, AttributeValue>]> = [
      ['item 409,600 B (ASCII)', TARGET, ddb.toAttributeMap(item(MAX_ITEM_BYTES, 'x'))],
      ['item 409,601 B (ASCII)', TARGET, ddb.toAttributeMap(item(MAX_ITEM_BYTES + 1, 'x'))],
      ['item 409,601 B (3-byte characters)', TARGET, ddb.toAttributeMap(item(MAX_ITEM_BYTES + 1, '日'))],
      ['key 2,049 B (ASCII)', TARGET, { id: { S: 'k'.repeat(2049) } }],
      ['key 2,049 B (683 3-byte characters)', TARGET, { id: { S: '日'.repeat(683) } }],
      ['sort key 1,025 B', LEDGER, { pk: { S: 'p' }, sk: { S: 's'.repeat(1025) } }],
    ];
    // Act
    const outcomes: Array<[string, string, string]> = [];
    for (const [label, table, it] of cases) {
      const [a, b] = [await put(raw, table, it), await put(dynaliteClient, table, it)];
      outcomes.push([label, a.split(':')[0] ?? a, b.split(':')[0] ?? b]);
    }
    const count = async (client: DynamoDBClient) =>
      (await client.send(new DescribeTableCommand({ TableName: TARGET }))).Table?.ItemCount;
    // Assess: [case, DynamoDB Local, dynalite]
    expect(outcomes).toEqual([
      ['item 409,600 B (ASCII)', 'stored', 'stored'],
      ['item 409,601 B (ASCII)', 'ValidationException', 'ValidationException'],
      ['item 409,601 B (3-byte characters)', 'ValidationException', 'stored'],
      ['key 2,049 B (ASCII)', 'ValidationException', 'ValidationException'],
      ['key 2,049 B (683 3-byte characters)', 'ValidationException', 'stored'],
      ['sort key 1,025 B', 'ValidationException', 'ValidationException'],
    ]);
    expect(await count(raw)).toBeGreaterThan(0);
    expect(await count(dynaliteClient)).toBe(0);
  });

  check('one local run end to end on DynamoDB Local (CRM_SYNC_LOCAL_DYNAMODB_ENDPOINT)', async () => {
    // Prepare
    const config: CrmSyncConfig = parseConfig({
      entities: {
        note: { ...NOTE_ENTITY, deleteFlag: { source: 'IsDeleted' } },
      },
    });
    const dir = mkdtempSync(join(tmpdir(), 'crm-sync-conformance-run-'));
    const configFile = join(dir, 'crm-sync.config.json');
    writeFileSync(configFile, JSON.stringify(config));
    const big = 'x'.repeat(120 * 1024);
    const rows = Array.from({ length: 40 }, (_, i) => {
      const line = i + 2;
      if (line === 10) return `p${i},${big},${big},${big},${big},2024-01-01T00:00:00Z,false`;
      if (line === 20) return `${'k'.repeat(3010)},a,,,,2024-01-01T00:00:00Z,false`;
      return `p${i},a${i},,,,2024-01-01T00:00:00Z,${line === 30 ? 'true' : 'false'}`;
    });
    const file = join(dir, 'notes.csv');
    writeFileSync(file, `Id,A,B,C,D,Modified,IsDeleted\n${rows.join('\n')}\n`);
    process.env.CRM_SYNC_LOCAL_DYNAMODB_ENDPOINT = local?.endpoint;
    // A fresh module registry: the stack sets the S3 endpoint before the handlers create their clients.
    jest.resetModules();
    const { LocalStack } = require('../../local/local-stack') as typeof import('../../local/local-stack');
    const { runLocalFile } = require('../../local/run') as typeof import('../../local/run');
    let stack: Awaited<ReturnType<typeof LocalStack.start>> | undefined;
    try {
      stack = await LocalStack.start({ stateDir: join(dir, 'state'), config, configFile });
      // Act
      const result = await runLocalFile(stack, file, config, {
        entity: 'note',
        stateDir: join(dir, 'state'),
      });
      // Assess
      expect(result.status).toBe('SUCCEEDED');
      expect(result.reconciliation?.status).toBe('MATCHED');
      expect(result.counts).toEqual({
        rows: 40,
        applied: 37,
        unchanged: 1,
        superseded: 0,
        deleted: 0,
        rejected: 2,
      });
      expect(result.topReasons.map((r) => r.reason).sort()).toEqual(['item_too_large', 'key_too_large']);
      const table = await raw.send(new DescribeTableCommand({ TableName: stack.tableOf('note') }));
      expect(table.Table?.ItemCount).toBe(37);
    } finally {
      await stack?.stop();
      delete process.env.CRM_SYNC_LOCAL_DYNAMODB_ENDPOINT;
    }
  });
});
