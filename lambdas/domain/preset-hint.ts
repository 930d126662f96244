import { columnKey, type EntityConfig, parseConfig } from './config';
import { isKeyField } from './keys';
import { PRESETS } from './presets';

/**
 * Which built-in preset a header that does not fit its entity looks like, for HeaderMismatchError's
 * message. Reads column names only, never cells.
 */

interface PresetEntity {
  preset: string;
  name: string;
  entity: EntityConfig;
}

let presetEntities: PresetEntity[] | undefined;

function allPresetEntities(): PresetEntity[] {
  presetEntities ??= Object.entries(PRESETS).flatMap(([preset, input]) =>
    Object.entries(parseConfig(input, `preset ${preset}`).entities).map(([name, entity]) => ({
      preset,
      name,
      entity,
    })),
  );
  return presetEntities;
}

/** How many of the entity's fields the header holds, and whether it holds every column the entity needs. */
function fitOf(
  keys: ReadonlySet<string>,
  entity: EntityConfig,
): { matched: number; total: number; binds: boolean } {
  let matched = 0;
  let binds = true;
  for (const [field, spec] of Object.entries(entity.fields)) {
    const found = [spec.source, ...(spec.aliases ?? [])].some((n) => keys.has(columnKey(n)));
    if (found) matched++;
    else if (spec.required || isKeyField(entity, field) || field === entity.updatedAt) binds = false;
  }
  if (entity.deleteFlag?.required && !keys.has(columnKey(entity.deleteFlag.source))) binds = false;
  return { matched, total: Object.keys(entity.fields).length, binds };
}

/**
 * `this header looks like the hubspot preset's "contacts" entity (9 of 9 columns): crm-sync config
 * init --preset hubspot`, when one preset entity binds this header, holds at least 3 of its columns
 * and half of its fields, fits a larger share of its fields than the configured entity does, and no
 * other preset entity fits as well; else undefined.
 */
export function presetHint(columns: readonly string[], configured: EntityConfig): string | undefined {
  const keys = new Set(columns.map(columnKey));
  const own = fitOf(keys, configured);
  const ownShare = own.total === 0 ? 0 : own.matched / own.total;
  const candidates = allPresetEntities()
    .map((p) => ({ ...p, ...fitOf(keys, p.entity) }))
    .filter((c) => c.binds && c.matched >= 3 && c.matched * 2 >= c.total && c.matched / c.total > ownShare)
    .sort((a, b) => b.matched / b.total - a.matched / a.total || b.matched - a.matched);
  const [best, next] = candidates;
  if (best === undefined) return undefined;
  if (next !== undefined && next.matched === best.matched && next.total === best.total) return undefined;
  return (
    `this header looks like the ${best.preset} preset's "${best.name}" entity ` +
    `(${best.matched} of ${best.total} columns): crm-sync config init --preset ${best.preset}`
  );
}
