import pLimit from 'p-limit';
import type { z } from 'zod';
import { InvalidEventError, InvalidSnapshotError, SnapshotCorruptError } from '../domain/errors';
import { manifestKey, parseManifest, type SnapshotManifest } from '../domain/snapshot';
import { readText } from './s3';
import { readObjectBytes } from './snapshots';

/** Whether a read failed because the object is not there. */
function isMissing(err: unknown): boolean {
  const name = (err as Error).name;
  return name === 'NoSuchKey' || name === 'NotFound';
}

/** The manifest of the snapshot at `prefix`, checked; InvalidSnapshotError when there is none. */
export async function readManifest(bucket: string, prefix: string): Promise<SnapshotManifest> {
  const key = manifestKey(prefix);
  let text: string;
  try {
    text = await readText({ bucket, key });
  } catch (err) {
    if (isMissing(err)) {
      throw new InvalidSnapshotError(`no snapshot at s3://${bucket}/${prefix} (no manifest.json)`, {
        cause: err,
      });
    }
    throw err;
  }
  return parseManifest(text, `s3://${bucket}/${key}`);
}

/** A snapshot part's bytes; SnapshotCorruptError when the part is missing. */
export async function readPartBytes(bucket: string, key: string): Promise<Buffer> {
  try {
    return await readObjectBytes(bucket, key);
  } catch (err) {
    if (isMissing(err)) throw new SnapshotCorruptError(`${key} is missing`, { cause: err });
    throw err;
  }
}

/** Reads the per-segment result objects the workers wrote, 16 at a time, each parsed by `schema`. */
export async function readSegmentResults<T extends z.ZodType>(
  bucket: string,
  keys: readonly string[],
  schema: T,
): Promise<Array<z.output<T>>> {
  const limit = pLimit(16);
  return Promise.all(keys.map((key) => limit(() => readSegmentResult(bucket, key, schema))));
}

async function readSegmentResult<T extends z.ZodType>(
  bucket: string,
  key: string,
  schema: T,
): Promise<z.output<T>> {
  const result = schema.safeParse(JSON.parse(await readText({ bucket, key })));
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new InvalidEventError(`s3://${bucket}/${key} is not a segment's result: ${issues.join('; ')}`);
  }
  return result.data;
}
