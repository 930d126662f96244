import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
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
  statementsOfRole,
} from './support';

const example = JSON.parse(readFileSync(configFile, 'utf8')) as {
  entities: Record<string, Record<string, unknown>>;
};

/** The example config with a nightly cron (Berlin time) for contacts and an hourly rate for accounts. */
function scheduledConfig() {
  const raw = structuredClone(example);
  Object.assign(raw.entities.contact ?? {}, {
    schedule: 'cron(0 2 * * ? *)',
    scheduleTimezone: 'Europe/Berlin',
  });
  Object.assign(raw.entities.account ?? {}, { schedule: 'rate(1 hour)' });
  return parseConfig(raw);
}

type Json = Record<string, unknown>;
describe('CrmSyncStack: sync schedules', () => {
  let stack: CrmSyncStack;
  let template: Template;
  let functionId: string;
  let roleId: string;

  beforeAll(() => {
    stack = new CrmSyncStack(newApp(), 'CrmSync', { config: scheduledConfig(), configFile });
    template = Template.fromStack(stack);
    const schedules = must(stack.syncSchedules, 'syncSchedules');
    functionId = logicalId(stack, schedules.function.function);
    roleId = logicalId(stack, schedules.function.role);
  });

  it('has no schedule and no scheduled-sync function when no entity has a schedule', () => {
    // Prepare
    const config = parseConfig(example);

    // Act
    const plain = new CrmSyncStack(newApp(), 'CrmSync', { config, configFile });
    const t = Template.fromStack(plain);

    // Assess
    expect(plain.syncSchedules).toBeUndefined();
    t.resourceCountIs('AWS::Scheduler::Schedule', 0);
    expect(JSON.stringify(t.toJSON())).not.toContain('scheduled-sync');
  });

  it.each([
    ['contact', 'cron(0 2 * * ? *)', 'Europe/Berlin'],
    ['account', 'rate(1 hour)', 'UTC'],
  ])(
    '%s: one schedule, %s in %s, invoking the scheduled-sync function with its entity',
    (entity, expr, tz) => {
      // Act
      const found = template.findResources('AWS::Scheduler::Schedule', {
        Properties: { ScheduleExpression: expr },
      });
      const schedule = must(Object.values(found)[0], `schedule of ${entity}`);
      const target = schedule.Properties.Target as Json & { RetryPolicy: Json; DeadLetterConfig: Json };
      const input = JSON.parse(String(target.Input)) as Json;

      // Assess
      expect(Object.keys(found)).toHaveLength(1);
      expect(schedule.Properties).toMatchObject({
        ScheduleExpressionTimezone: tz,
        State: 'ENABLED',
        FlexibleTimeWindow: { Mode: 'OFF' },
      });
      expect(target.Arn).toEqual({ 'Fn::GetAtt': [functionId, 'Arn'] });
      expect(input).toEqual({ entity, scheduledTime: '<aws.scheduler.scheduled-time>' });
      expect(target.DeadLetterConfig).toEqual({
        Arn: { 'Fn::GetAtt': [logicalId(stack, stack.triggerDeadLetterQueue), 'Arn'] },
      });
      expect(target.RetryPolicy).toEqual({ MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 3600 });
    },
  );

  it('has exactly one schedule per scheduled entity', () => {
    template.resourceCountIs('AWS::Scheduler::Schedule', 2);
  });

  it('the function: nodejs22.x on arm64, traced, knows the state machine, failed ticks go to the DLQ', () => {
    // Act
    const fn = must(template.findResources('AWS::Lambda::Function')[functionId], 'function');
    const invokeConfigs = Object.values(template.findResources('AWS::Lambda::EventInvokeConfig'));

    // Assess
    expect(fn.Properties).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      TracingConfig: { Mode: 'Active' },
      Environment: {
        Variables: expect.objectContaining({
          CRM_SYNC_HANDLER: 'scheduled-sync',
          CRM_SYNC_STATE_MACHINE_ARN: { Ref: logicalId(stack, stack.workflow.stateMachine) },
        }),
      },
    });
    expect(invokeConfigs).toEqual([
      expect.objectContaining({
        Properties: expect.objectContaining({
          FunctionName: { Ref: functionId },
          MaximumRetryAttempts: 2,
          DestinationConfig: {
            OnFailure: {
              Destination: { 'Fn::GetAtt': [logicalId(stack, stack.triggerDeadLetterQueue), 'Arn'] },
            },
          },
        }),
      }),
    ]);
  });

  it('the function may list the scheduled inboxes, read ledger items and start the state machine, nothing more', () => {
    // Act
    const statements = statementsOfRole(template, roleId).filter(
      (s) => !asArray(s.Action).some((a) => a.startsWith('xray:') || a.startsWith('logs:')),
    );
    const byAction = Object.fromEntries(
      statements.flatMap((s) => asArray(s.Action).map((a) => [a, s] as const)),
    ) as Record<string, PolicyStatement>;

    // Assess
    expect(Object.keys(byAction).sort()).toEqual([
      'dynamodb:GetItem',
      's3:ListBucketVersions',
      // The failure destination (QueueDestination: SendMessage only).
      'sqs:SendMessage',
      'states:StartExecution',
    ]);
    expect(byAction['s3:ListBucketVersions']).toMatchObject({
      Resource: { 'Fn::GetAtt': [logicalId(stack, stack.bucket), 'Arn'] },
      Condition: { StringEquals: { 's3:prefix': ['inbox/contact/', 'inbox/account/'] } },
    });
    const ledgerResources = asArray(byAction['dynamodb:GetItem']?.Resource);
    expect(ledgerResources).toContainEqual({ 'Fn::GetAtt': [logicalId(stack, stack.ledger), 'Arn'] });
    for (const r of ledgerResources) expect(JSON.stringify(r)).toContain(logicalId(stack, stack.ledger));
    expect(byAction['states:StartExecution']?.Resource).toEqual({
      Ref: logicalId(stack, stack.workflow.stateMachine),
    });
    expect(byAction['sqs:SendMessage']?.Resource).toEqual({
      'Fn::GetAtt': [logicalId(stack, stack.triggerDeadLetterQueue), 'Arn'],
    });
  });

  it('the scheduler role may only invoke the function and write to the DLQ', () => {
    // Prepare
    const schedulerRole = logicalId(stack, must(stack.syncSchedules, 'schedules').schedulerRole);
    const role = must(template.findResources('AWS::IAM::Role')[schedulerRole], 'scheduler role');

    // Act
    const actions = statementsOfRole(template, schedulerRole).flatMap((s) => asArray(s.Action));

    // Assess
    expect(JSON.stringify(role.Properties.AssumeRolePolicyDocument)).toContain('scheduler.amazonaws.com');
    expect(actions.sort()).toEqual(['lambda:InvokeFunction', 'sqs:SendMessage']);
  });

  it('passes cdk-nag AwsSolutions with every finding acknowledged with a reason', () => {
    // Prepare
    const outdir = mkdtempSync(join(tmpdir(), 'crm-sync-nag-schedules-'));
    try {
      const app = newApp(outdir);
      new CrmSyncStack(app, 'CrmSync', { config: scheduledConfig(), configFile });
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

      // Act
      app.synth();
      const nag = nagReport(outdir);
      const errors = nagErrors(nag);

      // Assess
      expect(errors).toEqual([]);
      expect(nag.conclusion).toBe('success');
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});
