import { cellRuleKey, columnKey, type EntityConfig, effectiveNullValues, type FieldSpec } from './config';
import { HeaderMismatchError } from './errors';
import {
  type CellRules,
  cellRules,
  Invalid,
  normalizeValue,
  normalizeWithRules,
  type Scalar,
} from './normalize';
import { presetHint } from './preset-hint';

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
   * Optional fields whose column is not in the header, in config order: every row reads them as
   * empty, so a configured default still applies.
   */
  missingFields: Array<{ field: string; spec: FieldSpec }>;
}

/** How many header cells an error message lists before it abbreviates. */
const MAX_LISTED_COLUMNS = 40;

function listColumns(columns: readonly string[]): string {
  if (columns.length <= MAX_LISTED_COLUMNS) return columns.join(', ');
  return `${columns.slice(0, MAX_LISTED_COLUMNS).join(', ')}, … (+${columns.length - MAX_LISTED_COLUMNS} more)`;
}

/** Fields whose value every kept row needs: required ones, the key and the updatedAt field. */
function isRequiredField(field: string, spec: FieldSpec, entity: EntityConfig): boolean {
  return spec.required || field === entity.target.key || field === entity.updatedAt;
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
          : `column ${spec.position} is ${cell}, not ${names.join(' or ')} (position of ${spec.source})`,
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
    const index = locate(spec, isRequiredField(field, spec, entity));
    if (index !== undefined) fieldColumns.push({ field, spec, index });
    else missingFields.push({ field, spec });
  }
  const deleteIndex = entity.deleteFlag ? locate(entity.deleteFlag, entity.deleteFlag.required) : undefined;
  for (const key of missingRequired.keys()) missingOptional.delete(key);

  const problems: string[] = [];
  if (missingRequired.size > 0) {
    problems.push(`header is missing required columns: ${[...missingRequired.values()].join(', ')}`);
  }
  if (ambiguous.size > 0) {
    const dups = [...ambiguous.values()].map(
      (idx) =>
        `${idx.map((i) => columns[i] ?? '').join(' / ')} (columns ${idx.map((i) => i + 1).join(', ')})`,
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
      `${problems.join('; ')} (found: ${listColumns(columns)})${hint === undefined ? '' : `; ${hint}`}`,
    );
  }

  return {
    columns,
    fieldColumns,
    deleteIndex,
    missingOptional: [...missingOptional.values()],
    missingFields,
  };
}

export type MapResult =
  | { ok: true; key: string; item: Record<string, Scalar>; updatedAt: string | undefined; deleted: boolean }
  | { ok: false; reasons: string[] };

/** mapValues' result: the values themselves are in its `out` array. */
export type MapValuesResult =
  | { ok: true; key: string; updatedAt: string | undefined; deleted: boolean }
  | { ok: false; reasons: string[] };

/** One target field of a binding, as mapValues reads it. */
interface BoundField {
  field: string;
  spec: FieldSpec;
  /** Its column, or -1 when the header lacks it (the cell reads as absent). */
  index: number;
  /** The key or the updatedAt field: needed even by a delete row, and never absent. */
  needed: boolean;
  /** Null values, value map, Excel id check (undefined: none, normalizeValue does all). */
  rules: CellRules | undefined;
}

interface BindingPlan {
  fields: BoundField[];
  names: string[];
  /** Positions of the key and the updatedAt field in `fields` (-1: not bound). */
  keyAt: number;
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
    const isNeeded = (field: string) => field === entity.target.key || field === entity.updatedAt;
    const fields: BoundField[] = [
      ...binding.fieldColumns.map(({ field, spec, index }) => ({
        field,
        spec,
        index,
        needed: isNeeded(field),
        rules: rulesOf(field, spec, entity),
      })),
      ...binding.missingFields.map(({ field, spec }) => ({
        field,
        spec,
        index: -1,
        needed: isNeeded(field),
        rules: undefined,
      })),
    ];
    const names = fields.map((f) => f.field);
    plan = {
      fields,
      names,
      keyAt: names.indexOf(entity.target.key),
      updatedAtAt: entity.updatedAt === undefined ? -1 : names.indexOf(entity.updatedAt),
      deleteValues: new Set((entity.deleteFlag?.values ?? []).map((v) => v.trim().toLowerCase())),
    };
    byEntity.set(entity, plan);
  }
  last = { binding, entity, plan };
  return plan;
}

/** A field's CellRules: its null values, map, and the Excel id check for string keys and references. */
function rulesOf(field: string, spec: FieldSpec, entity: EntityConfig): CellRules | undefined {
  const nullKeys = [...new Set(effectiveNullValues(entity, spec).map((v) => cellRuleKey(v, spec)))];
  const mapEntries = Object.entries(spec.map ?? {}).map(([k, v]) => [cellRuleKey(k, spec), v] as const);
  const isId = field === entity.target.key || Object.hasOwn(entity.references, field);
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
  out: Array<Scalar | number[] | null>,
): MapValuesResult {
  if (fields.length !== binding.columns.length) {
    return { ok: false, reasons: [`column_count:${binding.columns.length}:${fields.length}`] };
  }
  const plan = planOf(binding, entity);
  let deleted = false;
  if (binding.deleteIndex !== undefined) {
    const flag = fields[binding.deleteIndex];
    deleted = flag !== undefined && plan.deleteValues.has(flag.trim().toLowerCase());
  }
  const start = out.length;
  let reasons: string[] | undefined;
  for (const { spec, index, needed, rules } of plan.fields) {
    // A delete only needs to know which record, and as of when: other fields are skipped.
    if (deleted && !needed) {
      out.push(null);
      continue;
    }
    const raw = index < 0 ? undefined : fields[index];
    const value = rules === undefined ? normalizeValue(raw, spec) : normalizeWithRules(raw, spec, rules);
    if (value !== undefined && !(value instanceof Invalid)) {
      out.push(value);
      continue;
    }
    out.push(null);
    let reason: string;
    if (value instanceof Invalid) reason = `${value.code}:${spec.source}`;
    else if (spec.required || needed) reason = `required:${spec.source}`;
    else continue;
    // Created on the first reason: a valid row allocates none.
    if (reasons === undefined) reasons = [reason];
    else reasons.push(reason);
  }
  if (reasons !== undefined) return { ok: false, reasons };

  const key = plan.keyAt < 0 ? null : out[start + plan.keyAt];
  if (key === null || key === undefined) {
    return {
      ok: false,
      reasons: [`required:${entity.fields[entity.target.key]?.source ?? entity.target.key}`],
    };
  }
  const version = plan.updatedAtAt < 0 ? null : out[start + plan.updatedAtAt];
  return {
    ok: true,
    key: String(key),
    updatedAt: version === null || version === undefined ? undefined : String(version),
    deleted,
  };
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
 * item holds only present values (absent fields are omitted). key = String(item[entity.target.key]).
 * updatedAt = item[entity.updatedAt] if configured.
 */
export function mapRecord(
  fields: readonly string[],
  binding: HeaderBinding,
  entity: EntityConfig,
): MapResult {
  const values: Array<Scalar | number[] | null> = [];
  const mapped = mapValues(fields, binding, entity, values);
  if (!mapped.ok) return mapped;
  const item = itemOfValues(boundFields(binding, entity), values, 0);
  return { ok: true, key: mapped.key, item, updatedAt: mapped.updatedAt, deleted: mapped.deleted };
}

/**
 * The item that values in field order stand for (mapValues' output, a part row's values from
 * `offset` on): one attribute per name whose value is present, absent ones (null) omitted.
 */
export function itemOfValues(
  names: readonly string[],
  values: ReadonlyArray<Scalar | number[] | null | undefined>,
  offset: number,
): Record<string, Scalar> {
  const item: Record<string, Scalar> = {};
  for (let i = 0; i < names.length; i++) {
    const v = values[offset + i];
    if (v !== null && v !== undefined) item[names[i] as string] = v as Scalar;
  }
  return item;
}
