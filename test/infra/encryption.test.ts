import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import { AwsSolutionsChecks } from 'cdk-nag';
import { parseConfig } from '../../lambdas/domain/config';
import { CrmSyncStack } from '../../lib/crm-sync-stack';
import {
  asArray,
  configFile,
  logicalId,
  must,
  nagErrors,
  nagReport,
  newApp,
  type PolicyStatement,
} from './support';

type Json = Record<string, unknown>;
interface CfnResource {
  Type: string;
  Properties?: Json;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
}
interface CfnTemplate {
  Resources: Record<string, CfnResource>;
}

const IMPORTED_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

const example = JSON.parse(readFileSync(configFile, 'utf8')) as {
  entities: Record<string, Record<string, unknown> & { references?: Record<string, Json> }>;
};

/**
 * The example with every optional principal the stack can have: sync schedules (their function and
 * the scheduler role) and rejecting references (Transform reads the parent tables).
 */
function fullConfig(kmsKey?: string) {
  const raw: Json & typeof example = structuredClone(example);
  Object.assign(raw.entities.contact ?? {}, { schedule: 'cron(0 2 * * ? *)' });
  for (const e of Object.values(raw.entities))
    for (const r of Object.values(e.references ?? {})) r.reject = true;
  if (kmsKey) raw.encryption = { kmsKey };
  return parseConfig(raw);
}

function newStack(app: App, kmsKey?: string): CrmSyncStack {
  const config = fullConfig(kmsKey);
  return new CrmSyncStack(app, 'CrmSync', {
    config,
    configFile,
  });
}

function synth(kmsKey?: string): { stack: CrmSyncStack; template: CfnTemplate } {
  const stack = newStack(newApp(), kmsKey);
  return { stack, template: Template.fromStack(stack).toJSON() as CfnTemplate };
}

function ofType(template: CfnTemplate, type: string): Array<[string, CfnResource]> {
  return Object.entries(template.Resources).filter(([, r]) => r.Type === type);
}

function policyStatements(policy: CfnResource): PolicyStatement[] {
  return asArray(
    (policy.Properties?.PolicyDocument as { Statement?: PolicyStatement[] } | undefined)?.Statement,
  );
}

/** Whether an IAM action pattern (may hold `*` / `?`) matches the action. */
function actionMatches(pattern: string, action: string): boolean {
  const regex = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${regex}$`, 'i').test(action);
}

/** Whether a statement's resources name the resource (its Ref, its Arn, or an ARN built from them). */
function names(resource: unknown, logical: string): boolean {
  const text = JSON.stringify(resource);
  return text.includes(`"Ref":"${logical}"`) || text.includes(`["${logical}","Arn"]`);
}

/**
 * What an encrypted resource requires of the policies that use it: a statement that grants any of
 * `actions` on the resource must come with the KMS actions `kms` on the key, in a policy of the same
 * role. Each row is one kind of use.
 */
interface KeyRule {
  what: string;
  actions: readonly string[];
  resources: (template: CfnTemplate) => string[];
  kms: readonly string[];
}

function rules(stack: CrmSyncStack): KeyRule[] {
  const bucket = logicalId(stack, stack.bucket);
  const tables = [stack.ledger, ...Object.values(stack.targetTables)].map((t) => logicalId(stack, t));
  const queue = logicalId(stack, stack.triggerDeadLetterQueue);
  return [
    {
      what: 'reads objects of the data bucket',
      actions: ['s3:GetObject', 's3:GetObjectVersion'],
      resources: () => [bucket],
      kms: ['kms:Decrypt'],
    },
    {
      what: 'writes objects of the data bucket',
      actions: ['s3:PutObject'],
      resources: () => [bucket],
      kms: ['kms:Decrypt', 'kms:GenerateDataKey'],
    },
    {
      what: 'reads items of a table',
      actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:Scan'],
      resources: () => tables,
      kms: ['kms:Decrypt'],
    },
    {
      what: 'writes items of a table',
      actions: [
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:DeleteItem',
        'dynamodb:BatchWriteItem',
        'dynamodb:TransactWriteItems',
      ],
      resources: () => tables,
      kms: ['kms:Decrypt', 'kms:GenerateDataKey'],
    },
    {
      what: 'sends to the dead-letter queue',
      actions: ['sqs:SendMessage'],
      resources: () => [queue],
      kms: ['kms:Decrypt', 'kms:GenerateDataKey'],
    },
  ];
}

interface Use {
  role: string;
  policy: string;
  rule: KeyRule;
}

/** Every use of an encrypted resource by a role's policy, by rule. */
function uses(template: CfnTemplate, ruleSet: readonly KeyRule[]): Use[] {
  const found: Use[] = [];
  for (const [policy, resource] of ofType(template, 'AWS::IAM::Policy')) {
    const document = resource.Properties?.PolicyDocument as { Statement: PolicyStatement[] };
    const roles = asArray(resource.Properties?.Roles as Json[]).map((r) => String(r.Ref));
    for (const rule of ruleSet) {
      const used = asArray(document.Statement).some(
        (s) =>
          s.Effect === 'Allow' &&
          asArray(s.Action).some((a) => rule.actions.some((x) => actionMatches(a, x))) &&
          rule.resources(template).some((r) => names(s.Resource, r)),
      );
      if (used) for (const role of roles) found.push({ role, policy, rule });
    }
  }
  return found;
}

/** The KMS actions each role's policies allow on the key (`key`: its logical id or its ARN). */
function keyActions(template: CfnTemplate, key: string): Map<string, string[]> {
  const byRole = new Map<string, string[]>();
  for (const [, resource] of ofType(template, 'AWS::IAM::Policy')) {
    const document = resource.Properties?.PolicyDocument as { Statement: PolicyStatement[] };
    const onKey = asArray(document.Statement).filter(
      (s) =>
        s.Effect === 'Allow' && (names(s.Resource, key) || JSON.stringify(s.Resource).includes(`"${key}"`)),
    );
    for (const r of asArray(resource.Properties?.Roles as Json[])) {
      const role = String(r.Ref);
      byRole.set(role, [...(byRole.get(role) ?? []), ...onKey.flatMap((s) => asArray(s.Action))]);
    }
  }
  return byRole;
}

/** `<role> <what>: missing <kms action>` for every use whose role lacks a KMS action on the key. */
function missingGrants(template: CfnTemplate, ruleSet: readonly KeyRule[], key: string): string[] {
  const granted = keyActions(template, key);
  return uses(template, ruleSet).flatMap(({ role, rule }) =>
    rule.kms
      .filter((needed) => !(granted.get(role) ?? []).some((a) => actionMatches(a, needed)))
      .map((needed) => `${role} ${rule.what}: missing ${needed}`),
  );
}

describe('CrmSyncStack: customer-managed KMS key', () => {
  describe('without encryption in the config', () => {
    let template: CfnTemplate;
    let stack: CrmSyncStack;

    beforeAll(() => {
      ({ stack, template } = synth());
    });

    it('has no KMS key, grants no KMS action, and keeps the AWS-managed encryption', () => {
      // Act
      const keys = ofType(template, 'AWS::KMS::Key');
      const kmsActions = ofType(template, 'AWS::IAM::Policy').flatMap(([, p]) =>
        policyStatements(p)
          .flatMap((s) => asArray(s.Action))
          .filter((a) => a.startsWith('kms:')),
      );
      const data = must(template.Resources[logicalId(stack, stack.bucket)], 'data bucket');

      // Assess
      expect(stack.encryptionKey).toBeUndefined();
      expect(keys).toEqual([]);
      expect(kmsActions).toEqual([]);
      expect(JSON.stringify(data.Properties?.BucketEncryption)).toContain('"SSEAlgorithm":"AES256"');
      for (const [id, table] of ofType(template, 'AWS::DynamoDB::Table')) {
        expect([id, table.Properties?.SSESpecification]).toEqual([id, { SSEEnabled: true }]);
      }
      for (const [id, group] of ofType(template, 'AWS::Logs::LogGroup')) {
        expect([id, group.Properties?.KmsKeyId]).toEqual([id, undefined]);
      }
      for (const [, queue] of ofType(template, 'AWS::SQS::Queue')) {
        expect(queue.Properties).toMatchObject({ SqsManagedSseEnabled: true });
      }
    });
  });

  describe.each([
    ['a key the stack creates', 'create'],
    ['an imported key ARN', IMPORTED_KEY],
  ])('with %s', (_name, kmsKey) => {
    let template: CfnTemplate;
    let stack: CrmSyncStack;
    /** The key as the template names it: `{"Fn::GetAtt":[<id>,"Arn"]}` or the ARN itself. */
    let keyRef: unknown;
    let keyName: string;

    beforeAll(() => {
      ({ stack, template } = synth(kmsKey));
      const key = must(stack.encryptionKey, 'encryptionKey');
      if (kmsKey === 'create') {
        keyName = logicalId(stack, key);
        keyRef = { 'Fn::GetAtt': [keyName, 'Arn'] };
      } else {
        keyName = IMPORTED_KEY;
        keyRef = IMPORTED_KEY;
      }
    });

    it('encrypts the data bucket with the key (SSE-KMS, Bucket Key), and the access-log bucket with SSE-S3', () => {
      // Act
      const data = must(template.Resources[logicalId(stack, stack.bucket)], 'data bucket');
      const logs = must(template.Resources[logicalId(stack, stack.accessLogsBucket)], 'access-log bucket');

      // Assess
      expect(data.Properties?.BucketEncryption).toEqual({
        ServerSideEncryptionConfiguration: [
          {
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyRef },
          },
        ],
      });
      expect(logs.Properties?.BucketEncryption).toEqual({
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      });
    });

    it('encrypts the ledger and every target table, the dead-letter queue and every log group with the key', () => {
      // Act
      const tables = ofType(template, 'AWS::DynamoDB::Table');
      const groups = ofType(template, 'AWS::Logs::LogGroup');
      const queues = ofType(template, 'AWS::SQS::Queue');

      // Assess: the ledger and one table per entity; a log group per function and per state machine.
      expect(tables).toHaveLength(1 + Object.keys(example.entities).length);
      for (const [id, table] of tables) {
        expect([id, table.Properties?.SSESpecification]).toEqual([
          id,
          { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: keyRef },
        ]);
      }
      expect(groups.length).toBeGreaterThanOrEqual(14);
      for (const [id, group] of groups) expect([id, group.Properties?.KmsKeyId]).toEqual([id, keyRef]);
      expect(queues).toHaveLength(1);
      for (const [, queue] of queues) expect(queue.Properties?.KmsMasterKeyId).toEqual(keyRef);
      expect(stack.encryptionKey).toBeDefined();
    });

    it.each(['reads objects', 'writes objects', 'reads items', 'writes items', 'sends to the dead-letter'])(
      'every role that %s of an encrypted resource may use the key for it',
      (what) => {
        // Prepare
        const ruleSet = rules(stack).filter((r) => r.what.startsWith(what));

        // Act
        const found = uses(template, ruleSet);
        const missing = missingGrants(template, ruleSet, keyName);

        // Assess: the rule applies (some role does it), and no such role lacks the key.
        expect(ruleSet).toHaveLength(1);
        expect(found.length).toBeGreaterThan(0);
        expect(missing).toEqual([]);
      },
    );

    it('the check finds a forgotten grant: a role without its KMS statement fails it', () => {
      // Prepare: the merge worker's policy without its KMS actions.
      const broken = structuredClone(template);
      const mergeRole = logicalId(stack, stack.mergeFunction.role);
      for (const [, policy] of ofType(broken, 'AWS::IAM::Policy')) {
        if (!JSON.stringify(policy.Properties?.Roles).includes(`"${mergeRole}"`)) continue;
        const document = policy.Properties?.PolicyDocument as { Statement: PolicyStatement[] };
        document.Statement = asArray(document.Statement).filter(
          (s) => !asArray(s.Action).some((a) => a.startsWith('kms:')),
        );
      }

      // Act
      const missing = missingGrants(broken, rules(stack), keyName);

      // Assess
      expect(missing).toEqual(
        expect.arrayContaining([
          `${mergeRole} writes objects of the data bucket: missing kms:GenerateDataKey`,
          `${mergeRole} writes items of a table: missing kms:Decrypt`,
        ]),
      );
    });

    it('grants no `*` action on the key, and only the key', () => {
      // Act
      const statements = ofType(template, 'AWS::IAM::Policy').flatMap(([, p]) =>
        policyStatements(p).filter((s) => asArray(s.Action).some((a) => a.startsWith('kms:'))),
      );

      // Assess
      expect(statements.length).toBeGreaterThan(0);
      for (const s of statements) {
        expect(asArray(s.Action).filter((a) => a === '*' || a === 'kms:*')).toEqual([]);
        expect(asArray(s.Resource)).toEqual([keyRef]);
      }
    });
  });

  describe('a key given as the stack prop', () => {
    /** The app's own key, in a stack of its own, given to CrmSyncStack as `encryptionKey`. */
    function synthWithProp(): { stack: CrmSyncStack; template: CfnTemplate; keyPolicy: string } {
      const app = newApp();
      const keyStack = new Stack(app, 'Keys');
      const key = new kms.Key(keyStack, 'Key', { enableKeyRotation: true });
      const stack = new CrmSyncStack(app, 'CrmSync', {
        config: fullConfig(),
        configFile,
        encryptionKey: key,
      });
      const keyTemplate = Template.fromStack(keyStack).toJSON() as CfnTemplate;
      const [, keyResource] = must(ofType(keyTemplate, 'AWS::KMS::Key')[0], 'the key');
      return {
        stack,
        template: Template.fromStack(stack).toJSON() as CfnTemplate,
        keyPolicy: JSON.stringify(keyResource.Properties?.KeyPolicy),
      };
    }

    it('encrypts what a configured key encrypts, grants its use, and gives the key CloudWatch Logs and EventBridge', () => {
      // Act
      const { stack, template, keyPolicy } = synthWithProp();
      const data = must(template.Resources[logicalId(stack, stack.bucket)], 'data bucket');
      const keyRef = JSON.stringify(data.Properties?.BucketEncryption).match(
        /"Fn::ImportValue":"([^"]+)"/,
      )?.[1];

      // Assess: the key is the other stack's (an imported value), used as a configured one is.
      expect(ofType(template, 'AWS::KMS::Key')).toEqual([]);
      expect(keyRef).toBeDefined();
      for (const [id, table] of ofType(template, 'AWS::DynamoDB::Table')) {
        expect([id, table.Properties?.SSESpecification]).toEqual([
          id,
          { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: { 'Fn::ImportValue': keyRef } },
        ]);
      }
      expect(missingGrants(template, rules(stack), must(keyRef, 'key'))).toEqual([]);
      expect(keyPolicy).toContain('kms:EncryptionContext:aws:logs:arn');
      expect(keyPolicy).toContain('events.amazonaws.com');
    });

    it('refuses a prop and a configured key together', () => {
      // Prepare
      const app = newApp();
      const key = kms.Key.fromKeyArn(new Stack(app, 'Keys'), 'Key', IMPORTED_KEY);

      // Act
      const both = () =>
        new CrmSyncStack(app, 'CrmSync', { config: fullConfig('create'), configFile, encryptionKey: key });

      // Assess
      expect(both).toThrow(
        "the stack has two customer-managed keys: the prop encryptionKey and the config's encryption.kmsKey; give one",
      );
    });
  });

  describe('a key the stack creates', () => {
    let template: CfnTemplate;
    let stack: CrmSyncStack;
    let key: CfnResource;

    beforeAll(() => {
      ({ stack, template } = synth('create'));
      key = must(template.Resources[logicalId(stack, must(stack.encryptionKey, 'key'))], 'key');
    });

    it('is the only key, rotated, and kept when the stack is deleted', () => {
      // Assess
      expect(ofType(template, 'AWS::KMS::Key')).toHaveLength(1);
      expect(key.Properties?.EnableKeyRotation).toBe(true);
      expect(key.DeletionPolicy).toBe('Retain');
      expect(key.UpdateReplacePolicy).toBe('Retain');
    });

    it.each<[string, string, string[], string]>([
      [
        'CloudWatch Logs of the region, for the log groups of the account',
        'logs.',
        [
          'kms:Decrypt',
          'kms:DescribeKey',
          'kms:Encrypt',
          'kms:GenerateDataKey',
          'kms:ReEncryptFrom',
          'kms:ReEncryptTo',
        ],
        'kms:EncryptionContext:aws:logs:arn',
      ],
      [
        'EventBridge, for the dead-letter queue',
        'events.amazonaws.com',
        ['kms:Decrypt', 'kms:GenerateDataKey'],
        'aws:SourceAccount',
      ],
    ])('its policy lets %s use it', (_name, service, actions, condition) => {
      // Act
      const statements = asArray(
        (
          key.Properties?.KeyPolicy as
            | { Statement: Array<PolicyStatement & { Principal?: Json }> }
            | undefined
        )?.Statement,
      ).filter((s) => JSON.stringify(s.Principal?.Service ?? '').includes(service));

      // Assess: the statement of the stack's own (an encrypted topic's SNS rule target adds CDK's
      // own statement for EventBridge too; the monitoring's senders' statements are the same one).
      const own = statements.filter((s) => JSON.stringify(s.Condition ?? {}).includes(condition));
      expect(own).toHaveLength(1);
      expect(asArray(must(own[0], service).Action).sort()).toEqual(actions);
    });

    it('passes cdk-nag AwsSolutions (KMS5: rotation) with every finding acknowledged with a reason', () => {
      // Prepare
      const outdir = mkdtempSync(join(tmpdir(), 'crm-sync-nag-kms-'));
      try {
        const app = newApp(outdir);
        newStack(app, 'create');
        Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

        // Act
        app.synth();
        const nag = nagReport(outdir);

        // Assess
        expect(nagErrors(nag)).toEqual([]);
        expect(nag.conclusion).toBe('success');
        expect(nag.suppressedViolations?.filter((v) => v.ruleName.includes('KMS5'))).toEqual([]);
      } finally {
        rmSync(outdir, { recursive: true, force: true });
      }
    });
  });
});
