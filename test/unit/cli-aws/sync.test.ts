import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListMapRunsCommand,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { marshall } from '@aws-sdk/util-dynamodb';
import { syncOnStack } from '../../../cli/aws/sync';
import { parseConfigText } from '../../../lambdas/domain/config';
import {
  cli,
  ddb,
  EXEC,
  fakeWaiting,
  MACHINE,
  REGION,
  RUN_ID,
  resetMocks,
  STACK,
  s3,
  sfn,
  stackOutputs,
} from './support';

const CONFIG_JSON = {
  entities: {
    contact: {
      target: { tableName: 'contacts', key: 'id' },
      fields: { id: { source: 'Id', type: 'string', required: true } },
    },
  },
};
const CONFIG = parseConfigText(JSON.stringify(CONFIG_JSON), 'crm-sync.config.json');

const version = (key: string, modified: string, etag: string) => ({
  Key: key,
  VersionId: `v-${etag}`,
  IsLatest: true,
  ETag: `"${etag}"`,
  Size: 100,
  LastModified: new Date(modified),
});

beforeEach(resetMocks);

describe('syncOnStack: what the schedule does, now', () => {
  it('starts the newest export that has no run, with the inbox rule input, and follows it', async () => {
    // Prepare: two exports; the newer has no run in the ledger.
    s3.on(ListObjectVersionsCommand).resolves({
      Versions: [
        version('inbox/contact/monday.csv', '2026-11-30T00:00:00Z', 'aaa'),
        version('inbox/contact/tuesday.csv', '2026-12-01T00:00:00Z', 'bbb'),
      ],
    });
    ddb.on(GetItemCommand).resolves({});
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC, startDate: new Date() });
    sfn.on(DescribeExecutionCommand).resolves({
      executionArn: EXEC,
      status: 'FAILED',
      error: 'RejectLimitError',
      cause: JSON.stringify({ errorMessage: '40% of the rows were rejected' }),
      stateMachineArn: MACHINE,
      startDate: new Date(),
    });
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    sfn.on(ListMapRunsCommand).resolves({ mapRuns: [] });
    s3.on(GetObjectCommand).rejects(Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey' }));

    // Act
    const [result] = await syncOnStack(STACK, CONFIG, {}, { waiting: fakeWaiting() });

    // Assess
    const input = JSON.parse(sfn.commandCalls(StartExecutionCommand)[0]?.args[0].input.input ?? '');
    expect(input).toMatchObject({
      key: 'inbox/contact/tuesday.csv',
      versionId: 'v-bbb',
      etag: 'bbb',
      entity: 'contact',
    });
    expect(result).toMatchObject({
      entity: 'contact',
      action: 'ran',
      key: 'inbox/contact/tuesday.csv',
      older: 1,
      run: {
        status: 'FAILED',
        error: { name: 'RejectLimitError', message: '40% of the rows were rejected' },
      },
    });
  });

  it.each([
    [
      'an inbox whose newest export already ran',
      [version('inbox/contact/a.csv', '2026-12-01T00:00:00Z', 'a')],
      true,
      'up-to-date',
    ],
    ['an empty inbox', [], false, 'empty'],
  ])('%s starts nothing', async (_, versions, ran, action) => {
    s3.on(ListObjectVersionsCommand).resolves({ Versions: versions });
    ddb
      .on(GetItemCommand)
      .resolves(ran ? { Item: marshall({ pk: `RUN#${RUN_ID}`, sk: 'RUN', status: 'SUCCEEDED' }) } : {});
    const [result] = await syncOnStack(STACK, CONFIG, {}, { waiting: fakeWaiting() });
    expect(result).toMatchObject({ entity: 'contact', action, run: null });
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('an entity of the config the stack does not have is refused before anything starts', async () => {
    await expect(syncOnStack(STACK, CONFIG, { entity: 'lead' }, { waiting: fakeWaiting() })).rejects.toThrow(
      'stack CrmSync has no entity "lead" (it has: contact)',
    );
  });

  it('access denied to the inbox listing is one line through the CLI', async () => {
    const configFile = join(mkdtempSync(join(tmpdir(), 'crm-sync-sync-')), 'crm-sync.config.json');
    writeFileSync(configFile, JSON.stringify(CONFIG_JSON));
    const out = await cli(
      ['sync', '--config', configFile, '--stack', 'CrmSync', '--region', REGION, '--quiet'],
      () => {
        stackOutputs();
        s3.on(ListObjectVersionsCommand).rejects(
          Object.assign(new Error('Access Denied'), { name: 'AccessDenied' }),
        );
      },
    );
    expect(out.exitCode).toBe(1);
    expect(out.stderr).toBe(
      `crm-sync: access denied in ${REGION}: your AWS identity needs that permission on stack CrmSync's resources\n`,
    );
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });
});
