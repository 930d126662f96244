import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { GetItemCommand, QueryCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, ListObjectsCommand } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, DescribeMapRunCommand, ListMapRunsCommand } from '@aws-sdk/client-sfn';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { deployedStackOf } from '../../../cli/aws/deployed-stack';
import {
  eventsOnStack,
  openFile,
  reportOnStack,
  runsOnStack,
  sinceOf,
  statusOnStack,
} from '../../../cli/aws/read';
import {
  body,
  cfn,
  cli,
  ddb,
  EXEC,
  MACHINE,
  MAP_RUN,
  OUTPUTS,
  REGION,
  RUN_ID,
  resetMocks,
  STACK,
  s3,
  sfn,
  stackOutputs,
} from './support';

const logs = mockClient(CloudWatchLogsClient);
const LOG_GROUP = '/aws/events/CrmSync/run-finished';
const WITH_EVENTS = deployedStackOf('CrmSync', REGION, [
  ...OUTPUTS,
  { OutputKey: 'EventsLogGroupName', OutputValue: LOG_GROUP },
]);

const runItem = (runId: string, startedAt: string, extra: Record<string, unknown> = {}) =>
  marshall(
    {
      pk: `RUN#${runId}`,
      sk: 'RUN',
      runId,
      entity: 'contact',
      status: 'SUCCEEDED',
      configHash: 'h',
      startedAt,
      source: { bucket: 'crm-data', key: 'inbox/contact/contacts.csv', etag: 'abc' },
      ...extra,
    },
    { removeUndefinedValues: true },
  );

const event = (runId: string, time: string, entity = 'contact') =>
  JSON.stringify({
    version: '0',
    id: `id-${runId}`,
    'detail-type': 'RunFinished',
    source: 'crm-sync',
    account: '123456789012',
    time,
    region: REGION,
    resources: [],
    detail: { runId, entity, status: 'SUCCEEDED', reconciliation: 'MATCHED' },
  });

beforeEach(() => {
  resetMocks();
  logs.reset();
});

describe('runsOnStack', () => {
  it('reads every page of the ledger, newest first', async () => {
    ddb
      .on(ScanCommand)
      .resolvesOnce({
        Items: [runItem('contact-a', '2026-11-30T00:00:00Z')],
        LastEvaluatedKey: { pk: { S: 'x' } },
      })
      .resolves({ Items: [runItem('contact-b', '2026-12-01T00:00:00Z')] });
    const runs = await runsOnStack(STACK, {});
    expect(runs.map((r) => r.runId)).toEqual(['contact-b', 'contact-a']);
    expect(ddb.commandCalls(ScanCommand)[0]?.args[0].input.TableName).toBe('crm-ledger');
  });

  it.each([
    [
      'access denied to the ledger',
      () =>
        ddb.on(ScanCommand).rejects(
          Object.assign(
            new Error(
              'User: arn:aws:iam::1:user/ops is not authorized to perform: dynamodb:Scan on resource: x',
            ),
            {
              name: 'AccessDeniedException',
            },
          ),
        ),
      `crm-sync: access denied to dynamodb:Scan in ${REGION}: your AWS identity needs that permission on stack CrmSync's resources\n`,
    ],
    [
      'an unknown stack',
      () => undefined,
      `crm-sync: stack CrmSync not found in ${REGION}: deploy it (\`npx cdk deploy\`) or pass --stack / --region\n`,
    ],
  ])('%s: one line, exit 1, no stack trace', async (what, prepare, line) => {
    const out = await cli(['runs', '--stack', 'CrmSync', '--region', REGION], () => {
      if (what === 'an unknown stack') {
        cfn
          .on(DescribeStacksCommand)
          .rejects(
            Object.assign(new Error('Stack with id CrmSync does not exist'), { name: 'ValidationError' }),
          );
      } else stackOutputs();
      prepare();
    });
    expect(out.exitCode).toBe(1);
    expect(out.stderr).toBe(line);
  });
});

describe('statusOnStack', () => {
  it('the ledger view plus the execution and every page of its map runs', async () => {
    ddb.on(GetItemCommand).resolves({
      Item: runItem(RUN_ID, '2026-12-01T00:00:00Z', { status: 'FAILED', executionId: EXEC, chunks: 2 }),
    });
    ddb.on(QueryCommand).resolves({ Items: [] });
    sfn.on(DescribeExecutionCommand).resolves({
      executionArn: EXEC,
      status: 'FAILED',
      redriveCount: 1,
      stateMachineArn: MACHINE,
      startDate: new Date('2026-12-01T00:00:00Z'),
      stopDate: new Date('2026-12-01T00:05:00Z'),
    });
    sfn
      .on(ListMapRunsCommand)
      .resolvesOnce({
        mapRuns: [
          { mapRunArn: MAP_RUN, executionArn: EXEC, stateMachineArn: MACHINE, startDate: new Date() },
        ],
        nextToken: 'p2',
      })
      .resolves({
        mapRuns: [
          {
            mapRunArn: MAP_RUN.replace('TransformChunks', 'MergePartitions'),
            executionArn: EXEC,
            stateMachineArn: MACHINE,
            startDate: new Date(),
          },
        ],
      });
    sfn.on(DescribeMapRunCommand).resolves({
      status: 'FAILED',
      itemCounts: {
        total: 10,
        succeeded: 8,
        failed: 2,
        running: 0,
        pending: 0,
        timedOut: 0,
        aborted: 0,
        resultsWritten: 10,
      },
    } as never);
    const view = await statusOnStack(STACK, RUN_ID);
    expect(view).toMatchObject({
      runId: RUN_ID,
      status: 'FAILED',
      execution: { status: 'FAILED', redriveCount: 1 },
    });
    const mapRuns = view.execution && 'mapRuns' in view.execution ? view.execution.mapRuns : [];
    expect(mapRuns.map((m) => [m.label, m.succeeded, m.failed])).toEqual([
      ['TransformChunks', 8, 2],
      ['MergePartitions', 8, 2],
    ]);
  });

  it.each([
    [
      'an unknown run',
      () => ddb.on(GetItemCommand).resolves({}),
      `crm-sync: no run ${RUN_ID} in the ledger of stack CrmSync (see crm-sync runs --stack CrmSync)\n`,
    ],
    [
      'access denied to the execution',
      () => {
        ddb
          .on(GetItemCommand)
          .resolves({ Item: runItem(RUN_ID, '2026-12-01T00:00:00Z', { executionId: EXEC }) });
        ddb.on(QueryCommand).resolves({ Items: [] });
        sfn.on(DescribeExecutionCommand).rejects(
          Object.assign(
            new Error(
              'User: arn:aws:iam::1:user/ops is not authorized to perform: states:DescribeExecution on resource: x',
            ),
            {
              name: 'AccessDeniedException',
            },
          ),
        );
      },
      `crm-sync: access denied to states:DescribeExecution in ${REGION}: your AWS identity needs that permission on stack CrmSync's resources\n`,
    ],
  ])('%s: one line through the CLI', async (_, prepare, line) => {
    const out = await cli(['status', RUN_ID, '--stack', 'CrmSync', '--region', REGION], () => {
      stackOutputs();
      prepare();
    });
    expect(out.exitCode).toBe(1);
    expect(out.stderr).toBe(line);
  });

  it('an execution Step Functions no longer keeps: the ledger view, the execution said gone', async () => {
    ddb.on(GetItemCommand).resolves({ Item: runItem(RUN_ID, '2026-12-01T00:00:00Z', { executionId: EXEC }) });
    ddb.on(QueryCommand).resolves({ Items: [] });
    sfn
      .on(DescribeExecutionCommand)
      .rejects(Object.assign(new Error('Execution Does Not Exist'), { name: 'ExecutionDoesNotExist' }));
    const out = await cli(['status', RUN_ID, '--stack', 'CrmSync', '--region', REGION], stackOutputs);
    expect(out.exitCode).toBe(0);
    expect(out.stdout).toContain(
      `execution      ${EXEC}: no longer kept by Step Functions (90 days after it ended)`,
    );
  });
});

describe('reportOnStack', () => {
  it('downloads every report object of the run, over pages, and reads the summary', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crm-sync-report-'));
    const prefix = `reports/${RUN_ID}/`;
    s3.on(ListObjectsCommand)
      .resolvesOnce({
        Contents: [{ Key: `${prefix}summary.json` }, { Key: `${prefix}rejects.csv` }],
        IsTruncated: true,
        NextMarker: `${prefix}rejects.csv`,
      })
      .resolves({ Contents: [{ Key: `${prefix}report.html` }], IsTruncated: false });
    const summary = {
      runId: RUN_ID,
      entity: 'contact',
      counts: null,
      error: { name: 'HeaderMismatchError', message: 'no Email' },
    };
    s3.on(GetObjectCommand, { Key: `${prefix}summary.json` }).resolves({
      Body: body(JSON.stringify(summary)),
    });
    s3.on(GetObjectCommand, { Key: `${prefix}rejects.csv` }).resolves({
      Body: body('line,reason\n2,bad email\n'),
    });
    s3.on(GetObjectCommand, { Key: `${prefix}report.html` }).resolves({ Body: body('<html></html>') });
    const report = await reportOnStack(STACK, RUN_ID, dir);
    expect(report.summary).toMatchObject({ runId: RUN_ID, counts: null });
    expect(report.htmlPath).toBe(join(dir, 'report.html'));
    expect(readFileSync(join(dir, 'rejects.csv'), 'utf8')).toBe('line,reason\n2,bad email\n');
  });

  it.each([
    [
      'a run still running',
      { Item: runItem(RUN_ID, '2026-12-01T00:00:00Z', { status: 'RUNNING' }) },
      /is still running: its report is written when it ends/,
    ],
    ['an unknown run', {}, /no run .* in the ledger of stack CrmSync/],
  ])('%s has no report: one line', async (_, item, message) => {
    s3.on(ListObjectsCommand).resolves({ Contents: [] });
    ddb.on(GetItemCommand).resolves(item);
    await expect(
      reportOnStack(STACK, RUN_ID, mkdtempSync(join(tmpdir(), 'crm-sync-report-'))),
    ).rejects.toThrow(message);
  });

  it('--open: a missing opener is one line naming the file', async () => {
    await expect(
      openFile('/tmp/r/report.html', { command: 'no-such-opener-xyz', args: (p) => [p] }),
    ).rejects.toThrow(
      'cannot open /tmp/r/report.html: no-such-opener-xyz is not available (open it by hand)',
    );
  });
});

describe('eventsOnStack', () => {
  it('reads every page of the log group, skips lines that are no events, filters by entity', async () => {
    logs
      .on(FilterLogEventsCommand)
      .resolvesOnce({
        events: [{ message: event('r2', '2026-12-01T02:00:00Z') }, { message: 'not json' }],
        nextToken: 'p2',
      })
      .resolves({
        events: [
          { message: event('r1', '2026-12-01T01:00:00Z') },
          { message: event('a1', '2026-12-01T03:00:00Z', 'account') },
        ],
      });
    const found = await eventsOnStack(WITH_EVENTS, { entity: 'contact', sinceMs: 5 });
    expect(found.map((e) => (e.detail as { runId: string }).runId)).toEqual(['r1', 'r2']);
    expect(logs.commandCalls(FilterLogEventsCommand)[0]?.args[0].input).toMatchObject({
      logGroupName: LOG_GROUP,
      startTime: 5,
    });
  });

  it.each([
    [
      'a stack without the events log group',
      STACK,
      () => undefined,
      /keeps no RunFinished events .*deploy it again/,
    ],
    [
      'access denied to the log group',
      WITH_EVENTS,
      () =>
        logs
          .on(FilterLogEventsCommand)
          .rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' })),
      /denied/,
    ],
  ])('%s', async (_, stack, prepare, message) => {
    prepare();
    await expect(eventsOnStack(stack, {})).rejects.toThrow(message);
  });

  it.each([
    ['30m', 1_000_000_000 - 30 * 60_000],
    ['2h', 1_000_000_000 - 2 * 3_600_000],
    ['2026-12-01T00:00:00Z', Date.parse('2026-12-01T00:00:00Z')],
  ])('--since %s', (value, expected) => {
    expect(sinceOf(value, 1_000_000_000)).toBe(expected);
  });

  it('--since that is neither a duration nor a time is one line', () => {
    expect(() => sinceOf('yesterday')).toThrow(
      '--since must be a duration (30m, 2h, 7d) or an ISO time, not "yesterday"',
    );
  });
});
