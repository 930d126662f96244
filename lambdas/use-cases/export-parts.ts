import { listObjects, readText } from '../adapters/s3';
import {
  type ExportPart,
  inboxKeyOf,
  parseManifest,
  partsDigest,
  resolveParts,
} from '../domain/export-folder';

/** A multi-file export as ClaimRun and Plan read it: its parts, in key order, and their digest. */
export interface ExportParts {
  folder: string;
  parts: ExportPart[];
  digest: string;
}

/**
 * The parts of the export whose marker or manifest `key` is (undefined for any other key): the
 * folder's listing, checked against the manifest when there is one (lambdas/domain/export-folder.ts).
 */
export async function exportParts(source: {
  bucket: string;
  key: string;
  entity: string;
  versionId?: string | null | undefined;
}): Promise<ExportParts | undefined> {
  const kind = inboxKeyOf(source.key, source.entity);
  if (kind?.kind !== 'marker' && kind?.kind !== 'manifest') return undefined;
  const listing = (await listObjects(source.bucket, kind.folder)).map((o) => ({
    key: o.Key,
    size: o.Size ?? 0,
    etag: o.ETag,
  }));
  const manifest =
    kind.kind === 'manifest'
      ? parseManifest(
          await readText({
            bucket: source.bucket,
            key: source.key,
            versionId: source.versionId ?? undefined,
          }),
          kind.folder,
        )
      : undefined;
  const parts = resolveParts(kind.folder, listing, manifest);
  return { folder: kind.folder, parts, digest: partsDigest(parts) };
}
