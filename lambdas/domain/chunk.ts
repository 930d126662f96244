import type { EntityConfig, FieldSpec } from './config';
import { decodeUtf8, parseRecord, type RawRecord, type SourceFormat } from './csv';
import { dynamoItemSize, MAX_ITEM_BYTES, MAX_PARTITION_KEY_BYTES } from './item-size';
import { jsonAliases, jsonFields } from './jsonl';
import {
  type EntityKeys,
  entityKeys,
  isKeyField,
  META_ATTRIBUTES,
  recordKey,
  recordKeyFits,
  renderKeyPart,
} from './keys';
import {
  boundFields,
  type FieldWarning,
  type HeaderBinding,
  itemOfValues,
  mapValues,
  rulesOf,
} from './mapping';
import { type CellRules, Invalid, normalizeCell, type Value } from './normalize';
import { canBeKey } from './references';
import { rejectCode, rejectReason } from './reject-reasons';
import { type PartLine, partitionOf } from './run';

export { META, META_ATTRIBUTES } from './keys';

/** Length of `_digest`'s value: a SHA-1 in base64url (digest.ts). */
const DIGEST_CHARS = 27;
/** `_line` at its largest: a safe integer has 16 digits, 9 bytes (item-size numberSize). */
const LINE_BYTES = 9;
/** Bytes reserved for a run id or an entity name that the caller does not give. */
const UNKNOWN_NAME_BYTES = 256;

/**
 * What DynamoDB lets a row write, with what the merge adds to it. The merge writes a put as the
 * row's attributes plus crm-sync's own (META): `_v` (the row's version), `_line`, `_run` (the run
 * id) and `_digest`; a delete row deletes its key and writes a tombstone keyed
 * `TOMB#<entity>#<key>` in the ledger table (tombstones.ts), whose partition key is longer.
 */
export interface WriteLimits {
  /** Bytes of META's names and values but `_v`'s value (exact for the run id, `_line` at its largest). */
  metaBytes: number;
  /** Longest key of a put, in UTF-8 bytes (DynamoDB's partition key limit). */
  maxKeyBytes: number;
  /** Longest key of a delete row: the tombstone's prefix leaves less. */
  maxDeleteKeyBytes: number;
}

/** The limits for a run (`runId`) of an entity (`entity`); unknown ones reserve 256 bytes each. */
export function writeLimits(
  options: { entity?: string | undefined; runId?: string | undefined } = {},
): WriteLimits {
  const names = META_ATTRIBUTES.reduce((n, a) => n + Buffer.byteLength(a, 'utf8'), 0);
  const run = options.runId === undefined ? UNKNOWN_NAME_BYTES : Buffer.byteLength(options.runId, 'utf8');
  const prefix =
    options.entity === undefined ? UNKNOWN_NAME_BYTES : Buffer.byteLength(`TOMB#${options.entity}#`, 'utf8');
  return {
    metaBytes: names + LINE_BYTES + run + DIGEST_CHARS,
    maxKeyBytes: MAX_PARTITION_KEY_BYTES,
    maxDeleteKeyBytes: MAX_PARTITION_KEY_BYTES - prefix,
  };
}

/** The size of an item as the merge writes it: its attributes, `_v` = `version`, and META's others. */
export function writtenItemSize(
  item: Readonly<Record<string, Value>>,
  version: string,
  limits: WriteLimits,
): number {
  return dynamoItemSize(item) + Buffer.byteLength(version, 'utf8') + limits.metaBytes;
}

/** One part row (PART_FORMAT): key, line, version, deleted 0|1, lost lines|null, then the values. */
export type PartRow = Array<Value | number[] | null>;
/** Where a part row's values start. */
const ROW_VALUES = 5;

/** Which row a candidate is, and whether it wins: its key, line, version and delete flag. */
interface RowVersion {
  key: string;
  line: number;
  /** updatedAt as normalized ISO text ('' when the entity has none). */
  version: string;
  deleted: boolean;
}

/**
 * One accepted row of a chunk: the candidate for its key, kept as the JSON text of the part row it
 * will be written as (PART_FORMAT, with no lost lines yet). The row is serialized when it is
 * accepted, while its values are still in the CPU's caches, and only its text survives until the
 * chunk is written: serializing every row at the end of the chunk cost half as much again, and kept
 * each row's array and cells (and the record they slice) alive through the chunk's collections.
 * No item object per row: ChunkAccumulator.itemOf builds one when asked.
 */
export interface ChunkCandidate extends RowVersion {
  json: string;
}

/** A row waiting for settleReferences: its part row is still an array (its references are read). */
interface HeldRow {
  candidate: RowVersion;
  row: PartRow;
  raw: string;
  fields: readonly string[];
  warnings: FieldWarning[] | undefined;
}

/** A cell a kept row dropped or kept as text (onInvalid), as warnings.csv lists it. */
export interface Warning {
  line: number;
  /** `<code>:<SourceColumn>`, like a reject reason. */
  reason: string;
  action: 'drop' | 'keep';
  /** The cell as the file wrote it (for warnings.csv; never logged). */
  value: string;
}

/**
 * A partition's winner for its key, with its content digest (itemDigest of the item). The merge
 * computes the digest, for winners only: the transform worker is CPU-bound and the merge waits on
 * the table, so the hashing costs the merge no time.
 */
export interface Candidate extends RowVersion {
  item: Record<string, Value>;
  digest: string;
}

export interface Reject {
  line: number;
  reasons: string[];
  /** The record as it was in the file (for rejects.csv; never logged). */
  raw: string;
}

export interface DuplicateKey {
  key: string;
  lines: number[];
  winner: number;
}

/** (version, line) order: the greater wins (a multi-file export's line is its row ordinal: version, part, line). */
export function newer(
  a: Pick<Candidate, 'version' | 'line'>,
  b: Pick<Candidate, 'version' | 'line'>,
): boolean {
  return a.version > b.version || (a.version === b.version && a.line > b.line);
}

/**
 * Parses, maps and validates the records of one chunk and keeps the winner per key.
 * Holds one candidate per distinct key of the chunk (a chunk is bounded in bytes by the plan).
 */
export class ChunkAccumulator {
  readonly winners = new Map<string, ChunkCandidate>();
  readonly rejects: Reject[] = [];
  readonly reasonCounts: Record<string, number> = {};
  /** Cells of kept rows that failed their type in a field with onInvalid drop or keep. */
  readonly warnings: Warning[] = [];
  readonly warningCounts: Record<string, number> = {};
  rows = 0;
  superseded = 0;
  private readonly linesByKey = new Map<string, number[]>();
  /**
   * Bytes of an item that its part row's JSON text does not bound: every field's name and META.
   * A value's size is at most 3 bytes per character of its JSON text, so an item whose part row is
   * shorter than (MAX_ITEM_BYTES - sizeSlack) / 3 characters (about 136,000) cannot be too large
   * and is not measured.
   */
  private readonly sizeSlack: number;
  /** Every field an item of this binding may hold, in the order part objects list an item's values. */
  private readonly itemFields: readonly string[];
  /**
   * Mirror mode: keys of rejected rows (their key cell normalized as the mapping does: transforms
   * and type), which keep their stored items from being deleted; undefined in merge mode.
   */
  readonly keepKeys: string[] | undefined;
  /** Mirror mode: rejected rows whose key could not be read (unparseable record, empty key cell). */
  unkeyedRejects = 0;
  /** The key fields' columns (every field the primary key reads), with their spec and cell rules. */
  private readonly keyColumns: ReadonlyArray<{
    field: string;
    index: number;
    spec: FieldSpec;
    rules: CellRules | undefined;
  }>;
  private readonly keyIndexes: ReadonlySet<number>;
  /** The entity's keys (lambdas/domain/keys.ts), resolved once for the chunk. */
  private readonly keys: EntityKeys;
  /** Fields whose orphans are rejected; their rows wait in `held` until settleReferences. */
  private readonly rejectOrphans: string[];
  /** Where each of rejectOrphans' values sits in a part row (-1: the binding lacks the field). */
  private readonly rejectAt: number[];
  private held: HeldRow[] | undefined;
  /** JSONL: the aliases of each column (jsonAliases), worked out on the first record. */
  private jsonAliases: ReadonlyArray<readonly string[] | undefined> | undefined;

  /**
   * `format` 'jsonl': each record is one JSON object; `binding.columns` are then the source names
   * the mapping reads (jsonColumns) and `delimiter` is unused.
   */
  constructor(
    private readonly entity: EntityConfig,
    private readonly binding: HeaderBinding,
    private readonly delimiter: string,
    private readonly maxFieldBytes: number,
    private readonly format: SourceFormat = 'csv',
    private readonly limits: WriteLimits = writeLimits(),
  ) {
    this.itemFields = boundFields(binding, entity);
    this.sizeSlack = this.itemFields.reduce((n, f) => n + Buffer.byteLength(f, 'utf8'), 0) + limits.metaBytes;
    this.keepKeys = entity.syncMode === 'mirror' ? [] : undefined;
    this.keyColumns = binding.fieldColumns
      .filter((f) => isKeyField(entity, f.field))
      .map((f) => ({ ...f, rules: rulesOf(f.field, f.spec, entity) }));
    this.keyIndexes = new Set(this.keyColumns.map((k) => k.index));
    this.keys = entityKeys(entity);
    this.rejectOrphans = Object.entries(entity.references)
      .filter(([, r]) => r.reject)
      .map(([field]) => field);
    this.rejectAt = this.rejectOrphans.map((f) => {
      const at = this.itemFields.indexOf(f);
      return at < 0 ? -1 : ROW_VALUES + at;
    });
    this.held = this.rejectOrphans.length > 0 ? [] : undefined;
  }

  add(record: RawRecord): void {
    this.rows++;
    let text: string;
    try {
      text = decodeUtf8(record.bytes, record.line);
    } catch {
      this.reject(record.line, [rejectReason('invalid_utf8')], record.bytes.toString('latin1'));
      return;
    }
    let fields: string[];
    if (this.format === 'jsonl') {
      this.jsonAliases ??= jsonAliases(this.entity, this.binding.columns);
      const parsed = jsonFields(text, this.binding.columns, this.jsonAliases);
      if (!parsed.ok) {
        this.reject(record.line, parsed.reasons, text);
        return;
      }
      fields = parsed.fields;
    } else {
      const parsed = parseRecord(text, this.delimiter);
      if (!parsed.ok) {
        this.reject(record.line, [parsed.reason], text);
        return;
      }
      fields = parsed.fields;
    }
    // A control character is rare: one scan of the line finds none (JSON writes them as escapes).
    if (CONTROL.test(text) || (this.format === 'jsonl' && text.includes('\\'))) {
      const control = this.controlCells(fields);
      if (control !== undefined) {
        this.reject(record.line, control, text, fields);
        return;
      }
    }
    const tooLarge = this.oversized(fields);
    if (tooLarge !== undefined) {
      this.reject(record.line, tooLarge, text, fields);
      return;
    }
    // The part row, values appended by mapValues: serialize writes it as it is.
    const row: PartRow = [null, record.line, null, 0, null];
    const mapped = mapValues(fields, this.binding, this.entity, row);
    if (!mapped.ok) {
      this.reject(record.line, mapped.reasons, text, fields);
      return;
    }
    const version = mapped.updatedAt ?? '';
    row[0] = mapped.key;
    row[2] = version;
    if (mapped.deleted) row[3] = 1;
    if (this.held) {
      // Its parents are looked up before it may compete for its key (settleReferences).
      const candidate: RowVersion = { key: mapped.key, line: record.line, version, deleted: mapped.deleted };
      this.held.push({ candidate, row, raw: text, fields, warnings: mapped.warnings });
      return;
    }
    const json = JSON.stringify(row);
    const over = this.overLimits(mapped.key, version, mapped.deleted, row, json);
    if (over !== undefined) {
      this.reject(record.line, over, text, fields);
      return;
    }
    if (mapped.warnings) this.warn(record.line, mapped.warnings);
    this.accept(mapped.key, record.line, version, mapped.deleted, json);
  }

  /**
   * `key_too_large` (a key over DynamoDB's 2,048 bytes, less the tombstone's prefix for a delete)
   * and `item_too_large` (a put whose item, as the merge writes it, is over 400 KB), or undefined
   * when the row fits. The item is measured only when its part row's text says it could be near.
   */
  private overLimits(
    key: string,
    version: string,
    deleted: boolean,
    row: PartRow,
    json: string,
  ): string[] | undefined {
    let reasons: string[] | undefined;
    const maxKeyBytes = deleted ? this.limits.maxDeleteKeyBytes : this.limits.maxKeyBytes;
    if (!recordKeyFits(this.keys.table, key, maxKeyBytes)) reasons = [rejectReason('key_too_large')];
    if (
      !deleted &&
      json.length * 3 + this.sizeSlack > MAX_ITEM_BYTES &&
      writtenItemSize(itemOfValues(this.itemFields, row, ROW_VALUES), version, this.limits) > MAX_ITEM_BYTES
    ) {
      if (reasons === undefined) reasons = [rejectReason('item_too_large')];
      else reasons.push(rejectReason('item_too_large'));
    }
    return reasons;
  }

  /**
   * Reference fields whose orphans are rejected (`references.<field>.reject`) and, per field, the
   * distinct values the rows waiting for settleReferences hold (delete rows excepted: removing an
   * item needs no parent). Empty when the entity rejects no orphans.
   */
  referenceValues(): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    for (const field of this.rejectOrphans) out.set(field, new Set());
    for (const { candidate, row } of this.held ?? []) {
      if (candidate.deleted) continue;
      this.rejectOrphans.forEach((field, f) => {
        const v = this.referenceValue(row, f);
        // A value that cannot be a key is an orphan without asking (settleReferences).
        if (v !== null && v !== '' && canBeKey(String(v))) out.get(field)?.add(String(v));
      });
    }
    return out;
  }

  /**
   * Rejects every waiting row whose reference names a missing parent (`orphan:<field>`), then lets
   * the others compete for their keys in file order, so an older row with a valid parent wins over
   * a newer orphan. Call once, after the last record, with the parent values that exist.
   */
  settleReferences(existing: ReadonlyMap<string, ReadonlySet<string>>): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const { candidate, row, raw, fields, warnings } of held) {
      const orphans = candidate.deleted
        ? []
        : this.rejectOrphans.filter((field, f) => {
            const v = this.referenceValue(row, f);
            return v !== null && v !== '' && !existing.get(field)?.has(String(v));
          });
      if (orphans.length > 0)
        this.reject(
          candidate.line,
          orphans.map((f) => rejectReason('orphan', f)),
          raw,
          fields,
          candidate.key,
        );
      else {
        const json = JSON.stringify(row);
        const over = this.overLimits(candidate.key, candidate.version, candidate.deleted, row, json);
        if (over !== undefined) {
          this.reject(candidate.line, over, raw, fields, candidate.key);
          continue;
        }
        if (warnings) this.warn(candidate.line, warnings);
        this.accept(candidate.key, candidate.line, candidate.version, candidate.deleted, json);
      }
    }
    // Rows rejected while read and orphans rejected now interleave; warnings come in file order.
    this.rejects.sort((a, b) => a.line - b.line);
  }

  private warn(line: number, warnings: readonly FieldWarning[]): void {
    for (const w of warnings) {
      this.warnings.push({ line, reason: w.reason, action: w.action, value: w.value });
      countCode(this.warningCounts, w.reason);
    }
  }

  private accept(key: string, line: number, version: string, deleted: boolean, json: string): void {
    const candidate: ChunkCandidate = { key, line, version, deleted, json };
    const current = this.winners.get(candidate.key);
    if (current) {
      let lines = this.linesByKey.get(candidate.key);
      if (!lines) {
        lines = [current.line];
        this.linesByKey.set(candidate.key, lines);
      }
      lines.push(candidate.line);
      this.superseded++;
      if (newer(candidate, current)) this.winners.set(candidate.key, candidate);
    } else {
      this.winners.set(candidate.key, candidate);
    }
  }

  /** A held row's value of rejectOrphans[f] (null: the item has no such attribute). */
  private referenceValue(row: PartRow, f: number): Value | null {
    const at = this.rejectAt[f] ?? -1;
    return at < 0 ? null : ((row[at] ?? null) as Value | null);
  }

  /** A candidate's item: the attributes it holds (absent fields omitted), as the merge reads it. */
  itemOf(candidate: ChunkCandidate): Record<string, Value> {
    return itemOfValues(this.itemFields, JSON.parse(candidate.json) as PartRow, ROW_VALUES);
  }

  /**
   * The chunk's output objects: per merge partition, the text of its part object (one JSON line
   * per winner, with the lines it beat), and the rejects as JSON lines ('' when none).
   */
  serialize(partitions: number): { parts: string[]; rejects: string; warnings: string } {
    const lines: string[][] = Array.from({ length: partitions }, () => []);
    for (const c of this.winners.values()) {
      // The candidate's part row (PART_FORMAT), with the lines it beat in the chunk.
      const lost = this.linesByKey.get(c.key);
      const json = lost
        ? withLostLines(
            c,
            lost.filter((l) => l !== c.line),
          )
        : c.json;
      lines[partitionOf(c.key, partitions)]?.push(json);
    }
    const header = JSON.stringify({ format: PART_FORMAT, fields: this.itemFields });
    const rejects = this.rejects.map((r) => JSON.stringify(r));
    return {
      parts: lines.map((l) => (l.length > 0 ? `${header}\n${l.join('\n')}\n` : '')),
      rejects: rejects.length > 0 ? `${rejects.join('\n')}\n` : '',
      warnings: this.warnings.length > 0 ? `${this.warnings.map((w) => JSON.stringify(w)).join('\n')}\n` : '',
    };
  }

  /**
   * The key a rejected row's cells name, normalized as the mapping normalizes it (stored keys are
   * normalized), or undefined when it cannot be read: no cells, an empty key cell, or a key cell
   * that fails its own type.
   */
  private keyOf(fields: readonly string[] | undefined): string | undefined {
    if (fields === undefined || this.keyColumns.length === 0) return undefined;
    // With the key's cell rules, as mapValues reads it: an Excel-mangled id or a null word names no
    // key (the record's real key is unknown, so mirror mode must not delete on its absence).
    const values = new Map<string, Value>();
    for (const { field, index, spec, rules } of this.keyColumns) {
      const value = normalizeCell(fields[index], spec, rules);
      if (value === undefined || value instanceof Invalid || value === '') return undefined;
      values.set(field, value);
    }
    const { keys } = this;
    const pk = renderKeyPart(keys.partition, (f) => values.get(f));
    const sk = keys.sort ? renderKeyPart(keys.sort, (f) => values.get(f)) : undefined;
    if (pk === undefined || (keys.sort && sk === undefined)) return undefined;
    return recordKey(pk, sk);
  }

  duplicates(): DuplicateKey[] {
    return [...this.linesByKey].map(([key, lines]) => ({
      key,
      lines,
      winner: this.winners.get(key)?.line ?? 0,
    }));
  }

  /**
   * `nul_char:<column>` per cell the mapping reads that holds a NUL (U+0000), and
   * `control_char:<column>` when the key's cell holds another control character (U+0001–U+001F
   * other than tab, LF and CR, or U+007F), or undefined when none does. Other cells keep their
   * control characters (terminal escapes, backspaces: text as the CRM holds it); a NUL is never
   * text, and an id with one would be a second key.
   */
  private controlCells(fields: readonly string[]): string[] | undefined {
    const reasons: string[] = [];
    const read =
      this.format === 'jsonl'
        ? fields.map((_f, i) => i)
        : [
            ...this.binding.fieldColumns.map((f) => f.index),
            ...(this.binding.deleteIndex === undefined ? [] : [this.binding.deleteIndex]),
          ];
    for (const i of read) {
      const cell = fields[i];
      if (cell === undefined) continue;
      const name = this.binding.columns[i] ?? `column${i + 1}`;
      if (cell.includes('\u0000')) reasons.push(rejectReason('nul_char', name));
      else if (this.keyIndexes.has(i) && CONTROL.test(cell)) reasons.push(rejectReason('control_char', name));
    }
    return reasons.length > 0 ? reasons : undefined;
  }

  /** `field_too_large:<column>` per field over maxFieldBytes (UTF-8), or undefined when none is. */
  private oversized(fields: readonly string[]): string[] | undefined {
    let reasons: string[] | undefined;
    const max = this.maxFieldBytes;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i] as string;
      // A UTF-8 character takes at most 3 bytes per UTF-16 unit: only measure when it could matter.
      if (f.length * 3 > max && Buffer.byteLength(f, 'utf8') > max) {
        reasons ??= [];
        reasons.push(rejectReason('field_too_large', this.binding.columns[i] ?? `column${i + 1}`));
      }
    }
    return reasons;
  }

  /** `key`: the row's normalized key when it is known (a row rejected after its mapping). */
  private reject(
    line: number,
    reasons: string[],
    raw: string,
    fields?: readonly string[],
    key?: string,
  ): void {
    this.rejects.push({ line, reasons, raw });
    if (this.keepKeys) {
      const k = key ?? this.keyOf(fields);
      if (k) this.keepKeys.push(k);
      else this.unkeyedRejects++;
    }
    for (const r of reasons) countCode(this.reasonCounts, r);
  }
}

/** C0 control characters other than tab, LF and CR (legitimate in quoted cells), and DEL. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is its purpose
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/;

/** Counts a reason (`invalid_email:Email`) under its code (`invalid_email`). */
function countCode(counts: Record<string, number>, reason: string): void {
  const code = rejectCode(reason);
  counts[code] = (counts[code] ?? 0) + 1;
}

/**
 * A candidate's part row text with `lost` in place of its null lost lines: the text is
 * `[key,line,version,deleted,null,...values]`, and its first four elements serialize exactly as
 * they do alone, so what follows them is found by length, not by parsing.
 */
export function withLostLines(c: ChunkCandidate, lost: readonly number[]): string {
  // `[k,l,v,d,`: the row text continues `null,…` (or `null]` with no values).
  const head = `${JSON.stringify([c.key, c.line, c.version, c.deleted ? 1 : 0]).slice(0, -1)},`;
  if (!c.json.startsWith(`${head}null`)) {
    throw new Error(`part row of line ${c.line} does not start with its key, line, version and delete flag`);
  }
  return `${head}${JSON.stringify(lost)}${c.json.slice(head.length + 4)}`;
}

/**
 * The part format `serialize` writes: a header line `{"format","fields"}`, then one JSON array per
 * winner: `[key, line, version, deleted 0|1, lost lines|null, ...values in field order]` (null: the
 * item has no such attribute). Field names once per object instead of once per row make parts about
 * a third smaller and cheaper to write and read than one JSON object per row. No digest: the merge
 * computes it for the partition's winners (format 2 carried one per row; 1 was an object per row).
 */
export const PART_FORMAT = 'crm-sync-part/3';
const PART_FORMAT_2 = 'crm-sync-part/2';

/**
 * The lines of a part object (the one reader of the part format): the current format, and the
 * earlier ones (2: with a digest per row; 1: one PartLine object per line), so a run resumed after
 * an upgrade reads its parts.
 */
export function readPartLines(text: string): PartLine[] {
  const out: PartLine[] = [];
  let fields: string[] | undefined;
  // Where a row's values start: after key, line, version, deleted, (digest,) lost lines.
  let first = 5;
  for (const line of text.split('\n')) {
    if (!line) continue;
    if (fields === undefined && line.startsWith('{"format":')) {
      const header = JSON.parse(line) as { format: string; fields: string[] };
      if (header.format !== PART_FORMAT && header.format !== PART_FORMAT_2)
        throw new Error(`unknown part format ${header.format}`);
      if (header.format === PART_FORMAT_2) first = 6;
      fields = header.fields;
      continue;
    }
    if (line.charCodeAt(0) !== 0x5b /* [ */) {
      out.push(JSON.parse(line) as PartLine);
      continue;
    }
    const row = JSON.parse(line) as [string, number, string, 0 | 1, ...Array<Value | number[] | null>];
    const item = itemOfValues(fields ?? [], row, first);
    const part: PartLine = { k: row[0], l: row[1], v: row[2], d: row[3] === 1, i: item };
    if (first === 6) part.h = row[4] as string;
    const lost = row[first - 1] as number[] | null;
    if (lost && lost.length > 0) part.x = lost;
    out.push(part);
  }
  return out;
}

/** What the target holds for a key (only crm-sync's own attributes are read). */
export interface StoredVersion {
  version: string;
  line: number;
  digest: string;
  /** Run that last wrote the item. */
  run?: string | undefined;
}

/** What a delete left behind, outside the target: its (version, line), its run, and whether it removed an item. */
export interface Tombstone {
  version: string;
  line: number;
  run: string;
  removed: boolean;
}

export type WriteMode = EntityConfig['writeMode'];

export type Decision = 'put' | 'delete' | 'unchanged' | 'superseded';

/**
 * Classifies a chunk's winner against what the target holds:
 * - `unchanged`: the stored item has the same content (a delete of a missing item too);
 * - `superseded`: newer-wins and the stored (version, line) is newer, or insert-only and it exists;
 * - `put` / `delete` otherwise.
 */
export function classify(candidate: Candidate, stored: StoredVersion | undefined, mode: WriteMode): Decision {
  if (!stored) return candidate.deleted ? 'unchanged' : 'put';
  if (mode === 'insert-only') return 'superseded';
  if (!candidate.deleted && stored.digest === candidate.digest) return 'unchanged';
  if (mode === 'newer-wins' && newer(stored, candidate)) return 'superseded';
  return candidate.deleted ? 'delete' : 'put';
}

/** Escapes a CSV cell for a spreadsheet: formula-like cells get a leading quote (OWASP CSV injection). */
export function csvCell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}
