import type { EntityConfig, FieldSpec } from '../../../lambdas/domain/config';
import type { HeaderBinding, MapResult } from '../../../lambdas/domain/mapping';
import { Invalid, normalizeValue, type Value } from '../../../lambdas/domain/normalize';

/**
 * mapRecord as it was before the transform worker kept rows as arrays (mapValues): one item
 * object per row, filled field by field. The equivalence test holds the new code to it. Since then
 * one rule changed on purpose, here too: a default fills an empty cell of a column the file has,
 * never a column it lacks.
 */
const deleteValueSets = new WeakMap<EntityConfig, Set<string>>();

function deleteValues(entity: EntityConfig): Set<string> {
  let set = deleteValueSets.get(entity);
  if (!set) {
    set = new Set((entity.deleteFlag?.values ?? []).map((v) => v.trim().toLowerCase()));
    deleteValueSets.set(entity, set);
  }
  return set;
}

/**
 * Normalizes one cell into `item`, or appends its reason (`<code>:<SourceColumn>`, or
 * `required:<SourceColumn>` when a needed value is absent). Returns the reasons so far (created on the
 * first one: a valid row allocates none).
 */
function take(
  item: Record<string, Value>,
  reasons: string[] | undefined,
  field: string,
  spec: FieldSpec,
  raw: string | undefined,
  needed: boolean,
): string[] | undefined {
  const value = normalizeValue(raw, spec);
  let reason: string;
  if (value instanceof Invalid) {
    reason = `${value.code}:${spec.source}`;
  } else if (value !== undefined) {
    item[field] = value;
    return reasons;
  } else if (spec.required || needed) {
    reason = `required:${spec.source}`;
  } else {
    return reasons;
  }
  if (reasons === undefined) return [reason];
  reasons.push(reason);
  return reasons;
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
export function referenceMapRecord(
  fields: readonly string[],
  binding: HeaderBinding,
  entity: EntityConfig,
): MapResult {
  if (fields.length !== binding.columns.length) {
    return { ok: false, reasons: [`column_count:${binding.columns.length}:${fields.length}`] };
  }

  let deleted = false;
  if (binding.deleteIndex !== undefined) {
    const flag = fields[binding.deleteIndex];
    deleted = flag !== undefined && deleteValues(entity).has(flag.trim().toLowerCase());
  }

  const keyField = entity.target.key ?? '';
  const updatedAtField = entity.updatedAt;
  const item: Record<string, Value> = {};
  let reasons: string[] | undefined;

  // A delete only needs to know which record, and as of when: other fields are skipped.
  for (const { field, spec, index } of binding.fieldColumns) {
    const needed = field === keyField || field === updatedAtField;
    if (deleted && !needed) continue;
    reasons = take(item, reasons, field, spec, fields[index], needed);
  }
  // A column the file lacks is not carried: no value and no default for it (Plan refuses a file
  // that lacks a needed column, so these fields are optional).

  if (reasons !== undefined) return { ok: false, reasons };

  const key = item[keyField];
  if (key === undefined)
    return { ok: false, reasons: [`required:${entity.fields[keyField]?.source ?? keyField}`] };
  let updatedAt: string | undefined;
  if (updatedAtField !== undefined) {
    const value = item[updatedAtField];
    updatedAt = value === undefined ? undefined : String(value);
  }
  return { ok: true, key: String(key), item, updatedAt, deleted };
}
