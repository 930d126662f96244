import {
  cellRuleKey,
  columnKey,
  type EntityConfig,
  effectiveNullValues,
  type FieldSpec,
  isNeededField,
  NUMERIC_FIELD_TYPES,
} from './config';
import { countryCodeOf } from './country';
import { HeaderMismatchError } from './errors';
import { entityKeys, isKeyField, type KeyPart, recordKey, renderKeyPart } from './keys';
import { applyTransforms, type CellRules, cellRules, Invalid, normalizeCell, type Value } from './normalize';
import { presetHint } from './preset-hint';
import { rejectReason } from './reject-reasons';
import { isExactNumber, numberText, setMember } from './value';

export interface HeaderBinding {
  /** Header cells as in the file. */
  columns: string[];
  /** Mapped fields present in the header, in config order. */
  fieldColumns: Array<{ field: string; spec: FieldSpec; index: number }>;
  /** Column of entity.deleteFlag.source, if configured. */
  deleteIndex: number | undefined;
  /** Source columns of optional fields not in the header. */
  missingOptional: string[];
  /**
   * Optional fields whose column is not in the header, in config order: the file does not carry
   * them, so no row has a value for them (a `default` fills an empty cell of a column the file has,
   * never a column it lacks) and the merge keeps what the stored item holds for them
   * (`onMissingColumns: "keep"`, the default).
   */
  missingFields: Array<{ field: string; spec: FieldSpec }>;
  /**
   * Phone fields with a `regionFrom` column, in config order, and that column's index (undefined when
   * the header lacks it: the field's `region` applies, and the column is in missingOptional).
   */
  regionColumns: Array<{ field: string; source: string; index: number | undefined }>;
}

/** How many header cells an error message lists before it abbreviates. */
const MAX_LISTED_COLUMNS = 40;

function listColumns(columns: readonly string[]): string {
  if (columns.length <= MAX_LISTED_COLUMNS) return columns.join(', ');
  return `${columns.slice(0, MAX_LISTED_COLUMNS).join(', ')}, … (+${columns.length - MAX_LISTED_COLUMNS} more)`;
}

/**
 * What a header that does not bind holds, in names from the config only: its column count and the
 * mapped names among them. The header's other cells are never repeated: a file without a header has
 * a data row there (names, emails, phones).
 */
function foundShape(columns: readonly string[], entity: EntityConfig): string {
  const known = new Map<string, string>();
  const add = (name: string): void => {
    if (!known.has(columnKey(name))) known.set(columnKey(name), name.trim());
  };
  for (const spec of Object.values(entity.fields)) {
    add(spec.source);
    for (const a of spec.aliases ?? []) add(a);
  }
  if (entity.deleteFlag) add(entity.deleteFlag.source);
  const mapped = [...new Set(columns.map((c) => known.get(columnKey(c))).filter((n) => n !== undefined))];
  const other = columns.length - columns.filter((c) => known.has(columnKey(c))).length;
  const count = `the first line has ${columns.length} field${columns.length === 1 ? '' : 's'}`;
  if (mapped.length === 0) return `${count}, none of which is a mapped column: is the header missing?`;
  return `${count}: mapped columns ${listColumns(mapped)}; ${other} other${other === 1 ? '' : 's'}`;
}

/**
 * Matches source column names case-insensitively after trimming (columnKey): a field's `source`, else
 * its `aliases` in order (the first name the header holds wins); `occurrence: n` takes the n-th column
 * of a repeated name, `position: n` the n-th column (whose name must still be the source or an alias).
 * Throws HeaderMismatchError whose message lists every missing column that is required (required
 * fields, the key field, the updatedAt field, the delete flag column unless `deleteFlag.required` is
 * false), e.g. `header is missing required columns: LastName, LastModifiedDate (found: Id, FirstName, …)`;
 * it also names duplicate header columns that a mapping uses (ambiguous: pick one with `occurrence`
 * or `position`), positions that do not hold the field's column, and, when the header misses required
 * columns, the preset entity it looks like (presetHint).
 */
export function bindHeader(columns: string[], entity: EntityConfig): HeaderBinding {
  const positions = new Map<string, number[]>();
  columns.forEach((name, index) => {
    const key = columnKey(name);
    const list = positions.get(key);
    if (list) list.push(index);
    else positions.set(key, [index]);
  });

  const missingRequired = new Map<string, string>();
  const ambiguous = new Map<string, number[]>();
  /** The config's name of each ambiguous column (messages repeat no header cell). */
  const ambiguousNames = new Map<string, string>();
  const misplaced: string[] = [];
  const fieldColumns: HeaderBinding['fieldColumns'] = [];
  const missingFields: HeaderBinding['missingFields'] = [];
  const missingOptional = new Map<string, string>();

  const locate = (
    spec: Pick<FieldSpec, 'source' | 'aliases' | 'occurrence' | 'position'>,
    required: boolean,
  ): number | undefined => {
    const names = spec.aliases === undefined ? [spec.source] : [spec.source, ...spec.aliases];
    if (spec.position !== undefined) {
      const at = spec.position - 1;
      const cell = columns[at];
      if (cell !== undefined && names.some((n) => columnKey(n) === columnKey(cell))) return at;
      misplaced.push(
        cell === undefined
          ? `position ${spec.position} of ${spec.source} is beyond the header's ${columns.length} columns`
          : `column ${spec.position} is not ${names.join(' or ')} (position of ${spec.source})`,
      );
      return undefined;
    }
    for (const name of names) {
      const key = columnKey(name);
      const found = positions.get(key);
      if (!found) continue;
      if (spec.occurrence !== undefined) {
        const at = found[spec.occurrence - 1];
        if (at !== undefined) return at;
        continue;
      }
      if (found.length > 1) {
        ambiguous.set(key, found);
        ambiguousNames.set(key, name.trim());
        return undefined;
      }
      return found[0];
    }
    const key = columnKey(spec.source);
    const label =
      (spec.occurrence !== undefined && spec.occurrence > 1
        ? `${spec.source} (occurrence ${spec.occurrence})`
        : spec.source) + (names.length > 1 ? ` (or ${names.slice(1).join(', ')})` : '');
    if (required) missingRequired.set(key, label);
    else if (!missingRequired.has(key)) missingOptional.set(key, spec.source);
    return undefined;
  };

  for (const [field, spec] of Object.entries(entity.fields)) {
    const index = locate(spec, isNeededField(field, spec, entity));
    if (index !== undefined) fieldColumns.push({ field, spec, index });
    else missingFields.push({ field, spec });
  }
  const deleteIndex = entity.deleteFlag ? locate(entity.deleteFlag, entity.deleteFlag.required) : undefined;
  const regionColumns: HeaderBinding['regionColumns'] = [];
  for (const [field, spec] of Object.entries(entity.fields)) {
    if (spec.type !== 'phone' || spec.regionFrom === undefined) continue;
    // Not a mapped column: a header without it is no missing column, and a header that repeats it
    // (a multi-object export's two Country/Region) gives the first one.
    regionColumns.push({
      field,
      source: spec.regionFrom,
      index: positions.get(columnKey(spec.regionFrom))?.[0],
    });
  }
  for (const key of missingRequired.keys()) missingOptional.delete(key);

  const problems: string[] = [];
  if (missingRequired.size > 0) {
    problems.push(`header is missing required columns: ${[...missingRequired.values()].join(', ')}`);
  }
  if (ambiguous.size > 0) {
    const dups = [...ambiguous].map(
      ([key, idx]) => `${ambiguousNames.get(key) ?? ''} (columns ${idx.map((i) => i + 1).join(', ')})`,
    );
    problems.push(
      `header has duplicate columns used by the mapping: ${dups.join('; ')} ` +
        '(pick one on the field with `occurrence: <n>`, the n-th column of that name, or `position: <column number>`)',
    );
  }
  if (misplaced.length > 0) problems.push(`header does not fit the positions: ${misplaced.join('; ')}`);
  if (problems.length > 0) {
    const hint = missingRequired.size > 0 ? presetHint(columns, entity) : undefined;
    throw new HeaderMismatchError(
      `${problems.join('; ')} (${foundShape(columns, entity)})${hint === undefined ? '' : `; ${hint}`}`,
    );
  }

  return {
    columns,
    fieldColumns,
    deleteIndex,
    missingOptional: [...missingOptional.values()],
    missingFields,
    regionColumns,
  };
}

/**
 * The target fields a file does not carry: mapped fields whose column its header lacks (a JSON
 * Lines entity reads every mapped name from each object, so its file carries them all).
 */
export function notCarriedFields(columns: string[], format: string, entity: EntityConfig): string[] {
  if (format === 'jsonl') return [];
  const missing = bindHeader(columns, entity).missingFields.map((f) => f.field);
  // An index attribute that reads a field the file lacks is not carried either (the stored one stays).
  const derived = entityKeys(entity).derived.filter((d) => d.fields.some((f) => missing.includes(f)));
  return [...missing, ...derived.map((d) => d.name)];
}

/** The source columns of mapped fields the file does not carry (summary `missingColumns`). */
export function missingColumnsOf(columns: string[], format: string, entity: EntityConfig): string[] {
  if (format === 'jsonl') return [];
  return bindHeader(columns, entity).missingOptional;
}

export type MapResult =
  | { ok: true; key: string; item: Record<string, Value>; updatedAt: string | undefined; deleted: boolean }
  | { ok: false; reasons: string[] };

/**
 * A cell that failed its type in a field that tolerates it (`onInvalid: drop | keep`): the row is
 * kept, and the cell is reported. `reason` is `<code>:<SourceColumn>` like a reject reason.
 */
export interface FieldWarning {
  reason: string;
  /** The cell as the file wrote it. */
  value: string;
  /** What was stored: nothing (`drop`) or the cell's text (`keep`). */
  action: 'drop' | 'keep';
}

/** mapValues' result: the values themselves are in its `out` array. */
export type MapValuesResult =
  | {
      ok: true;
      key: string;
      updatedAt: string | undefined;
      deleted: boolean;
      /** Cells dropped or kept as text by their field's onInvalid; absent when there is none. */
      warnings?: FieldWarning[];
    }
  | { ok: false; reasons: string[] };

/** One target field of a binding, as mapValues reads it. */
interface BoundField {
  field: string;
  spec: FieldSpec;
  /** Its column, or -1 when the header lacks it (the cell reads as absent). */
  index: number;
  /** The key or the updatedAt field: needed even by a delete row, and never absent. */
  needed: boolean;
  /** onInvalid of an optional field that does not reject its row (config refuses it on needed ones). */
  tolerate: 'drop' | 'keep' | undefined;
  /** The column of a phone field's `regionFrom`, or -1 (none, or not in the header). */
  regionIndex: number;
  /** Null values, value map, Excel id check (undefined: none, normalizeValue does all). */
  rules: CellRules | undefined;
}

interface BindingPlan {
  fields: BoundField[];
  /** The item's attribute names in value order: the fields', then the key attributes the transform adds. */
  names: string[];
  /** The attributes the transform adds (entityKeys' derived), each with where its fields' values sit. */
  derived: Array<{ part: KeyPart; at: number[] }>;
  /** The table's key parts, with where their fields' values sit. */
  partition: { part: KeyPart; at: number[] };
  sort: { part: KeyPart; at: number[] } | undefined;
  /** Positions of numeric fields that are table key attributes as they are: stored as their text. */
  keyTextAt: number[];
  /** Position of the updatedAt field in `fields` (-1: not bound). */
  updatedAtAt: number;
  /** The delete flag's values, trimmed and lower-cased. */
  deleteValues: Set<string>;
}

const plans = new WeakMap<HeaderBinding, WeakMap<EntityConfig, BindingPlan>>();
/** The last plan asked for: a worker maps a whole chunk with one binding and one entity. */
let last: { binding: HeaderBinding; entity: EntityConfig; plan: BindingPlan } | undefined;

function planOf(binding: HeaderBinding, entity: EntityConfig): BindingPlan {
  if (last !== undefined && last.binding === binding && last.entity === entity) return last.plan;
  let byEntity = plans.get(binding);
  if (!byEntity) {
    byEntity = new WeakMap();
    plans.set(binding, byEntity);
  }
  let plan = byEntity.get(entity);
  if (!plan) {
    const isNeeded = (field: string) => isKeyField(entity, field) || field === entity.updatedAt;
    const regionIndex = (field: string) => binding.regionColumns.find((r) => r.field === field)?.index ?? -1;
    const bound = (field: string, spec: FieldSpec, index: number): BoundField => {
      const needed = isNeeded(field);
      return {
        field,
        spec,
        index,
        needed,
        // The config refuses onInvalid on a needed field; a needed field rejects all the same.
        tolerate:
          spec.onInvalid === undefined || spec.onInvalid === 'reject' || isNeededField(field, spec, entity)
            ? undefined
            : spec.onInvalid,
        regionIndex: regionIndex(field),
        rules: index < 0 ? undefined : rulesOf(field, spec, entity),
      };
    };
    const fields: BoundField[] = [
      ...binding.fieldColumns.map(({ field, spec, index }) => bound(field, spec, index)),
      ...binding.missingFields.map(({ field, spec }) => bound(field, spec, -1)),
    ];
    const fieldNames = fields.map((f) => f.field);
    const keys = entityKeys(entity);
    const located = (part: KeyPart) => ({ part, at: part.fields.map((f) => fieldNames.indexOf(f)) });
    plan = {
      fields,
      names: [...fieldNames, ...keys.derived.map((d) => d.name)],
      derived: keys.derived.map(located),
      partition: located(keys.partition),
      sort: keys.sort ? located(keys.sort) : undefined,
      // The table's key attributes are strings: a numeric field that is one is stored as its text.
      keyTextAt: [keys.partition, ...(keys.sort ? [keys.sort] : [])]
        .filter((p) => p.plainField && NUMERIC_FIELD_TYPES.has(entity.fields[p.name]?.type ?? ''))
        .map((p) => fieldNames.indexOf(p.name))
        .filter((i) => i >= 0),
      updatedAtAt: entity.updatedAt === undefined ? -1 : fieldNames.indexOf(entity.updatedAt),
      deleteValues: new Set((entity.deleteFlag?.values ?? []).map((v) => v.trim().toLowerCase())),
    };
    byEntity.set(entity, plan);
  }
  last = { binding, entity, plan };
  return plan;
}

/** A field's CellRules: its null values, map, and the Excel id check for string keys and references. */
export function rulesOf(field: string, spec: FieldSpec, entity: EntityConfig): CellRules | undefined {
  const nullKeys = [...new Set(effectiveNullValues(entity, spec).map((v) => cellRuleKey(v, spec)))];
  const mapEntries = Object.entries(spec.map ?? {}).map(([k, v]) => [cellRuleKey(k, spec), v] as const);
  const isId = isKeyField(entity, field) || Object.hasOwn(entity.references, field);
  return cellRules(
    spec,
    nullKeys.filter((k) => k !== ''),
    mapEntries,
    isId && spec.type === 'string',
  );
}

/**
 * The target fields of a binding in the order mapValues writes their values: the header's mapped
 * fields in config order, then the optional fields the header lacks.
 */
export function boundFields(binding: HeaderBinding, entity: EntityConfig): readonly string[] {
  return planOf(binding, entity).names;
}

/**
 * mapRecord without the item object (the transform worker's per-row call): appends one value per
 * boundFields entry to `out` (null where the item has no such attribute), so the caller can keep
 * the row as an array. Same reasons, key, updatedAt and deleted as mapRecord. On a reject, `out`
 * holds some of the values: discard it.
 */
export function mapValues(
  fields: readonly string[],
  binding: HeaderBinding,
  entity: EntityConfig,
  out: Array<Value | number[] | null>,
): MapValuesResult {
  if (fields.length !== binding.columns.length) {
    return { ok: false, reasons: [rejectReason('column_count', binding.columns.length, fields.length)] };
  }
  const plan = planOf(binding, entity);
  let deleted = false;
  if (binding.deleteIndex !== undefined) {
    const flag = fields[binding.deleteIndex];
    deleted = flag !== undefined && plan.deleteValues.has(flag.trim().toLowerCase());
  }
  const start = out.length;
  let reasons: string[] | undefined;
  let warnings: FieldWarning[] | undefined;
  for (const { spec, index, needed, tolerate, regionIndex, rules } of plan.fields) {
    // A delete only needs to know which record, and as of when: other fields are skipped.
    if (deleted && !needed) {
      out.push(null);
      continue;
    }
    // A column the file lacks is not carried: no value, and no default invented for it (the
    // merge keeps what the item stores for it, see missingFields). Plan refuses a file that lacks
    // a needed column, so such a field is optional.
    if (index < 0) {
      out.push(null);
      continue;
    }
    const cell = fields[index];
    const region = regionIndex < 0 ? undefined : rowRegion(fields[regionIndex]);
    const value = normalizeCell(cell, spec, rules, region);
    if (value !== undefined && !(value instanceof Invalid)) {
      out.push(value);
      continue;
    }
    if (value instanceof Invalid && tolerate !== undefined) {
      // The row stays; the cell is dropped or kept as its text, and reported.
      const text = cell ?? '';
      out.push(tolerate === 'keep' ? applyTransforms(text, spec.transforms) : null);
      const warning: FieldWarning = { reason: `${value.code}:${spec.source}`, value: text, action: tolerate };
      if (warnings === undefined) warnings = [warning];
      else warnings.push(warning);
      continue;
    }
    out.push(null);
    let reason: string;
    if (value instanceof Invalid) reason = `${value.code}:${spec.source}`;
    else if (spec.required || needed) reason = rejectReason('required', spec.source);
    else continue;
    // Created on the first reason: a valid row allocates none.
    if (reasons === undefined) reasons = [reason];
    else reasons.push(reason);
  }
  if (reasons !== undefined) return { ok: false, reasons };

  for (const i of plan.keyTextAt) {
    const v = out[start + i];
    if (
      typeof v === 'number' ||
      (typeof v === 'object' && v !== null && !Array.isArray(v) && isExactNumber(v))
    ) {
      out[start + i] = numberText(v);
    }
  }
  const partition = renderAt(plan.partition, out, start);
  const sort = plan.sort ? renderAt(plan.sort, out, start) : undefined;
  if (partition === undefined || (plan.sort && sort === undefined)) {
    // A key field with no value (the config makes them required: only a row with no cell at all).
    const empty = entityKeys(entity).keyFields.find((f) => {
      const at = plan.names.indexOf(f);
      return at < 0 || out[start + at] === null;
    });
    const field = empty ?? entityKeys(entity).keyFields[0] ?? '';
    return { ok: false, reasons: [rejectReason('required', entity.fields[field]?.source ?? field)] };
  }
  // The attributes the key config adds: key templates, index keys (absent when a field is), entity type.
  for (const d of plan.derived) out.push(deleted ? null : (renderAt(d, out, start) ?? null));
  const version = plan.updatedAtAt < 0 ? null : out[start + plan.updatedAtAt];
  return {
    ok: true,
    key: recordKey(partition, sort),
    updatedAt: version === null || version === undefined ? undefined : String(version),
    deleted,
    ...(warnings !== undefined ? { warnings } : {}),
  };
}

/** A key part's value from a row's values (`at`: where each field it reads sits from `start`). */
function renderAt(
  { part, at }: { part: KeyPart; at: number[] },
  out: ReadonlyArray<Value | number[] | null>,
  start: number,
): string | undefined {
  return renderKeyPart(part, (field) => {
    const i = at[part.fields.indexOf(field)] ?? -1;
    const v = i < 0 ? null : out[start + i];
    return Array.isArray(v) ? null : v;
  });
}

/** The region a `regionFrom` cell names (trimmed, by country.ts), undefined when empty or unknown. */
function rowRegion(cell: string | undefined): string | undefined {
  return cell === undefined || cell === '' ? undefined : countryCodeOf(cell);
}

/**
 * Maps one parsed record. Reasons: `column_count:<expected>:<got>` when fields.length !== columns.length
 * (ragged row: reject, do not guess); per field `required:<SourceColumn>` (absent after normalization and
 * no default), `<code>:<SourceColumn>` from normalizeField (invalid_email:Email …). All reasons of a row
 * are collected (fields present in the header first, in config order; then defaults of missing columns).
 * `<SourceColumn>` is the column name as written in the config.
 *
 * deleted: the delete flag cell (trimmed, case-insensitive) is in entity.deleteFlag.values. A deleted row
 * still needs a valid key (and updatedAt if configured), but other field errors do not reject it; its
 * item holds only the key and updatedAt fields (it only deletes).
 *
 * item holds only present values (absent fields are omitted), with the key attributes the config adds
 * (lambdas/domain/keys.ts). key: the record key (the partition key's value, or `[pk, sk]`).
 * updatedAt = item[entity.updatedAt] if configured.
 */
export function mapRecord(
  fields: readonly string[],
  binding: HeaderBinding,
  entity: EntityConfig,
): MapResult {
  const values: Array<Value | number[] | null> = [];
  const mapped = mapValues(fields, binding, entity, values);
  if (!mapped.ok) return mapped;
  const item = itemOfValues(boundFields(binding, entity), values, 0);
  return { ok: true, key: mapped.key, item, updatedAt: mapped.updatedAt, deleted: mapped.deleted };
}

/**
 * The item that values in field order stand for (mapValues' output, a part row's values from
 * `offset` on): one attribute per name whose value is present, absent ones (null) omitted. A dotted
 * name (`address.street`) is a member of a map attribute (`address: { M: { street } }`); a map gets
 * only its present members, and a map with none is not there at all.
 */
export function itemOfValues(
  names: readonly string[],
  values: ReadonlyArray<Value | number[] | null | undefined>,
  offset: number,
): Record<string, Value> {
  const item: Record<string, Value> = {};
  for (let i = 0; i < names.length; i++) {
    const v = values[offset + i];
    if (v === null || v === undefined) continue;
    const name = names[i] as string;
    if (name.includes('.')) setMember(item, name.split('.'), v as Value);
    else item[name] = v as Value;
  }
  return item;
}
