import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { type CrmSyncConfig, KMS_KEY_CREATE } from '../lambdas/domain/config';
import { EXECUTION_STATUS_CHANGE, FAILED_STATUSES } from '../lambdas/domain/execution-status';
import { MANIFEST_NAME, SUCCESS_MARKER } from '../lambdas/domain/export-folder';
import { DECOMPRESSED_SOURCE, DRY_RUN_PREFIX, TRANSCODED_SOURCE } from '../lambdas/domain/run';
import { METRICS_SERVICE_ENV } from '../lambdas/domain/run-metrics';
import { DEFAULT_MAX_CONCURRENCY, FUNCTIONS } from '../lambdas/domain/sizing';
import { type KeyAttribute, tableDefinitions } from '../lambdas/domain/tables';
import {
  allowList,
  allowLogsEncryption,
  allowObjects,
  allowServiceToSend,
  allowTable,
  BUCKET_ACTIONS,
  LEDGER_ACTIONS,
  TABLE_ACTIONS,
} from './grants';
import { Monitoring } from './monitoring';
import { acknowledge, acknowledgeBucketWorker, acknowledgeStateMachine, logicalId } from './nag';
import { OperatorPolicy } from './operator-policy';
import { SnapshotStateMachines } from './snapshot-state-machine';
import { SyncSchedules } from './sync-schedules';
import { SyncStateMachine } from './sync-state-machine';
import { WorkerFunction } from './worker-function';

export interface CrmSyncStackProps extends StackProps {
  /** The validated config: one target table and one inbox rule per entity. */
  readonly config: CrmSyncConfig;
  /** Path of the config file, bundled into the workers. */
  readonly configFile: string;
  /**
   * Lambda workers a run's Distributed Maps run at once, at most. Within it, Plan sizes each run's
   * transform, merge and verify concurrency to the file and the target table's throughput
   * (lambdas/domain/sizing.ts). It may not exceed the config's `lambdaConcurrency`.
   * @default the config's `lambdaConcurrency` (500 when unset: half the default regional quota)
   */
  readonly maxConcurrency?: number;
  /**
   * Removal policy of the bucket and the tables (data stores).
   * @default RemovalPolicy.RETAIN
   */
  readonly dataRemovalPolicy?: RemovalPolicy;
  /**
   * Days after which intermediate objects under `work/`, and dry runs' files under `dry-run/`, expire.
   * @default 14
   */
  readonly workExpirationDays?: number;
  /**
   * A customer-managed KMS key for the data at rest: the data bucket (SSE-KMS with an S3 Bucket
   * Key), the ledger and the target tables, the dead-letter queue and every log group. Each
   * principal that reads or writes them is granted the key's use (lib/grants.ts, KEY_ACTIONS). A key
   * defined in this app gets the key policy statements CloudWatch Logs and EventBridge need; an
   * imported key (`kms.Key.fromKeyArn`) must hold them already. The access-log bucket stays SSE-S3.
   * Give the key here or as the config's `encryption.kmsKey`, not both.
   * @default - the key the config's `encryption.kmsKey` names (`create`: a new key in this stack);
   * without one, AWS-managed encryption: SSE-S3, the AWS managed DynamoDB key, SQS-managed queues,
   * CloudWatch Logs' own
   */
  readonly encryptionKey?: kms.IKey;
}

/**
 * The stack's customer-managed key from the config's `encryption.kmsKey`: `create` makes one in the
 * stack (rotated yearly, kept when the stack is deleted: what it encrypted must stay readable,
 * backups included), a key ARN imports that key.
 */
function configuredKey(stack: Stack, kmsKey: string): kms.IKey {
  return kmsKey === KMS_KEY_CREATE
    ? new kms.Key(stack, 'DataKey', {
        description:
          'crm-sync: the data bucket, the ledger and target tables, the dead-letter queue, the logs',
        enableKeyRotation: true,
        removalPolicy: RemovalPolicy.RETAIN,
      })
    : kms.Key.fromKeyArn(stack, 'DataKey', kmsKey);
}

/** Bucket prefixes of the data bucket. */
export const PREFIX = {
  inbox: 'inbox/',
  work: 'work/',
  reports: 'reports/',
  /** Files to dry-run: no rule triggers on them, only a dry run reads them. */
  dryRun: DRY_RUN_PREFIX,
} as const;

/** A CloudFormation output id for an entity name (`contact-person` → `ContactPerson`). */
export function outputId(entity: string): string {
  return entity
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

/**
 * crm-sync in one stack: the data bucket (inbox/, work/, reports/), one DynamoDB table per
 * entity, the run ledger, the plan/transform/merge/reconcile workers, the run state machine and one
 * EventBridge rule per entity that starts a run when a file lands under `inbox/<entity>/`, and one
 * EventBridge Scheduler schedule per entity with a `schedule` (the newest export not yet run).
 */
export class CrmSyncStack extends Stack {
  readonly bucket: s3.Bucket;
  readonly accessLogsBucket: s3.Bucket;
  readonly ledger: dynamodb.Table;
  readonly targetTables: Readonly<Record<string, dynamodb.Table>>;
  readonly planFunction: WorkerFunction;
  readonly transformFunction: WorkerFunction;
  readonly mergeFunction: WorkerFunction;
  readonly verifyFunction: WorkerFunction;
  readonly mirrorFunction: WorkerFunction;
  readonly checkRejectsFunction: WorkerFunction;
  readonly reconcileFunction: WorkerFunction;
  /** Records failed, timed-out, aborted and redriven executions of the run state machine. */
  readonly executionStatusFunction: WorkerFunction;
  readonly workflow: SyncStateMachine;
  readonly triggerDeadLetterQueue: sqs.Queue;
  /** Backup and restore of the target tables: the Snapshot and Restore state machines. */
  readonly backup: SnapshotStateMachines;
  /** What `crm-sync … --stack` needs: the policy to attach to an operator's role (`OperatorPolicyArn`). */
  readonly operatorPolicy: iam.ManagedPolicy;
  /** The entities' sync schedules; undefined when no entity has a `schedule`. */
  readonly syncSchedules: SyncSchedules | undefined;
  /** Alarms, the alarm topic, the dashboard and the RunFinished events log group. */
  readonly monitoring: Monitoring;
  /** The customer-managed key of the data at rest; undefined: AWS-managed encryption. */
  readonly encryptionKey?: kms.IKey;

  constructor(scope: Construct, id: string, props: CrmSyncStackProps) {
    super(scope, id, props);
    const removalPolicy = props.dataRemovalPolicy ?? RemovalPolicy.RETAIN;
    const configured = props.config.encryption?.kmsKey;
    if (props.encryptionKey && configured) {
      throw new Error(
        "the stack has two customer-managed keys: the prop encryptionKey and the config's encryption.kmsKey; give one",
      );
    }
    const key = props.encryptionKey ?? (configured ? configuredKey(this, configured) : undefined);
    this.encryptionKey = key;
    if (key) {
      allowLogsEncryption(key);
      // EventBridge sends undeliverable events to the encrypted dead-letter queue (AWS,
      // "Using dead-letter queues to process undelivered events": the key policy allows it).
      allowServiceToSend(key, 'events.amazonaws.com');
    }
    const withKey = key ? { encryptionKey: key } : {};

    // SSE-S3 even with a customer-managed key: S3 server access log delivery supports SSE-S3 default
    // encryption on its target bucket only, not SSE-KMS (AWS, "Enabling Amazon S3 server access
    // logging"); the log delivery group, granted by ACL here, cannot use a key of the account.
    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(90) }],
      removalPolicy,
    });
    Validations.of(this.accessLogsBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This is the access-log bucket of the data bucket; logging it to itself would loop.',
    });

    this.bucket = new s3.Bucket(this, 'Data', {
      // With a key: SSE-KMS, and an S3 Bucket Key (one data key per bucket and period instead of a
      // KMS call per object: the chunks and results of a run are many small objects).
      ...(key
        ? { encryption: s3.BucketEncryption.KMS, encryptionKey: key, bucketKeyEnabled: true }
        : { encryption: s3.BucketEncryption.S3_MANAGED }),
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      eventBridgeEnabled: true,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'data/',
      lifecycleRules: [
        { prefix: PREFIX.work, expiration: Duration.days(props.workExpirationDays ?? 14) },
        { prefix: PREFIX.dryRun, expiration: Duration.days(props.workExpirationDays ?? 14) },
        { noncurrentVersionExpiration: Duration.days(30) },
      ],
      removalPolicy,
    });

    const tableEncryption = key
      ? { encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED, encryptionKey: key }
      : { encryption: dynamodb.TableEncryption.AWS_MANAGED };
    this.ledger = new dynamodb.Table(this, 'Ledger', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      ...tableEncryption,
      timeToLiveAttribute: 'expiresAt',
      removalPolicy,
    });

    // One table per entity, or per `target.table` its entities share, keyed and indexed as configured.
    const tables: Record<string, dynamodb.Table> = {};
    for (const def of tableDefinitions(props.config)) {
      const attribute = (a: KeyAttribute): dynamodb.Attribute => ({
        name: a.name,
        type: a.type === 'N' ? dynamodb.AttributeType.NUMBER : dynamodb.AttributeType.STRING,
      });
      const table = new dynamodb.Table(
        this,
        def.shared === undefined ? `Target-${def.id}` : `Table-${def.shared}`,
        {
          tableName: def.tableName,
          partitionKey: attribute(def.partition),
          ...(def.sort ? { sortKey: attribute(def.sort) } : {}),
          billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
          pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
          ...tableEncryption,
          removalPolicy,
        },
      );
      for (const ix of def.indexes) {
        table.addGlobalSecondaryIndex({
          indexName: ix.name,
          partitionKey: attribute(ix.partition),
          ...(ix.sort ? { sortKey: attribute(ix.sort) } : {}),
          projectionType:
            ix.projection === 'all' ? dynamodb.ProjectionType.ALL : dynamodb.ProjectionType.KEYS_ONLY,
        });
      }
      for (const entity of def.entities) tables[entity] = table;
    }
    this.targetTables = tables;

    const environment = {
      CRM_SYNC_BUCKET: this.bucket.bucketName,
      CRM_SYNC_LEDGER_TABLE: this.ledger.tableName,
      CRM_SYNC_TARGET_TABLES: this.toJsonString(
        Object.fromEntries(Object.entries(tables).map(([name, t]) => [name, t.tableName])),
      ),
      // The `service` dimension of the run metrics (lambdas/domain/run-metrics.ts).
      [METRICS_SERVICE_ENV]: this.stackName,
    };
    // Each task's timeout is its function's plus a margin (see SyncStateMachineProps).
    // Plan streams the whole object: 15 minutes; the Distributed Map workers 60 s, so that their
    // retries fit in an EXPRESS child (lambdas/domain/sizing.ts, FUNCTIONS).
    const stepTimeout = Duration.seconds(FUNCTIONS.plan.timeoutSeconds);
    const workerTimeout = Duration.seconds(FUNCTIONS.transform.timeoutSeconds);
    // The Lambda concurrency crm-sync may use: no run's Map runs more workers at once.
    const lambdaConcurrency = props.config.lambdaConcurrency ?? DEFAULT_MAX_CONCURRENCY;
    const maxConcurrency = props.maxConcurrency ?? lambdaConcurrency;
    if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1 || maxConcurrency > lambdaConcurrency) {
      throw new Error(
        `maxConcurrency must be a whole number from 1 to the config's lambdaConcurrency (${lambdaConcurrency}), not ${maxConcurrency}`,
      );
    }
    const common = { configFile: props.configFile, environment, ...withKey };
    this.planFunction = new WorkerFunction(this, 'PlanFunction', {
      ...common,
      handler: 'plan',
      memorySize: FUNCTIONS.plan.memoryMb, // one full vCPU for the scan of the object
      timeout: stepTimeout,
      environment: {
        ...environment,
        CRM_SYNC_MAX_CONCURRENCY: String(maxConcurrency),
      },
    });
    this.transformFunction = new WorkerFunction(this, 'TransformFunction', {
      ...common,
      handler: 'transform',
      memorySize: 1769, // one full vCPU: parsing is CPU-bound
      timeout: workerTimeout,
    });
    this.mergeFunction = new WorkerFunction(this, 'MergeFunction', {
      ...common,
      handler: 'merge',
      memorySize: 1769,
      timeout: workerTimeout,
    });
    this.verifyFunction = new WorkerFunction(this, 'VerifyFunction', {
      ...common,
      handler: 'verify',
      memorySize: 1024,
      timeout: workerTimeout,
    });
    this.mirrorFunction = new WorkerFunction(this, 'MirrorFunction', {
      ...common,
      handler: 'mirror',
      memorySize: 1024,
      timeout: workerTimeout,
    });
    this.checkRejectsFunction = new WorkerFunction(this, 'CheckRejectsFunction', {
      ...common,
      handler: 'check-rejects',
      memorySize: 512,
      timeout: stepTimeout,
    });
    this.reconcileFunction = new WorkerFunction(this, 'ReconcileFunction', {
      ...common,
      handler: 'reconcile',
      memorySize: 1024,
      timeout: stepTimeout,
    });

    // Least privilege, per worker and per prefix: exactly the calls each handler makes
    // (BUCKET_ACTIONS, LEDGER_ACTIONS). A reader of objects that may be missing (readTextIfExists)
    // may list their prefix, else S3 answers AccessDenied instead of NoSuchKey.
    const bucket = this.bucket;
    const plan = this.planFunction.function;
    // An export (inbox/), or a file to dry-run (dry-run/: no rule starts a run of it).
    allowObjects(plan, bucket, BUCKET_ACTIONS.readVersion, [`${PREFIX.inbox}*`, `${PREFIX.dryRun}*`]);
    allowObjects(plan, bucket, BUCKET_ACTIONS.upload, [`${PREFIX.work}*`]); // the UTF-8 copy, in parts
    // A UTF-16/32 or Windows-1252 export is planned from the UTF-8 copy Plan writes under work/, a
    // gzip or zip export from its decompressed copy.
    allowObjects(plan, bucket, BUCKET_ACTIONS.read, [
      `${PREFIX.work}*/${TRANSCODED_SOURCE}*`,
      `${PREFIX.work}*/${DECOMPRESSED_SOURCE}`,
    ]);
    // A multi-file export's parts are its folder's listing (ClaimRun and Plan list
    // inbox/<entity>/<export>/, or a dry run's copy under dry-run/<entity>/<export>/).
    allowList(plan, bucket, [PREFIX.inbox, PREFIX.dryRun]);
    allowTable(plan, this.ledger, LEDGER_ACTIONS.claim);
    // Plan only asks whether a target is empty (Scan, Limit 1, COUNT): a first load skips the reads.
    // and, for entities without `verify`, how many items it holds (full or sampled verification).
    for (const table of Object.values(tables))
      allowTable(plan, table, ['dynamodb:Scan', 'dynamodb:DescribeTable']);

    const transform = this.transformFunction.function;
    allowObjects(transform, bucket, BUCKET_ACTIONS.readVersion, [`${PREFIX.inbox}*`, `${PREFIX.dryRun}*`]);
    // A UTF-16/32 or Windows-1252 export is read from the UTF-8 copy Plan writes under work/, a
    // gzip or zip export from its decompressed copy.
    allowObjects(transform, bucket, BUCKET_ACTIONS.read, [
      `${PREFIX.work}*/${TRANSCODED_SOURCE}*`,
      `${PREFIX.work}*/${DECOMPRESSED_SOURCE}`,
    ]);
    allowObjects(transform, bucket, BUCKET_ACTIONS.write, [`${PREFIX.work}*`]);
    allowTable(transform, this.ledger, LEDGER_ACTIONS.step);

    const merge = this.mergeFunction.function;
    allowObjects(merge, bucket, BUCKET_ACTIONS.read, [`${PREFIX.work}*`]);
    allowObjects(merge, bucket, BUCKET_ACTIONS.write, [`${PREFIX.work}*`]);
    allowList(merge, bucket, [PREFIX.work]);
    allowTable(merge, this.ledger, LEDGER_ACTIONS.merge);

    // Verification only reads the tables (target and parents) and writes its findings under work/.
    const verify = this.verifyFunction.function;
    allowObjects(verify, bucket, BUCKET_ACTIONS.read, [`${PREFIX.work}*`]);
    allowObjects(verify, bucket, BUCKET_ACTIONS.write, [`${PREFIX.work}*`]);
    allowList(verify, bucket, [PREFIX.work]);

    // Mirror planning reads the target's keys and the work objects, lists and writes under work/.
    const mirror = this.mirrorFunction.function;
    allowObjects(mirror, bucket, BUCKET_ACTIONS.read, [`${PREFIX.work}*`]);
    allowObjects(mirror, bucket, BUCKET_ACTIONS.write, [`${PREFIX.work}*`]);
    allowList(mirror, bucket, [PREFIX.work]);

    // The reject gate reads the transform's map results, writes a refused run's rejects.csv (from
    // the chunks' reject objects) and its decision in the ledger: no target table.
    const checkRejects = this.checkRejectsFunction.function;
    allowObjects(checkRejects, bucket, BUCKET_ACTIONS.read, [`${PREFIX.work}*`]);
    allowList(checkRejects, bucket, [PREFIX.work]);
    allowObjects(checkRejects, bucket, BUCKET_ACTIONS.upload, [`${PREFIX.reports}*`]);
    allowTable(checkRejects, this.ledger, LEDGER_ACTIONS.decision);

    const reconcile = this.reconcileFunction.function;
    allowObjects(reconcile, bucket, BUCKET_ACTIONS.read, [`${PREFIX.work}*`]);
    allowList(reconcile, bucket, [PREFIX.work]);
    allowObjects(reconcile, bucket, BUCKET_ACTIONS.write, [`${PREFIX.work}*`]); // the mirror decision
    allowObjects(reconcile, bucket, BUCKET_ACTIONS.upload, [`${PREFIX.reports}*`]); // large CSVs in parts
    allowTable(reconcile, this.ledger, LEDGER_ACTIONS.finish);

    for (const table of Object.values(tables)) {
      allowTable(merge, table, TABLE_ACTIONS.readWrite);
      table.grantReadData(verify);
      table.grantReadData(mirror);
    }
    // Transform looks up only the parents whose orphans it rejects (references.<field>.reject).
    const rejectParents = new Set(
      Object.values(props.config.entities).flatMap((e) =>
        Object.values(e.references)
          .filter((r) => r.reject)
          .map((r) => r.entity),
      ),
    );
    for (const parent of rejectParents) {
      const table = tables[parent];
      if (table) allowTable(transform, table, ['dynamodb:BatchGetItem']);
    }

    this.workflow = new SyncStateMachine(this, 'Workflow', {
      bucket: this.bucket,
      planFunction: plan,
      transformFunction: transform,
      mergeFunction: merge,
      verifyFunction: verify,
      mirrorFunction: mirror,
      checkRejectsFunction: checkRejects,
      taskTimeout: stepTimeout,
      workerTimeout,
      reconcileFunction: reconcile,
      maxConcurrency,
      ...withKey,
    });

    this.triggerDeadLetterQueue = new sqs.Queue(this, 'TriggerDlq', {
      ...(key
        ? { encryption: sqs.QueueEncryption.KMS, encryptionMasterKey: key }
        : { encryption: sqs.QueueEncryption.SQS_MANAGED }),
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.triggerDeadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the inbox trigger rules and schedules.',
    });

    for (const name of Object.keys(props.config.entities)) {
      new events.Rule(this, `Inbox-${name}`, {
        description: `Starts a crm-sync run when a file lands under ${PREFIX.inbox}${name}/`,
        eventPattern: {
          source: ['aws.s3'],
          detailType: ['Object Created'],
          detail: {
            bucket: { name: [this.bucket.bucketName] },
            // A file under the inbox (an empty object, a folder marker too, is no export), or the
            // completion marker or manifest of an export folder (`_SUCCESS` is often 0 bytes).
            // EventBridge ORs the matchers of one field, so a file cannot be told from a part of an
            // export folder here: ClaimRun ignores parts and names (`.DS_Store`; notAnExport).
            $or: [
              { object: { key: [{ prefix: `${PREFIX.inbox}${name}/` }], size: [{ numeric: ['>', 0] }] } },
              {
                object: {
                  key: [
                    { wildcard: `${PREFIX.inbox}${name}/*/${SUCCESS_MARKER}` },
                    { wildcard: `${PREFIX.inbox}${name}/*/${MANIFEST_NAME}` },
                  ],
                },
              },
            ],
          },
        },
        targets: [
          new targets.SfnStateMachine(this.workflow.stateMachine, {
            input: events.RuleTargetInput.fromObject({
              bucket: events.EventField.fromPath('$.detail.bucket.name'),
              key: events.EventField.fromPath('$.detail.object.key'),
              versionId: events.EventField.fromPath('$.detail.object.version-id'),
              etag: events.EventField.fromPath('$.detail.object.etag'),
              size: events.EventField.fromPath('$.detail.object.size'),
              entity: name,
            }),
            deadLetterQueue: this.triggerDeadLetterQueue,
            retryAttempts: 8,
            maxEventAge: Duration.hours(2),
          }),
        ],
      });
    }

    this.executionStatusFunction = this.addExecutionStatusRecorder(common);

    this.syncSchedules = Object.values(props.config.entities).some((e) => e.schedule !== undefined)
      ? new SyncSchedules(this, 'SyncSchedules', {
          config: props.config,
          configFile: props.configFile,
          environment,
          bucket: this.bucket,
          inboxPrefix: PREFIX.inbox,
          ledger: this.ledger,
          stateMachine: this.workflow.stateMachine,
          deadLetterQueue: this.triggerDeadLetterQueue,
          ...withKey,
        })
      : undefined;

    this.backup = new SnapshotStateMachines(this, 'Backup', {
      bucket: this.bucket,
      ledger: this.ledger,
      targetTables: tables,
      configFile: props.configFile,
      environment,
      ...withKey,
    });

    this.monitoring = new Monitoring(this, 'Monitoring', {
      runStateMachine: this.workflow.stateMachine,
      stateMachines: { Snapshot: this.backup.snapshotMachine, Restore: this.backup.restoreMachine },
      entities: Object.keys(props.config.entities),
      service: this.stackName,
      workers: this.node.findAll().filter((c): c is WorkerFunction => c instanceof WorkerFunction),
      deadLetterQueues: { Trigger: this.triggerDeadLetterQueue },
      emails: props.config.notify?.email ?? [],
      ...(key ? { encryptionKey: key } : {}),
    });

    this.operatorPolicy = new OperatorPolicy(this, 'Operator', {
      bucket: this.bucket,
      ledger: this.ledger,
      stateMachines: [this.workflow.stateMachine, this.backup.snapshotMachine, this.backup.restoreMachine],
      eventsLogGroup: this.monitoring.eventsLogGroup,
      ...(key ? { encryptionKey: key } : {}),
    }).policy;

    this.addOutputs(props.config);
    this.acknowledgeFindings();
  }

  /**
   * The recorder of the run state machine's execution status changes: no state catches a failure
   * (so a redrive re-runs the failed step), and a failed, timed-out or aborted execution, which no
   * Catch would see, is recorded here from EventBridge: the run FAILED, its report, RunFinished and
   * the lock freed. A redriven execution (RUNNING with a redrive count) takes the lock again, or is
   * stopped while another run of the entity holds it.
   */
  private addExecutionStatusRecorder(common: {
    configFile: string;
    environment: Record<string, string>;
    encryptionKey?: kms.IKey;
  }): WorkerFunction {
    const recorder = new WorkerFunction(this, 'ExecutionStatusFunction', {
      ...common,
      handler: 'execution-status',
      memorySize: 512,
      timeout: Duration.minutes(5),
    });
    const fn = recorder.function;
    allowTable(fn, this.ledger, LEDGER_ACTIONS.record);
    allowObjects(fn, this.bucket, BUCKET_ACTIONS.write, [`${PREFIX.reports}*`]);
    events.EventBus.fromEventBusName(this, 'DefaultBus', 'default').grantPutEventsTo(fn);
    this.workflow.stateMachine.grantExecution(fn, 'states:StopExecution');
    new events.Rule(this, 'ExecutionStatus', {
      description: 'Records failed, timed-out, aborted and redriven executions of the run state machine',
      eventPattern: {
        source: ['aws.states'],
        detailType: [EXECUTION_STATUS_CHANGE],
        detail: {
          stateMachineArn: [this.workflow.stateMachine.stateMachineArn],
          $or: [
            { status: [...FAILED_STATUSES] },
            { status: ['RUNNING'], redriveCount: [{ numeric: ['>', 0] }] },
          ],
        },
      },
      targets: [
        new targets.LambdaFunction(fn, {
          deadLetterQueue: this.triggerDeadLetterQueue,
          retryAttempts: 8,
          maxEventAge: Duration.hours(24),
        }),
      ],
    });
    return recorder;
  }

  /**
   * What a user looks up after `cdk deploy`: where to drop an export, what runs it, where its items
   * and its run records land (`aws cloudformation describe-stacks --query 'Stacks[0].Outputs'`).
   */
  private addOutputs(config: CrmSyncConfig): void {
    new CfnOutput(this, 'OperatorPolicyArn', {
      value: this.operatorPolicy.managedPolicyArn,
      description:
        'Attach to the role or group that operates the stack with crm-sync --stack (no more than it needs)',
    });
    new CfnOutput(this, 'AlarmTopicArn', {
      value: this.monitoring.topic.topicArn,
      description: 'The SNS topic every alarm and every RunFinished event notifies (subscribe here)',
    });
    new CfnOutput(this, 'DashboardName', {
      value: this.monitoring.dashboard.dashboardName,
      description:
        'The CloudWatch dashboard of the stack: runs, run metrics per entity, workers, dead letters',
    });
    new CfnOutput(this, 'EventsLogGroupName', {
      value: this.monitoring.eventsLogGroup.logGroupName,
      description: 'The log group that keeps every RunFinished event (crm-sync events --stack)',
    });
    new CfnOutput(this, 'DataBucketName', {
      value: this.bucket.bucketName,
      description:
        'The data bucket: inbox/<entity>/ (drop exports here), reports/<runId>/ (run reports), work/, dry-run/<entity>/ (files to dry-run)',
    });
    new CfnOutput(this, 'SyncStateMachineArn', {
      value: this.workflow.stateMachine.stateMachineArn,
      description: 'The run state machine (a file in an inbox starts it; redrive a failed execution here)',
    });
    new CfnOutput(this, 'LedgerTableName', {
      value: this.ledger.tableName,
      description: 'The run ledger: one record per run, its steps, the entity locks',
    });
    for (const name of Object.keys(config.entities)) {
      const id = outputId(name);
      new CfnOutput(this, `InboxUrl${id}`, {
        value: `s3://${this.bucket.bucketName}/${PREFIX.inbox}${name}/`,
        description: `Drop ${name} exports here: each new object starts a run`,
      });
      const table = this.targetTables[name];
      if (table) {
        new CfnOutput(this, `TargetTable${id}`, {
          value: table.tableName,
          description: `The DynamoDB table the ${name} runs write`,
        });
      }
    }
  }

  /**
   * cdk-nag AwsSolutions findings that remain, each acknowledged with its reason. Every one is a
   * policy that CDK generates for a narrow purpose; none grants a `*` action.
   */
  private acknowledgeFindings(): void {
    const workers = [
      this.planFunction,
      this.transformFunction,
      this.mergeFunction,
      this.verifyFunction,
      this.mirrorFunction,
      this.checkRejectsFunction,
      this.reconcileFunction,
    ];
    acknowledgeBucketWorker(
      this.executionStatusFunction,
      this.bucket,
      ['reports'],
      'the reports of failed runs, one folder per run id.',
    );
    acknowledge(
      this.executionStatusFunction,
      `IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${logicalId(this.workflow.stateMachine)}"}]}]}:*]`,
      "StopExecution of the run state machine's own executions (a redrive that finds the entity busy): execution names are not known at deploy time.",
    );
    for (const worker of workers) {
      acknowledgeBucketWorker(
        worker,
        this.bucket,
        ['inbox', 'dry-run', 'work', 'reports'],
        'file names are not known at deploy time.',
      );
    }
    for (const worker of [this.planFunction, this.transformFunction]) {
      acknowledge(
        worker,
        `IAM5[Resource::<${logicalId(this.bucket)}.Arn>/${PREFIX.work}*/${TRANSCODED_SOURCE}*]`,
        "Plan's UTF-8 copy of a transcoded export, one per run (work/<runId>/source.utf8.<format>): run ids are not known at deploy time.",
      );
      acknowledge(
        worker,
        `IAM5[Resource::<${logicalId(this.bucket)}.Arn>/${PREFIX.work}*/${DECOMPRESSED_SOURCE}]`,
        "Plan's decompressed copy of a gzip or zip export, one per run (work/<runId>/source.decompressed): run ids are not known at deploy time.",
      );
    }
    const machine = this.workflow.stateMachine;
    acknowledgeStateMachine(
      machine,
      workers.map((w) => w.function),
    );
    acknowledge(
      machine,
      `IAM5[Resource::<${logicalId(this.bucket)}.Arn>/${PREFIX.work}*]`,
      "The Distributed Maps' manifests (GetObject only): Plan writes them under work/<runId>/, run ids are not known at deploy time.",
    );
    acknowledge(
      machine,
      `IAM5[Resource::<${logicalId(this.bucket)}.Arn>/${PREFIX.work}map-results/*]`,
      "The Distributed Maps' results: one folder per map run, named by Step Functions at run time.",
    );
    const notifications = this.node.tryFindChild(
      'BucketNotificationsHandler050a0587b7544547bf325f094a3db834',
    );
    if (notifications) {
      acknowledge(
        notifications,
        'IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        "CDK's own handler that turns on the bucket's EventBridge notifications at deploy time.",
      );
      acknowledge(
        notifications,
        'IAM5[Resource::*]',
        "CDK's own notifications handler: s3:PutBucketNotification on the data bucket.",
      );
    }
  }
}
