import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { CrmSyncStack } from '../../lib/crm-sync-stack';
import { asArray, config, configFile, must, newApp, type PolicyStatement } from './support';

/**
 * The operator policy against what `crm-sync … --stack` calls. The CLI's own SDK commands are read
 * from its sources (cli/aws/): a command with no IAM action in this table fails the test, so a new
 * call cannot ship without its permission.
 */
const CLI_ACTIONS: Record<string, string> = {
  DescribeStacksCommand: 'cloudformation:DescribeStacks',
  StartExecutionCommand: 'states:StartExecution',
  ListExecutionsCommand: 'states:ListExecutions',
  DescribeExecutionCommand: 'states:DescribeExecution',
  GetExecutionHistoryCommand: 'states:GetExecutionHistory',
  RedriveExecutionCommand: 'states:RedriveExecution',
  ListMapRunsCommand: 'states:ListMapRuns',
  DescribeMapRunCommand: 'states:DescribeMapRun',
  FilterLogEventsCommand: 'logs:FilterLogEvents',
  GetObjectCommand: 's3:GetObject',
  HeadObjectCommand: 's3:GetObject',
  // An export folder's _SUCCESS marker (an empty object in inbox/).
  PutObjectCommand: 's3:PutObject',
  ListObjectsV2Command: 's3:ListBucket',
  ListObjectVersionsCommand: 's3:ListBucketVersions',
  GetItemCommand: 'dynamodb:GetItem',
  QueryCommand: 'dynamodb:Query',
  ScanCommand: 'dynamodb:Scan',
};

/** What the CLI calls through the lambdas' adapters (the ledger, the inbox listing, uploads, reports). */
const THROUGH_ADAPTERS = [
  'dynamodb:GetItem',
  'dynamodb:Query',
  'dynamodb:Scan',
  's3:GetObject',
  's3:ListBucketVersions',
  's3:PutObject',
  's3:AbortMultipartUpload',
  'states:StartExecution',
];

function cliCommands(): string[] {
  const dir = join(__dirname, '../../cli/aws');
  const names = new Set<string>();
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
    for (const m of readFileSync(join(dir, f), 'utf8').matchAll(/new (\w+Command)\(/g)) names.add(m[1] ?? '');
  }
  return [...names].sort();
}

describe('OperatorPolicy: what crm-sync --stack needs, no more', () => {
  const stack = new CrmSyncStack(newApp(), 'CrmSync', { config, configFile });
  const template = Template.fromStack(stack);
  const policies = template.findResources('AWS::IAM::ManagedPolicy');
  const [id, policy] = must(Object.entries(policies)[0], 'the operator policy');
  const statements = asArray(
    (policy.Properties.PolicyDocument as { Statement: PolicyStatement | PolicyStatement[] }).Statement,
  );
  const granted = new Set(statements.flatMap((s) => asArray(s.Action)));

  it('is the one managed policy of the stack, in an output', () => {
    expect(Object.keys(policies)).toHaveLength(1);
    template.hasOutput('OperatorPolicyArn', { Value: { Ref: id } });
  });

  it.each(cliCommands())('grants what the CLI calls: %s', (command) => {
    const action = CLI_ACTIONS[command];
    expect(action).toBeDefined();
    expect(granted).toContain(action);
  });

  it.each(THROUGH_ADAPTERS)('grants what the CLI calls through the adapters: %s', (action) => {
    expect(granted).toContain(action);
  });

  it('grants no action wildcard, no resource wildcard of its own, and writes only inbox/ and dry-run/', () => {
    for (const s of statements) {
      for (const a of asArray(s.Action)) expect(a).not.toMatch(/\*/);
      for (const r of asArray(s.Resource)) expect(r).not.toBe('*');
    }
    const writes = statements.filter((s) => asArray(s.Action).includes('s3:PutObject'));
    expect(JSON.stringify(writes.map((s) => s.Resource))).toMatch(/inbox\/\*.*dry-run\/\*/);
    expect(JSON.stringify(writes.map((s) => s.Resource))).not.toMatch(/reports|work|snapshots/);
  });

  it('with a customer-managed key, may decrypt reports and encrypt uploads with it, nothing else of KMS', () => {
    // Prepare
    const keyed = new CrmSyncStack(newApp(), 'Keyed', {
      config: { ...config, encryption: { kmsKey: 'create' } },
      configFile,
    });
    const t = Template.fromStack(keyed);

    // Act
    const [, p] = must(Object.entries(t.findResources('AWS::IAM::ManagedPolicy'))[0], 'the operator policy');
    const kmsStatements = asArray(
      (p.Properties.PolicyDocument as { Statement: PolicyStatement | PolicyStatement[] }).Statement,
    ).filter((st) => asArray(st.Action).some((a) => a.startsWith('kms:')));

    // Assess
    expect(kmsStatements).toHaveLength(1);
    expect(asArray(kmsStatements[0]?.Action).sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    expect(JSON.stringify(kmsStatements[0]?.Resource)).toContain('DataKey');
    expect(statements.some((st) => asArray(st.Action).some((a) => a.startsWith('kms:')))).toBe(false);
  });
});
