import { mkdirSync } from 'node:fs';
import type { AddressInfo, Server } from 'node:net';
import { join } from 'node:path';

/** Names of the local resources that stand in for the stack's. */
export const LOCAL = {
  bucket: 'crm-sync-local',
  ledgerTable: 'crm-sync-ledger',
  region: 'us-east-1',
  account: '000000000000',
  targetTable: (entity: string) => `crm-sync-${entity}`,
} as const;

export interface Emulators {
  s3Endpoint: string;
  dynamodbEndpoint: string;
  /** s3rver instance: emits 'event' on object-created notifications. */
  s3: { on(event: 'event', listener: (e: unknown) => void): void };
  stop(): Promise<void>;
}

/**
 * Starts dynalite (DynamoDB API) and s3rver (S3 API) in this process, on loopback ports chosen by
 * the OS, with their data on disk under the state dir so that later processes see it.
 */
export async function startEmulators(stateDir: string): Promise<Emulators> {
  const dynamoDir = join(stateDir, 'dynamodb');
  const s3Dir = join(stateDir, 's3');
  mkdirSync(dynamoDir, { recursive: true });
  mkdirSync(s3Dir, { recursive: true });

  const dynalite = require('dynalite') as (opts: Record<string, unknown>) => Server;
  const dynamo = dynalite({ path: dynamoDir, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    dynamo.once('error', reject);
    dynamo.listen(0, '127.0.0.1', () => resolve());
  });
  const dynamoPort = (dynamo.address() as AddressInfo).port;

  const S3rver = require('s3rver') as new (
    opts: Record<string, unknown>,
  ) => {
    run(): Promise<{ address: string; port: number }>;
    close(): Promise<void>;
    on(event: 'event', listener: (e: unknown) => void): void;
  };
  const s3 = new S3rver({
    address: '127.0.0.1',
    port: 0,
    directory: s3Dir,
    silent: true,
    resetOnClose: false,
    allowMismatchedSignatures: true,
    configureBuckets: [{ name: LOCAL.bucket }],
  });
  const { port: s3Port } = await s3.run();

  return {
    s3Endpoint: `http://127.0.0.1:${s3Port}`,
    dynamodbEndpoint: `http://127.0.0.1:${dynamoPort}`,
    s3,
    async stop() {
      await s3.close();
      await new Promise<void>((resolve) => dynamo.close(() => resolve()));
    },
  };
}
