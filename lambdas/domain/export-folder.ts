import { createHash } from 'node:crypto';
import { z } from 'zod';
import { MalformedFileError } from './errors';

/**
 * A multi-file export: the parts of one snapshot in a folder one level below the entity's inbox,
 * `inbox/<entity>/<export>/<part>` (Salesforce Bulk API 2.0 result sets, Data Export's
 * `Contact-1.csv`, `Contact-2.csv`, Spark/Glue/AppFlow `part-0000*.csv`). A part never starts a run
 * by itself: the run starts when the folder's completion marker (`_SUCCESS`) or its manifest
 * (`manifest.json`) lands. Pure: the listing is handed in.
 */

/** The completion marker Spark, Glue and AppFlow write (often a 0-byte object). */
export const SUCCESS_MARKER = '_SUCCESS';
/** A manifest listing the export's parts. */
export const MANIFEST_NAME = 'manifest.json';

/** What a key under the inbox is. */
export type InboxKey =
  /** A file directly under `inbox/<entity>/`: an export of its own. */
  | { kind: 'file' }
  /** The completion marker or the manifest of an export folder: the trigger of its run. */
  | { kind: 'marker' | 'manifest'; folder: string }
  /** A part of an export folder (or any deeper object): it waits for its folder's marker. */
  | { kind: 'part'; folder: string };

/**
 * What `key` is for `entity`: a file of the inbox, an export folder's marker or manifest, or a part.
 * Undefined for a key outside `inbox/<entity>/`.
 */
export function inboxKeyOf(key: string, entity: string): InboxKey | undefined {
  return folderKeyOf(key, entity, 'inbox/');
}

/**
 * What `key` is for `entity` under `root` (`inbox/`, or `dry-run/` for a dry run's copy of an
 * export, laid out as the inbox is): a file, an export folder's marker or manifest, or a part.
 * Undefined for a key outside `<root><entity>/`.
 */
export function folderKeyOf(key: string, entity: string, root: string): InboxKey | undefined {
  const prefix = `${root}${entity}/`;
  if (!key.startsWith(prefix)) return undefined;
  const rest = key.slice(prefix.length);
  const slash = rest.indexOf('/');
  if (slash < 0) return { kind: 'file' };
  const folder = `${prefix}${rest.slice(0, slash + 1)}`;
  const name = rest.slice(slash + 1);
  if (name === SUCCESS_MARKER) return { kind: 'marker', folder };
  if (name === MANIFEST_NAME) return { kind: 'manifest', folder };
  return { kind: 'part', folder };
}

/** One object of a folder listing. */
export interface FolderObject {
  key: string;
  size: number;
  etag?: string | undefined;
  versionId?: string | undefined;
}

/** One part of an export, as the run reads it. */
export interface ExportPart {
  key: string;
  size: number;
  etag: string;
  versionId?: string | undefined;
}

const manifestSchema = z.object({
  parts: z
    .array(
      z.union([
        z.string().min(1),
        z.object({
          key: z.string().min(1),
          size: z.number().int().min(0).optional(),
          etag: z.string().optional(),
        }),
      ]),
    )
    .min(1, 'lists no part'),
});

/** A part as a manifest lists it: its key (relative to the folder, or the whole key), maybe its size and ETag. */
export interface ManifestPart {
  key: string;
  size?: number | undefined;
  etag?: string | undefined;
}

const unquote = (etag: string | undefined) => (etag ?? '').replaceAll('"', '');

/**
 * The parts a manifest lists, as whole keys: a MalformedFileError (naming the manifest) for bad
 * JSON, no part, a part outside the folder (another folder, another entity) or a part listed twice.
 */
export function parseManifest(text: string, folder: string): ManifestPart[] {
  const where = `${folder}${MANIFEST_NAME}`;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new MalformedFileError(`${where}: not JSON (${(err as Error).message})`, { cause: err });
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.join('.') ?? '';
    throw new MalformedFileError(
      `${where}: ${path ? `${path}: ` : ''}${issue?.message ?? 'invalid'} (expected {"parts": ["<key>", ...]})`,
    );
  }
  const seen = new Set<string>();
  return parsed.data.parts.map((p) => {
    const entry = typeof p === 'string' ? { key: p } : p;
    // A whole key starts with the folder's root (`inbox/`, or `dry-run/` for a dry run's copy).
    const root = folder.slice(0, folder.indexOf('/') + 1);
    const key = entry.key.startsWith(root) ? entry.key : `${folder}${entry.key}`;
    const name = key.slice(folder.length);
    if (!key.startsWith(folder) || name.includes('/') || name === '') {
      throw new MalformedFileError(`${where}: part ${entry.key} is not in the export folder ${folder}`);
    }
    if (isMarkerName(name)) throw new MalformedFileError(`${where}: part ${entry.key} is not a data file`);
    if (seen.has(key)) throw new MalformedFileError(`${where}: part ${entry.key} is listed twice`);
    seen.add(key);
    return { key, size: entry.size, etag: entry.etag === undefined ? undefined : unquote(entry.etag) };
  });
}

/** `_`/`.` names (markers, hidden files) and the manifest are never parts. */
function isMarkerName(name: string): boolean {
  return name.startsWith('_') || name.startsWith('.') || name === MANIFEST_NAME;
}

/**
 * The export's parts, in the export's order: with a manifest, exactly the parts it lists, in its
 * order (a missing part, one
 * whose size or ETag differs, or a data file of the folder it does not list is a MalformedFileError);
 * with `_SUCCESS`, the folder's objects but `_`/`.` names and folder markers, in key order. An export with no part,
 * or with an empty part, is a MalformedFileError. Objects below a subfolder are not parts.
 */
export function resolveParts(
  folder: string,
  listing: readonly FolderObject[],
  manifest?: readonly ManifestPart[],
): ExportPart[] {
  const data = listing.filter((o) => {
    const name = o.key.slice(folder.length);
    return o.key.startsWith(folder) && name !== '' && !name.includes('/') && !isMarkerName(name);
  });
  const byKey = new Map(data.map((o) => [o.key, o]));
  let parts: FolderObject[];
  if (manifest) {
    const listed = new Set(manifest.map((p) => p.key));
    const extra = data.filter((o) => !listed.has(o.key)).map((o) => o.key);
    if (extra.length > 0) {
      throw new MalformedFileError(
        `${folder}${MANIFEST_NAME}: the folder holds ${extra.length} part(s) the manifest does not list: ${extra.slice(0, 3).join(', ')}`,
      );
    }
    parts = manifest.map((p) => {
      const o = byKey.get(p.key);
      if (!o) throw new MalformedFileError(`${folder}${MANIFEST_NAME}: part ${p.key} is missing`);
      if (p.size !== undefined && p.size !== o.size) {
        throw new MalformedFileError(
          `${folder}${MANIFEST_NAME}: part ${p.key} has ${o.size} bytes, the manifest says ${p.size}`,
        );
      }
      if (p.etag !== undefined && p.etag !== unquote(o.etag)) {
        throw new MalformedFileError(
          `${folder}${MANIFEST_NAME}: part ${p.key} has ETag ${unquote(o.etag)}, the manifest says ${p.etag}`,
        );
      }
      return o;
    });
  } else {
    parts = data;
  }
  if (parts.length === 0) throw new MalformedFileError(`${folder}: the export has no part`);
  const empty = parts.find((p) => p.size === 0);
  if (empty) throw new MalformedFileError(`${empty.key}: the part is empty`);
  // The parts' order is the export's row order (lambdas/domain/row-position.ts): the manifest's, else key order.
  const ordered = manifest ? parts : [...parts].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return ordered.map((p) => ({
    key: p.key,
    size: p.size,
    etag: unquote(p.etag),
    ...(p.versionId ? { versionId: p.versionId } : {}),
  }));
}

/**
 * The identity of an export's parts (their keys and versions, else ETags): the run id is derived
 * from the trigger object and this, so a marker dropped again over the same parts is the same run,
 * and a changed, added or removed part makes another one.
 */
export function partsDigest(parts: readonly ExportPart[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(`${p.key}\u0000${p.versionId || p.etag}\u0000`);
  return h.digest('hex').slice(0, 20);
}
