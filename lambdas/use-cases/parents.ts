import { batchGet } from '../adapters/dynamodb';
import { getEntity } from '../domain/config';
import { entityFilterOf, entityKeys, parentKeyOf } from '../domain/keys';
import { canBeKey } from '../domain/references';
import type { WorkerContext } from './worker-context';

/**
 * The reference values (`references.<field>`) that name an item of the parent entity: each value
 * is rendered into the parent's key (its key templates, lambdas/domain/keys.ts) and read by key; on
 * a shared table the item must carry the parent's entity type. A value that cannot be a key is
 * missing without a read.
 */
export async function parentsPresent(
  ctx: Pick<WorkerContext, 'config' | 'tableOf'>,
  parentName: string,
  values: Iterable<string>,
): Promise<Set<string>> {
  const parent = getEntity(ctx.config, parentName);
  const { table } = entityKeys(parent);
  const only = entityFilterOf(parent);
  const valueByKey = new Map<string, string>();
  for (const value of values) {
    const key = canBeKey(value) ? parentKeyOf(parent, value) : undefined;
    if (key !== undefined) valueByKey.set(key, value);
  }
  const projection = [table.partition, ...(table.sort ? [table.sort] : []), ...(only ? [only.name] : [])];
  const found = await batchGet(ctx.tableOf(parentName), table, [...valueByKey.keys()], { projection });
  const present = new Set<string>();
  for (const [key, item] of found) {
    const value = valueByKey.get(key);
    if (value !== undefined && (!only || item[only.name] === only.value)) present.add(value);
  }
  return present;
}
