import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import type { AddressInfo, Server } from 'node:net';
import { dirname, join } from 'node:path';
import { CrmSyncError } from '../lambdas/domain/errors';
import { acquireStateDirLock } from './state-dir-lock';

/** Names of the local resources that stand in for the stack's. */
export const LOCAL = {
  bucket: 'crm-sync-local',
  ledgerTable: 'crm-sync-ledger',
  region: 'us-east-1',
  account: '000000000000',
  targetTable: (entity: string) => `crm-sync-${entity}`,
  /** A table entities share (`target.table`): `.` keeps it apart from any entity's own table. */
  sharedTable: (table: string) => `crm-sync-${table}.table`,
} as const;

/** The local name of an entity's target table: its `tableName`, else its shared table's, else its own. */
export function localTableName(
  entity: string,
  target: { readonly tableName?: string | undefined; readonly table?: string | undefined } | undefined,
): string {
  if (target?.tableName !== undefined) return target.tableName;
  return target?.table !== undefined ? LOCAL.sharedTable(target.table) : LOCAL.targetTable(entity);
}

export interface Emulators {
  s3Endpoint: string;
  dynamodbEndpoint: string;
  /** s3rver instance: emits 'event' on object-created notifications. */
  s3: { on(event: 'event', listener: (e: unknown) => void): void };
  stop(): Promise<void>;
}

/** A DynamoDB API endpoint backed by dynalite. */
export interface LocalDynamo {
  endpoint: string;
  stop(): Promise<void>;
}

/**
 * Where dynalite runs: `process` (default), a Node process of its own, so that on a multi-core
 * machine it does not compete with the workers for this process's one JS thread (measured: a local
 * run of 200k rows spends most of its CPU in dynalite); `inline`, in this process.
 * `CRM_SYNC_DYNALITE=inline|process` chooses.
 */
export type DynalitePlacement = 'process' | 'inline';

function placementOf(value: string | undefined): DynalitePlacement {
  if (value === undefined || value === '' || value === 'process') return 'process';
  if (value === 'inline') return 'inline';
  throw new Error(`CRM_SYNC_DYNALITE must be "process" or "inline", got "${value}"`);
}

/**
 * V8 old-space limit of the dynalite process. Its data lives in LevelDB (outside the V8 heap); left
 * unbounded, its heap of garbage grew with the table (550 MiB RSS at 1M items) because V8 collects
 * lazily when memory is plentiful. `CRM_SYNC_DYNALITE_HEAP_MB` overrides.
 */
const DYNALITE_HEAP_MB = 128;

const DYNALITE_OPTIONS = { createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 };

/**
 * The child's program (plain JS, so it needs no TypeScript loader): listens on a loopback port,
 * prints it as one JSON line, and closes when its stdin closes, so it never outlives its parent.
 */
const DYNALITE_CHILD = `
const dynalite = require(process.argv[1]);
const server = dynalite(JSON.parse(process.argv[2]));
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: server.address().port }) + '\\n'));
process.stdin.on('data', () => {});
process.stdin.on('end', () => server.close(() => process.exit(0)));
`;

async function startDynaliteProcess(dir: string): Promise<LocalDynamo> {
  const options = JSON.stringify({ path: dir, ...DYNALITE_OPTIONS });
  const heap = process.env.CRM_SYNC_DYNALITE_HEAP_MB ?? String(DYNALITE_HEAP_MB);
  // Not the CLI's heap growing factor (bin/crm-sync.js): its heap is capped already, and dynalite is
  // what limits a local run's speed; alternating runs with the factor showed no clear gain.
  const args = [`--max-old-space-size=${heap}`, '-e', DYNALITE_CHILD, require.resolve('dynalite'), options];
  const child = spawn(process.execPath, args, {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`dynalite exited with ${code} before listening`)));
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) resolve((JSON.parse(line) as { port: number }).port);
    });
  });
  child.removeAllListeners('exit');
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.stdin.end();
      }),
  };
}

/**
 * Starts dynalite with its data on disk under `dir`, on a loopback port chosen by the OS, in a
 * process of its own unless `placement` (default: `$CRM_SYNC_DYNALITE`) says `inline`.
 */
export async function startDynalite(
  dir: string,
  placement: DynalitePlacement = placementOf(process.env.CRM_SYNC_DYNALITE),
): Promise<LocalDynamo> {
  mkdirSync(dir, { recursive: true });
  if (placement === 'process') return startDynaliteProcess(dir);
  // Loaded only for the in-process placement (the default runs it in a child process); untyped.
  const dynalite = require('dynalite') as (opts: Record<string, unknown>) => Server;
  const dynamo = dynalite({ path: dir, ...DYNALITE_OPTIONS });
  await new Promise<void>((resolve, reject) => {
    dynamo.once('error', reject);
    dynamo.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (dynamo.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () => new Promise<void>((resolve) => dynamo.close(() => resolve())),
  };
}

/**
 * A DynamoDB endpoint the local stack uses instead of starting dynalite (e.g. Amazon's DynamoDB
 * Local, started with `-sharedDb`: the stack's own client and the workers sign with different
 * access keys, which DynamoDB Local otherwise keeps apart). `CRM_SYNC_LOCAL_DYNAMODB_ENDPOINT`
 * sets it; the stack creates its tables there if they are missing, and never stops it.
 */
export function externalDynamoEndpoint(
  value = process.env.CRM_SYNC_LOCAL_DYNAMODB_ENDPOINT,
): string | undefined {
  if (value === undefined || value === '') return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch (err) {
    throw new Error(`CRM_SYNC_LOCAL_DYNAMODB_ENDPOINT must be an http(s) URL, got "${value}"`, {
      cause: err,
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`CRM_SYNC_LOCAL_DYNAMODB_ENDPOINT must be an http(s) URL, got "${value}"`);
  }
  return value;
}

/**
 * Starts dynalite (DynamoDB API) and s3rver (S3 API) in this process, on loopback ports chosen by
 * the OS, with their data on disk under the state dir so that later processes see it. With
 * `CRM_SYNC_LOCAL_DYNAMODB_ENDPOINT` set, that endpoint stands in for dynalite.
 */
export async function startEmulators(stateDir: string): Promise<Emulators> {
  // One process at a time opens a state dir (StateDirBusyError at once otherwise): LevelDB opens
  // its files in one process only, and a run's lock and RUNNING records are this process's.
  const release = acquireStateDirLock(stateDir);
  try {
    return await startOn(stateDir, release);
  } catch (err) {
    release();
    throw err;
  }
}

async function startOn(stateDir: string, release: () => void): Promise<Emulators> {
  const dynamoDir = join(stateDir, 'dynamodb');
  const s3Dir = join(stateDir, 's3');
  mkdirSync(dynamoDir, { recursive: true });
  mkdirSync(s3Dir, { recursive: true });

  const external = externalDynamoEndpoint();
  const dynamo: LocalDynamo = external
    ? { endpoint: external, stop: async () => {} }
    : await startDynalite(dynamoDir);

  // Loaded when the emulators start (the commands that start none need not load it); untyped.
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
    dynamodbEndpoint: dynamo.endpoint,
    s3,
    async stop() {
      try {
        await s3.close();
        await dynamo.stop();
      } finally {
        release();
      }
    },
  };
}

/** A local upload did not store the whole file (the file changed while it was read?). */
export class UploadIncompleteError extends CrmSyncError {
  override readonly name = 'UploadIncompleteError';
}

/** Where local uploads are written before they are moved into place: outside `inbox/` and `dry-run/`. */
export const STAGING_PREFIX = 'staging/';

/** The files s3rver (its filesystem store) keeps an object in, under `<stateDir>/s3/<bucket>/`. */
function s3rverFiles(stateDir: string, bucket: string, key: string) {
  const encoded =
    process.platform === 'win32'
      ? key.replace(/[<>:"\\|?*]/g, (ch) => `&${Buffer.from(ch, 'utf8').toString('hex')}`)
      : key;
  const parts = encoded.split('/');
  const name = parts.pop() ?? '';
  const base = join(stateDir, 's3', bucket, ...parts, `${name}._S3rver_`);
  return { object: `${base}object`, md5: `${base}object.md5`, metadata: `${base}metadata.json` };
}

/**
 * Moves an object of the local bucket to another key by renaming its files in s3rver's store, so
 * that the destination is the whole object or what it was before, never a part: s3rver writes an
 * object (and copies one) in place, so a process killed meanwhile leaves a truncated object.
 * The destination's checksum goes first, so that until the object is renamed its ETag is that of
 * the content it has (s3rver computes a missing one from the content).
 */
export function moveLocalObject(stateDir: string, bucket: string, from: string, to: string): void {
  const src = s3rverFiles(stateDir, bucket, from);
  const dst = s3rverFiles(stateDir, bucket, to);
  mkdirSync(dirname(dst.object), { recursive: true });
  rmSync(dst.md5, { force: true });
  if (existsSync(src.metadata)) renameSync(src.metadata, dst.metadata);
  renameSync(src.object, dst.object);
  if (existsSync(src.md5)) renameSync(src.md5, dst.md5);
  // s3rver removes a deleted object's empty folders: so does the move.
  removeEmptyFolders(dirname(src.object), join(stateDir, 's3', bucket));
}

/** Removes `dir` and its parents while they are empty, up to (not including) `bucketDir`. */
function removeEmptyFolders(dir: string, bucketDir: string): void {
  for (let up = dir; up.startsWith(`${bucketDir}/`); up = dirname(up)) {
    if (readdirSync(up).length > 0) break;
    rmdirSync(up);
  }
}

/**
 * Deletes every object of the local bucket under a folder prefix (`work/<runId>/`) by removing its
 * folder from s3rver's store; returns how many objects there were. s3rver's own DeleteObjects
 * deletes its keys concurrently, each removing the folders it leaves empty, and fails with
 * InternalError when two of them race on one folder (seen on a run of a few hundred chunks).
 */
export function deleteLocalFolder(stateDir: string, bucket: string, prefix: string): number {
  if (!prefix.endsWith('/')) throw new Error(`not a folder prefix: ${prefix}`);
  const dir = dirname(s3rverFiles(stateDir, bucket, `${prefix}x`).object);
  if (!existsSync(dir)) return 0;
  const objects = readdirSync(dir, { recursive: true }).filter((f) =>
    String(f).endsWith('._S3rver_object'),
  ).length;
  rmSync(dir, { recursive: true, force: true });
  removeEmptyFolders(dirname(dir), join(stateDir, 's3', bucket));
  return objects;
}

/**
 * Removes what uploads killed before they were moved into place left: staging objects and the
 * multipart uploads (s3rver's `._S3rver_uploads/<id>/`) of staging keys. Only one process uses a
 * state dir at a time, so none of them is in progress.
 */
export function clearStagedUploads(stateDir: string, bucket: string): void {
  const bucketDir = join(stateDir, 's3', bucket);
  rmSync(join(bucketDir, STAGING_PREFIX), { recursive: true, force: true });
  const uploads = join(bucketDir, '._S3rver_uploads');
  if (!existsSync(uploads)) return;
  for (const id of readdirSync(uploads)) {
    const keyFile = join(uploads, id, 'key');
    const key = existsSync(keyFile) ? readFileSync(keyFile, 'utf8') : '';
    if (key.startsWith(STAGING_PREFIX)) rmSync(join(uploads, id), { recursive: true, force: true });
  }
}
