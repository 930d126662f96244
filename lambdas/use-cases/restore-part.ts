import { readManifest, readPartBytes } from '../adapters/snapshot-objects';
import type { RestoreJob, SegmentsOutput } from '../contract/backup';
import { checkPartBytes, eachSegment, manifestPart } from '../domain/backup';
import type { SnapshotManifest, SnapshotPart } from '../domain/snapshot';
import type { WorkerContext } from './worker-context';

/** The manifests one batch has read, by prefix: each is read once per batch. */
export type ManifestCache = Map<string, SnapshotManifest>;

/** The manifest's part of a segment; the manifest must still be the one PrepareRestore read. */
export async function partOf(
  job: RestoreJob,
  segment: number,
  bucket: string,
  manifests: ManifestCache,
): Promise<SnapshotPart> {
  let manifest = manifests.get(job.prefix);
  if (!manifest) {
    manifest = await readManifest(bucket, job.prefix);
    manifests.set(job.prefix, manifest);
  }
  return manifestPart(manifest, job, segment);
}

/** A part's bytes, checked against the manifest (size and SHA-256). */
export async function readCheckedPart(job: RestoreJob, part: SnapshotPart, bucket: string): Promise<Buffer> {
  const key = `${job.prefix}${part.file}`;
  const data = await readPartBytes(bucket, key);
  checkPartBytes(key, data, part);
  return data;
}

/** A restore Map's batch of parts (by segment), one after the other: each part's manifest entry, then `work`. */
export async function eachPart(
  job: RestoreJob,
  segments: readonly number[],
  ctx: WorkerContext,
  work: (job: RestoreJob, part: SnapshotPart, ctx: WorkerContext) => Promise<number>,
): Promise<SegmentsOutput> {
  const manifests: ManifestCache = new Map();
  return eachSegment(segments, async (segment) =>
    work(job, await partOf(job, segment, ctx.bucket, manifests), ctx),
  );
}
