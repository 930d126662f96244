import { type CrmSyncConfig, parseConfig } from '../../lambdas/domain/config';
import { readEvents } from '../../local/events';
import { loadExecution } from '../../local/executions';
import { redriveLocalRun, runLocalFile } from '../../local/run';
import { PERSON_ENTITY, PERSON_HEADER, useLocalStack } from './support';

/**
 * Failure handling as Step Functions does it, on the local stack: no state catches, so a failed
 * task fails the execution where it stands; the execution-status recorder (EventBridge's "Execution
 * Status Change" in AWS) records the run FAILED, writes its report, sends RunFinished and frees the
 * lock; a redrive continues the same execution from the failed state, and a failed Distributed Map
 * reruns only its children that did not succeed.
 */
const ENTITY = { ...PERSON_ENTITY, partitionRows: 100, source: { chunkBytes: 1024 } };
const CONFIG: CrmSyncConfig = parseConfig({ entities: { person: ENTITY, clean: ENTITY } });
const T1 = '2024-01-01T00:00:00Z';

/** Counts the Task states run, and fails the nth MergePartition child once, with a permanent error. */
const calls: string[] = [];
let failMergeAt: number | undefined;
let merges = 0;
function beforeTask(state: string): void {
  calls.push(state);
  if (state !== 'MergePartition') return;
  merges++;
  if (merges === failMergeAt) {
    failMergeAt = undefined;
    throw Object.assign(new Error('the partition could not be written'), { name: 'ConfigError' });
  }
}

describe('failed runs and their redrive, as in AWS', () => {
  const local = useLocalStack('failure-redrive', CONFIG, { retryIntervalMs: 1, beforeTask });
  const stateDir = local.stateDir;
  const csv = (name: string, n: number): string =>
    local.write(
      name,
      `${PERSON_HEADER}\n${Array.from({ length: n }, (_, i) => `p${String(i).padStart(3, '0')},Person ${i},${T1},false`).join('\n')}\n`,
    );
  const ledger = () => {
    const { Ledger } =
      require('../../lambdas/adapters/ledger') as typeof import('../../lambdas/adapters/ledger');
    return new Ledger('crm-sync-ledger');
  };

  beforeEach(() => {
    calls.length = 0;
    merges = 0;
  });

  it('a failed merge partition fails the execution there; the recorder records the run, its report and RunFinished, and frees the lock', async () => {
    // Prepare
    const file = csv('fails.csv', 400);
    failMergeAt = 2;

    // Act
    const failed = await runLocalFile(local.stack, file, CONFIG, { entity: 'person', stateDir });
    const run = await ledger().getRun(failed.runId as string);
    const record = loadExecution(stateDir, run?.executionId as string);
    const finished = readEvents(stateDir).filter(
      (e) => e['detail-type'] === 'RunFinished' && (e.detail as { runId?: string }).runId === failed.runId,
    );

    // Assess
    expect(failed.status).toBe('FAILED');
    expect(failed.error?.name).toBe('States.ExceedToleratedFailureThreshold');
    expect(run).toMatchObject({ status: 'FAILED', error: 'States.ExceedToleratedFailureThreshold' });
    expect(run?.finishedAt).toEqual(expect.any(String));
    expect(await ledger().lockHolder('person')).toBeUndefined();
    // The execution stopped in the state that failed: a redrive starts there.
    expect(record).toMatchObject({ status: 'FAILED', state: { name: 'MergePartitions' } });
    expect(finished.map((e) => e.detail)).toEqual([
      expect.objectContaining({ status: 'FAILED', error: 'States.ExceedToleratedFailureThreshold' }),
    ]);
    expect(failed.reports.summary).toEqual(expect.stringContaining(stateDir));
    expect(calls).not.toContain('Reconcile');
  });

  it('a redrive continues the execution at the failed map and reruns only its failed child, then finishes the run', async () => {
    // Prepare: the failed run of the test before, and a clean run of the same file for comparison
    const file = csv('fails.csv', 400);
    const [failedRun] = (await ledger().listRuns({ entity: 'person' })).filter((r) => r.status === 'FAILED');
    const runId = failedRun?.runId as string;
    const partitions = failedRun?.partitions ?? 0;
    await runLocalFile(local.stack, file, CONFIG, { entity: 'clean', stateDir });
    calls.length = 0;

    // Act
    const resumed = await redriveLocalRun(local.stack, runId, CONFIG, { stateDir });
    const run = await ledger().getRun(runId);
    const record = loadExecution(stateDir, run?.executionId as string);

    // Assess
    expect(partitions).toBeGreaterThan(2);
    expect(resumed.status).toBe('SUCCEEDED');
    expect(resumed.runId).toBe(runId);
    expect(resumed.reconciliation?.status).toBe('MATCHED');
    expect(resumed.counts).toMatchObject({ rows: 400, applied: 400, rejected: 0 });
    // Nothing before the failed state ran again, and of the merge children only the failed one.
    expect(
      calls.filter((c) => ['ClaimRun', 'PlanChunks', 'TransformChunk', 'CheckRejects'].includes(c)),
    ).toEqual([]);
    expect(calls.filter((c) => c === 'MergePartition')).toHaveLength(1);
    expect(calls).toContain('Reconcile');
    expect(run).toMatchObject({ status: 'SUCCEEDED', resumes: 1 });
    expect(record).toMatchObject({ status: 'SUCCEEDED', redriveCount: 1, executionArn: run?.executionId });
    expect(await local.items('person', { omit: ['_run'] })).toEqual(
      await local.items('clean', { omit: ['_run'] }),
    );
    expect(await ledger().lockHolder('person')).toBeUndefined();
  });

  it('a redrive while another run of the entity holds the lock is stopped, and the run stays FAILED', async () => {
    // Prepare: a failed run, then another run that holds the entity's lock
    const file = csv('busy.csv', 30);
    failMergeAt = 1;
    const failed = await runLocalFile(local.stack, file, CONFIG, { entity: 'person', stateDir });
    const holder = 'person-0000000000000000holder';
    await ledger().claim({
      runId: holder,
      entity: 'person',
      status: 'RUNNING',
      source: { bucket: local.stack.bucket, key: 'inbox/person/other.csv' },
      configHash: 'h',
      startedAt: new Date().toISOString(),
    });
    await ledger().acquireLock('person', holder, 60_000);

    // Act: the stack's redrive itself (`local redrive` first ends the runs a dead process left RUNNING)
    const failedRun = await ledger().getRun(failed.runId as string);
    const record = loadExecution(stateDir, failedRun?.executionId as string);
    if (!record) throw new Error('the failed execution has no record');
    const redriven = await local.stack.execute(record.input as never, 'sync', record);
    const run = await ledger().getRun(failed.runId as string);
    await ledger().releaseLock('person', holder);
    await ledger().updateRun(holder, { status: 'FAILED' });

    // Assess
    expect(failed.status).toBe('FAILED');
    expect(redriven.status).toBe('FAILED');
    expect(redriven.error?.name).toBe('EntityBusyError');
    expect(run).toMatchObject({ status: 'FAILED', error: 'EntityBusyError' });
    expect(run?.cause).toContain(holder);
    expect(calls.filter((c) => c === 'MergePartition')).toHaveLength(1);
  });
});
