import { ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import type { InboxObject } from '../domain/sync';
import { s3Client } from './clients';
import { listObjects } from './s3';

/**
 * Every current object under a prefix. `versions: true` lists object versions and keeps the latest
 * of each key (not a delete marker), with its version id, which ClaimRun derives the run id from in
 * a versioned bucket (s3:ListBucketVersions). `versions: false` lists objects (s3:ListBucket), for an
 * unversioned bucket such as the local emulator's, where ETags identify runs (see listObjects).
 */
export async function listInbox(
  bucket: string,
  prefix: string,
  options: { versions: boolean },
): Promise<InboxObject[]> {
  const objects: InboxObject[] = [];
  if (options.versions) {
    let keyMarker: string | undefined;
    let versionIdMarker: string | undefined;
    do {
      const out = await s3Client().send(
        new ListObjectVersionsCommand({
          Bucket: bucket,
          Prefix: prefix,
          KeyMarker: keyMarker,
          VersionIdMarker: versionIdMarker,
        }),
      );
      for (const v of out.Versions ?? []) {
        if (!v.IsLatest || v.Key === undefined) continue;
        objects.push({
          key: v.Key,
          size: v.Size ?? 0,
          lastModified: v.LastModified ?? new Date(0),
          etag: clean(v.ETag),
          versionId: v.VersionId,
        });
      }
      keyMarker = out.IsTruncated ? out.NextKeyMarker : undefined;
      versionIdMarker = out.IsTruncated ? out.NextVersionIdMarker : undefined;
    } while (keyMarker !== undefined);
    return objects;
  }
  return (await listObjects(bucket, prefix)).map((o) => ({
    key: o.Key,
    size: o.Size ?? 0,
    lastModified: o.LastModified ?? new Date(0),
    etag: clean(o.ETag),
  }));
}

function clean(etag: string | undefined): string | undefined {
  return etag === undefined ? undefined : etag.replaceAll('"', '');
}
