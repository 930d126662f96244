import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListMapRunsCommand,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { restoreOnStack, snapshotOnStack } from '../../../cli/aws/backup';
import { deployedStackOf } from '../../../cli/aws/deployed-stack';
import {
  cli,
  EXEC,
  fakeWaiting,
  OUTPUTS,
  REGION,
  RESTORE_MACHINE,
  resetMocks,
  SNAPSHOT_MACHINE,
  STACK,
  sfn,
  stackOutputs,
} from './support';

const SNAPSHOT = {
  snapshotId: '20261201T000000Z-e1',
  entity: 'contact',
  table: 'contacts',
  items: 1200,
  digest: 'd'.repeat(64),
  segments: 8,
  formats: ['jsonl'],
  prefix: 'snapshots/contact/20261201T000000Z-e1/',
  manifestKey: 'snapshots/contact/20261201T000000Z-e1/manifest.json',
  takenAt: '2026-12-01T00:00:00Z',
  finishedAt: '2026-12-01T00:01:00Z',
};

/** The execution ends `status` with `output` at the first poll. */
function executionEnds(status: 'SUCCEEDED' | 'FAILED', extra: Record<string, string>): void {
  sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC, startDate: new Date() });
  sfn.on(DescribeExecutionCommand).resolves({
    executionArn: EXEC,
    status,
    stateMachineArn: SNAPSHOT_MACHINE,
    startDate: new Date(),
    ...extra,
  });
  sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
  sfn.on(ListMapRunsCommand).resolves({ mapRuns: [] });
}

beforeEach(resetMocks);

describe('snapshotOnStack', () => {
  it('starts the Snapshot state machine with its input and reports the snapshot', async () => {
    executionEnds('SUCCEEDED', { output: JSON.stringify(SNAPSHOT) });
    const result = await snapshotOnStack(
      STACK,
      { entity: 'contact', formats: ['csv'], segments: 16 },
      { waiting: fakeWaiting() },
    );
    const call = sfn.commandCalls(StartExecutionCommand)[0]?.args[0].input;
    expect(call?.stateMachineArn).toBe(SNAPSHOT_MACHINE);
    expect(JSON.parse(call?.input ?? '')).toEqual({ entity: 'contact', formats: ['csv'], segments: 16 });
    expect(result).toMatchObject({
      kind: 'snapshot',
      status: 'SUCCEEDED',
      table: 'contacts',
      items: 1200,
      snapshotId: SNAPSHOT.snapshotId,
      manifest: `s3://crm-data/${SNAPSHOT.manifestKey}`,
    });
  });

  it('a failed snapshot says why (exit 1 through the CLI)', async () => {
    const out = await cli(
      ['snapshot', '--entity', 'contact', '--stack', 'CrmSync', '--region', REGION, '--quiet'],
      () => {
        stackOutputs();
        executionEnds('FAILED', {
          error: 'EntityBusyError',
          cause: JSON.stringify({
            errorType: 'EntityBusyError',
            errorMessage: 'a run of contact holds the lock',
          }),
        });
      },
    );
    expect(out.exitCode).toBe(1);
    expect(out.stdout).toContain('crm-sync snapshot of contact (contacts): FAILED');
    expect(out.stdout).toContain('error          EntityBusyError: a run of contact holds the lock');
    expect(out.stderr).toBe('');
  });

  it('a stack without the Snapshot state machine is one line', async () => {
    const old = deployedStackOf(
      'CrmSync',
      REGION,
      OUTPUTS.filter((o) => o.OutputKey !== 'SnapshotStateMachineArn'),
    );
    await expect(snapshotOnStack(old, { entity: 'contact' }, { waiting: fakeWaiting() })).rejects.toThrow(
      'stack CrmSync has no SnapshotStateMachineArn output: deploy it again (`npx cdk deploy`)',
    );
  });
});

describe('restoreOnStack', () => {
  it('starts the Restore state machine on a snapshot id of the bucket', async () => {
    executionEnds('SUCCEEDED', {
      output: JSON.stringify({
        restoreId: 'r1',
        entity: 'contact',
        table: 'contacts',
        snapshotId: SNAPSHOT.snapshotId,
        prefix: SNAPSHOT.prefix,
        items: 1200,
        digest: SNAPSHOT.digest,
        status: 'MATCHED',
      }),
    });
    const result = await restoreOnStack(
      STACK,
      { entity: 'contact', snapshot: SNAPSHOT.snapshotId, fromEntity: 'contact' },
      { waiting: fakeWaiting() },
    );
    const call = sfn.commandCalls(StartExecutionCommand)[0]?.args[0].input;
    expect(call?.stateMachineArn).toBe(RESTORE_MACHINE);
    expect(JSON.parse(call?.input ?? '')).toEqual({
      entity: 'contact',
      snapshotId: SNAPSHOT.snapshotId,
      fromEntity: 'contact',
    });
    expect(result).toMatchObject({ kind: 'restore', status: 'SUCCEEDED', restoreId: 'r1', items: 1200 });
  });

  it.each([
    ['a local directory', './backups/contact', /takes the id of a snapshot in the stack's bucket/],
    ['an entity the stack does not have', 'x', /has no entity "lead"/],
  ])('refuses %s before starting anything', async (what, snapshot, message) => {
    const entity = what.includes('entity') ? 'lead' : 'contact';
    await expect(restoreOnStack(STACK, { entity, snapshot }, { waiting: fakeWaiting() })).rejects.toThrow(
      message,
    );
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });
});
