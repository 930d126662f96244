import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { tracer } from './powertools';

/**
 * AWS SDK clients, created once per process. Endpoint overrides come from the SDK's standard
 * variables (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_DYNAMODB`), which local mode sets to the
 * embedded emulators; with an S3 override, path-style addressing and "when required" checksums
 * are used (the emulator corrupts streamed bodies otherwise).
 */
const localS3 = Boolean(process.env.AWS_ENDPOINT_URL_S3);

export const s3 = tracer.captureAWSv3Client(
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

export const dynamodb = tracer.captureAWSv3Client(
  new DynamoDBClient({
    // Standard retry mode: the SDK retries throttling with backoff and full jitter (6 attempts).
    // The backing off of concurrency is the adapter's (batchWrite halves its calls in flight on
    // throttling or unprocessed items), per table and batch. The SDK's adaptive mode was tried and
    // left out: its client-wide rate limiter slowed a local run with 11 throttles from 5 s to 18 s.
    maxAttempts: 6,
  }),
);
