import { InvalidSnapshotError, RestoreMismatchError, SnapshotCorruptError } from './errors';
import type { TableKey } from './keys';
import {
  type BackupKind,
  checkBackupId,
  deriveBackupId,
  SNAPSHOTS_PREFIX,
  type SnapshotFormat,
  type SnapshotManifest,
  type SnapshotPart,
  sha256Hex,
} from './snapshot';

/**
 * The rules of the snapshot and restore workflows (lambdas/use-cases/snapshot-*.ts, restore-*.ts):
 * which id a backup gets, what a snapshot must be to be restored, and when a part or a restored
 * table checks out. Pure: the use cases read and write, these decide.
 */

/** The execution a backup runs in: `$$.Execution.Name` and `$$.Execution.StartTime`. */
export interface BackupExecution {
  name: string;
  startTime: string;
}

/** The given id, checked, or the execution's. */
export function backupId(given: string | undefined, execution: BackupExecution, kind: BackupKind): string {
  return given === undefined
    ? deriveBackupId(execution.startTime, execution.name)
    : checkBackupId(given, kind);
}

/** The id of a Catch's input: the given one when valid, else the execution's. */
export function idForAbort(given: unknown, execution: BackupExecution): string {
  return typeof given === 'string' ? given : deriveBackupId(execution.startTime, execution.name);
}

/** The formats a snapshot writes: JSONL always (first), then the requested others, once each. */
export function snapshotFormats(requested: readonly SnapshotFormat[] | undefined): SnapshotFormat[] {
  return [...new Set<SnapshotFormat>(['jsonl', ...(requested ?? [])])];
}

/** The scan segments 0 … segments-1, as the Distributed Map's items. */
export function segmentList(segments: number): number[] {
  return Array.from({ length: segments }, (_, i) => i);
}

/** A Distributed Map batch of segments, one after the other: each segment's item count. */
export async function eachSegment(
  segments: readonly number[],
  run: (segment: number) => Promise<number>,
): Promise<{ segments: Array<{ segment: number; items: number }> }> {
  const done: Array<{ segment: number; items: number }> = [];
  for (const segment of segments) done.push({ segment, items: await run(segment) });
  return { segments: done };
}

/** A snapshot prefix to restore from, with its trailing `/`: under `snapshots/`, without `..`. */
export function checkSnapshotPrefix(prefix: string): string {
  const p = prefix.endsWith('/') ? prefix : `${prefix}/`;
  if (!p.startsWith(SNAPSHOTS_PREFIX) || p.includes('..')) {
    throw new InvalidSnapshotError(`a snapshot is restored from under ${SNAPSHOTS_PREFIX} (not ${prefix})`);
  }
  return p;
}

/**
 * A snapshot restores into an entity's table when it has JSONL parts, the table's key attributes and,
 * on a shared table, the entity type's (its items are marked as the entity's).
 */
export function checkRestorable(
  manifest: SnapshotManifest,
  entity: string,
  keys: { table: TableKey; entityType?: { name: string; value: string } | undefined },
): void {
  if (!manifest.formats.includes('jsonl')) {
    throw new InvalidSnapshotError(
      `snapshot ${manifest.snapshotId} has no JSONL parts: it cannot be restored`,
    );
  }
  const spell = (pk: string, sk: string | undefined) => (sk === undefined ? `"${pk}"` : `"${pk}", "${sk}"`);
  if (manifest.key !== keys.table.partition || manifest.sortKey !== keys.table.sort) {
    throw new InvalidSnapshotError(
      `snapshot ${manifest.snapshotId} is of a table keyed by ${spell(manifest.key, manifest.sortKey)}; "${entity}" is keyed by ${spell(keys.table.partition, keys.table.sort)}`,
    );
  }
  const want = keys.entityType;
  const has = manifest.entityType;
  if (want?.name !== has?.name || want?.value !== has?.value) {
    const label = (t: { name: string; value: string } | undefined) =>
      t === undefined ? 'no entity type' : `${t.name} = "${t.value}"`;
    throw new InvalidSnapshotError(
      `snapshot ${manifest.snapshotId} holds items marked ${label(has)}; "${entity}" marks its items ${label(want)}`,
    );
  }
}

/** What a restore took from the manifest when it began: the manifest must stay that one. */
export interface RestoreSource {
  prefix: string;
  items: number;
  digest: string;
}

/** The manifest's part of a segment; the manifest must still be the one the restore began with. */
export function manifestPart(
  manifest: SnapshotManifest,
  source: RestoreSource,
  segment: number,
): SnapshotPart {
  if (manifest.digest !== source.digest || manifest.items !== source.items) {
    throw new InvalidSnapshotError(`the manifest of ${source.prefix} changed during the restore`);
  }
  const part = manifest.parts[segment];
  if (!part) throw new InvalidSnapshotError(`the manifest of ${source.prefix} has no part ${segment}`);
  return part;
}

/** A part's bytes (object `key`) must have the manifest's size and SHA-256. */
export function checkPartBytes(key: string, data: Uint8Array, part: SnapshotPart): void {
  const sha256 = sha256Hex(data);
  if (data.length !== part.bytes || sha256 !== part.sha256) {
    throw new SnapshotCorruptError(
      `${key} does not match the manifest: ${data.length} bytes, sha256 ${sha256} (manifest: ${part.bytes} bytes, sha256 ${part.sha256})`,
    );
  }
}

/** A part's items (read from `key`) must be the manifest's count with its digest. */
export function checkPartItems(key: string, found: { count: number; hex: string }, part: SnapshotPart): void {
  if (found.count !== part.items || found.hex !== part.digest) {
    throw new SnapshotCorruptError(
      `${key} holds ${found.count} items${found.hex === part.digest ? '' : ' with another digest'} (manifest: ${part.items})`,
    );
  }
}

/** The restored table's count and digest must equal the snapshot's. */
export function checkRestoredTable(
  expected: { table: string; snapshotId: string; items: number; digest: string },
  found: { items: number; digest: string },
): void {
  if (found.items !== expected.items || found.digest !== expected.digest) {
    throw new RestoreMismatchError(
      `table ${expected.table} holds ${found.items} items after the restore${found.digest === expected.digest ? '' : ' with another digest'}; snapshot ${expected.snapshotId} has ${expected.items}`,
    );
  }
}
