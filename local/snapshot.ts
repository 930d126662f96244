import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { fromAttributeMap } from '../lambdas/adapters/dynamodb';
import type { CrmSyncConfig } from '../lambdas/domain/config';
import { getEntity } from '../lambdas/domain/config';
import { CrmSyncError } from '../lambdas/domain/errors';
import {
  fromDynamoJson,
  gunzipLines,
  manifestKey,
  parseItemLine,
  parseManifest,
  type SnapshotFormat,
  type SnapshotManifest,
  snapshotPrefix,
} from '../lambdas/domain/snapshot';
import { failInterruptedRuns } from './interrupted';
import type { LocalStack } from './local-stack';
import { pruneSnapshots } from './prune';

/** What `crm-sync local export` and `local restore` report (`--json`: one JSON object). */
export interface LocalBackupResult {
  kind: 'snapshot' | 'restore';
  status: 'SUCCEEDED' | 'FAILED';
  /** The entity whose table was snapshotted, or restored into. */
  entity: string;
  table: string;
  snapshotId: string | null;
  restoreId?: string | null;
  items: number | null;
  digest: string | null;
  /** `s3://<local bucket>/snapshots/<entity>/<id>/manifest.json` */
  manifest: string | null;
  /** Older (or failed) snapshots of the entity deleted after this one (`local.keepSnapshots`). */
  pruned?: string[];
  /** `--out`: the directory the snapshot was copied to, and its files. */
  out?: { dir: string; files: string[] };
  durationMs: number;
  error?: { name: string; message: string };
}

/** A Lambda error's Cause is `{"errorType","errorMessage"}`: show the message. */
function messageOf(cause: string): string {
  try {
    return (JSON.parse(cause) as { errorMessage?: string }).errorMessage ?? cause;
  } catch {
    return cause;
  }
}

/**
 * The error to show: a Distributed Map fails as a whole (`States.ExceedToleratedFailureThreshold`);
 * its cause names the first failed child's error, which is what a user needs (e.g. which part is
 * corrupt).
 */
function errorOf(error: { name: string; message: string }): { name: string; message: string } {
  const first = /\(first: ([\w.]+): ([\s\S]*)\)$/.exec(error.message);
  if (error.name !== 'States.ExceedToleratedFailureThreshold' || !first?.[1] || first[2] === undefined) {
    return { name: error.name, message: messageOf(error.message) };
  }
  // The child's own error: a Lambda error `{"errorType","errorMessage"}`, maybe wrapped by the child run.
  const lambda = /(\{"errorType"[\s\S]*\})\s*$/.exec(first[2])?.[1];
  if (lambda) {
    try {
      const e = JSON.parse(lambda) as { errorType?: string; errorMessage?: string };
      if (e.errorType) return { name: e.errorType, message: e.errorMessage ?? '' };
    } catch {
      // not JSON after all: shown as it is
    }
  }
  return { name: first[1], message: messageOf(first[2]) };
}

export { failInterruptedBackups } from './interrupted';

async function getBytes(stack: LocalStack, key: string): Promise<Buffer> {
  const out = await stack.s3Client.send(new GetObjectCommand({ Bucket: stack.bucket, Key: key }));
  return Buffer.from((await out.Body?.transformToByteArray()) ?? new Uint8Array());
}

/** The manifest of a snapshot in the local bucket. */
export async function readLocalManifest(stack: LocalStack, prefix: string): Promise<SnapshotManifest> {
  const key = manifestKey(prefix);
  return parseManifest((await getBytes(stack, key)).toString('utf8'), `s3://${stack.bucket}/${key}`);
}

/** Runs the Snapshot state machine on the local stack. */
export async function takeLocalSnapshot(
  stack: LocalStack,
  config: CrmSyncConfig,
  options: { entity: string; formats?: SnapshotFormat[]; snapshotId?: string; segments?: number },
): Promise<{ result: LocalBackupResult; manifest?: SnapshotManifest }> {
  const started = Date.now();
  getEntity(config, options.entity);
  // A run or backup of the entity whose process ended would hold the entity's lock forever.
  await failInterruptedRuns(stack, options.entity);
  const exec = await stack.executeBackup('snapshot', {
    entity: options.entity,
    ...(options.snapshotId !== undefined ? { snapshotId: options.snapshotId } : {}),
    ...(options.formats !== undefined ? { formats: options.formats } : {}),
    ...(options.segments !== undefined ? { segments: options.segments } : {}),
  });
  const out = exec.output as { snapshotId: string; items: number; digest: string; prefix: string } | null;
  const result: LocalBackupResult = {
    kind: 'snapshot',
    status: exec.status,
    entity: options.entity,
    table: stack.tableOf(options.entity),
    snapshotId: out?.snapshotId ?? options.snapshotId ?? null,
    items: out?.items ?? null,
    digest: out?.digest ?? null,
    manifest: out ? `s3://${stack.bucket}/${manifestKey(out.prefix)}` : null,
    durationMs: Date.now() - started,
  };
  if (exec.error) result.error = errorOf(exec.error);
  // Every export takes a snapshot: only the newest `local.keepSnapshots` of the entity are kept.
  const pruned = await pruneSnapshots(stack, options.entity, config.local?.keepSnapshots);
  if (pruned.length > 0) result.pruned = pruned;
  if (!out) return { result };
  return { result, manifest: await readLocalManifest(stack, out.prefix) };
}

/** Copies a snapshot (manifest and parts) out of the local bucket into `dir`. */
export async function copySnapshotOut(
  stack: LocalStack,
  manifest: SnapshotManifest,
  dir: string,
): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const prefix = snapshotPrefix(manifest.entity, manifest.snapshotId);
  const names = [...manifest.parts.map((p) => p.file), ...(manifest.csv?.parts.map((p) => p.file) ?? [])];
  const files: string[] = [];
  for (const name of names) {
    const path = join(dir, name);
    writeFileSync(path, await getBytes(stack, `${prefix}${name}`));
    files.push(path);
  }
  if (manifest.csv) {
    // One CSV for people: the parts' rows under one header.
    const path = join(dir, `${manifest.entity}.csv`);
    writeFileSync(path, '');
    for await (const text of csvTexts(stack, manifest)) writeFileSync(path, text, { flag: 'a' });
    files.push(path);
  }
  // The manifest last, as in the bucket: a directory with a manifest is complete.
  const manifestPath = join(dir, 'manifest.json');
  writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  files.push(manifestPath);
  return files;
}

/** The CSV parts' text, the header only once (it is the first CRLF-ended line of every part). */
async function* csvTexts(stack: LocalStack, manifest: SnapshotManifest): AsyncGenerator<string> {
  const prefix = snapshotPrefix(manifest.entity, manifest.snapshotId);
  let first = true;
  for (const part of manifest.csv?.parts ?? []) {
    const text = gunzipSync(await getBytes(stack, `${prefix}${part.file}`)).toString('utf8');
    yield first ? text : text.slice(text.indexOf('\r\n') + 2);
    first = false;
  }
}

/**
 * The snapshot's rows as `local export` prints them: JSON Lines of plain items (without crm-sync's
 * own attributes unless `allAttributes`), or the CSV parts' rows under one header.
 */
export async function* snapshotRows(
  stack: LocalStack,
  manifest: SnapshotManifest,
  options: { format: SnapshotFormat; allAttributes?: boolean | undefined; hidden: readonly string[] },
): AsyncGenerator<string> {
  const prefix = snapshotPrefix(manifest.entity, manifest.snapshotId);
  if (options.format === 'csv' && manifest.csv) {
    yield* csvTexts(stack, manifest);
    return;
  }
  for (const part of manifest.parts) {
    let out = '';
    let line = 0;
    for await (const text of gunzipLines(await getBytes(stack, `${prefix}${part.file}`))) {
      const item = fromAttributeMap(
        fromDynamoJson(parseItemLine(text, `${part.file}:${++line}`)) as Parameters<
          typeof fromAttributeMap
        >[0],
      );
      if (!options.allAttributes) for (const m of options.hidden) delete item[m];
      out += `${JSON.stringify(item)}\n`;
    }
    yield out;
  }
}

/** `local restore <snapshot>` was given something that is neither a snapshot dir nor an id. */
export class SnapshotNotFoundError extends CrmSyncError {
  override readonly name = 'SnapshotNotFoundError';
}

/**
 * Uploads a snapshot directory (as `local export --out` writes it) into the local bucket under
 * `snapshots/<entity>/<snapshotId>/`, the manifest last; returns the prefix. The files are uploaded as
 * they are: the restore verifies them against the manifest.
 */
export async function uploadSnapshotDir(stack: LocalStack, dir: string): Promise<string> {
  const manifestPath = join(dir, 'manifest.json');
  if (!existsSync(manifestPath)) throw new SnapshotNotFoundError(`${dir} has no manifest.json`);
  const text = readFileSync(manifestPath, 'utf8');
  const manifest = parseManifest(text, manifestPath);
  const prefix = snapshotPrefix(manifest.entity, manifest.snapshotId);
  for (const part of [...manifest.parts, ...(manifest.csv?.parts ?? [])]) {
    const path = join(dir, part.file);
    if (!existsSync(path)) continue; // a missing part: the restore names it
    await stack.s3Client.send(
      new PutObjectCommand({ Bucket: stack.bucket, Key: `${prefix}${part.file}`, Body: readFileSync(path) }),
    );
  }
  await stack.s3Client.send(
    new PutObjectCommand({
      Bucket: stack.bucket,
      Key: manifestKey(prefix),
      Body: text,
      ContentType: 'application/json',
    }),
  );
  return prefix;
}

/**
 * Runs the Restore state machine: `snapshot` is a snapshot directory (uploaded first) or the id of a
 * snapshot in the local bucket (of `fromEntity`, default the target entity).
 */
export async function restoreLocalSnapshot(
  stack: LocalStack,
  config: CrmSyncConfig,
  options: { entity: string; snapshot: string; fromEntity?: string | undefined },
): Promise<LocalBackupResult> {
  const started = Date.now();
  getEntity(config, options.entity);
  // A run or backup of the entity whose process ended would hold the entity's lock forever.
  await failInterruptedRuns(stack, options.entity);
  const isDir = existsSync(options.snapshot) && statSync(options.snapshot).isDirectory();
  const input: Record<string, unknown> = { entity: options.entity };
  if (isDir) input.prefix = await uploadSnapshotDir(stack, options.snapshot);
  else {
    input.snapshotId = options.snapshot;
    if (options.fromEntity !== undefined) input.fromEntity = options.fromEntity;
  }
  const exec = await stack.executeBackup('restore', input);
  const out = exec.output as {
    restoreId: string;
    snapshotId: string;
    items: number;
    digest: string;
    prefix: string;
  } | null;
  const prefix =
    out?.prefix ??
    (input.prefix as string | undefined) ??
    snapshotPrefix(options.fromEntity ?? options.entity, options.snapshot);
  const result: LocalBackupResult = {
    kind: 'restore',
    status: exec.status,
    entity: options.entity,
    table: stack.tableOf(options.entity),
    snapshotId: out?.snapshotId ?? (isDir ? (prefix.split('/').at(-2) ?? null) : options.snapshot),
    restoreId: out?.restoreId ?? null,
    items: out?.items ?? null,
    digest: out?.digest ?? null,
    manifest: `s3://${stack.bucket}/${manifestKey(prefix)}`,
    durationMs: Date.now() - started,
  };
  if (exec.error) result.error = errorOf(exec.error);
  return result;
}

/** A person-readable account of a snapshot or restore. */
export function describeBackup(r: LocalBackupResult): string {
  const what = r.kind === 'snapshot' ? `snapshot of ${r.entity}` : `restore into ${r.entity}`;
  const lines = [`crm-sync ${what} (${r.table}): ${r.status}`];
  if (r.snapshotId) lines.push(`  snapshot id    ${r.snapshotId}`);
  if (r.restoreId) lines.push(`  restore id     ${r.restoreId}`);
  if (r.items !== null) lines.push(`  items          ${r.items.toLocaleString('en-US')}`);
  if (r.digest) lines.push(`  digest         ${r.digest}`);
  if (r.manifest) lines.push(`  manifest       ${r.manifest}`);
  if (r.out) lines.push(`  copied to      ${r.out.dir} (${r.out.files.length} files)`);
  if (r.error) lines.push(`  error          ${r.error.name}: ${r.error.message}`);
  lines.push(`  time           ${(r.durationMs / 1000).toFixed(1)} s`);
  return lines.join('\n');
}
