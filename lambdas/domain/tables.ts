/**
 * The target tables a config asks for: one per entity, or one per `target.table` that several
 * entities share (single-table design), with their key schema and global secondary indexes. The
 * stack (lib/crm-sync-stack.ts) and the local stack (local/local-stack.ts) create these.
 */
import { type CrmSyncConfig, type EntityConfig, indexAttributeType } from './config';
import { entityKeys, type KeyPart } from './keys';

/** A key attribute of a table or index, with its DynamoDB type. */
export interface KeyAttribute {
  readonly name: string;
  readonly type: 'S' | 'N';
}

export interface IndexDefinition {
  readonly name: string;
  readonly partition: KeyAttribute;
  readonly sort?: KeyAttribute | undefined;
  readonly projection: 'all' | 'keys';
}

export interface TableDefinition {
  /** Stable id: the entity's name, or `table:<name>` for a shared table. */
  readonly id: string;
  /** The shared table's name (`target.table`), undefined for an entity's own table. */
  readonly shared: string | undefined;
  /** The entities that write to it, in config order. */
  readonly entities: readonly string[];
  /** Its physical name when the config sets one (`target.tableName`). */
  readonly tableName: string | undefined;
  readonly partition: KeyAttribute;
  readonly sort?: KeyAttribute | undefined;
  readonly indexes: readonly IndexDefinition[];
}

/**
 * The DynamoDB type of an index key attribute (config.ts indexAttributeType: a plain numeric field's
 * is a number, anything else a string; table keys are strings, the config refuses numeric ones).
 */
function attributeOf(part: KeyPart, entity: EntityConfig): KeyAttribute {
  return { name: part.name, type: indexAttributeType(part, entity) };
}

/** The tables of a config, in the order their first entity appears. */
export function tableDefinitions(config: CrmSyncConfig): TableDefinition[] {
  const out: TableDefinition[] = [];
  const shared = new Map<string, { def: TableDefinition; indexes: Map<string, IndexDefinition> }>();
  for (const [name, entity] of Object.entries(config.entities)) {
    const keys = entityKeys(entity);
    const indexes = keys.indexes.map((ix) => ({
      name: ix.name,
      partition: attributeOf(ix.partition, entity),
      sort: ix.sort ? attributeOf(ix.sort, entity) : undefined,
      projection: ix.projection,
    }));
    const group = entity.target.table;
    const existing = group === undefined ? undefined : shared.get(group);
    if (existing) {
      // The config checked the entities agree on the key schema and on indexes of one name.
      (existing.def.entities as string[]).push(name);
      for (const ix of indexes) if (!existing.indexes.has(ix.name)) existing.indexes.set(ix.name, ix);
      continue;
    }
    const def: TableDefinition = {
      id: group === undefined ? name : `table:${group}`,
      shared: group,
      entities: [name],
      tableName: entity.target.tableName,
      partition: { name: keys.table.partition, type: 'S' },
      ...(keys.table.sort ? { sort: { name: keys.table.sort, type: 'S' as const } } : {}),
      indexes,
    };
    out.push(def);
    if (group !== undefined) shared.set(group, { def, indexes: new Map(indexes.map((ix) => [ix.name, ix])) });
  }
  return out.map((def) => {
    const s = def.shared === undefined ? undefined : shared.get(def.shared);
    return s ? { ...def, indexes: [...s.indexes.values()] } : def;
  });
}
