import { CloudFormationClient, DescribeStacksCommand, type Output } from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { deployedEntity, deployedStackOf, describeDeployedStack } from '../../../cli/aws/deployed-stack';
import { AwsCommandError, explainAwsError } from '../../../cli/aws/errors';
import { withAwsStack } from '../../../cli/aws/session';
import { type AwsTarget, awsTargetOf, type TargetOptions, useAwsTarget } from '../../../cli/aws/target';

const TARGET: AwsTarget = { stackName: 'CrmSync', region: 'eu-west-1' };
const MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:Workflow';
const OUTPUTS: Output[] = [
  { OutputKey: 'DataBucketName', OutputValue: 'crm-data' },
  { OutputKey: 'SyncStateMachineArn', OutputValue: MACHINE },
  { OutputKey: 'LedgerTableName', OutputValue: 'crm-ledger' },
  { OutputKey: 'SnapshotStateMachineArn', OutputValue: `${MACHINE}-snapshot` },
  { OutputKey: 'InboxUrlContactPerson', OutputValue: 's3://crm-data/inbox/contact-person/' },
  { OutputKey: 'TargetTableContactPerson', OutputValue: 'contacts' },
  { OutputKey: 'InboxUrlAccount', OutputValue: 's3://crm-data/inbox/account/' },
  { OutputKey: 'TargetTableAccount', OutputValue: 'accounts' },
];

describe('awsTargetOf: which backend a command runs against', () => {
  const saved = process.env.CRM_SYNC_STACK;
  afterEach(() => {
    if (saved === undefined) delete process.env.CRM_SYNC_STACK;
    else process.env.CRM_SYNC_STACK = saved;
  });

  it.each<[string, TargetOptions, AwsTarget | undefined]>([
    ['no option: local', {}, undefined],
    ['--target local', { target: 'local' }, undefined],
    ['--stack alone: AWS', { stack: 'Prod' }, { stackName: 'Prod', region: undefined, profile: undefined }],
    [
      '--target aws: the default stack',
      { target: 'aws' },
      { stackName: 'CrmSync', region: undefined, profile: undefined },
    ],
    [
      'region and profile',
      { stack: 'P', region: 'eu-west-1', profile: 'ops' },
      { stackName: 'P', region: 'eu-west-1', profile: 'ops' },
    ],
  ])('%s', (_, opts, expected) => {
    // Prepare
    delete process.env.CRM_SYNC_STACK;
    // Act / assess
    expect(awsTargetOf(opts)).toEqual(expected);
  });

  it('--target aws takes $CRM_SYNC_STACK when no --stack is given', () => {
    process.env.CRM_SYNC_STACK = 'Staging';
    expect(awsTargetOf({ target: 'aws' })?.stackName).toBe('Staging');
  });

  it.each<[TargetOptions, RegExp]>([
    [{ target: 'cloud' }, /--target must be local or aws, not "cloud"/],
    [{ target: 'local', stack: 'X' }, /--stack operates a deployed stack/],
    [{ region: 'eu-west-1' }, /--region only applies with --stack/],
    [{ profile: 'ops' }, /--profile only applies with --stack/],
    [{ stack: 'bad name!' }, /not a CloudFormation stack name: "bad name!"/],
  ])('refuses %j in one line', (opts, message) => {
    expect(() => awsTargetOf(opts)).toThrow(message);
  });
});

describe('deployedStackOf: the stack resources from its outputs', () => {
  it('reads the bucket, state machines, ledger and every entity', () => {
    const stack = deployedStackOf('CrmSync', 'eu-west-1', OUTPUTS);
    expect(stack).toMatchObject({
      bucket: 'crm-data',
      syncStateMachineArn: MACHINE,
      ledgerTable: 'crm-ledger',
      snapshotStateMachineArn: `${MACHINE}-snapshot`,
      restoreStateMachineArn: undefined,
      eventsLogGroup: undefined,
      entities: {
        'contact-person': { inboxUrl: 's3://crm-data/inbox/contact-person/', tableName: 'contacts' },
        account: { inboxUrl: 's3://crm-data/inbox/account/', tableName: 'accounts' },
      },
    });
    expect(deployedEntity(stack, 'account').tableName).toBe('accounts');
    expect(() => deployedEntity(stack, 'lead')).toThrow(
      'stack CrmSync has no entity "lead" (it has: account, contact-person)',
    );
  });

  it.each<[string, Output[], RegExp]>([
    ['no outputs (another stack of that name)', [], /is not a crm-sync stack .*DataBucketName/],
    [
      'a state machine output that is no ARN',
      OUTPUTS.map((o) => (o.OutputKey === 'SyncStateMachineArn' ? { ...o, OutputValue: 'Workflow' } : o)),
      /lack or garble: SyncStateMachineArn/,
    ],
    [
      'an inbox without its table',
      OUTPUTS.filter((o) => o.OutputKey !== 'TargetTableAccount'),
      /output InboxUrlAccount .* no TargetTableAccount/,
    ],
  ])('refuses %s', (_, outputs, message) => {
    expect(() => deployedStackOf('CrmSync', 'eu-west-1', outputs)).toThrow(message);
  });
});

describe('describeDeployedStack / withAwsStack against CloudFormation', () => {
  const cfn = mockClient(CloudFormationClient);
  beforeEach(() => {
    cfn.reset();
    useAwsTarget(TARGET);
  });

  it('finds the stack by name and reads its outputs', async () => {
    // Prepare
    cfn.on(DescribeStacksCommand, { StackName: 'CrmSync' }).resolves({
      Stacks: [
        {
          StackName: 'CrmSync',
          StackStatus: 'UPDATE_COMPLETE',
          CreationTime: new Date(),
          Outputs: OUTPUTS,
        },
      ],
    });
    // Act
    const stack = await withAwsStack(TARGET, async (s) => s);
    // Assess
    expect(stack.region).toBe('eu-west-1');
    expect(Object.keys(stack.entities).sort()).toEqual(['account', 'contact-person']);
  });

  it.each([
    ['CREATE_IN_PROGRESS', /is CREATE_IN_PROGRESS: wait for it to finish/],
    ['ROLLBACK_COMPLETE', /is ROLLBACK_COMPLETE: deploy it again/],
  ])('refuses a stack that is %s', async (status, message) => {
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [
        { StackName: 'CrmSync', StackStatus: status as 'ROLLBACK_COMPLETE', CreationTime: new Date() },
      ],
    });
    await expect(describeDeployedStack(TARGET)).rejects.toThrow(message);
  });

  it('an unknown stack is one line that says what to do', async () => {
    const err = Object.assign(new Error('Stack with id CrmSync does not exist'), { name: 'ValidationError' });
    cfn.on(DescribeStacksCommand).rejects(err);
    const failed = withAwsStack(TARGET, async () => 'unreached');
    await expect(failed).rejects.toThrow(AwsCommandError);
    await expect(failed).rejects.toThrow(
      'stack CrmSync not found in eu-west-1: deploy it (`npx cdk deploy`) or pass --stack / --region',
    );
  });
});

describe('explainAwsError: one line per failure', () => {
  const sdk = (name: string, message: string, extra: object = {}) =>
    Object.assign(new Error(message), { name, ...extra });

  it.each<[string, Error, AwsTarget, RegExp]>([
    [
      'no credentials',
      sdk('CredentialsProviderError', 'Could not load credentials from any providers'),
      TARGET,
      /^no AWS credentials found: run `aws configure`/,
    ],
    [
      'unknown profile',
      sdk('CredentialsProviderError', 'Profile ops could not be found or parsed in shared credentials file.'),
      { ...TARGET, profile: 'ops' },
      /^AWS profile "ops" not found/,
    ],
    [
      'expired session',
      sdk('ExpiredTokenException', 'The security token included in the request is expired'),
      TARGET,
      /session has expired/,
    ],
    [
      'no region',
      sdk('Error', 'Region is missing'),
      { stackName: 'CrmSync' },
      /^no AWS region: pass --region/,
    ],
    [
      'wrong region',
      sdk('Error', 'getaddrinfo ENOTFOUND cloudformation.eu-west-9.amazonaws.com', { code: 'ENOTFOUND' }),
      { stackName: 'CrmSync', region: 'eu-west-9' },
      /^cannot reach AWS in eu-west-9: check --region/,
    ],
    [
      'credentials of another partition or region',
      sdk('UnrecognizedClientException', 'The security token included in the request is invalid.'),
      TARGET,
      /rejected your credentials in eu-west-1/,
    ],
    [
      'access denied',
      sdk(
        'AccessDeniedException',
        'User: arn:aws:iam::1:user/a is not authorized to perform: states:StartExecution on resource: arn',
      ),
      TARGET,
      /^access denied to states:StartExecution in eu-west-1/,
    ],
    [
      'access denied by S3 (403, no action named)',
      sdk('AccessDenied', 'Access Denied', { $metadata: { httpStatusCode: 403 } }),
      TARGET,
      /^access denied in eu-west-1: your AWS identity needs/,
    ],
    [
      'execution not found',
      sdk('ExecutionDoesNotExist', 'Execution Does Not Exist'),
      TARGET,
      /^execution not found in eu-west-1/,
    ],
    [
      'a deleted resource',
      sdk('ResourceNotFoundException', 'Requested resource not found'),
      TARGET,
      /is gone .*deploy the stack again/,
    ],
  ])('%s', (_, err, target, line) => {
    const explained = explainAwsError(err, target);
    expect(explained).toBeInstanceOf(AwsCommandError);
    expect((explained as Error).message).toMatch(line);
    expect((explained as Error).message).not.toContain('\n');
    expect((explained as Error).cause).toBe(err);
  });

  it('leaves other errors as they are', () => {
    const err = new TypeError('boom');
    expect(explainAwsError(err, TARGET)).toBe(err);
  });
});
