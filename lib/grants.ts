import { Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';

/**
 * The S3 object actions the handlers call (lambdas/adapters/s3.ts): a HEAD or GET is s3:GetObject
 * (s3:GetObjectVersion with the event's version id), a put is s3:PutObject, and a multipart upload
 * (putStream, snapshot parts) also s3:AbortMultipartUpload to clean up after a failed part.
 */
export const BUCKET_ACTIONS = {
  read: ['s3:GetObject'],
  readVersion: ['s3:GetObject', 's3:GetObjectVersion'],
  write: ['s3:PutObject'],
  upload: ['s3:PutObject', 's3:AbortMultipartUpload'],
} as const;

/** Data actions on a target table, for workers that read and write its items (merge, restore). */
export const TABLE_ACTIONS = {
  readWrite: [
    'dynamodb:BatchGetItem',
    'dynamodb:Query',
    'dynamodb:GetItem',
    'dynamodb:Scan',
    'dynamodb:ConditionCheckItem',
    'dynamodb:BatchWriteItem',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
    'dynamodb:DescribeTable',
  ],
} as const;

/** The ledger calls of each worker (lambdas/adapters/ledger.ts). */
export const LEDGER_ACTIONS = {
  /** ClaimRun and Plan: getRun, claim and acquireLock (conditional puts), updateRun, releaseLock. */
  claim: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
  /** A chunk's step (runStep, recordStep). */
  step: ['dynamodb:GetItem', 'dynamodb:PutItem'],
  /**
   * A merge partition: its step, the entity's lock (lockHolder, and acquireLock's put when a
   * redrive runs before the recorder took the lock back), and the tombstones of deleted keys
   * (BatchGetItem, BatchWriteItem, and the entity's tombstone marker).
   */
  merge: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem'],
  /** The reject gate's decision (updateRun). */
  decision: ['dynamodb:UpdateItem'],
  /** Reconcile and the failure report: getRun, listSteps (Query), updateRun, releaseLock. */
  finish: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
  /**
   * The execution-status recorder: the execution's run (GetItem), the run's steps for its report
   * (Query), failRun / reopenRun / updateRun, and the lock (acquireLock's put, releaseLock).
   */
  record: [
    'dynamodb:GetItem',
    'dynamodb:Query',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
  ],
  /** A snapshot or restore: its record (get, put, update) and the entity's lock (acquire, release). */
  backup: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
} as const;

/**
 * The KMS actions of a principal that reads or writes data encrypted with the stack's
 * customer-managed key: a reader decrypts the data key (an S3 object, a DynamoDB table key, an SQS
 * message); a writer has KMS generate one, and decrypts too (the parts of a multipart upload, a data
 * key an SQS sender reuses). DynamoDB also describes the key for its callers (kms:DescribeKey).
 */
export const KEY_ACTIONS = {
  decrypt: ['kms:Decrypt'],
  encrypt: ['kms:Decrypt', 'kms:GenerateDataKey'],
} as const;

/** The S3 object actions that write an object (its data key is generated). */
const OBJECT_WRITES: ReadonlySet<string> = new Set(['s3:PutObject']);

/** The DynamoDB actions that write items. */
const ITEM_WRITES: ReadonlySet<string> = new Set([
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:TransactWriteItems',
]);

/**
 * Allows a principal the DynamoDB actions on a table and, when the table is encrypted with a
 * customer-managed key, the KMS actions they need on it (`table.grant` alone grants none).
 */
export function allowTable(
  grantee: iam.IGrantable,
  table: dynamodb.ITable,
  actions: readonly string[],
): void {
  table.grant(grantee, ...actions);
  const writes = actions.some((a) => ITEM_WRITES.has(a));
  table.encryptionKey?.grant(
    grantee,
    ...(writes ? KEY_ACTIONS.encrypt : KEY_ACTIONS.decrypt),
    'kms:DescribeKey',
  );
}

/**
 * Lets CloudWatch Logs use the key for the account's log groups in the stack's region (AWS,
 * "Encrypt log data in CloudWatch Logs using AWS KMS": the service principal of the region, with
 * the `kms:EncryptionContext:aws:logs:arn` condition). The log groups' names are generated, and a
 * key policy that named their ARNs would depend on them while they depend on the key, so the
 * condition names the region's log groups of the account. An imported key keeps its own policy:
 * it must allow this already (the call adds nothing to it).
 */
export function allowLogsEncryption(key: kms.IKey): void {
  const stack = Stack.of(key);
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'CloudWatchLogsEncryptsLogGroups',
      principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
      actions: [
        'kms:Encrypt',
        'kms:Decrypt',
        'kms:ReEncryptFrom',
        'kms:ReEncryptTo',
        'kms:GenerateDataKey',
        'kms:DescribeKey',
      ],
      resources: ['*'],
      conditions: {
        ArnLike: {
          'kms:EncryptionContext:aws:logs:arn': `arn:${stack.partition}:logs:${stack.region}:${stack.account}:log-group:*`,
        },
      },
    }),
  );
}

/**
 * Lets a service that delivers to an encrypted queue (EventBridge to a dead-letter queue) encrypt
 * its messages with the key, for this account's resources only. An imported key keeps its policy.
 */
export function allowServiceToSend(key: kms.IKey, service: string): void {
  const stack = Stack.of(key);
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: `${service.split('.')[0]}SendsToEncryptedQueues`,
      principals: [new iam.ServicePrincipal(service)],
      actions: [...KEY_ACTIONS.encrypt],
      resources: ['*'],
      conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
    }),
  );
}

/**
 * Allows a function the object actions on the data bucket's keys matching the patterns, and the
 * KMS actions on the bucket's customer-managed key when it has one (KEY_ACTIONS).
 */
export function allowObjects(
  fn: lambda.IFunction,
  bucket: s3.IBucket,
  actions: readonly string[],
  patterns: readonly string[],
): void {
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      actions: [...actions],
      resources: patterns.map((p) => bucket.arnForObjects(p)),
    }),
  );
  const writes = actions.some((a) => OBJECT_WRITES.has(a));
  bucket.encryptionKey?.grant(fn, ...(writes ? KEY_ACTIONS.encrypt : KEY_ACTIONS.decrypt));
}

/** Allows a function to list the bucket under the prefixes only (s3:ListBucket, s3:prefix). */
export function allowList(fn: lambda.IFunction, bucket: s3.IBucket, prefixes: readonly string[]): void {
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['s3:ListBucket'],
      resources: [bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': prefixes.map((p) => `${p}*`) } },
    }),
  );
}

/**
 * Allows a principal to send messages to a queue (sqs:SendMessage only) and, when the queue is
 * encrypted with a customer-managed key, to encrypt them (KEY_ACTIONS.encrypt).
 */
export function allowSend(grantee: iam.IGrantable, queue: sqs.IQueue): void {
  queue.grant(grantee, 'sqs:SendMessage');
  queue.encryptionMasterKey?.grant(grantee, ...KEY_ACTIONS.encrypt);
}

/**
 * A Lambda asynchronous-invocation destination on an SQS queue, allowed exactly what delivery needs
 * (sqs:SendMessage and, for an encrypted queue, its key): CDK's SqsDestination grants the function
 * every sender action, and the key's encrypt and re-encrypt wildcards.
 */
export class QueueDestination implements lambda.IDestination {
  constructor(private readonly queue: sqs.IQueue) {}

  bind(_scope: Construct, fn: lambda.IFunction): lambda.DestinationConfig {
    allowSend(fn, this.queue);
    return { destination: this.queue.queueArn };
  }
}
