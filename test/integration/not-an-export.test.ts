import { PutObjectCommand } from '@aws-sdk/client-s3';
import { type CrmSyncConfig, parseConfig } from '../../lambdas/domain/config';
import { LOCAL } from '../../local/emulators';
import { localLedger } from '../../local/runs';
import { PERSON_ENTITY, PERSON_HEADER, useLocalStack } from './support';

/**
 * Integration: objects of the inbox that are not exports (folder markers, empty objects, hidden and
 * marker files) end the execution at ClaimRun, through the real state machine: SUCCEEDED at
 * NotAnExport, no run in the ledger, the entity's lock free for the next export.
 */

const CONFIG: CrmSyncConfig = parseConfig({ entities: { person: PERSON_ENTITY } });

describe('objects that are not exports', () => {
  const fx = useLocalStack('not-an-export', CONFIG);

  async function put(key: string, body: string): Promise<string> {
    const out = await fx.stack.s3Client.send(
      new PutObjectCommand({
        Bucket: LOCAL.bucket,
        Key: key,
        Body: body,
        ContentLength: Buffer.byteLength(body),
      }),
    );
    return (out.ETag ?? '').replaceAll('"', '');
  }

  it.each([
    ['a folder marker', 'inbox/person/exports/', '', 'folder'],
    ['an empty object', 'inbox/person/empty.csv', '', 'empty'],
    ['a Spark/Glue _SUCCESS marker', 'inbox/person/_SUCCESS', 'ok', 'hidden'],
    ['a macOS .DS_Store', 'inbox/person/.DS_Store', 'Bud1', 'hidden'],
  ])('%s (%s) ends at NotAnExport without a run or the lock', async (_name, key, body, reason) => {
    // Prepare
    const etag = await put(key, body);
    const before = await localLedger().listRuns({ entity: 'person' });

    // Act
    const exec = await fx.stack.execute({ bucket: LOCAL.bucket, key, etag, entity: 'person' });

    // Assess
    expect(exec).toEqual({
      status: 'SUCCEEDED',
      output: { runId: null, ignored: true, reason, entity: 'person', key },
    });
    expect(await localLedger().listRuns({ entity: 'person' })).toEqual(before);
    expect(await localLedger().lockHolder('person')).toBeUndefined();
  });

  it('runs the next real export of the entity', async () => {
    // Prepare
    const key = 'inbox/person/people.csv';
    const etag = await put(key, `${PERSON_HEADER}\n1,Ada,2024-01-01T00:00:00Z,false\n`);

    // Act
    const exec = await fx.stack.execute({ bucket: LOCAL.bucket, key, etag, entity: 'person' });

    // Assess
    expect(exec.status).toBe('SUCCEEDED');
    expect(await fx.items('person', { omit: ['_v', '_line', '_run', '_digest'] })).toEqual([
      { id: '1', name: 'Ada', updatedAt: '2024-01-01T00:00:00.000Z' },
    ]);
  });
});
