import { listObjects, readText } from '../adapters/s3';
import {
  type ExportPart,
  folderKeyOf,
  parseManifest,
  partsDigest,
  resolveParts,
} from '../domain/export-folder';
import { DRY_RUN_PREFIX } from '../domain/run';

/** A multi-file export as ClaimRun and Plan read it: its parts, in key order, and their digest. */
export interface ExportParts {
  folder: string;
  parts: ExportPart[];
  digest: string;
}

/**
 * The parts of the export whose marker or manifest `key` is (undefined for any other key): the
 * folder's listing, checked against the manifest when there is one (lambdas/domain/export-folder.ts).
 * A dry run reads its copy of the export, `dry-run/<entity>/<export>/`, laid out as the inbox is.
 */
export async function exportParts(source: {
  bucket: string;
  key: string;
  entity: string;
  versionId?: string | null | undefined;
  dryRun?: boolean | undefined;
}): Promise<ExportParts | undefined> {
  const kind = folderKeyOf(source.key, source.entity, source.dryRun ? DRY_RUN_PREFIX : 'inbox/');
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
