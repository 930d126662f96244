/**
 * JSON Lines sources: one JSON object per line. The chunk planner and the workers split a JSONL file
 * with the same splitter as CSV (quoting off, see CsvRecordSplitter); this module turns one line into
 * the cells that the mapping reads, and picks the format of an object. Pure domain code.
 */
import { columnKey, type EntityConfig } from './config';
import type { SourceFormat } from './csv';
import { HeaderMismatchError } from './errors';
import { rejectReason } from './reject-reasons';

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

/**
 * A property of `obj` by exact name, else by case-insensitive trimmed name (like CSV headers); the
 * parse refused objects where both could differ (duplicate_key).
 */
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
    if (at === null || typeof at !== 'object' || Array.isArray(at) || at instanceof JsonNumber)
      return undefined;
    at = property(at as Record<string, unknown>, part);
  }
  return at;
}

/**
 * Parses one JSONL line into cells aligned with `columns`: strings as they are, numbers as the exact
 * text the line writes them with (parseJsonLine: no float in between), booleans as their JSON text,
 * null and missing properties as '' (absent); a missing column is looked up by its `aliases` in
 * order. Reasons: `invalid_json` (not JSON), `duplicate_key:<name>` (an object with two properties
 * of one name, or of names that differ only in case or surrounding spaces), `not_an_object` (JSON,
 * but not an object), `not_scalar:<column>` (an object or array where a value is expected).
 */
export function jsonFields(
  text: string,
  columns: readonly string[],
  aliases?: ReadonlyArray<readonly string[] | undefined>,
): JsonRecord {
  let value: JsonValue;
  try {
    value = parseJsonLine(text);
  } catch (err) {
    return { ok: false, reasons: [err instanceof JsonLineError ? err.reason : rejectReason('invalid_json')] };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof JsonNumber) {
    return { ok: false, reasons: [rejectReason('not_an_object')] };
  }
  return cellsOf(value, columns, aliases);
}

/** The cells of a parsed record (see jsonFields). */
function cellsOf(
  obj: Record<string, unknown>,
  columns: readonly string[],
  aliases: ReadonlyArray<readonly string[] | undefined> | undefined,
): JsonRecord {
  const fields: string[] = [];
  let reasons: string[] | undefined;
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
    else if (v instanceof JsonNumber) fields.push(v.text);
    else if (typeof v === 'boolean') fields.push(v ? 'true' : 'false');
    else {
      reasons ??= [];
      reasons.push(rejectReason('not_scalar', column));
      fields.push('');
    }
  }
  return reasons !== undefined ? { ok: false, reasons } : { ok: true, fields };
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
  let value: JsonValue;
  try {
    value = parseJsonLine(trimmed);
  } catch (err) {
    // Two properties of one name reject the record, not the file: its names still tell the fields.
    if (err instanceof JsonLineError && err.reason !== 'invalid_json')
      return { keys: Object.keys(JSON.parse(trimmed)) };
    if (trimmed.startsWith('[')) {
      return { problem: 'the file is a JSON array, not JSON Lines (one object per line)' };
    }
    if (trimmed === '{') {
      return { problem: 'the file is pretty-printed JSON, not JSON Lines (one object per line)' };
    }
    // The parser's message gives a position, never the record's text (it may hold personal data).
    return { problem: `not JSON Lines: the first record is not valid JSON (${(err as Error).message})` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof JsonNumber) {
    return { problem: 'not JSON Lines: the first record is not a JSON object' };
  }
  return { keys: Object.keys(value) };
}

/**
 * The format of an object: configured, else by extension, else JSONL when the first byte is `{` or `[`
 * (a JSON array or tree file is converted to JSON Lines at Plan: json-document.ts).
 */
export function resolveFormat(
  configured: 'auto' | SourceFormat,
  key: string,
  headText: string,
): SourceFormat {
  if (configured !== 'auto') return configured;
  const name = key.toLowerCase();
  if (name.endsWith('.jsonl') || name.endsWith('.ndjson')) return 'jsonl';
  if (name.endsWith('.csv') || name.endsWith('.tsv') || name.endsWith('.txt')) return 'csv';
  const first = headText.replace(/^\uFEFF/, '').trimStart()[0];
  return first === '{' || first === '[' ? 'jsonl' : 'csv';
}

// ---------------------------------------------------------------------------------------------------------
// A lossless JSON parse of one line

/**
 * A JSON number as the file wrote it: JSON Lines cells keep a number's exact text (`9007199254740993`,
 * a 29-digit id, `1e400`, `1.50`), as a CSV cell of the same text would be, instead of going through
 * a float.
 */
export class JsonNumber {
  constructor(readonly text: string) {}
}

/** A parsed JSON value: as JSON.parse gives it (`__proto__` an own property), numbers as JsonNumber. */
export type JsonValue = string | boolean | null | JsonNumber | JsonValue[] | { [name: string]: JsonValue };

/** Why a line is not a JSON object the mapping may read: not JSON, or two properties of one name. */
export class JsonLineError extends Error {
  override readonly name = 'JsonLineError';
  constructor(
    /** `invalid_json` or `duplicate_key:<name>`. */
    readonly reason: string,
    /** Position in the line (UTF-16 units) and what was wrong there, never the line's text. */
    readonly detail: string,
  ) {
    super(detail);
  }
}

/** Longest property name a `duplicate_key:<name>` reason repeats. */
const NAME_SHOWN = 64;

/**
 * Parses one JSON text like JSON.parse (RFC 8259: the same values, the same refusals), except that
 * numbers are JsonNumber (their text) and an object holding two properties whose names are equal, or
 * equal after trimming and lower-casing (columnKey, how names are matched), throws
 * `duplicate_key:<name>` (the second name): JSON.parse would keep the last of two equal names while
 * the case-insensitive lookup found the first of two variants. Throws JsonLineError.
 */
export function parseJsonLine(text: string): JsonValue {
  const p = new LineParser(text);
  p.space();
  const value = p.value();
  p.space();
  if (p.at < text.length) p.fail('unexpected text after the value');
  return value;
}

/** A backslash or a control character: what ends the usual string. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is its purpose
const SPECIAL = /[\\\x00-\x1f]/g;

class LineParser {
  at = 0;
  /** Index of the next backslash or control character at or after some earlier string's start. */
  private special = -1;
  constructor(private readonly s: string) {}

  fail(what: string): never {
    throw new JsonLineError(rejectReason('invalid_json'), `position ${this.at}: ${what}`);
  }

  space(): void {
    const s = this.s;
    let c = s.charCodeAt(this.at);
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = s.charCodeAt(++this.at);
  }

  value(): JsonValue {
    const c = this.s.charCodeAt(this.at);
    if (c === 0x22) return this.string();
    if (c === 0x7b) return this.object();
    if (c === 0x5b) return this.array();
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    if (this.s.startsWith('true', this.at)) return this.word(4, true);
    if (this.s.startsWith('false', this.at)) return this.word(5, false);
    if (this.s.startsWith('null', this.at)) return this.word(4, null);
    return this.fail(Number.isNaN(c) ? 'the line ends where a value belongs' : 'not a JSON value');
  }

  private word<T>(length: number, v: T): T {
    this.at += length;
    return v;
  }

  private object(): { [name: string]: JsonValue } {
    const s = this.s;
    const out: { [name: string]: JsonValue } = {};
    /** columnKey of each name so far, made on the first name that could have a variant. */
    let keys: Set<string> | undefined;
    let count = 0;
    this.at++;
    this.space();
    if (s.charCodeAt(this.at) === 0x7d) {
      this.at++;
      return out;
    }
    for (;;) {
      if (s.charCodeAt(this.at) !== 0x22) this.fail('a property name belongs here');
      const name = this.string();
      this.space();
      if (s.charCodeAt(this.at) !== 0x3a) this.fail('a colon belongs here');
      this.at++;
      this.space();
      const v = this.value();
      if (Object.hasOwn(out, name)) duplicate(name);
      if (count > 0) {
        if (keys === undefined) {
          keys = new Set();
          for (const k of Object.keys(out)) keys.add(nameKey(k));
        }
        const key = nameKey(name);
        if (keys.has(key)) duplicate(name);
        keys.add(key);
      }
      // An own property as JSON.parse makes it: `__proto__` is a name like any other.
      if (name === '__proto__')
        Object.defineProperty(out, name, { value: v, enumerable: true, writable: true, configurable: true });
      else out[name] = v;
      count++;
      this.space();
      const c = s.charCodeAt(this.at++);
      if (c === 0x7d) return out;
      if (c !== 0x2c) {
        this.at--;
        this.fail('a comma or } belongs here');
      }
      this.space();
    }
  }

  private array(): JsonValue[] {
    const s = this.s;
    const out: JsonValue[] = [];
    this.at++;
    this.space();
    if (s.charCodeAt(this.at) === 0x5d) {
      this.at++;
      return out;
    }
    for (;;) {
      out.push(this.value());
      this.space();
      const c = s.charCodeAt(this.at++);
      if (c === 0x5d) return out;
      if (c !== 0x2c) {
        this.at--;
        this.fail('a comma or ] belongs here');
      }
      this.space();
    }
  }

  private number(): JsonNumber {
    const s = this.s;
    const begin = this.at;
    let c = s.charCodeAt(this.at);
    if (c === 0x2d) c = s.charCodeAt(++this.at);
    if (c === 0x30) c = s.charCodeAt(++this.at);
    else if (c >= 0x31 && c <= 0x39) c = this.digits();
    else this.fail('a digit belongs here');
    if (c === 0x2e) {
      c = s.charCodeAt(++this.at);
      if (!(c >= 0x30 && c <= 0x39)) this.fail('a digit belongs here');
      c = this.digits();
    }
    if (c === 0x65 || c === 0x45) {
      c = s.charCodeAt(++this.at);
      if (c === 0x2b || c === 0x2d) c = s.charCodeAt(++this.at);
      if (!(c >= 0x30 && c <= 0x39)) this.fail('a digit belongs here');
      this.digits();
    }
    return new JsonNumber(s.slice(begin, this.at));
  }

  /** Skips digits; returns the code after them. */
  private digits(): number {
    const s = this.s;
    let c = s.charCodeAt(this.at);
    while (c >= 0x30 && c <= 0x39) c = s.charCodeAt(++this.at);
    return c;
  }

  private string(): string {
    const s = this.s;
    const begin = ++this.at;
    const close = s.indexOf('"', begin);
    if (close === -1) this.fail('a string is never closed');
    // The usual string: no escape, no control character before its closing quote.
    if (this.special < begin) {
      SPECIAL.lastIndex = begin;
      this.special = SPECIAL.test(s) ? SPECIAL.lastIndex - 1 : s.length;
    }
    if (this.special > close) {
      this.at = close + 1;
      return s.slice(begin, close);
    }
    let i = this.special;
    let out = s.slice(begin, i);
    let from = i;
    for (;;) {
      const c = s.charCodeAt(i);
      if (Number.isNaN(c)) {
        this.at = i;
        this.fail('a string is never closed');
      }
      if (c === 0x22) {
        this.at = i + 1;
        return out + s.slice(from, i);
      }
      if (c < 0x20) {
        this.at = i;
        this.fail('a control character must be escaped in a string');
      }
      if (c !== 0x5c) {
        i++;
        continue;
      }
      out += s.slice(from, i);
      const e = s.charCodeAt(i + 1);
      switch (e) {
        case 0x22:
          out += '"';
          break;
        case 0x5c:
          out += '\\';
          break;
        case 0x2f:
          out += '/';
          break;
        case 0x62:
          out += '\b';
          break;
        case 0x66:
          out += '\f';
          break;
        case 0x6e:
          out += '\n';
          break;
        case 0x72:
          out += '\r';
          break;
        case 0x74:
          out += '\t';
          break;
        case 0x75: {
          const hex = s.slice(i + 2, i + 6);
          if (!/^[0-9A-Fa-f]{4}$/.test(hex)) {
            this.at = i;
            this.fail('a \\u escape needs 4 hex digits');
          }
          out += String.fromCharCode(Number.parseInt(hex, 16));
          i += 4;
          break;
        }
        default:
          this.at = i;
          this.fail('not a JSON escape');
      }
      i += 2;
      from = i;
    }
  }
}

/** columnKey(name), without its trim when the name starts and ends with a visible ASCII character. */
function nameKey(name: string): string {
  const first = name.charCodeAt(0);
  const last = name.charCodeAt(name.length - 1);
  return first > 0x20 && first < 0x7f && last > 0x20 && last < 0x7f ? name.toLowerCase() : columnKey(name);
}

function duplicate(name: string): never {
  const shown = name.length > NAME_SHOWN ? `${name.slice(0, NAME_SHOWN)}…` : name;
  throw new JsonLineError(
    rejectReason('duplicate_key', shown),
    `two properties named ${JSON.stringify(shown)}`,
  );
}
