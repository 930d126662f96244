import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { InvalidEventError } from '../../../lambdas/domain/errors';
import type { ExecutionStatusEvent } from '../../../lambdas/domain/execution-status';
import type { LedgerStep, RunRecord } from '../../../lambdas/domain/run';
import type { MetricValue } from '../../../lambdas/domain/run-metrics';
import type { RunLedger } from '../../../lambdas/use-cases/record-execution-status';
import { BUCKET, FakeBucket, RUN_ID } from './support';

let recordExecutionStatus: typeof import('../../../lambdas/use-cases/record-execution-status')['recordExecutionStatus'];
let executionStatusHandler: typeof import('../../../lambdas/handlers/execution-status')['executionStatusHandler'];

const ARN = 'arn:aws:states:us-east-1:111122223333:execution:CrmSyncWorkflow:9f0c';
const MACHINE = 'arn:aws:states:us-east-1:111122223333:stateMachine:CrmSyncWorkflow';
const OTHER_RUN = 'contact-ffffffffffffffffffff';
const T0 = Date.parse('2026-12-01T10:00:00Z');

/** An in-memory ledger with the conditional semantics of lambdas/adapters/ledger.ts. */
class FakeLedger implements RunLedger {
  runs = new Map<string, RunRecord>();
  executions = new Map<string, string>();
  lock: string | undefined;

  async runOfExecution(arn: string) {
    return this.executions.get(arn);
  }
  async getRun(runId: string) {
    const r = this.runs.get(runId);
    return r ? structuredClone(r) : undefined;
  }
  async failRun(runId: string, f: { error: string; cause: string; finishedAt: string }) {
    const r = this.runs.get(runId);
    if (r?.status !== 'RUNNING') return false;
    Object.assign(r, { status: 'FAILED', ...f });
    return true;
  }
  async reopenRun(runId: string, executionArn: string, redrivenAt: string) {
    const r = this.runs.get(runId);
    if (r?.status !== 'FAILED') return false;
    Object.assign(r, {
      status: 'RUNNING',
      executionId: executionArn,
      redrivenAt,
      resumes: (r.resumes ?? 0) + 1,
    });
    delete r.error;
    delete r.cause;
    delete r.finishedAt;
    return true;
  }
  async acquireLock(_entity: string, runId: string) {
    const holder = this.lock;
    if (holder === undefined || holder === runId || this.runs.get(holder)?.status !== 'RUNNING') {
      this.lock = runId;
      return { acquired: true as const };
    }
    return { acquired: false as const, holder, since: '2026-12-01T09:00:00.000Z' };
  }
  async releaseLock(_entity: string, runId: string) {
    if (this.lock === runId) this.lock = undefined;
  }
  async updateRun(runId: string, fields: Partial<RunRecord>) {
    const r = this.runs.get(runId);
    if (!r) throw new Error('no run');
    Object.assign(r, fields);
  }
  async listSteps(): Promise<LedgerStep[]> {
    return [];
  }
}

function run(status: RunRecord['status'], extra: Partial<RunRecord> = {}): RunRecord {
  return {
    runId: RUN_ID,
    entity: 'contact',
    status,
    source: { bucket: BUCKET, key: 'inbox/contact/contacts.csv', etag: 'abc' },
    configHash: 'h',
    executionId: ARN,
    startedAt: '2026-12-01T09:59:00.000Z',
    ...extra,
  };
}

function statusEvent(detail: Partial<ExecutionStatusEvent['detail']>): ExecutionStatusEvent {
  return {
    source: 'aws.states',
    'detail-type': 'Step Functions Execution Status Change',
    time: new Date(T0).toISOString(),
    detail: { executionArn: ARN, stateMachineArn: MACHINE, status: 'FAILED', ...detail },
  };
}

const s3Mock = mockClient(S3Client);
mockClient(DynamoDBClient);
const eventsMock = mockClient(EventBridgeClient);
const sfnMock = mockClient(SFNClient);
const fakeS3 = new FakeBucket();

beforeAll(async () => {
  ({ recordExecutionStatus } = await import('../../../lambdas/use-cases/record-execution-status'));
  ({ executionStatusHandler } = await import('../../../lambdas/handlers/execution-status'));
});

describe('recordExecutionStatus', () => {
  let ledger: FakeLedger;
  let published: Array<{ type: string; detail: Record<string, unknown> }>;
  let stopped: Array<{ arn: string; error: string; cause: string }>;
  let metrics: Array<{ entity: string; names: string[] }>;
  const deps = () => ({
    ledger,
    bucket: BUCKET,
    publish: async (type: string, detail: Record<string, unknown>) => {
      published.push({ type, detail });
    },
    stop: async (arn: string, error: string, cause: string) => {
      stopped.push({ arn, error, cause });
    },
    publishMetrics: (entity: string, values: readonly MetricValue[]) => {
      metrics.push({ entity, names: values.map((v) => v.name) });
    },
  });

  beforeEach(() => {
    s3Mock.reset();
    fakeS3.install(s3Mock);
    ledger = new FakeLedger();
    ledger.executions.set(ARN, RUN_ID);
    published = [];
    stopped = [];
    metrics = [];
  });

  it('records a failed execution: the run FAILED with its error, its report, RunFinished, the lock freed', async () => {
    // Prepare
    ledger.runs.set(RUN_ID, run('RUNNING'));
    ledger.lock = RUN_ID;
    const cause = JSON.stringify({ errorType: 'HeaderMismatchError', errorMessage: 'no Id column' });

    // Act
    const outcome = await recordExecutionStatus(
      statusEvent({ error: 'HeaderMismatchError', cause, stopDate: T0 }),
      deps(),
    );

    // Assess
    expect(outcome).toEqual({ outcome: 'failed', runId: RUN_ID, error: 'HeaderMismatchError' });
    expect(ledger.runs.get(RUN_ID)).toMatchObject({
      status: 'FAILED',
      error: 'HeaderMismatchError',
      cause,
      finishedAt: new Date(T0).toISOString(),
    });
    expect(ledger.lock).toBeUndefined();
    const summary = JSON.parse(fakeS3.read(`reports/${RUN_ID}/summary.json`)) as { error: { name: string } };
    expect(summary.error.name).toBe('HeaderMismatchError');
    expect(fakeS3.read(`reports/${RUN_ID}/report.html`)).toContain('HeaderMismatchError');
    expect(published).toEqual([
      {
        type: 'RunFinished',
        detail: {
          runId: RUN_ID,
          entity: 'contact',
          status: 'FAILED',
          error: 'HeaderMismatchError',
          dryRun: false,
          executionArn: ARN,
          summary: `reports/${RUN_ID}/summary.json`,
        },
      },
    ]);
    expect(metrics).toEqual([{ entity: 'contact', names: ['FailedRuns'] }]);
  });

  it.each([
    ['a dry run', { dryRun: true }, true, 0],
    ['a run', {}, false, 1],
  ])(
    'the RunFinished event of %s that failed says dryRun: %s (FailedRuns metrics: %s)',
    async (_what, extra, dryRun, failedRuns) => {
      // Prepare
      ledger.runs.set(RUN_ID, run('RUNNING', extra));

      // Act
      await recordExecutionStatus(statusEvent({ error: 'States.TaskFailed', cause: 'boom' }), deps());

      // Assess
      expect(published).toEqual([{ type: 'RunFinished', detail: expect.objectContaining({ dryRun }) }]);
      expect(metrics).toHaveLength(failedRuns);
    },
  );

  it('tells a person to redrive the execution, by its ARN', async () => {
    // Prepare
    ledger.runs.set(RUN_ID, run('RUNNING'));

    // Act
    await recordExecutionStatus(
      statusEvent({ error: 'States.ExceedToleratedFailureThreshold', cause: 'x' }),
      deps(),
    );

    // Assess
    expect(fakeS3.read(`reports/${RUN_ID}/report.html`)).toContain(
      `aws stepfunctions redrive-execution --execution-arn ${ARN}`,
    );
  });

  it.each([
    ['TIMED_OUT', 'States.Timeout'],
    ['ABORTED', 'ExecutionAborted'],
  ])('a %s execution without an error is recorded as %s', async (status, error) => {
    // Prepare
    ledger.runs.set(RUN_ID, run('RUNNING'));

    // Act
    const outcome = await recordExecutionStatus(statusEvent({ status, error: null, cause: null }), deps());

    // Assess
    expect(outcome).toMatchObject({ outcome: 'failed', error });
    expect(ledger.runs.get(RUN_ID)?.status).toBe('FAILED');
  });

  it('a second delivery of the same failure changes nothing and sends no second RunFinished', async () => {
    // Prepare
    ledger.runs.set(RUN_ID, run('RUNNING'));
    const event = statusEvent({ error: 'States.TaskFailed', cause: 'boom', stopDate: T0 });
    await recordExecutionStatus(event, deps());
    const after = structuredClone(ledger.runs.get(RUN_ID));

    // Act
    const outcome = await recordExecutionStatus(event, deps());

    // Assess
    expect(outcome.outcome).toBe('failed');
    expect(ledger.runs.get(RUN_ID)).toEqual(after);
    expect(published).toHaveLength(1);
    expect(metrics).toHaveLength(1);
  });

  it.each<RunRecord['status']>(['MISMATCHED', 'SUCCEEDED'])(
    'leaves a %s run as Reconcile recorded it (a mismatch fails the execution after Reconcile)',
    async (status) => {
      // Prepare
      ledger.runs.set(RUN_ID, run(status));
      ledger.lock = OTHER_RUN;

      // Act
      const outcome = await recordExecutionStatus(statusEvent({ error: 'ReconciliationMismatch' }), deps());

      // Assess
      expect(outcome).toEqual({ outcome: 'already-ended', runId: RUN_ID, status });
      expect(ledger.runs.get(RUN_ID)?.status).toBe(status);
      expect(ledger.lock).toBe(OTHER_RUN);
      expect(published).toEqual([]);
      expect(metrics).toEqual([]);
      expect(fakeS3.find(`reports/${RUN_ID}/summary.json`)).toBeUndefined();
    },
  );

  it('ignores an execution that ended before it claimed a run', async () => {
    // Prepare
    ledger.executions.clear();

    // Act
    const outcome = await recordExecutionStatus(statusEvent({ error: 'EntityBusyError' }), deps());

    // Assess
    expect(outcome).toEqual({ outcome: 'ignored', reason: 'no run claimed by the execution' });
    expect(published).toEqual([]);
  });

  it.each([
    ['RUNNING', 0],
    ['SUCCEEDED', 0],
    ['PENDING_REDRIVE', 1],
  ])('status %s (redrive count %d) asks for nothing', async (status, redriveCount) => {
    // Prepare
    ledger.runs.set(RUN_ID, run('FAILED'));

    // Act
    const outcome = await recordExecutionStatus(statusEvent({ status, redriveCount }), deps());

    // Assess
    expect(outcome.outcome).toBe('ignored');
    expect(ledger.runs.get(RUN_ID)?.status).toBe('FAILED');
  });

  it('a redrive takes the run up again: RUNNING, its error cleared, one more resume, the lock taken', async () => {
    // Prepare
    ledger.runs.set(
      RUN_ID,
      run('FAILED', { error: 'States.TaskFailed', cause: 'x', finishedAt: '2026-12-01T09:59:30.000Z' }),
    );

    // Act
    const outcome = await recordExecutionStatus(
      {
        ...statusEvent({ status: 'RUNNING', redriveCount: 1 }),
        detail: { ...statusEvent({}).detail, status: 'RUNNING', redriveCount: 1, redriveDate: T0 },
      },
      deps(),
    );

    // Assess
    expect(outcome).toEqual({ outcome: 'reopened', runId: RUN_ID });
    const reopened = ledger.runs.get(RUN_ID);
    expect(reopened).toMatchObject({ status: 'RUNNING', resumes: 1, redrivenAt: new Date(T0).toISOString() });
    expect(reopened?.error).toBeUndefined();
    expect(ledger.lock).toBe(RUN_ID);
  });

  it('a redrive while another run of the entity runs stops the execution and keeps the run FAILED', async () => {
    // Prepare
    ledger.runs.set(RUN_ID, run('FAILED', { finishedAt: '2026-12-01T09:59:30.000Z' }));
    ledger.runs.set(OTHER_RUN, { ...run('RUNNING'), runId: OTHER_RUN });
    ledger.lock = OTHER_RUN;

    // Act
    const outcome = await recordExecutionStatus(statusEvent({ status: 'RUNNING', redriveCount: 1 }), deps());

    // Assess
    expect(outcome).toEqual({ outcome: 'busy', runId: RUN_ID, holder: OTHER_RUN });
    expect(stopped).toEqual([
      { arn: ARN, error: 'EntityBusyError', cause: expect.stringContaining(OTHER_RUN) },
    ]);
    expect(ledger.runs.get(RUN_ID)).toMatchObject({ status: 'FAILED', error: 'EntityBusyError' });
    expect(ledger.lock).toBe(OTHER_RUN);
  });

  it('events out of order: the first failure delivered after the redrive does not fail the redriven run', async () => {
    // Prepare: failed at T0 - 60 s, redriven at T0
    ledger.runs.set(RUN_ID, run('RUNNING', { redrivenAt: new Date(T0).toISOString(), resumes: 1 }));
    ledger.lock = RUN_ID;

    // Act
    const outcome = await recordExecutionStatus(
      statusEvent({ error: 'States.TaskFailed', stopDate: T0 - 60_000 }),
      deps(),
    );

    // Assess
    expect(outcome).toEqual({ outcome: 'ignored', reason: 'a failure from before the run was redriven' });
    expect(ledger.runs.get(RUN_ID)?.status).toBe('RUNNING');
    expect(ledger.lock).toBe(RUN_ID);
  });

  it('events out of order: a redrive event delivered after the redrive itself failed reopens nothing', async () => {
    // Prepare: the redrive (at T0) failed again at T0 + 30 s, and that failure was recorded first
    ledger.runs.set(RUN_ID, run('FAILED', { finishedAt: new Date(T0 + 30_000).toISOString() }));

    // Act
    const outcome = await recordExecutionStatus(
      {
        ...statusEvent({}),
        detail: { ...statusEvent({}).detail, status: 'RUNNING', redriveCount: 1, redriveDate: T0 },
      },
      deps(),
    );

    // Assess
    expect(outcome).toEqual({ outcome: 'already-ended', runId: RUN_ID, status: 'FAILED' });
    expect(ledger.runs.get(RUN_ID)?.status).toBe('FAILED');
    expect(ledger.lock).toBeUndefined();
  });
});

describe('executionStatusHandler', () => {
  beforeEach(() => {
    eventsMock.reset();
    sfnMock.reset();
  });

  it.each([
    ['no detail', { source: 'aws.states', 'detail-type': 'Step Functions Execution Status Change' }],
    ['another source', { ...statusEvent({}), source: 'aws.s3' }],
    ['no execution ARN', { ...statusEvent({}), detail: { status: 'FAILED', stateMachineArn: MACHINE } }],
    ['a redrive count that is not a number', statusEvent({ redriveCount: 'one' as unknown as number })],
  ])('refuses an event with %s (InvalidEventError: not retried)', async (_what, event) => {
    // Act
    const result = executionStatusHandler(event);

    // Assess
    await expect(result).rejects.toBeInstanceOf(InvalidEventError);
    expect(eventsMock.commandCalls(PutEventsCommand)).toHaveLength(0);
    expect(sfnMock.commandCalls(StopExecutionCommand)).toHaveLength(0);
  });
});
