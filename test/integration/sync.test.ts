import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { type CrmSyncConfig, parseConfig } from '../../lambdas/domain/config';
import { type LocalSyncResult, syncLocal } from '../../local/sync';
import { cli, lastJson, PERSON_ENTITY, PERSON_HEADER, useLocalStack } from './support';

/**
 * Integration: ongoing sync on the local stack. `syncLocal` (what `crm-sync local sync` runs) picks,
 * per entity, the newest export of the local inbox and runs it unless the ledger holds its run.
 */
const CONFIG: CrmSyncConfig = parseConfig({
  entities: {
    person: { ...PERSON_ENTITY, schedule: 'rate(1 hour)' },
    // An entity with nothing in its inbox.
    pet: { target: { key: 'id' }, fields: { id: { source: 'Id', required: true } } },
  },
});
const T1 = '2024-01-01T00:00:00Z';
const T2 = '2024-06-01T00:00:00Z';
const T3 = '2024-09-01T00:00:00Z';

const summary = (results: LocalSyncResult[]) =>
  results.map((r) => ({
    entity: r.entity,
    action: r.action,
    key: r.key,
    older: r.older,
    status: r.run?.status,
  }));

describe('local sync', () => {
  const local = useLocalStack('sync', CONFIG);
  const csv = (name: string, rows: string[]): string =>
    local.write(name, `${PERSON_HEADER}\n${rows.join('\n')}\n`);
  const sync = () => syncLocal(local.stack, CONFIG, { stateDir: local.stateDir });

  it('runs the newest export only, then is up to date, then runs the next newer export', async () => {
    // Prepare: two exports in the inbox, the older one with a key the newer one lacks.
    await local.stack.upload(
      csv('persons-1.csv', [`k1,k1 first,${T1},false`, `k9,k9 first,${T1},false`]),
      'person',
    );
    await local.stack.upload(
      csv('persons-2.csv', [`k1,k1 second,${T2},false`, `k2,k2 second,${T2},false`]),
      'person',
    );

    // Act
    const first = await sync();
    const afterFirst = await local.items('person');
    const again = await sync();
    await local.stack.upload(
      csv('persons-3.csv', [`k2,k2 third,${T3},false`, `k3,k3 third,${T3},false`]),
      'person',
    );
    const third = await sync();

    // Assess
    expect(summary(first)).toEqual([
      { entity: 'person', action: 'ran', key: 'inbox/person/persons-2.csv', older: 1, status: 'SUCCEEDED' },
      { entity: 'pet', action: 'empty', key: null, older: 0, status: undefined },
    ]);
    expect(first[0]?.run?.reconciliation?.status).toBe('MATCHED');
    expect(first[0]?.runId).toBe(first[0]?.run?.runId);
    // The older export never ran: k9 is not in the target.
    expect(afterFirst.map((i) => [i.id, i.name])).toEqual([
      ['k1', 'k1 second'],
      ['k2', 'k2 second'],
    ]);
    expect(summary(again)).toEqual([
      {
        entity: 'person',
        action: 'up-to-date',
        key: 'inbox/person/persons-2.csv',
        older: 1,
        status: undefined,
      },
      { entity: 'pet', action: 'empty', key: null, older: 0, status: undefined },
    ]);
    expect(again[0]?.runId).toBe(first[0]?.runId);
    expect(summary(third)[0]).toEqual({
      entity: 'person',
      action: 'ran',
      key: 'inbox/person/persons-3.csv',
      older: 2,
      status: 'SUCCEEDED',
    });
    expect((await local.items('person')).map((i) => [i.id, i.name])).toEqual([
      ['k1', 'k1 second'],
      ['k2', 'k2 third'],
      ['k3', 'k3 third'],
    ]);
  });

  it('a folder of parts is not an export until its _SUCCESS lands, then one export, then up to date', async () => {
    // Prepare: two parts, newer than every file, without their marker yet.
    const T4 = '2024-12-01T00:00:00Z';
    for (const [name, rows] of [
      ['part-1.csv', [`k1,k1 fourth,${T4},false`]],
      ['part-2.csv', [`k4,k4 fourth,${T4},false`]],
    ] as const) {
      await local.stack.upload(csv(name, [...rows]), 'person', { folder: 'export-4' });
    }

    // Act
    const waiting = await sync();
    // S3 lists times to the second, and an equal time goes to the greater key (persons-3.csv): the
    // marker lands in a later second than the files before it, as an export job's marker does.
    await new Promise((r) => setTimeout(r, 1100));
    await local.stack.s3Client.send(
      new PutObjectCommand({
        Bucket: local.stack.bucket,
        Key: 'inbox/person/export-4/_SUCCESS',
        Body: new Uint8Array(),
      }),
    );
    const ran = await sync();
    const again = await sync();

    // Assess
    expect(summary(waiting)[0]).toMatchObject({
      action: 'up-to-date',
      key: 'inbox/person/persons-3.csv',
      older: 2,
    });
    expect(waiting[0]?.incomplete).toEqual(['inbox/person/export-4/']);
    expect(summary(ran)[0]).toEqual({
      entity: 'person',
      action: 'ran',
      key: 'inbox/person/export-4/_SUCCESS',
      older: 3,
      status: 'SUCCEEDED',
    });
    expect(ran[0]?.run?.counts).toMatchObject({ rows: 2, applied: 2 });
    expect(ran[0]?.incomplete).toEqual([]);
    // The run id the sync derived (with the parts' digest) is the one ClaimRun gave the run.
    expect(ran[0]?.runId).toBe(ran[0]?.run?.runId);
    expect(summary(again)[0]).toMatchObject({ action: 'up-to-date', key: 'inbox/person/export-4/_SUCCESS' });
    expect((await local.items('person')).map((i) => [i.id, i.name])).toEqual([
      ['k1', 'k1 fourth'],
      ['k2', 'k2 third'],
      ['k3', 'k3 third'],
      ['k4', 'k4 fourth'],
    ]);
  });
});

describe('local sync --inbox of an export folder', () => {
  const local = useLocalStack('sync-inbox', CONFIG);

  it('--inbox copies the newest export folder (its parts, then its marker) and runs it as one export', async () => {
    // Prepare: an older file, the export folder, and a newer folder with no marker (not complete).
    const T4 = '2025-01-01T00:00:00Z';
    const dir = mkdtempSync(join(tmpdir(), 'crm-sync-inbox-'));
    const folder = join(dir, 'person', 'export-9');
    mkdirSync(folder, { recursive: true });
    mkdirSync(join(dir, 'person', 'export-10'));
    const put = (path: string, text: string, secondsAgo: number) => {
      writeFileSync(path, text);
      const t = new Date(Date.now() - secondsAgo * 1000);
      utimesSync(path, t, t);
    };
    put(join(dir, 'person', 'old.csv'), `${PERSON_HEADER}\nk1,k1 old,${T4},false\n`, 120);
    put(
      join(folder, 'part-1.csv'),
      `${PERSON_HEADER}\nk1,k1 ninth,${T4},false\nk2,k2 ninth,${T4},false\n`,
      60,
    );
    put(join(folder, 'part-2.csv'), `${PERSON_HEADER}\nk3,k3 ninth,${T4},false\n`, 60);
    put(join(folder, '_SUCCESS'), '', 30);
    put(join(dir, 'person', 'export-10', 'part-1.csv'), `${PERSON_HEADER}\nk1,k1 tenth,${T4},false\n`, 0);
    const withInbox = () =>
      syncLocal(local.stack, CONFIG, { entity: 'person', stateDir: local.stateDir, inboxDir: dir });

    // Act
    const first = await withInbox();
    const again = await withInbox();

    // Assess
    expect(first).toEqual([
      expect.objectContaining({
        action: 'ran',
        key: 'inbox/person/export-9/_SUCCESS',
        uploaded: folder,
        run: expect.objectContaining({ status: 'SUCCEEDED' }),
      }),
    ]);
    expect(first[0]?.run?.counts).toMatchObject({ rows: 3 });
    expect(await local.stack.objectEtag('inbox/person/export-9/part-2.csv')).toBeDefined();
    expect(await local.stack.objectEtag('inbox/person/export-10/part-1.csv')).toBeUndefined();
    expect(await local.stack.objectEtag('inbox/person/old.csv')).toBeUndefined();
    expect(again).toEqual([
      expect.objectContaining({
        action: 'up-to-date',
        key: 'inbox/person/export-9/_SUCCESS',
        uploaded: null,
      }),
    ]);
    expect((await local.items('person')).filter((i) => String(i.name).endsWith('ninth'))).toHaveLength(3);
  });
});

describe('crm-sync local sync (CLI)', () => {
  const base = mkdtempSync(join(tmpdir(), 'crm-sync-sync-cli-'));
  const stateDir = join(base, 'state');
  const inbox = join(base, 'inbox');
  const configFile = join(base, 'config.json');
  const args = ['local', 'sync', '--json', '--inbox', inbox, '--config', configFile, '--state-dir', stateDir];
  /** Writes an export into the inbox folder, modified `secondsAgo` before now. */
  const drop = (name: string, text: string, secondsAgo: number) => {
    const path = join(inbox, 'person', name);
    writeFileSync(path, text);
    const t = new Date(Date.now() - secondsAgo * 1000);
    utimesSync(path, t, t);
  };

  beforeAll(() => {
    mkdirSync(join(inbox, 'person'), { recursive: true });
    writeFileSync(configFile, JSON.stringify({ entities: { person: PERSON_ENTITY } }));
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('copies the newest file of the inbox folder, runs it, is then up to date, and exits 1 on a failed run', async () => {
    // Prepare
    drop('b-older.csv', `${PERSON_HEADER}\nk1,k1 older,${T1},false\n`, 60);
    drop('a-newer.csv', `${PERSON_HEADER}\nk1,k1 newer,${T2},false\n`, 30);

    // Act
    const first = await cli(args);
    const second = await cli(args);
    const text = await cli(args.filter((a) => a !== '--json'));
    drop('c-broken.csv', 'Foo,Bar\n1,2\n', 0);
    const broken = await cli(args);

    // Assess
    expect(first.code).toBe(0);
    expect(lastJson<LocalSyncResult[]>(first.stdout)).toEqual([
      expect.objectContaining({
        entity: 'person',
        action: 'ran',
        key: 'inbox/person/a-newer.csv',
        uploaded: join(inbox, 'person', 'a-newer.csv'),
        run: expect.objectContaining({
          status: 'SUCCEEDED',
          counts: expect.objectContaining({ applied: 1 }),
        }),
      }),
    ]);
    expect(second.code).toBe(0);
    expect(lastJson<LocalSyncResult[]>(second.stdout)).toEqual([
      expect.objectContaining({
        action: 'up-to-date',
        key: 'inbox/person/a-newer.csv',
        uploaded: null,
        run: null,
      }),
    ]);
    expect(text.stdout).toMatch(
      /^person: up to date, inbox\/person\/a-newer\.csv ran as person-[0-9a-f]{20}$/m,
    );
    expect(broken.code).toBe(1);
    expect(lastJson<LocalSyncResult[]>(broken.stdout)).toEqual([
      expect.objectContaining({
        action: 'ran',
        key: 'inbox/person/c-broken.csv',
        run: expect.objectContaining({
          status: 'FAILED',
          error: expect.objectContaining({ name: 'HeaderMismatchError' }),
        }),
      }),
    ]);
  });
});
