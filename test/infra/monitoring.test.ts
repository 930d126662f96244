import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { parseConfig } from '../../lambdas/domain/config';
import { CrmSyncStack } from '../../lib/crm-sync-stack';
import { Monitoring } from '../../lib/monitoring';
import { WorkerFunction } from '../../lib/worker-function';
import {
  asArray,
  config,
  configFile,
  logicalId,
  must,
  nagErrors,
  nagReport,
  newApp,
  type PolicyStatement,
  STACK_HANDLERS,
} from './support';

type Json = Record<string, unknown>;

interface AlarmProps {
  Namespace: string;
  MetricName: string;
  Dimensions: Array<{ Name: string; Value: unknown }>;
  Statistic: string;
  Period: number;
  Threshold: number;
  EvaluationPeriods: number;
  ComparisonOperator: string;
  TreatMissingData: string;
  AlarmActions: unknown[];
  AlarmDescription: string;
  AlarmName: string;
}

const entities = Object.keys(config.entities);
const EMAILS = ['ops@example.com', 'data-team@example.org'];

/** The alarms of the template, by logical id. */
function alarmsOf(template: Template): Record<string, AlarmProps> {
  return Object.fromEntries(
    Object.entries(template.findResources('AWS::CloudWatch::Alarm')).map(([id, r]) => [
      id,
      r.Properties as AlarmProps,
    ]),
  );
}

/** The one alarm on `metric` of `namespace` whose dimensions are `dimensions`. */
function alarmOn(
  template: Template,
  namespace: string,
  metric: string,
  dimensions: Record<string, unknown>,
): AlarmProps {
  const dims = JSON.stringify(
    Object.entries(dimensions)
      .map(([Name, Value]) => ({ Name, Value }))
      .sort((a, b) => a.Name.localeCompare(b.Name)),
  );
  const found = Object.values(alarmsOf(template)).filter(
    (a) =>
      a.Namespace === namespace &&
      a.MetricName === metric &&
      JSON.stringify([...a.Dimensions].sort((x, y) => x.Name.localeCompare(y.Name))) === dims,
  );
  expect(found).toHaveLength(1);
  return must(found[0], `${namespace} ${metric} ${dims}`);
}

/** The text of a Fn::Join (tokens as `#{TOKEN}`). */
function joined(value: unknown): string {
  if (typeof value === 'string') return value;
  const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (!join) throw new Error(`not a Fn::Join: ${JSON.stringify(value)}`);
  return join[1].map((p) => (typeof p === 'string' ? p : '#{TOKEN}')).join(join[0]);
}

describe('CrmSyncStack: monitoring', () => {
  let stack: CrmSyncStack;
  let template: Template;
  let topic: { Ref: string };

  beforeAll(() => {
    const withEmails = parseConfig({ ...structuredClone(config), notify: { email: EMAILS } });
    stack = new CrmSyncStack(newApp(), 'CrmSync', { config: withEmails, configFile });
    template = Template.fromStack(stack);
    topic = { Ref: logicalId(stack, stack.monitoring.topic) };
  });

  const expectAlarm = (alarm: AlarmProps, statistic: string) => {
    expect(alarm).toMatchObject({
      Statistic: statistic,
      Period: 300,
      Threshold: 1,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [topic],
    });
    // It says what to do, in the mail the topic sends.
    expect(alarm.AlarmDescription.length).toBeGreaterThan(60);
  };

  it.each(['ExecutionsFailed', 'ExecutionsTimedOut', 'ExecutionsAborted'])(
    'alarms on %s of the run, snapshot and restore state machines',
    (metric) => {
      // Prepare
      const machines = [
        stack.workflow.stateMachine,
        stack.backup.snapshotMachine,
        stack.backup.restoreMachine,
      ];

      // Act
      const alarms = machines.map((m) =>
        alarmOn(template, 'AWS/States', metric, { StateMachineArn: { Ref: logicalId(stack, m) } }),
      );

      // Assess
      for (const alarm of alarms) expectAlarm(alarm, 'Sum');
    },
  );

  it.each(entities)(
    'alarms on the reconciliation mismatches of %s (CrmSync, service and entity)',
    (entity) => {
      // Act
      const alarm = alarmOn(template, 'CrmSync', 'ReconciliationMismatches', {
        entity,
        service: 'CrmSync',
      });

      // Assess
      expectAlarm(alarm, 'Sum');
      expect(alarm.AlarmDescription).toContain(`A run of ${entity} did not reconcile`);
      expect(alarm.AlarmName).toBe(`CrmSync-Mismatches-${entity}`);
    },
  );

  it('alarms on a message in every dead-letter queue of the stack', () => {
    // Prepare
    const queues = Object.keys(template.findResources('AWS::SQS::Queue'));

    // Act
    const alarms = queues.map((q) =>
      alarmOn(template, 'AWS/SQS', 'ApproximateNumberOfMessagesVisible', {
        QueueName: { 'Fn::GetAtt': [q, 'QueueName'] },
      }),
    );

    // Assess
    expect(queues).toEqual([logicalId(stack, stack.triggerDeadLetterQueue)]);
    for (const alarm of alarms) expectAlarm(alarm, 'Maximum');
  });

  it.each(['Errors', 'Throttles'])('alarms on the Lambda %s of every worker function', (metric) => {
    // Prepare
    const workers = Object.entries(template.findResources('AWS::Lambda::Function')).filter(
      ([, f]) => f.Properties.Environment?.Variables?.CRM_SYNC_HANDLER,
    );

    // Act
    const alarms = workers.map(([id]) =>
      alarmOn(template, 'AWS/Lambda', metric, { FunctionName: { Ref: id } }),
    );

    // Assess
    expect(workers).toHaveLength(STACK_HANDLERS.length);
    for (const alarm of alarms) expectAlarm(alarm, 'Sum');
  });

  it('has no other alarm, and every alarm notifies the topic', () => {
    // Prepare
    const expected = 3 * 3 + entities.length + 1 + 2 * STACK_HANDLERS.length;

    // Act
    const alarms = Object.values(alarmsOf(template));

    // Assess
    expect(alarms).toHaveLength(expected);
    for (const alarm of alarms) expect(alarm.AlarmActions).toEqual([topic]);
  });

  it('the topic refuses publishing without TLS, and lets this account’s alarms and EventBridge publish', () => {
    // Act
    const policies = Object.values(template.findResources('AWS::SNS::TopicPolicy'));
    const statements = policies.flatMap((p) =>
      asArray<PolicyStatement>(p.Properties.PolicyDocument.Statement),
    );

    // Assess
    expect(policies).toHaveLength(1);
    expect(policies[0]?.Properties.Topics).toEqual([topic]);
    expect(statements).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          Effect: 'Deny',
          Action: 'sns:Publish',
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        }),
        expect.objectContaining({
          Effect: 'Allow',
          Principal: { Service: 'cloudwatch.amazonaws.com' },
          Condition: expect.objectContaining({
            StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
          }),
        }),
        expect.objectContaining({ Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' } }),
      ]),
    );
    // No key given: not encrypted (cdk-nag's SNS2 acknowledged with its reason, below).
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.absent() });
  });

  it('subscribes the config’s notify.email addresses to the topic, and none without them', () => {
    // Prepare
    const plain = Template.fromStack(new CrmSyncStack(newApp(), 'CrmSync', { config, configFile }));

    // Act
    const subscriptions = Object.values(template.findResources('AWS::SNS::Subscription')).map(
      (s) => s.Properties as Json,
    );

    // Assess
    expect(subscriptions).toEqual(
      EMAILS.map((email) => ({ Protocol: 'email', Endpoint: email, TopicArn: topic })),
    );
    plain.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('sends RunFinished to the topic as one readable line: entity, run id, status, reconciliation or error', () => {
    // Prepare
    const rules = template.findResources('AWS::Events::Rule', {
      Properties: { EventPattern: { source: ['crm-sync'], 'detail-type': ['RunFinished'] } },
    });

    // Act
    const toTopic = Object.values(rules)
      .map((r) => r.Properties as { EventPattern: Json; Targets: Json[] })
      .filter((r) => JSON.stringify(r.Targets).includes(topic.Ref));
    const byPattern = Object.fromEntries(
      toTopic.map((r) => [JSON.stringify(r.EventPattern.detail), r.Targets[0]?.InputTransformer]),
    ) as Record<string, { InputPathsMap: Record<string, string>; InputTemplate: string }>;

    // Assess
    expect(toTopic).toHaveLength(2);
    const reconciled = must(byPattern['{"reconciliation":[{"exists":true}]}'], 'reconciled runs');
    const failed = must(byPattern['{"reconciliation":[{"exists":false}]}'], 'failed runs');
    for (const t of [reconciled, failed]) {
      expect(t.InputPathsMap).toMatchObject({
        'detail-entity': '$.detail.entity',
        'detail-runId': '$.detail.runId',
        'detail-status': '$.detail.status',
      });
      expect(t.InputTemplate).not.toContain('\n');
    }
    expect(reconciled.InputTemplate).toBe(
      '"crm-sync: <detail-entity> run <detail-runId> <detail-status>, reconciliation <detail-reconciliation> (dry run: <detail-dryRun>); summary: <detail-summary>"',
    );
    expect(failed.InputTemplate).toContain('error <detail-error>');
    expect(failed.InputPathsMap['detail-executionArn']).toBe('$.detail.executionArn');
  });

  it('keeps every RunFinished event in the events log group (retention set, EventBridge may write it)', () => {
    // Prepare
    const logGroupId = logicalId(stack, stack.monitoring.eventsLogGroup);

    // Act
    const rules = Object.values(
      template.findResources('AWS::Events::Rule', {
        Properties: { EventPattern: { source: ['crm-sync'], 'detail-type': ['RunFinished'] } },
      }),
    ).filter((r) => JSON.stringify(r.Properties.Targets).includes(logGroupId));
    const policies = Object.values(template.findResources('AWS::Logs::ResourcePolicy')).map((p) =>
      joined(p.Properties.PolicyDocument),
    );

    // Assess
    expect(rules).toHaveLength(1);
    expect(rules[0]?.Properties.EventPattern).toEqual({
      source: ['crm-sync'],
      'detail-type': ['RunFinished'],
    });
    expect(joined(rules[0]?.Properties.Targets[0].Arn)).toMatch(/:log-group:#\{TOKEN\}$/);
    template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: '/aws/events/CrmSync/run-finished',
      RetentionInDays: 180,
    });
    expect(policies).toHaveLength(1);
    expect(JSON.parse(policies[0]?.replace('#{TOKEN}', 'ARN') ?? '{}')).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          Principal: { Service: 'events.amazonaws.com' },
          Resource: 'ARN',
        },
      ],
    });
  });

  it('has one dashboard: executions, each entity’s run metrics, the workers and the dead-letter queue', () => {
    // Act
    const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    const body = JSON.parse(joined(dashboards[0]?.Properties.DashboardBody)) as {
      widgets: Array<{ properties: { title?: string; metrics?: unknown[][] } }>;
    };
    const metrics = body.widgets.flatMap((w) => w.properties.metrics ?? []).map((m) => JSON.stringify(m));
    const titles = body.widgets.map((w) => w.properties.title);

    // Assess
    expect(dashboards).toHaveLength(1);
    expect(dashboards[0]?.Properties.DashboardName).toBe('crm-sync-CrmSync');
    for (const m of ['ExecutionsStarted', 'ExecutionsSucceeded', 'ExecutionsFailed']) {
      expect(metrics.some((line) => line.startsWith(`["AWS/States","${m}"`))).toBe(true);
    }
    for (const entity of entities) {
      for (const m of [
        'Rows',
        'Applied',
        'Rejected',
        'RejectRatio',
        'RunDuration',
        'ReconciliationMismatches',
      ]) {
        expect(metrics).toContainEqual(
          expect.stringContaining(`["CrmSync","${m}","entity","${entity}","service","CrmSync"`),
        );
      }
      expect(titles).toContain(`${entity}: reject ratio`);
    }
    for (const m of ['Errors', 'Throttles', 'Duration']) {
      expect(metrics.filter((line) => line.startsWith(`["AWS/Lambda","${m}"`))).toHaveLength(
        STACK_HANDLERS.length,
      );
    }
    expect(metrics.filter((line) => line.includes('ApproximateNumberOfMessagesVisible'))).toHaveLength(1);
  });

  it('outputs the topic, the dashboard and the events log group', () => {
    // Act
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;

    // Assess
    expect(outputs.AlarmTopicArn?.Value).toEqual(topic);
    expect(outputs.DashboardName?.Value).toEqual({ Ref: logicalId(stack, stack.monitoring.dashboard) });
    expect(outputs.EventsLogGroupName?.Value).toEqual({
      Ref: logicalId(stack, stack.monitoring.eventsLogGroup),
    });
  });

  it('gives the workers the stack’s name, the service dimension of their metrics', () => {
    // Act
    const reconcile = Object.values(template.findResources('AWS::Lambda::Function')).find(
      (f) => f.Properties.Environment?.Variables?.CRM_SYNC_HANDLER === 'reconcile',
    );

    // Assess
    expect(reconcile?.Properties.Environment.Variables.CRM_SYNC_STACK_NAME).toBe('CrmSync');
  });
});

/** A stack with only the monitoring of a state machine, a worker and a queue, with a customer key. */
function keyedStack(app: ReturnType<typeof newApp>): { stack: Stack; key: kms.Key } {
  const stack = new Stack(app, 'Keyed');
  const key = new kms.Key(stack, 'Key', { enableKeyRotation: true });
  const machine = new sfn.StateMachine(stack, 'Machine', {
    definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, 'Pass')),
  });
  new Monitoring(stack, 'Monitoring', {
    runStateMachine: machine,
    entities: ['contact'],
    service: 'Keyed',
    workers: [new WorkerFunction(stack, 'Worker', { handler: 'reconcile', configFile })],
    deadLetterQueues: { Dlq: new sqs.Queue(stack, 'Dlq') },
    encryptionKey: key,
  });
  return { stack, key };
}

describe('Monitoring with a customer-managed key', () => {
  let template: Template;
  let keyId: string;
  let outdir: string;

  beforeAll(() => {
    const { stack, key } = keyedStack(newApp());
    template = Template.fromStack(stack);
    keyId = logicalId(stack, key);
    outdir = mkdtempSync(join(tmpdir(), 'crm-sync-monitoring-'));
    const app = newApp(outdir);
    keyedStack(app);
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    try {
      app.synth();
    } catch {
      // The fixture's machine, worker and queue have findings of their own: the report is read below.
    }
  });

  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('encrypts the topic and the events log group with the key', () => {
    // Assess
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: '/aws/events/Keyed/run-finished',
      KmsKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] },
    });
  });

  it('lets CloudWatch alarms and EventBridge use the key to publish, and CloudWatch Logs to write', () => {
    // Act
    const key = must(template.findResources('AWS::KMS::Key')[keyId], 'key');
    const statements = asArray<PolicyStatement & { Principal?: { Service?: unknown } }>(
      key.Properties.KeyPolicy.Statement,
    );
    const actionsOf = (service: string) =>
      statements
        .filter((s) => JSON.stringify(s.Principal?.Service ?? '').includes(service))
        .flatMap((s) => asArray(s.Action));

    // Assess
    for (const service of ['cloudwatch.amazonaws.com', 'events.amazonaws.com']) {
      expect(actionsOf(service)).toEqual(expect.arrayContaining(['kms:Decrypt', 'kms:GenerateDataKey']));
    }
    expect(actionsOf('logs.')).toEqual(expect.arrayContaining(['kms:Encrypt', 'kms:Decrypt']));
  });

  it('leaves no cdk-nag finding on the monitoring constructs (no SNS2 acknowledged: the topic is encrypted)', () => {
    // Act
    const report = nagReport(outdir);
    const mine = nagErrors(report).filter((e) => e.includes('Keyed/Monitoring/'));
    const acknowledged = (report.suppressedViolations ?? []).map((s) => s.ruleName);

    // Assess
    expect(mine).toEqual([]);
    expect(acknowledged).not.toContain('AwsSolutions-SNS2');
  });
});

describe('CrmSyncStack: monitoring with the config’s encryption.kmsKey', () => {
  const IMPORTED = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

  function keyedCrmSync(kmsKey: string): Template {
    const keyed = parseConfig({ ...structuredClone(config), encryption: { kmsKey } });
    const stack = new CrmSyncStack(newApp(), 'CrmSync', {
      config: keyed,
      configFile,
    });
    return Template.fromStack(stack);
  }

  it.each<[string, string, (template: Template) => unknown]>([
    [
      'a key the stack creates',
      'create',
      (template) => ({
        'Fn::GetAtt': [must(Object.keys(template.findResources('AWS::KMS::Key'))[0], 'key'), 'Arn'],
      }),
    ],
    ['an imported key', IMPORTED, () => IMPORTED],
  ])('encrypts the alarm topic and the events log group with %s', (_what, kmsKey, keyArn) => {
    // Act
    const template = keyedCrmSync(kmsKey);

    // Assess
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: keyArn(template) });
    template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: '/aws/events/CrmSync/run-finished',
      KmsKeyId: keyArn(template),
    });
  });
});
