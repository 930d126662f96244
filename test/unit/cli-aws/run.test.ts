import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  DescribeExecutionCommand,
  DescribeMapRunCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  ListMapRunsCommand,
  RedriveExecutionCommand,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { marshall } from '@aws-sdk/util-dynamodb';
import { followExecution, NoExecutionStartedError } from '../../../cli/aws/executions';
import { diffOnStack, redriveOnStack, runOnStack } from '../../../cli/aws/run';
import {
  body,
  cli,
  ddb,
  EXEC,
  fakeWaiting,
  MACHINE,
  MAP_RUN,
  REGION,
  RUN_ID,
  resetMocks,
  STACK,
  s3,
  sfn,
  stackOutputs,
} from './support';

const dir = mkdtempSync(join(tmpdir(), 'crm-sync-aws-run-'));
const file = join(dir, 'contacts.csv');
writeFileSync(file, 'Id,Email\n003A,a@example.com\n');

const SUMMARY = {
  runId: RUN_ID,
  entity: 'contact',
  status: 'SUCCEEDED',
  counts: { rows: 1, applied: 1, unchanged: 0, superseded: 0, deleted: 0, rejected: 0, reasons: {} },
  duplicateKeys: 0,
  chunks: 1,
  partitions: 1,
  reconciliation: { status: 'MATCHED', verifiedKeys: 1, checks: [] },
  topReasons: [],
  reports: { summary: `reports/${RUN_ID}/summary.json`, html: `reports/${RUN_ID}/report.html` },
};

const entered = (id: number, name: string) => ({
  id,
  type: 'TaskStateEntered' as const,
  timestamp: new Date(),
  stateEnteredEventDetails: { name },
});

/** A run that the inbox rule starts and that succeeds after one poll. */
function happyStack(): void {
  s3.on(PutObjectCommand).resolves({ ETag: '"abc"', VersionId: 'v1' });
  s3.on(GetObjectCommand, { Key: `reports/${RUN_ID}/summary.json` }).resolves({
    Body: body(JSON.stringify(SUMMARY)),
  });
  // Page 1: an execution of another file; page 2: the upload's.
  sfn
    .on(ListExecutionsCommand)
    .resolvesOnce({
      executions: [
        {
          executionArn: `${EXEC}-other`,
          stateMachineArn: MACHINE,
          name: 'o',
          status: 'RUNNING',
          startDate: new Date(),
        },
      ],
      nextToken: 'p2',
    })
    .resolves({
      executions: [
        {
          executionArn: EXEC,
          stateMachineArn: MACHINE,
          name: 'e1',
          status: 'RUNNING',
          startDate: new Date(),
        },
      ],
    });
  sfn.on(DescribeExecutionCommand, { executionArn: `${EXEC}-other` }).resolves({
    executionArn: `${EXEC}-other`,
    input: JSON.stringify({ key: 'inbox/contact/other.csv' }),
    status: 'RUNNING',
    stateMachineArn: MACHINE,
    startDate: new Date(),
  });
  sfn
    .on(DescribeExecutionCommand, { executionArn: EXEC })
    .resolvesOnce({
      executionArn: EXEC,
      input: JSON.stringify({ key: 'inbox/contact/contacts.csv', versionId: 'v1' }),
      status: 'RUNNING',
      stateMachineArn: MACHINE,
      startDate: new Date(),
    })
    .resolvesOnce({ executionArn: EXEC, status: 'RUNNING', stateMachineArn: MACHINE, startDate: new Date() })
    .resolves({
      executionArn: EXEC,
      status: 'SUCCEEDED',
      output: JSON.stringify(SUMMARY),
      stateMachineArn: MACHINE,
      startDate: new Date(),
    });
  // History newest first, over two pages.
  sfn
    .on(GetExecutionHistoryCommand)
    .resolvesOnce({ events: [entered(3, 'PlanChunks')], nextToken: 'h2' })
    .resolvesOnce({ events: [entered(2, 'ClaimRun')] })
    .resolves({ events: [entered(5, 'Reconcile'), entered(3, 'PlanChunks')] });
  sfn.on(ListMapRunsCommand).resolves({
    mapRuns: [{ mapRunArn: MAP_RUN, executionArn: EXEC, stateMachineArn: MACHINE, startDate: new Date() }],
  });
  sfn.on(DescribeMapRunCommand).resolves({
    status: 'SUCCEEDED',
    itemCounts: {
      total: 4,
      succeeded: 4,
      failed: 0,
      running: 0,
      pending: 0,
      timedOut: 0,
      aborted: 0,
      resultsWritten: 4,
    },
  } as never);
}

beforeEach(resetMocks);

describe('runOnStack: upload, the triggered execution, followed to its account', () => {
  it('uploads to the inbox, finds its execution over pages, follows it and reads the summary', async () => {
    // Prepare
    happyStack();
    const lines: string[] = [];
    // Act
    const result = await runOnStack(
      STACK,
      file,
      28,
      { entity: 'contact' },
      { onProgress: (l) => lines.push(l), waiting: fakeWaiting() },
    );
    // Assess
    expect(s3.commandCalls(PutObjectCommand)[0]?.args[0].input).toMatchObject({
      Bucket: 'crm-data',
      Key: 'inbox/contact/contacts.csv',
    });
    expect(result).toMatchObject({
      runId: RUN_ID,
      status: 'SUCCEEDED',
      counts: { applied: 1 },
      reconciliation: { status: 'MATCHED' },
    });
    expect('reports' in result && result.reports).toMatchObject({
      html: `s3://crm-data/reports/${RUN_ID}/report.html`,
      execution: expect.stringContaining(`#/v2/executions/details/${EXEC}`),
    });
    // Each state once, in order, and the map run's counts.
    expect(lines.filter((l) => l.startsWith('→'))).toEqual(['→ ClaimRun', '→ PlanChunks', '→ Reconcile']);
    expect(lines).toContain('  map TransformChunks: 4/4 done');
  });

  it('--no-wait returns the execution without following it', async () => {
    happyStack();
    const result = await runOnStack(
      STACK,
      file,
      28,
      { entity: 'contact', noWait: true },
      { waiting: fakeWaiting() },
    );
    expect(result).toEqual({ entity: 'contact', executionArn: EXEC, key: 'inbox/contact/contacts.csv' });
    expect(sfn.commandCalls(GetExecutionHistoryCommand)).toHaveLength(0);
  });

  it('no execution started for the upload: one line naming the rule and the dead-letter queue', async () => {
    s3.on(PutObjectCommand).resolves({ ETag: '"abc"', VersionId: 'v1' });
    sfn.on(ListExecutionsCommand).resolves({ executions: [] });
    const waiting = fakeWaiting();
    const run = runOnStack(STACK, file, 28, { entity: 'contact' }, { waiting, triggerTimeoutMs: 10_000 });
    await expect(run).rejects.toThrow(NoExecutionStartedError);
    await expect(
      runOnStack(
        STACK,
        file,
        28,
        { entity: 'contact' },
        { waiting: fakeWaiting(), triggerTimeoutMs: 10_000 },
      ),
    ).rejects.toThrow(
      /no execution of the run state machine started for inbox\/contact\/contacts.csv within 10 s: check the stack's Inbox-contact EventBridge rule and its dead-letter queue \(TriggerDlq\)/,
    );
    expect(waiting.slept).toBe(10);
  });

  it('an entity the stack does not have is refused before any upload', async () => {
    await expect(runOnStack(STACK, file, 28, { entity: 'lead' }, { waiting: fakeWaiting() })).rejects.toThrow(
      'stack CrmSync has no entity "lead" (it has: contact)',
    );
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it('--force starts a forced execution on the object the inbox holds, without an upload', async () => {
    s3.on(HeadObjectCommand).resolves({ ETag: '"abc"', VersionId: 'v1', ContentLength: 28 });
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC, startDate: new Date() });
    const result = await runOnStack(
      STACK,
      file,
      28,
      { entity: 'contact', force: true, noWait: true },
      { waiting: fakeWaiting() },
    );
    expect(result).toMatchObject({ executionArn: EXEC });
    expect(JSON.parse(sfn.commandCalls(StartExecutionCommand)[0]?.args[0].input.input ?? '')).toMatchObject({
      bucket: 'crm-data',
      key: 'inbox/contact/contacts.csv',
      versionId: 'v1',
      etag: 'abc',
      size: 28,
      entity: 'contact',
      force: true,
    });
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it.each([
    [
      'absent',
      () => s3.on(HeadObjectCommand).rejects(Object.assign(new Error('NotFound'), { name: 'NotFound' })),
      /s3:\/\/crm-data\/inbox\/contact\/contacts.csv does not exist \(run .* without them first\)/,
    ],
    [
      'another file',
      () => s3.on(HeadObjectCommand).resolves({ ETag: '"x"', ContentLength: 99 }),
      /\(99 bytes\) is not .*contacts.csv \(28 bytes\)/,
    ],
  ])('--force on an inbox object that is %s: one line, nothing started', async (_, prepare, message) => {
    prepare();
    await expect(
      runOnStack(STACK, file, 28, { entity: 'contact', force: true }, { waiting: fakeWaiting() }),
    ).rejects.toThrow(message);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });
});

describe('followExecution', () => {
  it('a failed execution ends with its Lambda error message', async () => {
    sfn.on(DescribeExecutionCommand).resolves({
      executionArn: EXEC,
      status: 'FAILED',
      error: 'HeaderMismatchError',
      cause: JSON.stringify({
        errorType: 'HeaderMismatchError',
        errorMessage: 'the file has no Email column',
      }),
      stateMachineArn: MACHINE,
      startDate: new Date(),
    });
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    sfn.on(ListMapRunsCommand).resolves({ mapRuns: [] });
    const end = await followExecution(EXEC, { waiting: fakeWaiting() });
    expect(end).toMatchObject({
      status: 'FAILED',
      error: { name: 'HeaderMismatchError', message: 'the file has no Email column' },
    });
  });
});

describe('diffOnStack: a dry run in AWS', () => {
  it('an entity the stack does not have is refused before any upload', async () => {
    await expect(diffOnStack(STACK, file, { entity: 'lead' }, { waiting: fakeWaiting() })).rejects.toThrow(
      'stack CrmSync has no entity "lead" (it has: contact)',
    );
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it('uploads under dry-run/ and starts a dryRun execution', async () => {
    s3.on(PutObjectCommand).resolves({ ETag: '"abc"', VersionId: 'v9' });
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC, startDate: new Date() });
    await diffOnStack(STACK, file, { entity: 'contact', noWait: true }, { waiting: fakeWaiting() });
    expect(s3.commandCalls(PutObjectCommand)[0]?.args[0].input.Key).toBe('dry-run/contact/contacts.csv');
    expect(JSON.parse(sfn.commandCalls(StartExecutionCommand)[0]?.args[0].input.input ?? '')).toMatchObject({
      key: 'dry-run/contact/contacts.csv',
      versionId: 'v9',
      dryRun: true,
      entity: 'contact',
    });
  });

  it('access denied to StartExecution is one line through the CLI (exit 1, no stack trace)', async () => {
    const out = await cli(
      ['diff', file, '--entity', 'contact', '--stack', 'CrmSync', '--region', REGION, '--quiet'],
      () => {
        stackOutputs();
        s3.on(PutObjectCommand).resolves({ ETag: '"abc"', VersionId: 'v9' });
        sfn
          .on(StartExecutionCommand)
          .rejects(
            Object.assign(
              new Error(
                'User: arn:aws:iam::1:user/ops is not authorized to perform: states:StartExecution on resource: x',
              ),
              { name: 'AccessDeniedException' },
            ),
          );
      },
    );
    expect(out.exitCode).toBe(1);
    expect(out.stderr).toBe(
      `crm-sync: access denied to states:StartExecution in ${REGION}: your AWS identity needs that permission on stack CrmSync's resources\n`,
    );
  });
});

/** The ledger's run record of RUN_ID. */
function ledgerRun(fields: Record<string, unknown>): void {
  ddb.on(GetItemCommand).resolves({
    Item: marshall({
      pk: `RUN#${RUN_ID}`,
      sk: 'RUN',
      runId: RUN_ID,
      entity: 'contact',
      configHash: 'h',
      startedAt: '2026-12-01T00:00:00Z',
      source: { bucket: 'crm-data', key: 'inbox/contact/contacts.csv', etag: 'abc' },
      ...fields,
    }),
  });
}

describe("redriveOnStack: RedriveExecution of the run's failed execution", () => {
  it('redrives and follows the redrive only (not the history before it)', async () => {
    ledgerRun({ status: 'FAILED', executionId: EXEC });
    s3.on(GetObjectCommand).resolves({ Body: body(JSON.stringify(SUMMARY)) });
    sfn
      .on(DescribeExecutionCommand)
      .resolvesOnce({
        executionArn: EXEC,
        status: 'FAILED',
        redriveStatus: 'REDRIVABLE',
        redriveCount: 0,
        stateMachineArn: MACHINE,
        startDate: new Date(),
      })
      // Just after the redrive, DescribeExecution may still show the failed attempt.
      .resolvesOnce({
        executionArn: EXEC,
        status: 'FAILED',
        redriveCount: 0,
        stateMachineArn: MACHINE,
        startDate: new Date(),
      })
      .resolves({
        executionArn: EXEC,
        status: 'SUCCEEDED',
        redriveCount: 1,
        output: JSON.stringify(SUMMARY),
        stateMachineArn: MACHINE,
        startDate: new Date(),
      });
    sfn.on(RedriveExecutionCommand).resolves({ redriveDate: new Date() });
    sfn
      .on(GetExecutionHistoryCommand)
      .resolvesOnce({ events: [entered(40, 'MergePartitions')] }) // the newest event before the redrive
      .resolves({ events: [entered(42, 'Reconcile'), entered(40, 'MergePartitions')] });
    sfn.on(ListMapRunsCommand).resolves({ mapRuns: [] });
    const lines: string[] = [];
    const result = await redriveOnStack(
      STACK,
      RUN_ID,
      {},
      { onProgress: (l) => lines.push(l), waiting: fakeWaiting() },
    );
    expect(sfn.commandCalls(RedriveExecutionCommand)[0]?.args[0].input).toEqual({ executionArn: EXEC });
    expect(result).toMatchObject({ runId: RUN_ID, status: 'SUCCEEDED' });
    expect(lines.filter((l) => l.startsWith('→'))).toEqual(['→ Reconcile']);
  });

  it.each([
    [
      'a run that succeeded',
      { status: 'SUCCEEDED', executionId: EXEC },
      undefined,
      /run .* is SUCCEEDED: only a failed run can be resumed/,
    ],
    [
      'an execution Step Functions cannot redrive',
      { status: 'FAILED', executionId: EXEC },
      {
        status: 'FAILED',
        redriveStatus: 'NOT_REDRIVABLE',
        redriveStatusReason: 'Execution is older than 14 days',
      },
      /cannot be redriven: Execution is older than 14 days; start it anew with --rerun/,
    ],
  ])('refuses %s in one line, changing nothing', async (_, run, execution, message) => {
    ledgerRun(run);
    if (execution)
      sfn.on(DescribeExecutionCommand).resolves({
        executionArn: EXEC,
        stateMachineArn: MACHINE,
        startDate: new Date(),
        ...execution,
      } as never);
    const result = await redriveOnStack(STACK, RUN_ID, {}, { waiting: fakeWaiting() });
    expect(result).toMatchObject({ status: 'REFUSED', error: { message: expect.stringMatching(message) } });
    expect(sfn.commandCalls(RedriveExecutionCommand)).toHaveLength(0);
  });

  it('an unknown run is one line through the CLI', async () => {
    const out = await cli(['redrive', RUN_ID, '--stack', 'CrmSync', '--region', REGION, '--quiet'], () => {
      stackOutputs();
      ddb.on(GetItemCommand).resolves({});
    });
    expect(out.exitCode).toBe(1);
    expect(out.stderr).toBe(
      `crm-sync: no run ${RUN_ID} in the ledger of stack CrmSync (see crm-sync runs --stack CrmSync)\n`,
    );
  });
});
