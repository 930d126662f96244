import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { tracer } from './powertools';

/** What `resetClients` does to each client: destroys it (if made) and forgets it. */
const resets: Array<() => void> = [];

/** A client made on first use and kept until `resetClients` (the CLI's own clients use it too). */
export function lazyClient<T extends { destroy(): void }>(create: () => T): () => T {
  let made: T | undefined;
  resets.push(() => {
    made?.destroy();
    made = undefined;
  });
  return () => {
    made ??= create();
    return made;
  };
}

/**
 * Destroys the clients made so far: the next use makes new ones, which read the endpoint variables
 * then. For the local stack, whose emulators listen on new ports each time it starts.
 */
export function resetClients(): void {
  for (const reset of resets) reset();
}

/**
 * AWS SDK clients, one per process, each made on its first use (not when a module is imported).
 * Endpoint overrides come from the SDK's standard variables (`AWS_ENDPOINT_URL_S3`,
 * `AWS_ENDPOINT_URL_DYNAMODB`), which local mode sets to the embedded emulators before its first
 * call; with an S3 override (read when the S3 client is made), path-style addressing and "when
 * required" checksums are used (the emulator corrupts streamed bodies otherwise).
 */
export const s3Client: () => S3Client = lazyClient(() => {
  const localS3 = Boolean(process.env.AWS_ENDPOINT_URL_S3);
  return tracer.captureAWSv3Client(
    new S3Client({
      forcePathStyle: localS3,
      ...(localS3
        ? { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' }
        : {}),
      // Standard retry mode with the SDK default budget: transient S3 errors are retried
      // with exponential backoff before they reach the worker.
      maxAttempts: 5,
    }),
  );
});

export const dynamodbClient: () => DynamoDBClient = lazyClient(() =>
  tracer.captureAWSv3Client(
    new DynamoDBClient({
      // Standard retry mode: the SDK retries throttling with backoff and full jitter (6 attempts).
      // The backing off of concurrency is the adapter's (batchWrite halves its calls in flight on
      // throttling or unprocessed items), per table and batch. The SDK's adaptive mode was tried and
      // left out: its client-wide rate limiter slowed a local run with 11 throttles from 5 s to 18 s.
      maxAttempts: 6,
    }),
  ),
);

/** The EventBridge client. */
export const eventBridgeClient: () => EventBridgeClient = lazyClient(() =>
  tracer.captureAWSv3Client(new EventBridgeClient({ maxAttempts: 5 })),
);

/** The Step Functions client. */
export const sfnClient: () => SFNClient = lazyClient(() =>
  tracer.captureAWSv3Client(new SFNClient({ maxAttempts: 5 })),
);

/** The S3 and DynamoDB clients the handlers use (what the local fault injector and IAM check wrap). */
export function dataClients(): { s3: S3Client; dynamodb: DynamoDBClient } {
  return { s3: s3Client(), dynamodb: dynamodbClient() };
}
