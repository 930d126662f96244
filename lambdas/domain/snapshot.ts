import { createHash } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import { z } from 'zod';
import { csvCell } from './chunk';
import { InvalidSnapshotError } from './errors';
import { combineDigests } from './hash';

/**
 * Snapshots (backups) of a target table and their restore: naming, the item format, the
 * order-independent table digest and the manifest. No AWS calls here.
 *
 * A snapshot lives under `snapshots/<entity>/<snapshotId>/`: one gzip JSON Lines part per parallel
 * scan segment (`part-00000.jsonl.gz`), optionally one CSV part per segment for people
 * (`part-00000.csv.gz`), and `manifest.json`, written last (a snapshot without a manifest is
 * incomplete). Each JSONL line is `{"Item":{…}}` with the item in DynamoDB JSON — DynamoDB's own
 * export format, which `ImportTable` also reads — so every attribute keeps its exact type and value:
 * a number stays a number with all its digits, a numeric-looking string stays a string, sets, lists,
 * maps, binary (base64) and NULL survive, and crm-sync's own attributes (`_v`, `_line`, `_run`,
 * `_digest`) come back too.
 */

export const SNAPSHOT_FORMAT_VERSION = 1;
export const SNAPSHOTS_PREFIX = 'snapshots/';
/** Parallel scan segments of a snapshot when the table's size does not ask for more. */
export const DEFAULT_SEGMENTS = 8;
/** At most this many segments (and Map children). */
export const MAX_SEGMENTS = 1000;
/** Bytes of table per segment: each worker scans and writes about this much. */
export const SEGMENT_TARGET_BYTES = 128 * 1024 * 1024;

export type SnapshotFormat = 'jsonl' | 'csv';
export type BackupKind = 'snapshot' | 'restore';

/** A DynamoDB attribute value in DynamoDB JSON (binary as base64 text). */
export type DynamoJson =
  | { S: string }
  | { N: string }
  | { B: string }
  | { BOOL: boolean }
  | { NULL: true }
  | { SS: string[] }
  | { NS: string[] }
  | { BS: string[] }
  | { L: DynamoJson[] }
  | { M: Record<string, DynamoJson> };
export type DynamoJsonItem = Record<string, DynamoJson>;

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Snapshot and restore ids name S3 prefixes: letters, digits, `.`, `_`, `-`, at most 128. */
export function checkBackupId(id: string, what: 'snapshot' | 'restore'): string {
  if (!ID.test(id)) {
    throw new InvalidSnapshotError(
      `invalid ${what} id "${id}": use letters, digits, ".", "_" and "-" (at most 128, not starting with . _ -)`,
    );
  }
  return id;
}

/**
 * The id of a snapshot or restore when none is given: the execution's start time and name, so a
 * retried step of the same execution finds the same id (and its own lock).
 */
export function deriveBackupId(startTime: string, executionName: string): string {
  const time = new Date(startTime);
  const stamp = Number.isNaN(time.getTime())
    ? '00000000T000000Z'
    : time
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.\d+Z$/, 'Z');
  const suffix = executionName.replace(/[^A-Za-z0-9]/g, '').slice(0, 8) || 'x';
  return `${stamp}-${suffix}`;
}

export function snapshotPrefix(entity: string, snapshotId: string): string {
  return `${SNAPSHOTS_PREFIX}${entity}/${snapshotId}/`;
}

export function manifestKey(prefix: string): string {
  return `${prefix}manifest.json`;
}

const pad = (segment: number) => String(segment).padStart(5, '0');

/** File name (relative to the snapshot prefix) of a segment's part. */
export function partFile(segment: number, format: SnapshotFormat): string {
  return `part-${pad(segment)}.${format}.gz`;
}

/** Work objects (under `work/`, expiring): what each segment worker found. */
export const backupWorkKeys = {
  prefix: (kind: BackupKind, entity: string, id: string) => `work/${kind}s/${entity}/${id}/`,
  segment: (kind: BackupKind, entity: string, id: string, segment: number) =>
    `work/${kind}s/${entity}/${id}/segment-${pad(segment)}.json`,
};

/** The ledger item of a snapshot or restore (pk, sk), beside the runs. */
export function backupLedgerKey(entity: string, kind: BackupKind, id: string): { pk: string; sk: string } {
  return { pk: `BACKUP#${entity}`, sk: `${kind.toUpperCase()}#${id}` };
}

/** The entity lock holder of a snapshot or restore (a run holds it with its run id). */
export function backupLockHolder(kind: BackupKind, id: string): string {
  return `${kind}:${id}`;
}

/** The snapshot or restore behind a lock holder, or undefined when a run holds it. */
export function parseBackupLockHolder(holder: string): { kind: BackupKind; id: string } | undefined {
  const m = /^(snapshot|restore):(.+)$/.exec(holder);
  return m ? { kind: m[1] as BackupKind, id: m[2] as string } : undefined;
}

/** Segments of a parallel scan: `requested`, else one per SEGMENT_TARGET_BYTES, at least DEFAULT_SEGMENTS. */
export function chooseSegments(tableSizeBytes: number, requested?: number): number {
  const wanted = requested ?? Math.max(DEFAULT_SEGMENTS, Math.ceil(tableSizeBytes / SEGMENT_TARGET_BYTES));
  return Math.min(MAX_SEGMENTS, Math.max(1, Math.floor(wanted)));
}

// ---------------------------------------------------------------------------------------------
// Items

const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;
const base64 = (v: unknown) => (isBytes(v) ? Buffer.from(v).toString('base64') : String(v));

/**
 * An item as the SDK returns it (binary as Uint8Array) → DynamoDB JSON, in canonical form: map keys
 * sorted at every level and set members sorted (DynamoDB keeps no order in sets), so one item always
 * has one text.
 */
export function toDynamoJson(item: Readonly<Record<string, unknown>>): DynamoJsonItem {
  const out: DynamoJsonItem = {};
  for (const k of Object.keys(item).sort()) setOwn(out, k, valueToJson(item[k]));
  return out;
}

/** Sets a property even when its name is `__proto__` (a valid attribute name). */
function setOwn<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function valueToJson(value: unknown): DynamoJson {
  const v = value as Record<string, unknown>;
  if (v.S !== undefined) return { S: String(v.S) };
  if (v.N !== undefined) return { N: String(v.N) };
  if (v.BOOL !== undefined) return { BOOL: Boolean(v.BOOL) };
  if (v.NULL !== undefined) return { NULL: true };
  if (v.B !== undefined) return { B: base64(v.B) };
  if (v.SS !== undefined) return { SS: [...(v.SS as string[])].sort() };
  if (v.NS !== undefined) return { NS: [...(v.NS as string[])].sort() };
  if (v.BS !== undefined) return { BS: (v.BS as unknown[]).map(base64).sort() };
  if (v.L !== undefined) return { L: (v.L as unknown[]).map(valueToJson) };
  if (v.M !== undefined) return { M: toDynamoJson(v.M as Record<string, unknown>) };
  // Its type tags only: the value is a row's.
  const tags = value !== null && typeof value === 'object' ? Object.keys(value) : [typeof value];
  throw new InvalidSnapshotError(`unsupported attribute value (types: ${tags.join(', ') || 'none'})`);
}

/** DynamoDB JSON → an item for the SDK (base64 binary back to bytes). */
export function fromDynamoJson(item: DynamoJsonItem): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(item)) setOwn(out, k, valueFromJson(v));
  return out;
}

function valueFromJson(value: DynamoJson): unknown {
  if ('B' in value) return { B: Buffer.from(value.B, 'base64') };
  if ('BS' in value) return { BS: value.BS.map((b) => Buffer.from(b, 'base64')) };
  if ('L' in value) return { L: value.L.map(valueFromJson) };
  if ('M' in value) return { M: fromDynamoJson(value.M) };
  return value;
}

/** The text of an item that its hash is taken over (canonical DynamoDB JSON). */
export function canonicalItem(item: DynamoJsonItem): string {
  return JSON.stringify(item);
}

/** One JSONL line of a part (with its newline), as DynamoDB's export writes it. */
export function itemLine(canonical: string): string {
  return `{"Item":${canonical}}\n`;
}

/** Parses a JSONL line of a part; throws InvalidSnapshotError naming the line. */
export function parseItemLine(line: string, where: string): DynamoJsonItem {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (err) {
    throw new InvalidSnapshotError(`${where}: not JSON`, { cause: err });
  }
  const item = (parsed as { Item?: unknown } | null)?.Item;
  if (!item || typeof item !== 'object' || Array.isArray(item)) {
    throw new InvalidSnapshotError(`${where}: not an {"Item": {…}} line`);
  }
  return item as DynamoJsonItem;
}

// ---------------------------------------------------------------------------------------------
// CSV (for people)

function cellText(value: DynamoJson | undefined): string {
  if (value === undefined || 'NULL' in value) return '';
  if ('S' in value) return value.S;
  if ('N' in value) return value.N;
  if ('BOOL' in value) return String(value.BOOL);
  return JSON.stringify(value);
}

export function csvHeader(columns: readonly string[]): string {
  return `${columns.map(csvCell).join(',')}\r\n`;
}

/**
 * A CSV row of the entity's fields (formula-looking cells escaped, like rejects.csv). A dotted field
 * (`address.street`) is the member of its map; a list or set is its JSON.
 */
export function csvRow(item: DynamoJsonItem, columns: readonly string[]): string {
  return `${columns.map((c) => csvCell(cellText(c.includes('.') ? memberJson(item, c.split('.')) : item[c]))).join(',')}\r\n`;
}

/** The member at `path` of an item's maps, or undefined. */
function memberJson(item: DynamoJsonItem, path: readonly string[]): DynamoJson | undefined {
  let members: Record<string, DynamoJson> | undefined = item;
  for (let i = 0; i < path.length - 1; i++) {
    const at: DynamoJson | undefined = members[path[i] as string];
    members = at !== undefined && 'M' in at ? at.M : undefined;
    if (members === undefined) return undefined;
  }
  return members[path[path.length - 1] as string];
}

// ---------------------------------------------------------------------------------------------
// Manifest

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'a 64-digit lower-case hex digest');
const count = z.number().int().min(0);
const segment = z.number().int().min(0).max(MAX_SEGMENTS);

export const partSchema = z.object({
  segment,
  file: z.string().regex(/^part-\d{5}\.jsonl\.gz$/),
  items: count,
  bytes: count,
  sha256: hex64,
  digest: hex64,
});
export type SnapshotPart = z.infer<typeof partSchema>;

export const csvPartSchema = z.object({
  segment,
  file: z.string().regex(/^part-\d{5}\.csv\.gz$/),
  rows: count,
  bytes: count,
  sha256: hex64,
});
export type SnapshotCsvPart = z.infer<typeof csvPartSchema>;

export const manifestSchema = z.object({
  kind: z.literal('crm-sync-snapshot'),
  formatVersion: z.literal(SNAPSHOT_FORMAT_VERSION),
  snapshotId: z.string().regex(ID),
  entity: z.string().min(1),
  table: z.string().min(1),
  key: z.string().min(1),
  /** The table's sort key attribute (absent: none). */
  sortKey: z.string().min(1).optional(),
  /** On a shared table, the attribute and value that mark the entity's items (all the snapshot holds). */
  entityType: z.object({ name: z.string().min(1), value: z.string().min(1) }).optional(),
  configHash: z.string(),
  /** When the lock was held and the scan began: the point in time of the snapshot. */
  takenAt: z.string(),
  finishedAt: z.string(),
  itemFormat: z.literal('DYNAMODB_JSON'),
  compression: z.literal('GZIP'),
  formats: z.array(z.enum(['jsonl', 'csv'])).min(1),
  segments: z.number().int().min(1).max(MAX_SEGMENTS),
  items: count,
  digest: hex64,
  parts: z.array(partSchema),
  csv: z.object({ columns: z.array(z.string()), parts: z.array(csvPartSchema) }).optional(),
});
export type SnapshotManifest = z.infer<typeof manifestSchema>;

/** What one segment worker of a snapshot found and wrote. */
export interface SegmentResult {
  part: SnapshotPart;
  csv?: SnapshotCsvPart | undefined;
}

/** The manifest of a snapshot from its segments' results; checks every segment reported once. */
export function buildManifest(
  base: Omit<SnapshotManifest, 'kind' | 'formatVersion' | 'items' | 'digest' | 'parts' | 'csv'> & {
    columns?: readonly string[] | undefined;
  },
  results: readonly SegmentResult[],
): SnapshotManifest {
  const { columns, ...rest } = base;
  const parts = results.map((r) => r.part).sort((a, b) => a.segment - b.segment);
  const total = combineDigests(parts);
  const manifest: SnapshotManifest = {
    kind: 'crm-sync-snapshot',
    formatVersion: SNAPSHOT_FORMAT_VERSION,
    ...rest,
    items: total.items,
    digest: total.digest,
    parts,
  };
  if (base.formats.includes('csv')) {
    manifest.csv = {
      columns: [...(columns ?? [])],
      parts: results
        .map((r) => r.csv)
        .filter((p): p is SnapshotCsvPart => p !== undefined)
        .sort((a, b) => a.segment - b.segment),
    };
  }
  return checkManifest(manifest, 'snapshot manifest');
}

/** Parses and checks a manifest; every problem is an InvalidSnapshotError. */
export function parseManifest(text: string, where: string): SnapshotManifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InvalidSnapshotError(`${where}: not JSON`, { cause: err });
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new InvalidSnapshotError(`${where}: not a crm-sync snapshot manifest (${issues.join('; ')})`);
  }
  return checkManifest(parsed.data, where);
}

/**
 * The manifest's own consistency: one part per segment 0…segments-1 with its file name, and the
 * items and digest equal to the sum of the parts'.
 */
export function checkManifest(m: SnapshotManifest, where: string): SnapshotManifest {
  const problems: string[] = [];
  const segments = m.parts.map((p) => p.segment);
  if (m.parts.length !== m.segments || segments.some((s, i) => s !== i)) {
    problems.push(`parts must be segments 0…${m.segments - 1} once each (found ${segments.join(',')})`);
  }
  for (const p of m.parts) {
    if (p.file !== partFile(p.segment, 'jsonl')) problems.push(`part ${p.segment} is named ${p.file}`);
  }
  const total = combineDigests(m.parts);
  if (total.items !== m.items) problems.push(`items ${m.items} ≠ sum of the parts ${total.items}`);
  if (total.digest !== m.digest) problems.push('digest ≠ the combined digest of the parts');
  if (m.formats.includes('csv') !== (m.csv !== undefined)) problems.push('formats and csv disagree');
  if (problems.length > 0) throw new InvalidSnapshotError(`${where}: ${problems.join('; ')}`);
  return m;
}

/** The lines of a gzip JSON Lines object (without newlines; empty lines skipped). */
export async function* gunzipLines(data: Uint8Array): AsyncGenerator<string> {
  const gunzip = createGunzip();
  gunzip.end(data);
  const decoder = new StringDecoder('utf8');
  let rest = '';
  for await (const chunk of gunzip as AsyncIterable<Buffer>) {
    const lines = (rest + decoder.write(chunk)).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) if (line) yield line;
  }
  rest += decoder.end();
  if (rest) yield rest;
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
