import { createReadStream, statSync } from 'node:fs';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { s3Client } from '../../lambdas/adapters/clients';

/** The object an upload made: what the inbox rule's event carries of it. */
export interface UploadedObject {
  readonly key: string;
  readonly etag: string;
  readonly versionId: string | undefined;
  readonly size: number;
}

/** Parts of a multipart upload: 16 MiB (a 160 GiB file stays under S3's 10,000 parts). */
export const PART_BYTES = 16 * 1024 * 1024;

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

/**
 * Uploads a local file to `s3://bucket/key`: one PUT below a part, else a multipart upload of
 * PART_BYTES parts, four at a time, with a progress line per part done.
 */
export async function uploadFile(
  bucket: string,
  key: string,
  path: string,
  onProgress?: (line: string) => void,
): Promise<UploadedObject> {
  const size = statSync(path).size;
  const upload = new Upload({
    client: s3Client(),
    params: { Bucket: bucket, Key: key, Body: createReadStream(path), ContentLength: size },
    partSize: PART_BYTES,
    queueSize: 4,
  });
  if (onProgress && size > PART_BYTES) {
    upload.on('httpUploadProgress', (p) => {
      const loaded = p.loaded ?? 0;
      onProgress(
        `upload ${mib(loaded)} of ${mib(size)} (${Math.floor((loaded / Math.max(size, 1)) * 100)}%)`,
      );
    });
  }
  const out = await upload.done();
  return { key, etag: (out.ETag ?? '').replaceAll('"', ''), versionId: out.VersionId ?? undefined, size };
}

/** Puts an empty object at `s3://bucket/key` (an export folder's `_SUCCESS` marker). */
export async function putMarker(bucket: string, key: string): Promise<UploadedObject> {
  const out = await s3Client().send(
    new PutObjectCommand({ Bucket: bucket, Key: key, Body: new Uint8Array(), ContentLength: 0 }),
  );
  return { key, etag: (out.ETag ?? '').replaceAll('"', ''), versionId: out.VersionId ?? undefined, size: 0 };
}
