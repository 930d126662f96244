import type { RestoreJob, SegmentsOutput } from '../contract/backup';
import { checkPartItems } from '../domain/backup';
import { SnapshotCorruptError } from '../domain/errors';
import { SetDigest } from '../domain/hash';
import {
  canonicalItem,
  gunzipLines,
  parseItemLine,
  type SnapshotPart,
  toDynamoJson,
} from '../domain/snapshot';
import { eachPart, readCheckedPart } from './restore-part';
import type { WorkerContext } from './worker-context';

/** The VerifyParts Map's task: a batch of parts, one after the other. */
export async function verifyParts(
  job: RestoreJob,
  segments: readonly number[],
  ctx: WorkerContext,
): Promise<SegmentsOutput> {
  return eachPart(job, segments, ctx, verifyPart);
}

/**
 * VerifyPart: a part's bytes match the manifest's SHA-256, and its items the manifest's count and
 * digest. Every part is verified before LoadParts writes anything.
 */
export async function verifyPart(job: RestoreJob, part: SnapshotPart, ctx: WorkerContext): Promise<number> {
  const data = await readCheckedPart(job, part, ctx.bucket);
  const digest = new SetDigest();
  let line = 0;
  try {
    for await (const text of gunzipLines(data)) {
      line++;
      digest.add(canonicalItem(toDynamoJson(parseItemLine(text, `${part.file}:${line}`))));
    }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new SnapshotCorruptError(`${job.prefix}${part.file}: ${message}`, { cause: err });
  }
  checkPartItems(`${job.prefix}${part.file}`, digest, part);
  return digest.count;
}
