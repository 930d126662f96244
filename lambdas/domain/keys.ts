/**
 * An entity's keys (config `target`): the table's partition key and optional sort key, each a field
 * or a template over fields (`ACCOUNT#{accountId}`), the global secondary indexes' keys, and the
 * entity-type attribute of a table several entities share (single-table design).
 *
 * A record is named by one string throughout a run (parts, merge, tombstones, mirror, verification,
 * reports): its partition key's value, or, with a sort key, the JSON array `[pk, sk]` (one string
 * per item, whatever the values hold). Two rows whose keys render the same are one DynamoDB item: the
 * rendered key is the record's identity, so dedupe and newer-wins compare it.
 */
import { keyFits, MAX_SORT_KEY_BYTES } from './item-size';
import { isExactNumber, numberText, type Value } from './value';

/** Attributes crm-sync keeps on every target item (hidden by `export`). */
export const META = { version: '_v', line: '_line', run: '_run', digest: '_digest' } as const;
export const META_ATTRIBUTES: readonly string[] = Object.values(META);

/** One placeholder or literal run of a key template. */
export type TemplatePart = { readonly literal: string } | { readonly field: string };

/** A key attribute: its name, and how its value is built from a row's fields. */
export interface KeyPart {
  /** The attribute's name in the item. */
  readonly name: string;
  /** The template's parts; a plain field is one `{ field }` part whose attribute is the field itself. */
  readonly parts: readonly TemplatePart[];
  /** True when the attribute is the field itself (no attribute is added to the item). */
  readonly plainField: boolean;
  /** The fields the value reads, in order, without repeats. */
  readonly fields: readonly string[];
}

/** A table's key schema, as DynamoDB sees it: attribute names only. */
export interface TableKey {
  readonly partition: string;
  readonly sort?: string | undefined;
}

/** Placeholder syntax: `{field}`. Braces not part of one are a config error (templateProblem). */
const PLACEHOLDER = /\{([A-Za-z][A-Za-z0-9_]*)\}/g;

/** Parses `ACCOUNT#{accountId}` into its parts. Call templateProblem first: it assumes a valid template. */
export function parseTemplate(template: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let at = 0;
  for (const m of template.matchAll(PLACEHOLDER)) {
    const index = m.index ?? 0;
    if (index > at) parts.push({ literal: template.slice(at, index) });
    parts.push({ field: m[1] as string });
    at = index + m[0].length;
  }
  if (at < template.length) parts.push({ literal: template.slice(at) });
  return parts;
}

/** What is wrong with a key template, or undefined: a brace outside `{field}`. */
export function templateProblem(template: string): string | undefined {
  const rest = template.replace(PLACEHOLDER, '');
  if (rest.includes('{') || rest.includes('}')) {
    return `template "${template}" has a brace outside a {field} placeholder (field names are letters, digits and _)`;
  }
  if (template === '') return 'a key template is empty';
  return undefined;
}

/** A key part from its config form: a field name, or `{ name, value }` with a template value. */
export function keyPartOf(spec: string | { readonly name: string; readonly value: string }): KeyPart {
  if (typeof spec === 'string') {
    return { name: spec, parts: [{ field: spec }], plainField: true, fields: [spec] };
  }
  // The config's own checks also run on an entity whose target did not parse: no part, no fields.
  if (
    typeof spec !== 'object' ||
    spec === null ||
    typeof spec.value !== 'string' ||
    typeof spec.name !== 'string'
  ) {
    return { name: '', parts: [], plainField: false, fields: [] };
  }
  const parts = parseTemplate(spec.value);
  const fields = [...new Set(parts.flatMap((p) => ('field' in p ? [p.field] : [])))];
  const plainField = parts.length === 1 && fields[0] === spec.name;
  return { name: spec.name, parts, plainField, fields };
}

/**
 * The text a key value of a typed field is written as: numbers in their canonical text, booleans as
 * `true`/`false`; a list, set or map is no key value (undefined).
 */
function keyText(value: Value): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || isExactNumber(value)) return numberText(value);
  if (typeof value === 'boolean') return String(value);
  return undefined;
}

/**
 * The value of a key part for a row, by field name; undefined when a field it reads has no value
 * (a primary key then rejects the row, an index attribute is left out: a sparse index).
 */
export function renderKeyPart(
  part: KeyPart,
  fieldValue: (field: string) => Value | null | undefined,
): string | undefined {
  if (part.parts.length === 1) {
    const only = part.parts[0] as TemplatePart;
    if ('literal' in only) return only.literal;
    const v = fieldValue(only.field);
    return v === null || v === undefined ? undefined : keyText(v);
  }
  let out = '';
  for (const p of part.parts) {
    if ('literal' in p) {
      out += p.literal;
      continue;
    }
    const v = fieldValue(p.field);
    const text = v === null || v === undefined ? undefined : keyText(v);
    if (text === undefined) return undefined;
    out += text;
  }
  return out;
}

/** The record's one string (module comment): the partition key's value, or `[pk, sk]` as JSON. */
export function recordKey(partition: string, sort?: string | undefined): string {
  return sort === undefined ? partition : JSON.stringify([partition, sort]);
}

/** The DynamoDB key of a record's string, as the attribute values' strings. */
export function keyAttributes(table: TableKey, key: string): Record<string, string> {
  if (table.sort === undefined) return { [table.partition]: key };
  const [partition, sort] = splitKey(key);
  return { [table.partition]: partition, [table.sort]: sort };
}

/** The partition and sort values of a composite record key (a key that is not one is all partition). */
export function splitKey(key: string): [string, string] {
  if (key.startsWith('["')) {
    try {
      const parsed: unknown = JSON.parse(key);
      if (
        Array.isArray(parsed) &&
        parsed.length === 2 &&
        typeof parsed[0] === 'string' &&
        typeof parsed[1] === 'string'
      ) {
        return [parsed[0], parsed[1]];
      }
    } catch {
      // Not a composite key: the whole string is the partition value.
    }
  }
  return [key, ''];
}

/**
 * The record key of a stored item, or undefined when it lacks a key attribute (an item of another
 * key schema). Key attributes are strings or numbers; both are read as their text.
 */
export function keyOfItem(table: TableKey, item: Readonly<Record<string, unknown>>): string | undefined {
  const pk = item[table.partition];
  if (pk === undefined || pk === null || typeof pk === 'object') return undefined;
  if (table.sort === undefined) return String(pk);
  const sk = item[table.sort];
  if (sk === undefined || sk === null || typeof sk === 'object') return undefined;
  return recordKey(String(pk), String(sk));
}

/**
 * Whether a record key's values fit DynamoDB's limits: the partition value `maxPartitionBytes`
 * (2,048, less a tombstone's prefix for a delete), the sort value 1,024 bytes; the whole key string
 * must fit `maxPartitionBytes` too, as a tombstone's partition key holds it. No value is empty.
 */
export function recordKeyFits(table: TableKey, key: string, maxPartitionBytes: number): boolean {
  if (table.sort === undefined) return key !== '' && keyFits(key, maxPartitionBytes);
  const [pk, sk] = splitKey(key);
  return (
    pk !== '' &&
    sk !== '' &&
    keyFits(pk, maxPartitionBytes) &&
    keyFits(sk, MAX_SORT_KEY_BYTES) &&
    keyFits(key, maxPartitionBytes)
  );
}

/** What entityKeys reads of an entity's config (lambdas/domain/config.ts `target`). */
export interface KeyConfig {
  readonly target: {
    readonly key?: string | undefined;
    readonly partitionKey?: string | { readonly name: string; readonly value: string } | undefined;
    readonly sortKey?: string | { readonly name: string; readonly value: string } | undefined;
    readonly entityType?: string | { readonly name: string; readonly value: string } | undefined;
    readonly indexes?:
      | Readonly<
          Record<
            string,
            {
              readonly partitionKey: string | { readonly name: string; readonly value: string };
              readonly sortKey?: string | { readonly name: string; readonly value: string } | undefined;
              readonly projection?: 'all' | 'keys' | undefined;
            }
          >
        >
      | undefined;
  };
}

/** A global secondary index of the entity's table. */
export interface IndexKeys {
  readonly name: string;
  readonly partition: KeyPart;
  readonly sort?: KeyPart | undefined;
  readonly projection: 'all' | 'keys';
}

/** An entity's keys, resolved from its config (module comment). */
export interface EntityKeys {
  /** The table's key schema. */
  readonly table: TableKey;
  readonly partition: KeyPart;
  readonly sort?: KeyPart | undefined;
  readonly indexes: readonly IndexKeys[];
  /** The entity-type attribute and the entity's value (a shared table; or set in the config). */
  readonly entityType?: { readonly name: string; readonly value: string } | undefined;
  /** The fields the primary key reads (each row needs them all: they are required). */
  readonly keyFields: readonly string[];
  /**
   * Attributes the transform adds to each item, in order: templated primary key parts, templated
   * index key parts (an index may reuse the table's attributes), then the entity type.
   */
  readonly derived: readonly KeyPart[];
}

const resolved = new WeakMap<object, EntityKeys>();

/**
 * The entity's keys. The config (lambdas/domain/config.ts) has checked them: `partitionKey` or
 * `key` is set, templates parse, an attribute has one template. The entity type is resolved by the
 * config too (its default value is the entity's name), so here it is `{ name, value }` or unset.
 */
export function entityKeys(entity: KeyConfig): EntityKeys {
  const cached = resolved.get(entity.target);
  if (cached) return cached;
  const t = entity.target;
  const partition = keyPartOf(t.partitionKey ?? t.key ?? '');
  const sort = t.sortKey === undefined ? undefined : keyPartOf(t.sortKey);
  const indexes: IndexKeys[] = Object.entries(
    typeof t.indexes === 'object' && t.indexes !== null ? t.indexes : {},
  ).map(([name, ix]) => ({
    name,
    partition: keyPartOf(ix.partitionKey),
    sort: ix.sortKey === undefined ? undefined : keyPartOf(ix.sortKey),
    projection: ix.projection ?? 'all',
  }));
  const entityType =
    t.entityType === undefined || typeof t.entityType === 'string' ? undefined : t.entityType;
  const derived: KeyPart[] = [];
  const add = (part: KeyPart | undefined) => {
    if (part && !part.plainField && !derived.some((d) => d.name === part.name)) derived.push(part);
  };
  add(partition);
  add(sort);
  for (const ix of indexes) {
    add(ix.partition);
    add(ix.sort);
  }
  if (entityType) {
    derived.push({
      name: entityType.name,
      parts: [{ literal: entityType.value }],
      plainField: false,
      fields: [],
    });
  }
  const keys: EntityKeys = {
    table: { partition: partition.name, ...(sort ? { sort: sort.name } : {}) },
    partition,
    sort,
    indexes,
    entityType,
    keyFields: [...new Set([...partition.fields, ...(sort?.fields ?? [])])],
    derived,
  };
  resolved.set(entity.target, keys);
  return keys;
}

/** Whether a field is one the primary key reads (it must be required; a row without it is rejected). */
export function isKeyField(entity: KeyConfig, field: string): boolean {
  return entityKeys(entity).keyFields.includes(field);
}

/**
 * The record key of a parent item that a reference value names: the parent's key rendered with
 * its one key field set to the value (config: a referenced entity's key reads one field), or
 * undefined when the value cannot render it.
 */
export function parentKeyOf(parent: KeyConfig, value: string): string | undefined {
  const keys = entityKeys(parent);
  const fieldValue = () => value;
  const pk = renderKeyPart(keys.partition, fieldValue);
  if (pk === undefined) return undefined;
  if (!keys.sort) return pk;
  const sk = renderKeyPart(keys.sort, fieldValue);
  return sk === undefined ? undefined : recordKey(pk, sk);
}

/**
 * The items a scan of the entity's table keeps: on a table whose items carry the entity type, only
 * those of this entity (undefined: every item is the entity's).
 */
export function entityFilterOf(entity: KeyConfig): { name: string; value: string } | undefined {
  return entityKeys(entity).entityType;
}
