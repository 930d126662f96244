/**
 * JSON Lines sources: one JSON object per line. The chunk planner and the workers split a JSONL file
 * with the same splitter as CSV (quoting off, see CsvRecordSplitter); this module turns one line into
 * the cells that the mapping reads, and picks the format of an object. Pure domain code.
 */
import { columnKey, type EntityConfig } from './config';
import type { SourceFormat } from './csv';
import { HeaderMismatchError } from './errors';

const LF = 0x0a;
const CR = 0x0d;

/**
 * Source names a JSONL entity reads, in config order, one per distinct column key (the "columns").
 * Throws HeaderMismatchError when a field sets `position` or `occurrence` above 1: they pick columns
 * of a CSV header, and a JSON object has one property per name.
 */
export function jsonColumns(entity: EntityConfig): string[] {
  for (const [field, spec] of Object.entries(entity.fields)) {
    if (spec.position !== undefined || (spec.occurrence ?? 1) > 1) {
      throw new HeaderMismatchError(
        `field ${field}: position and occurrence pick columns of a CSV header; ` +
          'a JSON Lines record has one property per name (remove them for this file)',
      );
    }
  }
  const seen = new Set<string>();
  const columns: string[] = [];
  const add = (name: string): void => {
    const key = columnKey(name);
    if (seen.has(key)) return;
    seen.add(key);
    columns.push(name.trim());
  };
  for (const spec of Object.values(entity.fields)) add(spec.source);
  if (entity.deleteFlag) add(entity.deleteFlag.source);
  return columns;
}

/**
 * The other names of each of `columns` (the aliases of the fields that read it, in config order), or
 * undefined where there are none: jsonFields tries them, in order, when the record lacks the column.
 */
export function jsonAliases(
  entity: EntityConfig,
  columns: readonly string[],
): ReadonlyArray<readonly string[] | undefined> {
  const byKey = new Map<string, string[]>();
  for (const spec of Object.values(entity.fields)) {
    if (spec.aliases === undefined) continue;
    const list = byKey.get(columnKey(spec.source)) ?? [];
    for (const a of spec.aliases) if (!list.includes(a)) list.push(a);
    byKey.set(columnKey(spec.source), list);
  }
  return columns.map((c) => byKey.get(columnKey(c)));
}

/** Every name a JSONL entity may read: its columns and their aliases. */
export function jsonNames(entity: EntityConfig): string[] {
  const columns = jsonColumns(entity);
  return [...columns, ...jsonAliases(entity, columns).flatMap((a) => a ?? [])];
}

export type JsonRecord = { ok: true; fields: string[] } | { ok: false; reasons: string[] };

/** A property of `obj` by exact name, else by case-insensitive trimmed name (like CSV headers). */
function property(obj: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(obj, name)) return obj[name];
  const wanted = columnKey(name);
  for (const k of Object.keys(obj)) if (columnKey(k) === wanted) return obj[k];
  return undefined;
}

/** The value of a column: a top-level property, else a dotted path (`properties.email`, HubSpot). */
function lookup(obj: Record<string, unknown>, column: string): unknown {
  const direct = property(obj, column);
  if (direct !== undefined || !column.includes('.')) return direct;
  let at: unknown = obj;
  for (const part of column.split('.')) {
    if (at === null || typeof at !== 'object' || Array.isArray(at)) return undefined;
    at = property(at as Record<string, unknown>, part);
  }
  return at;
}

/**
 * Parses one JSONL line into cells aligned with `columns`: strings as they are, numbers and booleans
 * as their JSON text, null and missing properties as '' (absent); a missing column is looked up by
 * its `aliases` in order. Reasons: `invalid_json` (not JSON),
 * `not_an_object` (JSON, but not an object), `not_scalar:<column>` (an object or array where a value
 * is expected).
 */
export function jsonFields(
  text: string,
  columns: readonly string[],
  aliases?: ReadonlyArray<readonly string[] | undefined>,
): JsonRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reasons: ['invalid_json'] };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, reasons: ['not_an_object'] };
  }
  const obj = value as Record<string, unknown>;
  const fields: string[] = [];
  const reasons: string[] = [];
  for (let i = 0; i < columns.length; i++) {
    const column = columns[i] as string;
    let v = lookup(obj, column);
    const others = v === undefined ? aliases?.[i] : undefined;
    if (others !== undefined) {
      for (const alias of others) {
        v = lookup(obj, alias);
        if (v !== undefined) break;
      }
    }
    if (v === undefined || v === null) fields.push('');
    else if (typeof v === 'string') fields.push(v);
    else if (typeof v === 'number' || typeof v === 'boolean') fields.push(String(v));
    else {
      reasons.push(`not_scalar:${column}`);
      fields.push('');
    }
  }
  return reasons.length > 0 ? { ok: false, reasons } : { ok: true, fields };
}

/** The first non-blank line of UTF-8 bytes (BOM removed) and its line number; undefined if cut off. */
export function firstJsonLine(
  head: Uint8Array,
  wholeFile: boolean,
): { line: number; text: string } | undefined {
  let bytes = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
  let line = 1;
  let begin = 0;
  for (let i = 0; i <= bytes.length; i++) {
    const c = i < bytes.length ? bytes[i] : -1;
    if (c === LF || c === CR || c === -1) {
      if (c === -1 && !wholeFile) return undefined;
      const text = bytes.toString('utf8', begin, i);
      if (text.trim().length > 0) return { line, text };
      if (c === -1) return undefined;
      if (!(c === LF && i > 0 && bytes[i - 1] === CR)) line++;
      begin = i + 1;
    }
  }
  return undefined;
}

/**
 * Checks the first record of a JSONL file at Plan: a file whose first line is not a JSON object is not
 * JSON Lines (a JSON array or a pretty-printed document is the usual mistake). Returns the problem, or
 * undefined when the line is an object; `keys` are its top-level property names.
 */
export function checkFirstJsonLine(text: string): { problem: string } | { keys: string[] } {
  const trimmed = text.trim();
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch (err) {
    if (trimmed.startsWith('[')) {
      return { problem: 'the file is a JSON array, not JSON Lines (one object per line)' };
    }
    if (trimmed === '{') {
      return { problem: 'the file is pretty-printed JSON, not JSON Lines (one object per line)' };
    }
    return { problem: `not JSON Lines: the first record is not valid JSON (${(err as Error).message})` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { problem: 'not JSON Lines: the first record is not a JSON object' };
  }
  return { keys: Object.keys(value) };
}

/** The format of an object: configured, else by extension, else JSONL when the first byte is `{`. */
export function resolveFormat(
  configured: 'auto' | SourceFormat,
  key: string,
  headText: string,
): SourceFormat {
  if (configured !== 'auto') return configured;
  const name = key.toLowerCase();
  if (name.endsWith('.jsonl') || name.endsWith('.ndjson')) return 'jsonl';
  if (name.endsWith('.csv') || name.endsWith('.tsv') || name.endsWith('.txt')) return 'csv';
  return headText
    .replace(/^\uFEFF/, '')
    .trimStart()
    .startsWith('{')
    ? 'jsonl'
    : 'csv';
}
