import { z } from 'zod';
import { ConfigError } from '../domain/errors';

/** The target table's size, as DescribeTable gives it (bytes and items). */
export const tableStatsSchema = z.object({ bytes: z.number().min(0), items: z.number().int().min(0) });

/**
 * Settings of the process the handlers run in that are not part of an entity's config: the stack
 * sets them in the functions' environment, the local stack with `setRuntimeSettings`. The handlers
 * take them from `runtimeSettings()`, never from the environment themselves.
 */
export const runtimeSettingsSchema = z.object({
  /**
   * Lambda workers at once, at most (`CRM_SYNC_MAX_CONCURRENCY`, the stack's `maxConcurrency`).
   * Unset: Plan's default (DEFAULT_MAX_CONCURRENCY in lambdas/domain/sizing.ts).
   */
  maxConcurrency: z.number().int().min(1).optional(),
  /**
   * The target tables have no throughput limit (`CRM_SYNC_UNMETERED_TABLES=1`: the local stack's
   * dynalite): the merge workers get no write or read ceiling. Default: false.
   */
  unmeteredTables: z.boolean(),
  /**
   * The target table's size, in place of DescribeTable's answer (`CRM_SYNC_TABLE_STATS`, JSON
   * `{"bytes": …, "items": …}`; local tests only: dynalite always says 0). Unset: DescribeTable.
   */
  tableStats: tableStatsSchema.optional(),
});

export type RuntimeSettings = z.infer<typeof runtimeSettingsSchema>;

/** The environment variables the settings are read from. */
const VARIABLES = ['CRM_SYNC_MAX_CONCURRENCY', 'CRM_SYNC_UNMETERED_TABLES', 'CRM_SYNC_TABLE_STATS'] as const;

function parseMaxConcurrency(raw: string | undefined): number | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    throw new ConfigError(`CRM_SYNC_MAX_CONCURRENCY must be a whole number of workers from 1: "${raw}"`);
  }
  return n;
}

function parseUnmetered(raw: string | undefined): boolean {
  if (raw === undefined || raw === '' || raw === '0') return false;
  if (raw === '1') return true;
  throw new ConfigError(`CRM_SYNC_UNMETERED_TABLES must be 1 (unmetered) or 0: "${raw}"`);
}

function parseTableStats(raw: string | undefined): RuntimeSettings['tableStats'] {
  if (!raw) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new ConfigError(`CRM_SYNC_TABLE_STATS is not JSON: ${raw}`, [], { cause: err });
  }
  const stats = tableStatsSchema.safeParse(parsed);
  if (!stats.success) {
    const issues = stats.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(
      `CRM_SYNC_TABLE_STATS must be {"bytes": <bytes>, "items": <items>}: ${issues.join('; ')}`,
      issues,
    );
  }
  return stats.data;
}

/** The settings an environment gives; a malformed value is a ConfigError that names its variable. */
export function parseRuntimeSettings(env: Readonly<Record<string, string | undefined>>): RuntimeSettings {
  const maxConcurrency = parseMaxConcurrency(env.CRM_SYNC_MAX_CONCURRENCY);
  const tableStats = parseTableStats(env.CRM_SYNC_TABLE_STATS);
  return {
    ...(maxConcurrency === undefined ? {} : { maxConcurrency }),
    unmeteredTables: parseUnmetered(env.CRM_SYNC_UNMETERED_TABLES),
    ...(tableStats === undefined ? {} : { tableStats }),
  };
}

let overrides: Partial<RuntimeSettings> = {};
let parsed: { key: string; settings: RuntimeSettings } | undefined;

/**
 * Sets settings for this process over those of its environment (the local stack: one process runs
 * every worker, on tables with no throughput limit); `undefined` drops them again. Checked here:
 * a value out of range is a ConfigError.
 */
export function setRuntimeSettings(settings: Partial<RuntimeSettings> | undefined): void {
  if (settings === undefined) {
    overrides = {};
    return;
  }
  const checked = runtimeSettingsSchema.partial().safeParse(settings);
  if (!checked.success) {
    const issues = checked.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`runtime settings: ${issues.join('; ')}`, issues);
  }
  overrides = Object.fromEntries(
    Object.entries(checked.data).filter(([, v]) => v !== undefined),
  ) as Partial<RuntimeSettings>;
}

/**
 * The settings the handlers run with: the environment's, parsed once (again only if a variable
 * changes, as tests change them), under those `setRuntimeSettings` gave.
 */
export function runtimeSettings(): RuntimeSettings {
  const key = JSON.stringify(VARIABLES.map((v) => process.env[v] ?? null));
  if (parsed?.key !== key) parsed = { key, settings: parseRuntimeSettings(process.env) };
  return { ...parsed.settings, ...overrides };
}
