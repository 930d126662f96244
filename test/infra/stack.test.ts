import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type App, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { DECOMPRESSED_SOURCE, TRANSCODED_SOURCE, workKeys } from '../../lambdas/domain/run';
import { CrmSyncStack, outputId } from '../../lib/crm-sync-stack';
import {
  type AslState,
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
  statementsOfRole,
} from './support';

const entities = Object.keys(config.entities);

type Json = Record<string, unknown>;

interface AslDefinition {
  StartAt: string;
  States: Record<string, AslState>;
}

const PERMANENT = ['HeaderMismatchError', 'MalformedFileError', 'ConfigError'];
const DYNAMODB_WRITES = [
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:TransactWriteItems',
];

function newStack(app: App): CrmSyncStack {
  return new CrmSyncStack(app, 'CrmSync', { config, configFile });
}

/** Joins the `Fn::Join` parts of the definition, with a placeholder for every token, and parses it. */
function parseDefinition(definition: unknown): AslDefinition {
  if (typeof definition === 'string') return JSON.parse(definition) as AslDefinition;
  const join = (definition as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (!join) throw new Error(`unexpected DefinitionString: ${JSON.stringify(definition)}`);
  const [separator, parts] = join;
  const text = parts.map((p) => (typeof p === 'string' ? p : '#{TOKEN}')).join(separator);
  return JSON.parse(text) as AslDefinition;
}

/** Whether an IAM action pattern (may hold `*` / `?`) matches the action. */
function actionMatches(pattern: string, action: string): boolean {
  const regex = new RegExp(
    `^${pattern
      .split('')
      .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('')}$`,
    'i',
  );
  return regex.test(action);
}

describe('CrmSyncStack', () => {
  let stack: CrmSyncStack;
  let template: Template;
  let definition: AslDefinition;
  let bucketId: string;
  let machineId: string;

  beforeAll(() => {
    const app = newApp();
    stack = newStack(app);
    template = Template.fromStack(stack);
    bucketId = logicalId(stack, stack.bucket);
    machineId = logicalId(stack, stack.workflow.stateMachine);
    const machine = must(
      template.findResources('AWS::StepFunctions::StateMachine')[machineId],
      'state machine resource',
    );
    definition = parseDefinition(machine.Properties.DefinitionString);
  });

  describe('outputs', () => {
    it('names the data bucket, each inbox URL, the run state machine, the tables and the ledger', () => {
      // Act
      const outputs = template.findOutputs('*');

      // Assess
      expect(outputs['DataBucketName']?.Value).toEqual({ Ref: bucketId });
      expect(outputs['SyncStateMachineArn']?.Value).toEqual({ Ref: machineId });
      expect(outputs['LedgerTableName']?.Value).toEqual({ Ref: logicalId(stack, stack.ledger) });
      for (const entity of entities) {
        const id = outputId(entity);
        expect(outputs[`InboxUrl${id}`]?.Value).toEqual({
          'Fn::Join': ['', ['s3://', { Ref: bucketId }, `/inbox/${entity}/`]],
        });
        expect(outputs[`TargetTable${id}`]?.Value).toEqual({
          Ref: logicalId(stack, must(stack.targetTables[entity], entity)),
        });
      }
    });

    it.each([
      ['contact', 'Contact'],
      ['contact-person', 'ContactPerson'],
      ['a1-b2-c3', 'A1B2C3'],
    ])('the output id of entity %s is %s', (entity, id) => {
      expect(outputId(entity)).toBe(id);
    });
  });

  function state(name: string, states: Record<string, AslState> = definition.States): AslState {
    return must(states[name], `state ${name}`);
  }

  function innerState(mapName: string, name: string): AslState {
    const processor = must(state(mapName).ItemProcessor, `${mapName}.ItemProcessor`);
    return state(name, processor.States);
  }

  describe('data bucket', () => {
    it('is versioned, encrypted, private, and expires work/ objects', () => {
      // Prepare
      const resources = template.findResources('AWS::S3::Bucket');

      // Act
      const bucket = must(resources[bucketId], 'data bucket');

      // Assess
      expect(bucket.Properties).toMatchObject({
        VersioningConfiguration: { Status: 'Enabled' },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
      });
      expect(bucket.Properties.LifecycleConfiguration.Rules).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            Prefix: 'work/',
            Status: 'Enabled',
            ExpirationInDays: expect.any(Number),
          }),
          // Dry runs' files expire as the work objects do.
          expect.objectContaining({
            Prefix: 'dry-run/',
            Status: 'Enabled',
            ExpirationInDays: expect.any(Number),
          }),
        ]),
      );
      expect(bucket.DeletionPolicy).toBe('Retain');
    });

    it('sends its events to EventBridge', () => {
      // Prepare
      const expected = {
        BucketName: { Ref: bucketId },
        NotificationConfiguration: { EventBridgeConfiguration: {} },
      };

      // Act
      const notifications = template.findResources('Custom::S3BucketNotifications', { Properties: expected });

      // Assess
      expect(Object.keys(notifications)).toHaveLength(1);
    });

    it('denies every request that is not over TLS', () => {
      // Prepare
      const deny = Match.objectLike({
        Effect: 'Deny',
        Action: 's3:*',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      });

      // Act
      const policies = template.findResources('AWS::S3::BucketPolicy', {
        Properties: { Bucket: { Ref: bucketId } },
      });

      // Assess
      expect(Object.keys(policies)).toHaveLength(1);
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: bucketId },
        PolicyDocument: { Statement: Match.arrayWith([deny]) },
      });
    });
  });

  describe('DynamoDB tables', () => {
    it('has one target table per entity plus the ledger', () => {
      // Prepare
      const expectedCount = entities.length + 1;

      // Act
      const tables = template.findResources('AWS::DynamoDB::Table');

      // Assess
      expect([...entities].sort()).toEqual(['account', 'contact']);
      expect(Object.keys(tables)).toHaveLength(expectedCount);
      template.resourceCountIs('AWS::DynamoDB::Table', expectedCount);
    });

    it.each(entities)('target table of %s: key id, on-demand, PITR on', (entity) => {
      // Prepare
      const id = logicalId(stack, must(stack.targetTables[entity], `table ${entity}`));

      // Act
      const table = must(template.findResources('AWS::DynamoDB::Table')[id], `table resource ${entity}`);

      // Assess
      expect(table.Properties).toMatchObject({
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
      });
      expect(table.DeletionPolicy).toBe('Retain');
    });

    it('ledger table: pk/sk, on-demand, PITR on, TTL on expiresAt', () => {
      // Prepare
      const id = logicalId(stack, stack.ledger);

      // Act
      const ledger = must(template.findResources('AWS::DynamoDB::Table')[id], 'ledger');

      // Assess
      expect(ledger.Properties).toMatchObject({
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      });
    });
  });

  describe('worker functions', () => {
    const workers = [
      // Plan scans the whole object: a full vCPU and Lambda's 15 minutes (lambdas/domain/sizing.ts).
      // The Distributed Map workers get 60 s, so that their retries fit in an EXPRESS child.
      { handler: 'plan', memory: 1769, timeout: 900, task: 'PlanChunks' },
      { handler: 'transform', memory: 1769, timeout: 60, task: 'TransformChunk' },
      { handler: 'merge', memory: 1769, timeout: 60, task: 'MergePartition' },
      { handler: 'verify', memory: 1024, timeout: 60, task: 'VerifyPartition' },
      { handler: 'mirror', memory: 1024, timeout: 60, task: 'ScanTargetSegment' },
      { handler: 'check-rejects', memory: 512, timeout: 900, task: 'CheckRejects' },
      { handler: 'reconcile', memory: 1024, timeout: 900, task: 'Reconcile' },
    ];

    it('deploys exactly the 7 workers, the execution-status recorder and the snapshot/restore functions (plus CDK’s own S3 notifications handler)', () => {
      // Prepare
      const functions = template.findResources('AWS::Lambda::Function');

      // Act
      const handlers = Object.values(functions)
        .map((f) => f.Properties.Environment?.Variables?.CRM_SYNC_HANDLER as string | undefined)
        .filter((h): h is string => h !== undefined);
      const others = Object.keys(functions).filter(
        (id) => !functions[id]?.Properties.Environment?.Variables?.CRM_SYNC_HANDLER,
      );

      // Assess
      expect(handlers.sort()).toEqual([...STACK_HANDLERS]);
      expect(others).toEqual([expect.stringMatching(/^BucketNotificationsHandler/)]);
      template.resourceCountIs('AWS::Lambda::Function', 11);
    });

    it.each(workers)(
      '$handler: the $task task times out 5 s after the function ($timeout s), so no invocation overlaps a retry',
      ({ task, timeout }) => {
        // Act
        const maps: Record<string, string> = {
          TransformChunk: 'TransformChunks',
          MergePartition: 'MergePartitions',
          VerifyPartition: 'VerifyPartitions',
          ScanTargetSegment: 'ScanTargetSegments',
        };
        const map = maps[task];
        const found = map ? innerState(map, task) : state(task);

        // Assess: the function's own timeout ends a slow attempt (Lambda.Unknown) before the task's.
        expect(found.TimeoutSeconds).toBe(timeout + 5);
      },
    );

    it.each(workers)(
      '$handler: nodejs22.x on arm64, traced, $memory MB, $timeout s',
      ({ handler, memory, timeout }) => {
        // Prepare
        const expected = {
          Runtime: 'nodejs22.x',
          Architectures: ['arm64'],
          TracingConfig: { Mode: 'Active' },
          MemorySize: memory,
          Timeout: timeout,
          Environment: { Variables: Match.objectLike({ CRM_SYNC_HANDLER: handler }) },
        };

        // Act
        const found = template.findResources('AWS::Lambda::Function', { Properties: expected });

        // Assess
        expect(Object.keys(found)).toHaveLength(1);
        template.hasResourceProperties('AWS::Lambda::Function', expected);
      },
    );

    it.each(workers)('$handler: logs to its own log group with retention', ({ handler }) => {
      // Prepare
      const functions = template.findResources('AWS::Lambda::Function', {
        Properties: { Environment: { Variables: Match.objectLike({ CRM_SYNC_HANDLER: handler }) } },
      });
      const fn = must(Object.values(functions)[0], `${handler} function`);

      // Act
      const logGroupRef = fn.Properties.LoggingConfig?.LogGroup?.Ref as string | undefined;
      const logGroup = template.findResources('AWS::Logs::LogGroup')[must(logGroupRef, 'LogGroup Ref')];

      // Assess
      expect(must(logGroup, `log group of ${handler}`).Properties.RetentionInDays).toEqual(
        expect.any(Number),
      );
    });

    it('no worker role uses AWSLambdaBasicExecutionRole (only CDK’s own notifications handler does)', () => {
      // Prepare
      const workerRoles = [
        stack.planFunction,
        stack.transformFunction,
        stack.mergeFunction,
        stack.verifyFunction,
        stack.mirrorFunction,
        stack.checkRejectsFunction,
        stack.reconcileFunction,
      ].map((w) => logicalId(stack, w.role));
      const roles = template.findResources('AWS::IAM::Role');

      // Act
      const withBasicRole = Object.keys(roles).filter((id) =>
        JSON.stringify(roles[id]?.Properties.ManagedPolicyArns ?? []).includes('AWSLambdaBasicExecutionRole'),
      );

      // Assess
      for (const id of workerRoles) expect(must(roles[id], id).Properties.ManagedPolicyArns).toBeUndefined();
      expect(withBasicRole).toEqual([expect.stringMatching(/^BucketNotificationsHandler/)]);
    });
  });

  describe('state machine', () => {
    it('is STANDARD, traced, and logs ALL events without execution data (as are Snapshot and Restore)', () => {
      // Prepare
      const expected = {
        StateMachineType: 'STANDARD',
        TracingConfiguration: { Enabled: true },
        LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: false },
      };

      // Act
      const found = template.findResources('AWS::StepFunctions::StateMachine', { Properties: expected });

      // Assess
      template.resourceCountIs('AWS::StepFunctions::StateMachine', 3);
      expect(Object.keys(found).sort()).toEqual(
        [
          machineId,
          logicalId(stack, stack.backup.snapshotMachine),
          logicalId(stack, stack.backup.restoreMachine),
        ].sort(),
      );
    });

    it('ends an execution whose object is not an export (ignored claim) at NotAnExport, before the duplicate check', () => {
      // Prepare
      const isDuplicate = state('IsDuplicateTrigger');

      // Act
      const choices = isDuplicate.Choices ?? [];

      // Assess: the ignored claim has no `duplicate`, so its rule comes first and needs the field.
      expect(choices).toEqual([
        {
          And: [
            { Variable: '$.claim.ignored', IsPresent: true },
            { Variable: '$.claim.ignored', BooleanEquals: true },
          ],
          Next: 'NotAnExport',
        },
        { Variable: '$.claim.duplicate', BooleanEquals: true, Next: 'DuplicateTrigger' },
      ]);
      expect(state('NotAnExport')).toEqual({ Type: 'Succeed', OutputPath: '$.claim' });
    });

    it('runs ClaimRun → PlanChunks → TransformChunks → CheckRejects → MergePartitions → VerifyPartitions → CheckWrittenDigest → Reconcile → IsMatched', () => {
      // Prepare
      const { States } = definition;

      // Act
      const isDuplicate = state('IsDuplicateTrigger');
      const path = [definition.StartAt];
      let next: string | undefined = state('PlanChunks').Next;
      path.push('PlanChunks');
      while (next && path.length < 20) {
        path.push(next);
        // A Choice goes on by its default (merge mode, puts proven by digest); the other branches
        // are tested apart.
        next =
          States[next]?.Next ??
          (States[next]?.Type === 'Choice' && next !== 'IsMatched' ? States[next]?.Default : undefined);
      }

      // Assess
      expect(definition.StartAt).toBe('ClaimRun');
      expect(state('ClaimRun').Next).toBe('IsDuplicateTrigger');
      expect(isDuplicate).toMatchObject({ Type: 'Choice', Default: 'PlanChunks' });
      expect(path).toEqual([
        'ClaimRun',
        'PlanChunks',
        'TransformChunks',
        'CheckRejects',
        'IsMirror',
        'StartMerge',
        'MergePartitions',
        'CheckMerge',
        'IsMergeDone',
        'VerifyPartitions',
        'CheckWrittenDigest',
        'IsWrittenProven',
        'Reconcile',
        'EmitRunFinished',
        'IsMatched',
      ]);
    });

    it('reads every decision by key (VerifyPartitionsByKey) only when the digest of the written items differs', () => {
      // Prepare
      const check = state('CheckWrittenDigest');
      const choice = state('IsWrittenProven');

      // Act
      const branch = must(choice.Choices?.[0], 'by-key choice') as { Next: string };
      const byKey = state(branch.Next);

      // Assess
      expect(check.Parameters).toMatchObject({
        action: 'check-written',
        'runId.$': '$.claim.runId',
        'verify.$': '$.verify',
      });
      expect(check.ResultPath).toBe('$.written');
      expect(check.Catch).toBeUndefined();
      expect(choice.Default).toBe('Reconcile');
      expect(branch).toMatchObject({ Variable: '$.written.byKey', BooleanEquals: true });
      expect(branch.Next).toBe('VerifyPartitionsByKey');
      expect(byKey.Next).toBe('Reconcile');
      // The same workers as VerifyPartitions, told to read by key; their results replace the first pass's.
      expect(byKey.ResultPath).toBe('$.verify');
      expect((byKey.ItemBatcher as { BatchInput?: Json }).BatchInput).toEqual({
        'job.$': '$.plan.job',
        'rows.$': '$.plan.rows',
        byKey: true,
      });
      expect(byKey.MaxConcurrencyPath).toBe('$.plan.layout.verifyConcurrency');
      expect(must(byKey.ItemProcessor, 'ItemProcessor').StartAt).toBe('VerifyPartitionByKey');
    });

    it('in mirror mode plans the deletes before the merge: ScanTargetSegments → PlanMirrorDeletes → CheckMirrorDeletes', () => {
      // Prepare
      const isMirror = state('IsMirror');

      // Act
      const branch = must(isMirror.Choices?.[0], 'mirror choice') as { Next: string };
      const path = [branch.Next];
      for (let next = state(branch.Next).Next; next && path.length < 10; next = state(next).Next)
        path.push(next);

      // Assess
      expect(isMirror.Default).toBe('StartMerge');
      expect(branch).toMatchObject({
        And: [
          { Variable: '$.plan.job.mirror', IsPresent: true },
          { Variable: '$.plan.job.mirror', BooleanEquals: true },
        ],
      });
      expect(path).toEqual([
        'ScanTargetSegments',
        'PlanMirrorDeletes',
        'CheckMirrorDeletes',
        'StartMerge',
        'MergePartitions',
        'CheckMerge',
        'IsMergeDone',
      ]);
      expect((state('ScanTargetSegments').ItemBatcher as { BatchInput?: Json }).BatchInput).toEqual({
        'job.$': '$.plan.job',
        action: 'scan',
      });
      expect((state('PlanMirrorDeletes').ItemBatcher as { BatchInput?: Json }).BatchInput).toEqual({
        'job.$': '$.plan.job',
        action: 'plan',
      });
      // A refusal is final: no retry; the execution fails there (the recorder records the run's failure).
      const retry = state('CheckMirrorDeletes').Retry ?? [];
      const permanent = retry.findIndex((r) => r.ErrorEquals.includes('MirrorDeleteLimitError'));
      const catchAll = retry.findIndex((r) => r.ErrorEquals.includes('States.ALL'));
      expect(retry[permanent]?.MaxAttempts).toBe(0);
      expect(permanent).toBeLessThan(catchAll);
      expect(state('CheckMirrorDeletes').Catch).toBeUndefined();
    });

    it('refuses a run by its rejects after TransformChunks, before mirror scans and the merge (CheckRejects)', () => {
      // Prepare
      const transform = state('TransformChunks');

      // Act
      const check = state('CheckRejects');
      const retry = check.Retry ?? [];
      const permanent = retry.findIndex((r) => r.ErrorEquals.includes('RejectLimitError'));
      const catchAll = retry.findIndex((r) => r.ErrorEquals.includes('States.ALL'));

      // Assess
      expect(transform.Next).toBe('CheckRejects');
      expect(check.Next).toBe('IsMirror');
      expect(state('IsMirror').Default).toBe('StartMerge');
      expect(check.Parameters).toMatchObject({
        'runId.$': '$.claim.runId',
        'plan.$': '$.plan',
        'transform.$': '$.transform',
      });
      expect(check.ResultPath).toBe('$.rejects');
      // A refusal is final: no retry; the execution fails there (the recorder records the run's failure).
      expect(retry[permanent]?.ErrorEquals).toEqual(expect.arrayContaining(['EmptyExportError']));
      expect(retry[permanent]?.MaxAttempts).toBe(0);
      expect(permanent).toBeLessThan(catchAll);
      expect(check.Catch).toBeUndefined();
    });

    it.each([
      ['TransformChunks', 'TransformChunk', '$.plan.manifestKey'],
      // The merge loop's items: the plan's partitions first (StartMerge), then those left.
      ['MergePartitions', 'MergePartition', '$.mergeLoop.manifestKey'],
      // Verification and mirror mode's key scan fan out over the table's scan segments, sized by Plan.
      ['VerifyPartitions', 'VerifyPartition', '$.plan.segmentsKey'],
      ['VerifyPartitionsByKey', 'VerifyPartitionByKey', '$.plan.segmentsKey'],
      ['ScanTargetSegments', 'ScanTargetSegment', '$.plan.segmentsKey'],
      ['PlanMirrorDeletes', 'PlanPartitionDeletes', '$.plan.partitionsKey'],
    ])(
      '%s is a Distributed Map of EXPRESS children over a JSON manifest in S3',
      (mapName, inner, keyPath) => {
        // Prepare
        const map = state(mapName);

        // Act
        const processor = must(map.ItemProcessor, 'ItemProcessor');

        // Assess
        expect(map.Type).toBe('Map');
        expect(processor.ProcessorConfig).toEqual({ Mode: 'DISTRIBUTED', ExecutionType: 'EXPRESS' });
        expect(processor.StartAt).toBe(inner);
        expect(must(map.ItemReader, 'ItemReader').Resource).toMatch(/s3:getObject$/);
        expect(map.ItemReader?.ReaderConfig).toEqual({ InputType: 'JSON' });
        expect(map.ItemReader?.Parameters).toMatchObject({ 'Key.$': keyPath });
        expect(map.ItemBatcher).toMatchObject({ MaxItemsPerBatch: expect.any(Number) });
        // Plan sizes the concurrency per run (lambdas/domain/sizing.ts): the Map reads it from its output.
        expect(map.MaxConcurrency).toBeUndefined();
        expect(map.MaxConcurrencyPath).toMatch(/^\$\.plan\.layout\.(transform|merge|verify)Concurrency$/);
        // CDK only renders ToleratedFailurePercentage when it is non-zero; absent means the service default, 0.
        expect(map.ToleratedFailurePercentage ?? 0).toBe(0);
        expect(must(map.ResultWriter, 'ResultWriter').Resource).toMatch(/s3:putObject$/);
        expect(map.ResultWriter?.Parameters).toMatchObject({ Prefix: expect.stringMatching(/^work\//) });
      },
    );

    it.each([
      ['TransformChunks', 'TransformChunk'],
      ['MergePartitions', 'MergePartition'],
      ['VerifyPartitions', 'VerifyPartition'],
      ['VerifyPartitionsByKey', 'VerifyPartitionByKey'],
    ])('%s/%s retries transient errors with jittered backoff, never permanent ones', (mapName, inner) => {
      // Prepare
      const retry = innerState(mapName, inner).Retry ?? [];

      // Act
      // Retriers are evaluated in order: the first one that matches a permanent error (or States.ALL) decides.
      const firstForPermanent = retry.find((r) =>
        r.ErrorEquals.some((e) => PERMANENT.includes(e) || e === 'States.ALL'),
      );
      const catchAll = retry.find((r) => r.ErrorEquals.includes('States.ALL'));

      // Assess
      expect(firstForPermanent).toMatchObject({
        MaxAttempts: 0,
        ErrorEquals: expect.arrayContaining(PERMANENT),
      });
      expect(catchAll).toMatchObject({ BackoffRate: expect.any(Number), JitterStrategy: 'FULL' });
      expect(catchAll?.MaxAttempts).toBeGreaterThan(0);
      expect(retry.indexOf(must(firstForPermanent, 'permanent retrier'))).toBeLessThan(
        retry.indexOf(must(catchAll, 'States.ALL retrier')),
      );
    });

    it('ClaimRun waits for a busy entity with a long jittered backoff, before the catch-all retry', () => {
      // Prepare
      const retry = state('ClaimRun').Retry ?? [];

      // Act
      const busy = retry.findIndex((r) => r.ErrorEquals.includes('EntityBusyError'));
      const catchAll = retry.findIndex((r) => r.ErrorEquals.includes('States.ALL'));
      const waitSeconds = (() => {
        const r = must(retry[busy], 'busy retrier');
        let total = 0;
        for (let k = 0; k < (r.MaxAttempts ?? 0); k++)
          total += Math.min(
            (r.IntervalSeconds ?? 1) * (r.BackoffRate ?? 2) ** k,
            r.MaxDelaySeconds ?? Infinity,
          );
        return total;
      })();

      // Assess
      expect(busy).toBeGreaterThanOrEqual(0);
      expect(busy).toBeLessThan(catchAll);
      expect(retry[busy]).toMatchObject({ JitterStrategy: 'FULL', MaxDelaySeconds: 300 });
      // An hour or more of waiting for the running run, well inside the 12-hour execution limit.
      expect(waitSeconds).toBeGreaterThan(3600);
      expect(waitSeconds).toBeLessThan(12 * 3600);
      const permanent = retry.findIndex((r) => r.ErrorEquals.includes('RunNotResumableError'));
      expect(retry[permanent]?.MaxAttempts).toBe(0);
      expect(permanent).toBeLessThan(busy);
    });

    it('no state catches a failure, so a redrive re-runs the failed step; only a mismatch ends in a Fail state', () => {
      // Prepare
      const all: Array<[string, AslState]> = [];
      const walk = (states: Record<string, AslState>) => {
        for (const [name, st] of Object.entries(states)) {
          all.push([name, st]);
          if (st.ItemProcessor) walk(st.ItemProcessor.States);
        }
      };
      walk(definition.States);

      // Act
      const catching = all.filter(([, st]) => st.Catch !== undefined).map(([n]) => n);
      const fails = all.filter(([, st]) => st.Type === 'Fail').map(([n]) => n);

      // Assess
      expect(all.length).toBeGreaterThan(20);
      expect(catching).toEqual(['EmitRunFinished']);
      expect(fails).toEqual(['ReconciliationMismatch']);
    });

    it.each([
      [
        'EmitRunFinished',
        'IsMatched',
        {
          'status.$': '$.summary.status',
          'reconciliation.$': '$.summary.reconciliation.status',
          'dryRun.$': '$.summary.dryRun',
        },
      ],
    ])(
      '%s puts a RunFinished event (source crm-sync) on the default bus, then goes on to %s even if it fails',
      (name, next, detail) => {
        // Prepare
        const emit = state(name);

        // Act
        const entry = (emit as { Parameters?: { Entries?: Array<Record<string, unknown>> } }).Parameters
          ?.Entries?.[0];

        // Assess
        expect(emit.Resource).toMatch(/:states:::events:putEvents$/);
        expect(entry).toMatchObject({
          Source: 'crm-sync',
          DetailType: 'RunFinished',
          Detail: expect.objectContaining(detail),
        });
        expect(emit.Next).toBe(next);
        expect(emit.Catch).toEqual([expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: next })]);
        expect(emit.Retry?.[0]).toMatchObject({ ErrorEquals: ['States.ALL'], MaxAttempts: 3 });
      },
    );

    it('may put events on the default bus only', () => {
      // Prepare
      const machine = template.findResources('AWS::StepFunctions::StateMachine')[machineId];
      const role = must(machine, 'state machine').Properties.RoleArn['Fn::GetAtt'][0] as string;

      // Act
      const puts = statementsOfRole(template, role).filter((s) =>
        asArray(s.Action).includes('events:PutEvents'),
      );

      // Assess
      expect(puts).toHaveLength(1);
      expect(JSON.stringify(puts[0]?.Resource)).toContain(':event-bus/default');
    });

    it('IsMatched succeeds only when the reconciliation status is MATCHED', () => {
      // Prepare
      const isMatched = state('IsMatched');

      // Act
      const choices = isMatched.Choices ?? [];

      // Assess
      expect(isMatched.Type).toBe('Choice');
      expect(choices).toEqual([
        expect.objectContaining({
          Variable: '$.summary.reconciliation.status',
          StringEquals: 'MATCHED',
          Next: 'RunSucceeded',
        }),
      ]);
      expect(state('RunSucceeded').Type).toBe('Succeed');
      expect(isMatched.Default).toBe('ReconciliationMismatch');
      expect(state('ReconciliationMismatch').Type).toBe('Fail');
    });
  });

  describe('execution status recorder', () => {
    it('a rule sends failed, timed-out, aborted and redriven executions of the run state machine to the recorder', () => {
      // Prepare
      const recorder = logicalId(stack, stack.executionStatusFunction.function);

      // Act
      const rules = Object.values(
        template.findResources('AWS::Events::Rule', {
          Properties: { EventPattern: { source: ['aws.states'] } },
        }),
      );
      const rule = must(rules[0], 'execution status rule');

      // Assess
      expect(rules).toHaveLength(1);
      expect(rule.Properties.EventPattern).toEqual({
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: {
          stateMachineArn: [{ Ref: machineId }],
          $or: [
            { status: ['FAILED', 'TIMED_OUT', 'ABORTED'] },
            { status: ['RUNNING'], redriveCount: [{ numeric: ['>', 0] }] },
          ],
        },
      });
      const target = must(rule.Properties.Targets?.[0], 'rule target') as Json;
      expect(target.Arn).toEqual({ 'Fn::GetAtt': [recorder, 'Arn'] });
      // An event the recorder cannot take lands in the dead-letter queue, never lost.
      expect(target).toMatchObject({
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalId(stack, stack.triggerDeadLetterQueue), 'Arn'] } },
        RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 86400 },
      });
    });

    it("the recorder writes reports/* only, may stop the run state machine's executions and put events on the default bus", () => {
      // Prepare
      const role = logicalId(stack, stack.executionStatusFunction.role);

      // Act
      const statements = statementsOfRole(template, role);
      const puts = statements.filter((st) => asArray(st.Action).includes('s3:PutObject'));
      const stops = statements.filter((st) => asArray(st.Action).includes('states:StopExecution'));
      const events = statements.filter((st) => asArray(st.Action).includes('events:PutEvents'));
      const reads = statements.filter((st) => asArray(st.Action).some((a) => a.startsWith('s3:Get')));

      // Assess
      expect(puts.flatMap((st) => asArray(st.Resource))).toEqual([
        { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/reports/*']] },
      ]);
      expect(reads).toEqual([]);
      expect(stops).toHaveLength(1);
      expect(JSON.stringify(stops[0]?.Resource)).toContain(':execution:');
      expect(JSON.stringify(stops[0]?.Resource)).toContain(machineId);
      expect(events).toHaveLength(1);
      expect(JSON.stringify(events[0]?.Resource)).toContain(':event-bus/default');
    });

    it('the run state machine no longer writes the ledger (the recorder records failures)', () => {
      // Prepare
      const machine = template.findResources('AWS::StepFunctions::StateMachine')[machineId];
      const role = must(machine, 'state machine').Properties.RoleArn['Fn::GetAtt'][0] as string;
      const ledger = logicalId(stack, stack.ledger);

      // Act
      const onLedger = statementsOfRole(template, role).filter((st) =>
        JSON.stringify(st.Resource).includes(ledger),
      );

      // Assess
      expect(onLedger).toEqual([]);
    });
  });

  describe('inbox rules', () => {
    it('has one rule per entity', () => {
      // Prepare
      const expected = entities.length;

      // Act
      const rules = template.findResources('AWS::Events::Rule', {
        Properties: { EventPattern: { source: ['aws.s3'] } },
      });

      // Assess
      expect(Object.keys(rules)).toHaveLength(expected);
    });

    it.each(entities)(
      '%s: an S3 Object Created of a non-empty object under its inbox/<entity>/ prefix, or of an export folder’s marker or manifest, starts the state machine',
      (entity) => {
        // Prepare: an empty object (a folder marker too) is no export, but an export folder's
        // `_SUCCESS` often is 0 bytes; names and parts are ClaimRun's to judge.
        const pattern = {
          source: ['aws.s3'],
          'detail-type': ['Object Created'],
          detail: {
            bucket: { name: [{ Ref: bucketId }] },
            $or: [
              { object: { key: [{ prefix: `inbox/${entity}/` }], size: [{ numeric: ['>', 0] }] } },
              {
                object: {
                  key: [
                    { wildcard: `inbox/${entity}/*/_SUCCESS` },
                    { wildcard: `inbox/${entity}/*/manifest.json` },
                  ],
                },
              },
            ],
          },
        };

        // Act
        const rules = Object.values(
          template.findResources('AWS::Events::Rule', { Properties: { EventPattern: pattern } }),
        );
        const target = must(
          must(rules[0], `rule of ${entity}`).Properties.Targets?.[0] as Json | undefined,
          'target',
        );
        const transformer = target.InputTransformer as { InputPathsMap: Json; InputTemplate: string };
        const input = JSON.parse(
          transformer.InputTemplate.replace(/<([\w-]+)>/g, (_m, name) => JSON.stringify(name)),
        );

        // Assess
        expect(rules).toHaveLength(1);
        expect(target).toMatchObject({
          Arn: { Ref: machineId },
          DeadLetterConfig: {
            Arn: { 'Fn::GetAtt': [logicalId(stack, stack.triggerDeadLetterQueue), 'Arn'] },
          },
        });
        expect(transformer.InputPathsMap).toMatchObject({
          'detail-bucket-name': '$.detail.bucket.name',
          'detail-object-key': '$.detail.object.key',
          'detail-object-version-id': '$.detail.object.version-id',
          'detail-object-size': '$.detail.object.size',
        });
        expect(input).toMatchObject({
          bucket: 'detail-bucket-name',
          key: 'detail-object-key',
          versionId: 'detail-object-version-id',
          size: 'detail-object-size',
          entity,
        });
      },
    );

    const s3Rules = () =>
      Object.values(
        template.findResources('AWS::Events::Rule', { Properties: { EventPattern: { source: ['aws.s3'] } } }),
      ).map((rule) => (rule.Properties.EventPattern as Json).detail as Json);
    const objectEvent = (key: string, size: number) => ({
      bucket: { name: { Ref: bucketId } },
      object: { key, size },
    });

    it.each(entities)(
      '%s: no rule starts a run of a file to dry-run (dry-run/<entity>/…): only a dry run reads it',
      (entity) => {
        // Prepare
        const event = objectEvent(`dry-run/${entity}/contacts.csv`, 10);

        // Act
        const matching = s3Rules().filter((detail) => matchesPattern(detail, event));

        // Assess
        expect(matching).toEqual([]);
      },
    );

    const keys: ReadonlyArray<[string, string, number, boolean]> = [
      ['a file', 'contacts.csv', 10, true],
      ['an empty file', 'contacts.csv', 0, false],
      ['an empty folder marker', 'x/', 0, false],
      ["an export folder's empty _SUCCESS", '2026-05-02/_SUCCESS', 0, true],
      ["an export folder's manifest", '2026-05-02/manifest.json', 120, true],
      ["an export folder's empty part", '2026-05-02/part-00000.csv', 0, false],
      // No pattern tells a file from a part (one field's matchers are ORed): ClaimRun ignores it.
      ["an export folder's part (ClaimRun: ignored, reason part)", '2026-05-02/part-00000.csv', 10, true],
    ];
    it.each(keys)('the rule of the first entity: %s under its inbox → %s', (_, name, size, starts) => {
      // Prepare
      const entity = must(entities[0], 'an entity');
      const event = objectEvent(`inbox/${entity}/${name}`, size);

      // Act
      const matching = s3Rules().filter((detail) => matchesPattern(detail, event));

      // Assess
      expect(matching).toHaveLength(starts ? 1 : 0);
    });
  });

  describe('least privilege', () => {
    it('no IAM policy statement grants `*` or `service:*`', () => {
      // Prepare
      const policies = template.findResources('AWS::IAM::Policy');
      const roles = template.findResources('AWS::IAM::Role');
      const statements = [
        ...Object.values(policies).flatMap((p) =>
          asArray<PolicyStatement>(p.Properties.PolicyDocument.Statement),
        ),
        ...Object.values(roles).flatMap((r) =>
          asArray<{ PolicyDocument: { Statement: PolicyStatement[] } }>(r.Properties.Policies).flatMap((p) =>
            asArray(p.PolicyDocument.Statement),
          ),
        ),
      ];

      // Act
      const actions = statements.flatMap((s) => asArray(s.Action));
      const wildcards = actions.filter((a) => a === '*' || a.endsWith(':*'));

      // Assess
      expect(actions.length).toBeGreaterThan(20);
      expect(wildcards).toEqual([]);
    });

    it('no action of any statement is a wildcard (not even s3:GetObject*)', () => {
      // Prepare
      const policies = template.findResources('AWS::IAM::Policy');

      // Act
      const wildcards = Object.values(policies)
        .flatMap((p) => asArray<PolicyStatement>(p.Properties.PolicyDocument.Statement))
        .flatMap((s) => asArray(s.Action))
        .filter((a) => a.includes('*'));

      // Assess
      expect(wildcards).toEqual([]);
    });

    /** A role's S3 statements as [actions, resources], the bucket named `Data` and prefixes kept. */
    function s3Statements(roleId: string): Array<[string[], string[], unknown?]> {
      const name = (r: unknown): string =>
        JSON.stringify(r)
          .replace(`{"Fn::GetAtt":["${bucketId}","Arn"]}`, 'Data')
          .replace(/^\{"Fn::Join":\["",\[Data,"(.*)"\]\]\}$/, 'Data$1');
      return statementsOfRole(template, roleId)
        .filter((st) => asArray(st.Action).some((a) => a.startsWith('s3:')))
        .map((st) => [
          asArray(st.Action),
          asArray(st.Resource).map(name),
          ...(st.Condition ? [st.Condition] : []),
        ]) as Array<[string[], string[], unknown?]>;
    }
    const listWork = { StringLike: { 's3:prefix': ['work/*'] } };
    const READ = ['s3:GetObject'];
    const WRITE = ['s3:PutObject'];
    const UPLOAD = ['s3:PutObject', 's3:AbortMultipartUpload'];
    const LIST = ['s3:ListBucket'];

    it.each<[string, (s: CrmSyncStack) => IConstruct, Array<[string[], string[], unknown?]>]>([
      [
        'plan',
        (s) => s.planFunction.role,
        [
          [
            ['s3:GetObject', 's3:GetObjectVersion'],
            ['Data/inbox/*', 'Data/dry-run/*'],
          ],
          [UPLOAD, ['Data/work/*']],
          // Plan plans a transcoded export from its own UTF-8 copy.
          [READ, ['Data/work/*/source.utf8.*', 'Data/work/*/source.decompressed']],
          // ClaimRun and Plan list a multi-file export's folder (or a dry run's copy) for its parts.
          [LIST, ['Data'], { StringLike: { 's3:prefix': ['inbox/*', 'dry-run/*'] } }],
        ],
      ],
      ['execution-status', (s) => s.executionStatusFunction.role, [[WRITE, ['Data/reports/*']]]],
      [
        'transform',
        (s) => s.transformFunction.role,
        [
          [
            ['s3:GetObject', 's3:GetObjectVersion'],
            ['Data/inbox/*', 'Data/dry-run/*'],
          ],
          [READ, ['Data/work/*/source.utf8.*', 'Data/work/*/source.decompressed']],
          [WRITE, ['Data/work/*']],
        ],
      ],
      [
        'merge',
        (s) => s.mergeFunction.role,
        [
          [READ, ['Data/work/*']],
          [WRITE, ['Data/work/*']],
          [LIST, ['Data'], listWork],
        ],
      ],
      [
        'verify',
        (s) => s.verifyFunction.role,
        [
          [READ, ['Data/work/*']],
          [WRITE, ['Data/work/*']],
          [LIST, ['Data'], listWork],
        ],
      ],
      [
        'mirror',
        (s) => s.mirrorFunction.role,
        [
          [READ, ['Data/work/*']],
          [WRITE, ['Data/work/*']],
          [LIST, ['Data'], listWork],
        ],
      ],
      [
        'check-rejects',
        (s) => s.checkRejectsFunction.role,
        [
          [READ, ['Data/work/*']],
          [LIST, ['Data'], listWork],
          [UPLOAD, ['Data/reports/*']],
        ],
      ],
      [
        'reconcile',
        (s) => s.reconcileFunction.role,
        [
          [READ, ['Data/work/*']],
          [LIST, ['Data'], listWork],
          [WRITE, ['Data/work/*']],
          [UPLOAD, ['Data/reports/*']],
        ],
      ],
      [
        'snapshot',
        (s) => s.backup.snapshotFunction.role,
        [
          [READ, ['Data/snapshots/*', 'Data/work/*']],
          [UPLOAD, ['Data/snapshots/*']],
          [WRITE, ['Data/work/*']],
          [LIST, ['Data'], { StringLike: { 's3:prefix': ['snapshots/*', 'work/*'] } }],
        ],
      ],
      [
        'restore',
        (s) => s.backup.restoreFunction.role,
        [
          [READ, ['Data/snapshots/*', 'Data/work/*']],
          [WRITE, ['Data/work/*']],
          [LIST, ['Data'], { StringLike: { 's3:prefix': ['snapshots/*', 'work/*'] } }],
        ],
      ],
    ])('%s: exactly the S3 calls its handler makes, listing only under a prefix', (_name, role, expected) => {
      // Act
      const statements = s3Statements(logicalId(stack, role(stack)));

      // Assess
      expect(statements).toEqual(expected);
    });

    it('the state machine reads manifests and writes map results under work/ only', () => {
      // Prepare
      const machine = must(template.findResources('AWS::StepFunctions::StateMachine')[machineId], 'machine');
      const role = machine.Properties.RoleArn['Fn::GetAtt'][0] as string;

      // Act
      const statements = s3Statements(role);

      // Assess
      expect(statements).toEqual([
        [
          ['s3:PutObject', 's3:GetObject', 's3:ListMultipartUploadParts', 's3:AbortMultipartUpload'],
          ['Data/work/map-results/*'],
        ],
        [['s3:GetObject'], ['Data/work/*']],
      ]);
    });

    it.each<[string, (s: CrmSyncStack) => IConstruct, string[]]>([
      ['plan', (s) => s.planFunction.role, ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem']],
      ['transform', (s) => s.transformFunction.role, ['GetItem', 'PutItem']],
      // Its step, the entity's lock (taken again after a redrive), the tombstones of deleted keys.
      ['merge', (s) => s.mergeFunction.role, ['GetItem', 'PutItem', 'BatchGetItem', 'BatchWriteItem']],
      ['verify', (s) => s.verifyFunction.role, []],
      [
        'execution-status',
        (s) => s.executionStatusFunction.role,
        ['GetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem'],
      ],
      ['mirror', (s) => s.mirrorFunction.role, []],
      ['check-rejects', (s) => s.checkRejectsFunction.role, ['UpdateItem']],
      ['reconcile', (s) => s.reconcileFunction.role, ['GetItem', 'Query', 'UpdateItem', 'DeleteItem']],
      ['snapshot', (s) => s.backup.snapshotFunction.role, ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem']],
      ['restore', (s) => s.backup.restoreFunction.role, ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem']],
    ])('%s: the ledger calls of its handler only (%j)', (_name, role, expected) => {
      // Prepare
      const ledger = logicalId(stack, stack.ledger);

      // Act
      const actions = statementsOfRole(template, logicalId(stack, role(stack)))
        .filter((st) => JSON.stringify(st.Resource).includes(`"${ledger}"`))
        .flatMap((st) => asArray(st.Action));

      // Assess
      expect(actions).toEqual(expected.map((a) => `dynamodb:${a}`));
    });

    it('no managed *FullAccess policy is attached anywhere', () => {
      // Prepare
      const text = JSON.stringify(template.toJSON());

      // Act
      const fullAccess = text.match(/[\w-]*FullAccess[\w-]*/g) ?? [];

      // Assess
      expect(fullAccess).toEqual([]);
    });

    it('transform cannot write to the target tables; only merge can', () => {
      // Prepare
      const targets = entities.map((e) => logicalId(stack, must(stack.targetTables[e], e)));
      const writesTargets = (roleId: string) =>
        statementsOfRole(template, roleId).filter(
          (s) =>
            s.Effect === 'Allow' &&
            asArray(s.Action).some((a) => DYNAMODB_WRITES.some((w) => actionMatches(a, w))) &&
            targets.some((t) => JSON.stringify(s.Resource).includes(`"${t}"`)),
        );
      const roleIds = {
        plan: logicalId(stack, stack.planFunction.role),
        transform: logicalId(stack, stack.transformFunction.role),
        merge: logicalId(stack, stack.mergeFunction.role),
        verify: logicalId(stack, stack.verifyFunction.role),
        mirror: logicalId(stack, stack.mirrorFunction.role),
        checkRejects: logicalId(stack, stack.checkRejectsFunction.role),
        reconcile: logicalId(stack, stack.reconcileFunction.role),
      };

      // Act
      const writers = Object.entries(roleIds)
        .filter(([, id]) => writesTargets(id).length > 0)
        .map(([name]) => name);

      // Assess
      expect(writesTargets(roleIds.transform)).toEqual([]);
      expect(writers).toEqual(['merge']);
      for (const table of targets) {
        template.hasResourceProperties('AWS::IAM::Policy', {
          Roles: [{ Ref: roleIds.merge }],
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({
                Effect: 'Allow',
                Action: Match.arrayWith(['dynamodb:BatchWriteItem']),
                Resource: Match.arrayWith([{ 'Fn::GetAtt': [table, 'Arn'] }]),
              }),
            ]),
          },
        });
      }
    });

    it.each([
      [false, []],
      [true, ['account']],
    ])('transform reads no table unless orphans are rejected (reject: %s → %j)', (reject, readable) => {
      // Prepare: the example config, with contact.accountId → account rejecting orphans or not
      const withReject = structuredClone(config);
      const contact = must(withReject.entities.contact, 'contact entity');
      for (const r of Object.values(contact.references)) r.reject = reject;
      const s = new CrmSyncStack(newApp(), 'CrmSync', { config: withReject, configFile });
      const t = Template.fromStack(s);
      const tableIds = Object.fromEntries(
        Object.entries(s.targetTables).map(([name, table]) => [logicalId(s, table), name]),
      );

      // Act
      const read = statementsOfRole(t, logicalId(s, s.transformFunction.role))
        .filter((st) => asArray(st.Action).some((a) => a.startsWith('dynamodb:')))
        .flatMap((st) => asArray(st.Resource))
        .flatMap((r) => Object.entries(tableIds).filter(([id]) => JSON.stringify(r).includes(`"${id}"`)))
        .map(([, name]) => name);

      // Assess
      expect([...new Set(read)]).toEqual(readable);
    });

    it('check-rejects reads work/*, writes reports/* and updates the ledger, touches no target table', () => {
      // Prepare
      const role = logicalId(stack, stack.checkRejectsFunction.role);
      const objects = (prefix: string) => ({
        'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, `/${prefix}/*`]],
      });
      const targets = entities.map((e) => logicalId(stack, must(stack.targetTables[e], e)));

      // Act
      const statements = statementsOfRole(template, role);
      const s3Objects = statements
        .filter((s) => asArray(s.Action).some((a) => a.startsWith('s3:')))
        .flatMap((s) => asArray(s.Resource))
        .filter((r) => typeof r !== 'object' || !('Fn::GetAtt' in (r as Json)));
      const dynamodbActions = statements
        .filter((s) => asArray(s.Action).some((a) => a.startsWith('dynamodb:')))
        .flatMap((s) => asArray(s.Action));
      const touchesTargets = statements.filter((s) =>
        targets.some((t) => JSON.stringify(s.Resource).includes(`"${t}"`)),
      );

      // Assess
      expect(s3Objects).toEqual([objects('work'), objects('reports')]);
      expect(dynamodbActions).toContain('dynamodb:UpdateItem');
      expect(dynamodbActions.filter((a) => /Get|Query|Scan/.test(a))).toEqual([]);
      expect(touchesTargets).toEqual([]);
    });

    it("transform reads the inbox and Plan's UTF-8 and decompressed copies, no other work object", () => {
      // Prepare
      const role = logicalId(stack, stack.transformFunction.role);
      const objects = (pattern: string) => ({
        'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, `/${pattern}`]],
      });

      // Act
      const reads = statementsOfRole(template, role)
        .filter((s) => asArray(s.Action).some((a) => a.startsWith('s3:GetObject')))
        .flatMap((s) => asArray(s.Resource))
        .filter((r) => typeof r !== 'object' || !('Fn::GetAtt' in (r as Json)));

      // Assess: the transcoded copy is work/<runId>/source.utf8.<format> (workKeys.transcoded), the
      // decompressed one work/<runId>/source.decompressed (workKeys.decompressed).
      expect(workKeys.transcoded('work/run-1/', 'csv')).toBe('work/run-1/source.utf8.csv');
      expect(workKeys.decompressed('work/run-1/')).toBe('work/run-1/source.decompressed');
      expect(reads).toEqual([
        objects('inbox/*'),
        objects('dry-run/*'),
        objects('work/*/source.utf8.*'),
        objects('work/*/source.decompressed'),
      ]);
    });

    it('plan reads inbox/* and its own UTF-8 copy of a transcoded export, writes work/* of the data bucket only', () => {
      // Prepare
      const planRole = logicalId(stack, stack.planFunction.role);
      const objects = (prefix: string) => ({
        'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, `/${prefix}/*`]],
      });

      // Act
      const s3Statements = statementsOfRole(template, planRole).filter((s) =>
        asArray(s.Action).some((a) => a.startsWith('s3:')),
      );
      const objectResources = s3Statements
        .flatMap((s) => asArray(s.Resource))
        .filter((r) => typeof r !== 'object' || !('Fn::GetAtt' in (r as Json)));

      // Assess
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: planRole }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Allow',
              Action: ['s3:GetObject', 's3:GetObjectVersion'],
              Resource: [objects('inbox'), objects('dry-run')],
            }),
            Match.objectLike({
              Effect: 'Allow',
              Action: ['s3:PutObject', 's3:AbortMultipartUpload'],
              Resource: objects('work'),
            }),
          ]),
        },
      });
      // Plan plans a transcoded export from its UTF-8 copy (work/<runId>/source.utf8.<format>), a
      // compressed one from its decompressed copy (work/<runId>/source.decompressed).
      const transcoded = {
        'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, `/work/*/${TRANSCODED_SOURCE}*`]],
      };
      const decompressed = {
        'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, `/work/*/${DECOMPRESSED_SOURCE}`]],
      };
      expect(objectResources).toEqual([
        objects('inbox'),
        objects('dry-run'),
        objects('work'),
        transcoded,
        decompressed,
      ]);
    });
  });

  describe('cdk-nag (AwsSolutions)', () => {
    const outdirs: string[] = [];

    afterAll(() => {
      for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
    });

    function synthWithNag(addBadConstruct: boolean): { synth: () => void; outdir: string } {
      const outdir = mkdtempSync(join(tmpdir(), 'crm-sync-nag-'));
      outdirs.push(outdir);
      const app = newApp(outdir);
      const nagStack = newStack(app);
      if (addBadConstruct) new s3.Bucket(nagStack, 'Bad');
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
      return { synth: () => app.synth(), outdir };
    }

    it('reports no unacknowledged AwsSolutions errors', () => {
      // Prepare
      const { synth, outdir } = synthWithNag(false);

      // Act
      synth();
      const report = nagReport(outdir);
      const errors = nagErrors(report);

      // Assess
      expect(errors).toEqual([]);
      expect(report.conclusion).toBe('success');
      // Everything that was acknowledged says why.
      expect(report.suppressedViolations?.length).toBeGreaterThan(0);
      for (const s of report.suppressedViolations ?? []) expect(s.reason).toMatch(/\S{3,}/);
    });

    it('does report a deliberately bad construct (the check can fail)', () => {
      // Prepare
      const { synth, outdir } = synthWithNag(true);

      // Act
      let error: Error | undefined;
      try {
        synth();
      } catch (err) {
        error = err as Error;
      }
      const report = nagReport(outdir);
      const paths = report.violations.flatMap((v) => v.violatingConstructs.map((c) => c.constructPath));

      // Assess
      expect(error?.message).toMatch(/AwsSolutions-S1\b/);
      expect(report.conclusion).toBe('failure');
      expect(report.violations.map((v) => v.ruleName)).toEqual(
        expect.arrayContaining(['AwsSolutions-S1', 'AwsSolutions-S10']),
      );
      expect(new Set(paths)).toEqual(new Set(['CrmSync/Bad/Resource']));
    });
  });
});

/**
 * Whether an event's detail matches a rule's detail pattern, for the operators the stack's rules
 * use (exact values, prefix, wildcard, numeric >, $or): EventBridge's documented semantics (a
 * field's matchers are ORed, the fields ANDed).
 */
function matchesPattern(pattern: Json, event: Json): boolean {
  return Object.entries(pattern).every(([field, p]) => {
    if (field === '$or') return (p as Json[]).some((branch) => matchesPattern(branch, event));
    const value = event[field];
    if (!Array.isArray(p))
      return typeof value === 'object' && value !== null && matchesPattern(p as Json, value as Json);
    return p.some((m: unknown) => {
      if (typeof m !== 'object' || m === null || 'Ref' in m)
        return JSON.stringify(m) === JSON.stringify(value);
      const op = m as { prefix?: string; wildcard?: string; numeric?: [string, number] };
      if (op.prefix !== undefined) return typeof value === 'string' && value.startsWith(op.prefix);
      if (op.wildcard !== undefined) {
        const re = new RegExp(
          `^${op.wildcard
            .split('*')
            .map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
            .join('.*')}$`,
        );
        return typeof value === 'string' && re.test(value);
      }
      if (op.numeric?.[0] === '>') return typeof value === 'number' && value > op.numeric[1];
      return false;
    });
  });
}
