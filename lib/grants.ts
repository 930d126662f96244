import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';

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

/** Allows a function the object actions on the data bucket's keys matching the patterns. */
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
