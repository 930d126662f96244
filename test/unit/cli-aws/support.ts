import { Readable } from 'node:stream';
import { CloudFormationClient, DescribeStacksCommand, type Output } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { deployedStackOf } from '../../../cli/aws/deployed-stack';
import type { Waiting } from '../../../cli/aws/executions';
import { useAwsTarget } from '../../../cli/aws/target';
import { main } from '../../../cli/main';

/** What the tests of the CLI against a deployed stack share: a stack, a fake clock, the CLI in-process. */

export const REGION = 'eu-west-1';
export const MACHINE = `arn:aws:states:${REGION}:123456789012:stateMachine:Workflow`;
export const EXEC = `arn:aws:states:${REGION}:123456789012:execution:Workflow:e1`;
export const MAP_RUN = `arn:aws:states:${REGION}:123456789012:mapRun:Workflow/TransformChunks:m1`;
export const SNAPSHOT_MACHINE = `arn:aws:states:${REGION}:123456789012:stateMachine:Snapshot`;
export const RESTORE_MACHINE = `arn:aws:states:${REGION}:123456789012:stateMachine:Restore`;
export const OUTPUTS: Output[] = [
  { OutputKey: 'DataBucketName', OutputValue: 'crm-data' },
  { OutputKey: 'SyncStateMachineArn', OutputValue: MACHINE },
  { OutputKey: 'LedgerTableName', OutputValue: 'crm-ledger' },
  { OutputKey: 'SnapshotStateMachineArn', OutputValue: SNAPSHOT_MACHINE },
  { OutputKey: 'RestoreStateMachineArn', OutputValue: RESTORE_MACHINE },
  { OutputKey: 'InboxUrlContact', OutputValue: 's3://crm-data/inbox/contact/' },
  { OutputKey: 'TargetTableContact', OutputValue: 'contacts' },
];
export const STACK = deployedStackOf('CrmSync', REGION, OUTPUTS);
export const RUN_ID = 'contact-0123456789abcdef0123';

/** A poll that takes no time: the fake clock moves on by the interval. */
export function fakeWaiting(): Waiting & { slept: number } {
  let t = 1_000_000;
  const w = {
    pollMs: 1000,
    slept: 0,
    now: () => t,
    sleep: async (ms: number) => {
      t += ms;
      w.slept += 1;
    },
  };
  return w;
}

/** An S3 GetObject body: iterable, as the SDK's stream is. */
export const body = (text: string) =>
  Object.assign(Readable.from([Buffer.from(text)]), {
    transformToString: async () => text,
    transformToByteArray: async () => new Uint8Array(Buffer.from(text)),
  }) as never;

/** The SDK clients' mocks (every client of the class answers from them). */
export const sfn = mockClient(SFNClient);
export const s3 = mockClient(S3Client);
export const ddb = mockClient(DynamoDBClient);
export const cfn = mockClient(CloudFormationClient);

/** Every mock forgets its answers and calls; the CLI's clients point at the test's region. */
export function resetMocks(): void {
  for (const m of [sfn, s3, ddb, cfn]) m.reset();
  useAwsTarget({ stackName: 'CrmSync', region: REGION });
}

/** DescribeStacks answers with the stack's outputs. */
export function stackOutputs(): void {
  cfn.on(DescribeStacksCommand).resolves({
    Stacks: [
      { StackName: 'CrmSync', StackStatus: 'CREATE_COMPLETE', CreationTime: new Date(), Outputs: OUTPUTS },
    ],
  });
}

/** Runs the CLI in this process with the mocks `prepare` sets. */
export async function cli(
  args: string[],
  prepare: () => void,
): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  let stdout = '';
  let stderr = '';
  const out = jest.spyOn(process.stdout, 'write').mockImplementation((s) => {
    stdout += String(s);
    return true;
  });
  const err = jest.spyOn(process.stderr, 'write').mockImplementation((s) => {
    stderr += String(s);
    return true;
  });
  process.exitCode = 0;
  prepare();
  try {
    await main(['node', 'crm-sync', ...args]);
    return { stdout, stderr, exitCode: Number(process.exitCode ?? 0) };
  } finally {
    out.mockRestore();
    err.mockRestore();
    process.exitCode = 0;
  }
}
