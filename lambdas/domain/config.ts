import { createHash } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { formatProblem, withEntityTimezone } from './dates';
import { ConfigError, UnknownEntityError } from './errors';
import {
  entityKeys,
  isKeyField,
  type KeyConfig,
  type KeyPart,
  keyPartOf,
  META_ATTRIBUTES,
  templateProblem,
} from './keys';
import { applyTransforms, Invalid, trimInvisible, typeLiteral } from './normalize';
import { scheduleExpressionProblem, timeZoneProblem } from './sync';

/** Field types a source column can be normalized to. */
export const FIELD_TYPES = [
  'string',
  'email',
  'phone',
  'number',
  'integer',
  'boolean',
  'date',
  'datetime',
  'enum',
  'currency',
  'percent',
] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

export const TRANSFORMS = ['trim', 'lower', 'upper', 'collapseSpaces'] as const;
export type Transform = (typeof TRANSFORMS)[number];

/** How strictly a `phone` field checks a number (see fieldSchema.validity). */
export const PHONE_VALIDITIES = ['valid', 'possible'] as const;
export type PhoneValidity = (typeof PHONE_VALIDITIES)[number];

const NULL_VALUE_EMPTY = 'a null value is empty (an empty cell is already absent)';

const NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
/** A field name: a NAME, or NAMEs joined by dots (`address.street`: member `street` of map `address`). */
const FIELD_NAME = /^[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*$/;
/** Field types whose values are strings (the element types a string set may hold). */
const STRING_TYPES: ReadonlySet<string> = new Set(['string', 'email', 'phone', 'date', 'datetime', 'enum']);
const ENTITY_NAME = /^[a-z][a-z0-9-]{0,39}$/;

const fieldSchema = z.strictObject({
  /** Source column name; matched case-insensitively after trimming. */
  source: z.string().trim().min(1, 'source column name is empty'),
  type: z
    .enum(FIELD_TYPES, { error: (iss) => `unknown type ${JSON.stringify(iss.input)}` })
    .default('string'),
  required: z.boolean().default(false),
  transforms: z
    .array(z.enum(TRANSFORMS, { error: (iss) => `unknown transform ${JSON.stringify(iss.input)}` }))
    .default(['trim']),
  /** Value used when the source cell is empty. */
  default: z.union([z.string(), z.number(), z.boolean()]).optional(),
  /** Allowed values for `enum` (compared case-insensitively, stored as written here). */
  values: z.array(z.string().min(1)).min(1).optional(),
  /** Default region (ISO 3166 alpha-2) for `phone` numbers written without a country code. */
  region: z
    .string()
    .regex(/^[A-Z]{2}$/, 'region must be an ISO 3166 alpha-2 code such as "US"')
    .optional(),
  /**
   * `phone` only: how strictly a number is checked. `valid` (the default): libphonenumber's isValid(),
   * the number plan (length and leading digits of a real range: the fictional `1-572-069-1592` fails,
   * 572 is no US area code). `possible`: isPossible(), the length for the country only.
   */
  validity: z
    .enum(PHONE_VALIDITIES, {
      error: (iss) => `unknown validity ${JSON.stringify(iss.input)} (valid or possible)`,
    })
    .optional(),
  /**
   * `phone` only: a source column (e.g. `MailingCountry`) whose cell gives the row's default region:
   * an ISO 3166 alpha-2 or alpha-3 code or a country name (`US`, `USA`, `United States`, `Deutschland`),
   * case-insensitive. An empty or unknown cell, or a header without the column, falls back to `region`.
   */
  regionFrom: z.string().trim().min(1, 'regionFrom column name is empty').optional(),
  /** Maximum length in characters of a string value (longer → reject). */
  maxLength: z.number().int().positive().optional(),
  /**
   * What a cell that fails its type does to its row: `reject` (default) rejects the row; `drop`
   * stores the row without the field; `keep` stores the cell's text as it is (after the
   * transforms). Every drop and keep is a warning (warnings.csv: line, column, reason, value).
   * The key, the updatedAt field and required fields always reject. Unset: `reject`.
   */
  onInvalid: z.enum(['reject', 'drop', 'keep']).optional(),
  // Dates (type date / datetime only; see lambdas/domain/dates.ts and the README's "Dates and times").
  /**
   * Formats (luxon tokens: `M/d/yy h:mm a`, `dd.MM.yyyy HH:mm`) tried in order after the ISO forms,
   * which are always read. Unset: the defaults (DEFAULT_DATE_FORMATS and `M/d/yyyy` with times),
   * read in the column's day/month order.
   */
  formats: z
    .array(z.string().trim().min(1, 'a format is empty').superRefine(formatIssue))
    .min(1, 'formats lists at least one format')
    .optional(),
  /**
   * How numeric dates `03/04/24` (slash or dot) are read when the file's values do not decide it:
   * true day-first, false month-first (US); `auto` month-first too, said so in the summary. Default false.
   */
  dayFirst: z.union([z.boolean(), z.literal('auto')]).optional(),
  /** IANA zone of values written without an offset (daylight saving included). Default: the entity's, else `UTC`. */
  timezone: z.string().superRefine(timeZoneIssue).optional(),
  // ---------------------------------------------------------------- header and cell conventions
  /**
   * Other header names this field's column may have, tried after `source` in order: the first name
   * the header holds wins (one mapping for an API export's `Id` and a report's `Contact ID`).
   * Matched like `source`. Default: none.
   */
  aliases: z
    .array(z.string().trim().min(1, 'an alias is empty'), { error: 'aliases is a list of column names' })
    .optional(),
  /**
   * When the header repeats the name (HubSpot multi-object exports: `Phone Number` twice), the n-th
   * column of that name, counted from 1. Default: unset (a repeated name fails at Plan).
   */
  occurrence: z
    .number({ error: 'occurrence is a whole number from 1' })
    .int('occurrence is a whole number from 1')
    .min(1, 'occurrence counts from 1 (the first column of that name is occurrence 1)')
    .optional(),
  /**
   * The column number, counted from 1; the header cell there must still be `source` or an alias,
   * else Plan fails naming both. Default: unset (found by name).
   */
  position: z
    .number({ error: 'position is a whole number from 1' })
    .int('position is a whole number from 1')
    .min(1, 'position counts from 1 (the first column is position 1)')
    .optional(),
  /**
   * Cells that mean "no value" for this field (compared after its transforms, ignoring case and
   * surrounding spaces): read as empty, so `default` applies. Replaces the entity's
   * `source.nullValues`; `[]` turns them off for this field. Default: the entity's.
   */
  nullValues: z
    .array(z.string({ error: 'a null value is a string' }).trim().min(1, NULL_VALUE_EMPTY), {
      error: 'nullValues is a list of strings',
    })
    .optional(),
  /**
   * Source text → stored value (a string, number or boolean, typed like `default`), keys compared
   * after the field's transforms, ignoring case and surrounding spaces; applied after nullValues,
   * before typing. Cells not in the map pass through and are typed as usual. Default: none.
   */
  map: z
    .record(
      z.string(),
      z.union([z.string(), z.number(), z.boolean()], {
        error: 'map values are strings, numbers or booleans',
      }),
      { error: 'map is an object of source text → value' },
    )
    .optional(),
  /**
   * A delimited cell (a Salesforce multi-select picklist `a;b;c`) stored as a list (`L`) or a
   * string set (`SS`): split at `delimiter` (default `;`), each element trimmed, empty ones dropped,
   * each typed like a cell of the field's type (its `values`, `maxLength`, formats…); one invalid
   * element makes the cell invalid (onInvalid applies). No element: the attribute is absent.
   * `as: 'stringSet'` (default `list`) removes duplicates and needs a type whose values are strings.
   */
  list: z
    .strictObject({
      delimiter: z.string().min(1, 'the list delimiter is empty').default(';'),
      as: z
        .enum(['list', 'stringSet'], {
          error: (iss) => `unknown list form ${JSON.stringify(iss.input)} (list or stringSet)`,
        })
        .default('list'),
    })
    .optional(),
  /** `currency` only: the ISO 4217 code cells must be in; a symbol or code of another currency rejects. */
  currencyCode: z
    .string()
    .regex(/^[A-Z]{3}$/, 'currencyCode is an ISO 4217 code such as "USD"')
    .optional(),
  /** `currency` only: the decimal mark of the amounts, `.` (default; `,` groups thousands) or `,`. */
  decimalSeparator: z.enum(['.', ',']).optional(),
  /** `percent` only: `fraction` (default: `12.5%` stores 0.125) or `points` (stores 12.5). */
  percentScale: z.enum(['fraction', 'points']).optional(),
});
export type FieldSpec = z.output<typeof fieldSchema>;

/**
 * What a field's name and shape settings get wrong: a dotted name that is also a parent of another
 * field (`address` and `address.street`), a key, updatedAt or reference that is dotted or a list,
 * a string set of non-string values, settings of another type.
 */
function shapeProblems(
  name: string,
  f: FieldSpec,
  entity: KeyConfig & { updatedAt?: string | undefined; references?: Record<string, unknown> },
): Array<{ path: string[]; message: string }> {
  const out: Array<{ path: string[]; message: string }> = [];
  const role = isKeyField(entity, name)
    ? 'the key field'
    : name === entity.updatedAt
      ? 'the updatedAt field'
      : entity.references !== undefined && Object.hasOwn(entity.references, name)
        ? 'a reference'
        : undefined;
  if (role !== undefined && name.includes('.')) {
    out.push({ path: [], message: `${role} cannot be a map member (no dots in its name)` });
  }
  if (role !== undefined && f.list !== undefined)
    out.push({ path: ['list'], message: `${role} cannot be a list` });
  if (f.list?.as === 'stringSet' && !STRING_TYPES.has(f.type)) {
    out.push({
      path: ['list', 'as'],
      message: `a stringSet holds strings: a ${f.type} field stores its elements as a list`,
    });
  }
  const only: Array<[setting: 'currencyCode' | 'decimalSeparator' | 'percentScale', type: string]> = [
    ['currencyCode', 'currency'],
    ['decimalSeparator', 'currency'],
    ['percentScale', 'percent'],
  ];
  for (const [setting, type] of only) {
    if (f[setting] !== undefined && f.type !== type) {
      out.push({ path: [setting], message: `${setting} applies to ${type} fields only` });
    }
  }
  return out;
}

/** Field names that are both a leaf and the parent map of another field (`address`, `address.street`). */
function parentConflicts(names: readonly string[]): Array<{ name: string; child: string }> {
  const all = new Set(names);
  const out: Array<{ name: string; child: string }> = [];
  for (const child of names) {
    for (let dot = child.indexOf('.'); dot > 0; dot = child.indexOf('.', dot + 1)) {
      const parent = child.slice(0, dot);
      if (all.has(parent)) out.push({ name: parent, child });
    }
  }
  return out;
}

function timeZoneIssue(tz: string, ctx: z.RefinementCtx): void {
  const problem = timeZoneProblem(tz);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
}

function formatIssue(format: string, ctx: z.RefinementCtx): void {
  const problem = formatProblem(format);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
}

const deleteFlagSchema = z.strictObject({
  /** Source column holding the delete flag (Salesforce `IsDeleted`). */
  source: z.string().trim().min(1),
  /** Values (case-insensitive) that mean "deleted". */
  values: z.array(z.string()).min(1).default(['true', '1', 'yes']),
  /**
   * Whether the header must hold the column (Plan fails without it). `false`: a header without it
   * (a Salesforce report export) reads every row as not deleted. Default: true.
   */
  required: z.boolean().default(true),
});

const referenceSchema = z.strictObject({
  /** Entity this field points at. */
  entity: z.string().regex(ENTITY_NAME),
  /**
   * Reject rows whose reference names a parent the parent entity's table does not hold
   * (`orphan:<field>`), instead of loading them and reporting them as orphans. The parent must then
   * be loaded first (accounts before contacts).
   */
  reject: z.boolean().default(false),
});

const sourceSchema = z.strictObject({
  /**
   * `csv`, `jsonl` (one JSON object per line), or `auto`: by the object's extension (`.jsonl`,
   * `.ndjson` → jsonl; `.csv`, `.tsv`, `.txt` → csv), else jsonl when the first byte is `{` or `[`.
   * A JSON array or `sf data export tree` file (found by content) is converted to JSON Lines at Plan.
   */
  format: z.enum(['auto', 'csv', 'jsonl']).default('auto'),
  /**
   * Character encoding. `auto`: a byte-order mark (UTF-8/16/32) or, without one, UTF-16/32 by its
   * 0x00 pattern, else UTF-8 (a file that is not valid UTF-8 then fails at Plan naming the line).
   * `windows-1252` (also for Latin-1 / ISO-8859-1 exports) is transcoded to UTF-8 at Plan.
   */
  encoding: z.enum(['auto', 'utf-8', 'utf-16le', 'utf-16be', 'windows-1252']).default('auto'),
  /** Field delimiter, or `auto` to detect it from the header (`,` `;` tab `|`). */
  delimiter: z.enum(['auto', ',', ';', '\t', '|']).default('auto'),
  /** Longest accepted field, in bytes; a longer one rejects its row. */
  maxFieldBytes: z
    .number()
    .int()
    .positive()
    .default(128 * 1024),
  /**
   * Target size of a chunk in bytes (one transform worker invocation reads one chunk). Unset: Plan
   * sizes chunks to the file (8 MiB up to 128 MiB, see lambdas/domain/sizing.ts); set: always this.
   */
  chunkBytes: z.number().int().min(1024).optional(),
  /**
   * A gzip or zip export may decompress to this many times its own size (at least 64 MiB); a larger
   * one fails at Plan (a zip bomb guard). Unset: 100 (DEFAULT_DECOMPRESSION_RATIO in
   * lambdas/domain/compressed.ts).
   */
  maxDecompressionRatio: z.number().min(1).optional(),
  /**
   * Cells that mean "no value" in every field (compared after each field's transforms, ignoring
   * case and surrounding spaces): read as empty, so a field's `default` applies; a field's own
   * `nullValues` replaces this list. `[]` turns them off. Unset: DEFAULT_NULL_VALUES by field type
   * (see defaultNullValues: none for boolean and enum fields).
   */
  nullValues: z
    .array(z.string({ error: 'a null value is a string' }).trim().min(1, NULL_VALUE_EMPTY), {
      error: 'nullValues is a list of strings',
    })
    .optional(),
});

/**
 * The target table's throughput, which the merge workers share instead of throttling blindly.
 * `on-demand`: the table's warm throughput (what it serves at once), by default that of a new
 * on-demand table, 4,000 write and 12,000 read units per second; `provisioned`: its capacity units.
 */
const throughputSchema = z.discriminatedUnion('mode', [
  z.strictObject({
    mode: z.literal('on-demand'),
    writeUnitsPerSecond: z.number().int().positive().default(4_000),
    readUnitsPerSecond: z.number().int().positive().default(12_000),
  }),
  z.strictObject({
    mode: z.literal('provisioned'),
    writeCapacityUnits: z.number().int().positive(),
    readCapacityUnits: z.number().int().positive(),
  }),
]);

/** DynamoDB's rule for an index name. */
const INDEX_NAME = /^[A-Za-z0-9_.-]{3,255}$/;

/** An attribute name crm-sync writes (a key attribute, the entity-type attribute). */
const ATTRIBUTE_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,254}$/;

/**
 * A key attribute: a field's name (the attribute is the field, as `key` has it), or `{ name, value }`
 * with `value` a template over fields: `"ACCOUNT#{accountId}"`, `"{topic}#{createdOn}#{owner}"`.
 */
const keyPartSchema = z.union(
  [
    z.string().regex(NAME, 'a key is a field name or { name, value } with a template value'),
    z.strictObject({
      name: z
        .string()
        .regex(
          ATTRIBUTE_NAME,
          'an attribute name is letters, digits, _ and - (from a letter or _; no dot: a dot names a map member)',
        ),
      value: z
        .string()
        .min(1, 'a key template is empty')
        .superRefine((t, ctx) => {
          const problem = templateProblem(t);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        }),
    }),
  ],
  { error: 'a key is a field name or { name, value } with a template value' },
);
export type KeyPartSpec = z.output<typeof keyPartSchema>;

/** A global secondary index the stack creates on the entity's table, and the attributes that key it. */
const indexSchema = z.strictObject({
  partitionKey: keyPartSchema,
  sortKey: keyPartSchema.optional(),
  /** What the index holds of an item: `all` its attributes (default), `keys` only the keys. */
  projection: z.enum(['all', 'keys']).default('all'),
});
export type IndexSpec = z.output<typeof indexSchema>;

const targetSchema = z
  .strictObject({
    /** Physical table name; by default CloudFormation names it. */
    tableName: z.string().min(3).max(255).optional(),
    /**
     * Single-table design: entities naming the same `table` share one DynamoDB table, each item
     * marked with its entity in the `entityType` attribute. Default: a table of the entity's own.
     */
    table: z.string().regex(ENTITY_NAME, 'a table name is lower-case letters, digits and -').optional(),
    /** Target field that is the table's partition key (the same as `partitionKey: <field>`). */
    key: z.string().regex(NAME).optional(),
    /** The table's partition key: a field, or `{ name, value }` with a template value. */
    partitionKey: keyPartSchema.optional(),
    /** The table's sort key, the same way. Default: none (the partition key alone names an item). */
    sortKey: keyPartSchema.optional(),
    /**
     * The attribute naming the entity on every item it writes: `{ name, value }`, or just the name
     * (the value is then the entity's name). Default on a shared `table`: `_et` = the entity's name;
     * elsewhere none. Mirror deletes, verification, snapshots and restores of the entity see only its items.
     */
    entityType: z
      .union([
        z.string().regex(ATTRIBUTE_NAME),
        z.strictObject({ name: z.string().regex(ATTRIBUTE_NAME), value: z.string().min(1) }),
      ])
      .optional(),
    /** Global secondary indexes by name, keyed like the table (templates too); sparse where a field is empty. */
    indexes: z.record(z.string(), indexSchema).optional(),
    /** Throughput the run may use (default: a new on-demand table's warm throughput). */
    throughput: throughputSchema.optional(),
  })
  .strict();

const entitySchema = z
  .strictObject({
    /** Target table settings. */
    target: targetSchema,
    source: sourceSchema.default({
      format: 'auto',
      encoding: 'auto',
      delimiter: 'auto',
      maxFieldBytes: 128 * 1024,
    }),
    /** target field name ← source column and type. */
    fields: z.record(
      z
        .string()
        .regex(
          FIELD_NAME,
          'field names are letters, digits and _ (dots join the members of a map: address.street)',
        ),
      fieldSchema,
    ),
    /** Target field (type `datetime` or `date`) that orders versions of a record: newer wins. */
    updatedAt: z.string().regex(NAME).optional(),
    deleteFlag: deleteFlagSchema.optional(),
    references: z.record(z.string().regex(NAME), referenceSchema).default({}),
    writeMode: z.enum(['upsert', 'newer-wins', 'insert-only']).default('newer-wins'),
    /**
     * What a put does to the attributes of mapped fields whose column the file does not carry (a
     * report export with five of the object's columns): `keep` (default) keeps what the stored item
     * holds for them, so a partial export updates the columns it has and erases nothing; `remove`
     * replaces the item whole with what the row holds. An empty cell of a column the file has
     * removes its attribute either way (the file says it is empty). Unset: `keep`.
     */
    onMissingColumns: z.enum(['keep', 'remove']).optional(),
    syncMode: z.enum(['merge', 'mirror']).default('merge'),
    /**
     * Rows per merge partition, at most: the merge step fans out over at least
     * ceil(rows / partitionRows) partitions, more when the table's throughput needs smaller ones.
     */
    partitionRows: z.number().int().min(100).default(50_000),
    /** Mirror mode refuses to delete more than this share of the target unless forced. */
    maxDeleteRatio: z.number().min(0).max(1).default(0.1),
    /**
     * Share of the file's rows that may be rejected before the run is refused (RejectLimitError,
     * before anything is written); a file whose every row is rejected is refused whatever this says.
     * `--force` (`"force": true`) loads the valid rows anyway. Default 0.1.
     */
    maxRejectRatio: z
      .number()
      .min(0, 'maxRejectRatio is a share from 0 to 1')
      .max(1, 'maxRejectRatio is a share from 0 to 1')
      .default(0.1),
    /**
     * A file with a header and no data row succeeds with `rows: 0` (delta exports with no change)
     * instead of failing with EmptyExportError. Default false: a full export is never empty.
     */
    allowEmptyExport: z.boolean().default(false),
    /**
     * Ongoing sync: an EventBridge Scheduler expression, `rate(1 hour)` or `cron(0 2 * * ? *)`. Each
     * time it fires, the newest export under `inbox/<entity>/` runs unless it already ran (see
     * lambdas/domain/sync.ts). No schedule by default: runs start only when a file lands.
     */
    schedule: z
      .string()
      .trim()
      .superRefine((expr, ctx) => {
        const problem = scheduleExpressionProblem(expr);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional(),
    /** IANA zone of date/datetime values written without an offset, for every field that sets none. Default `UTC`. */
    timezone: z.string().superRefine(timeZoneIssue).optional(),
    /** IANA time zone a `cron(...)` schedule is read in (daylight saving included); default `UTC`. */
    scheduleTimezone: z
      .string()
      .superRefine((tz, ctx) => {
        const problem = timeZoneProblem(tz);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional(),
    /**
     * How a run is verified: `full` scans the table for items no source explains, proves the run's
     * puts by the digest of what the scan finds written by the run and reads back its other keys;
     * `sample:<n>` reads back about n keys of the run and does not scan. Unset:
     * full up to FULL_VERIFY_MAX_ITEMS items in the table, sample:100000 above (lambdas/domain/verify.ts).
     */
    verify: z
      .string()
      .regex(/^(full|sample:[1-9]\d*)$/, 'verify is "full" or "sample:<n>" (n ≥ 1)')
      .optional(),
  })
  .superRefine(
    (entity, ctx) => {
      for (const problem of keyProblems(entity)) ctx.addIssue({ code: 'custom', ...problem });
      if (entity.updatedAt !== undefined) {
        const f = entity.fields[entity.updatedAt];
        if (!f) {
          ctx.addIssue({
            code: 'custom',
            path: ['updatedAt'],
            message: `field "${entity.updatedAt}" is not in fields`,
          });
        } else if (f.type !== 'datetime' && f.type !== 'date') {
          ctx.addIssue({
            code: 'custom',
            path: ['updatedAt'],
            message: `field "${entity.updatedAt}" must be of type datetime or date`,
          });
        }
      }
      for (const [name, f] of Object.entries(entity.fields)) {
        const needed = isNeededField(name, f, entity);
        if (f.onInvalid !== undefined && f.onInvalid !== 'reject' && needed) {
          ctx.addIssue({
            code: 'custom',
            path: ['fields', name, 'onInvalid'],
            message: `onInvalid "${f.onInvalid}" cannot apply to ${isKeyField(entity, name) ? 'a key field' : name === entity.updatedAt ? 'the updatedAt field' : 'a required field'}: its row needs a valid value (use "reject")`,
          });
        }
        if (f.type === 'enum' && !f.values) {
          ctx.addIssue({
            code: 'custom',
            path: ['fields', name, 'values'],
            message: 'an enum field needs values',
          });
        }
        for (const problem of shapeProblems(name, f, entity)) {
          ctx.addIssue({ code: 'custom', path: ['fields', name, ...problem.path], message: problem.message });
        }
        for (const setting of ['validity', 'regionFrom'] as const) {
          if (f.type !== 'phone' && f[setting] !== undefined) {
            ctx.addIssue({
              code: 'custom',
              path: ['fields', name, setting],
              message: `${setting} applies to phone fields only`,
            });
          }
        }
        for (const setting of ['formats', 'dayFirst', 'timezone'] as const) {
          if (f[setting] !== undefined && f.type !== 'date' && f.type !== 'datetime') {
            ctx.addIssue({
              code: 'custom',
              path: ['fields', name, setting],
              message: `${setting} applies to date and datetime fields only`,
            });
          }
        }
        if (f.formats !== undefined && f.dayFirst !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['fields', name, 'dayFirst'],
            message: 'dayFirst applies to the default formats only: with formats, write the order in them',
          });
        }
        // Only for a field (and entity source) that parsed: this check also runs on invalid entities.
        const parsed = fieldSchema.safeParse(f).success && sourceSchema.safeParse(entity.source).success;
        for (const problem of parsed ? cellRuleProblems(entity, f) : []) {
          ctx.addIssue({ code: 'custom', path: ['fields', name, ...problem.path], message: problem.message });
        }
      }
      for (const { name, child } of parentConflicts(Object.keys(entity.fields))) {
        ctx.addIssue({
          code: 'custom',
          path: ['fields', name],
          message: `field "${name}" is both a value and the map of "${child}": rename one`,
        });
      }
      if (entity.scheduleTimezone !== undefined && entity.schedule === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['scheduleTimezone'],
          message: 'scheduleTimezone needs a schedule',
        });
      }
      for (const name of Object.keys(entity.references ?? {})) {
        if (!entity.fields[name]) {
          ctx.addIssue({
            code: 'custom',
            path: ['references', name],
            message: `field "${name}" is not in fields`,
          });
        }
      }
    },
    {
      // Run these checks even when a field elsewhere in the entity is invalid, so that loading a bad
      // config lists every problem at once; they need only the entity's shape.
      when: (payload) => {
        const v = payload.value as
          | { fields?: unknown; target?: { key?: unknown; partitionKey?: unknown } }
          | undefined;
        return (
          typeof v?.fields === 'object' &&
          v.fields !== null &&
          typeof v.target === 'object' &&
          v.target !== null
        );
      },
    },
  )
  // The entity's timezone reaches each date field that sets none (the cell parser reads the field).
  .transform(withEntityTimezone);
export type EntityConfig = z.output<typeof entitySchema>;

/** Snapshots per entity the local bucket keeps when `local.keepSnapshots` is unset. */
export const DEFAULT_LOCAL_KEEP_SNAPSHOTS = 5;

/** `encryption.kmsKey` value that makes the stack create its own KMS key. */
export const KMS_KEY_CREATE = 'create';

/** A KMS key ARN (single- or multi-Region key; an alias ARN names no key a grant can name). */
export const KMS_KEY_ARN =
  /^arn:aws[a-z-]*:kms:[a-z]{2}(-[a-z]+)+-\d:\d{12}:key\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/;

export const configSchema = z
  .strictObject({
    version: z.literal(1).default(1),
    /**
     * The Lambda concurrency crm-sync may use in its account and region (deployed stacks): no run's
     * Distributed Map runs more workers at once (Plan's transform, merge and verify concurrency stay
     * at most this), and the stack's `maxConcurrency` may not exceed it. Default 500
     * (DEFAULT_MAX_CONCURRENCY): half the default regional quota of 1,000.
     */
    lambdaConcurrency: z
      .number({ error: 'lambdaConcurrency must be a number' })
      .int('lambdaConcurrency must be a whole number')
      .min(1, 'lambdaConcurrency must be at least 1')
      .max(10_000, 'lambdaConcurrency must be at most 10000 (the Distributed Map limit)')
      .optional(),
    /**
     * Who the deployed stack notifies (the alarm topic: alarms and RunFinished events): `email`, the
     * addresses subscribed to the topic (each confirms its subscription from the mail AWS sends).
     */
    notify: z
      .strictObject({
        email: z
          .array(
            z.email({
              error: (issue) =>
                typeof issue.input === 'string'
                  ? `"${issue.input}" is not an email address`
                  : 'an email address must be text',
            }),
            { error: 'notify.email must be a list of email addresses' },
          )
          .refine((list) => new Set(list.map((e) => e.toLowerCase())).size === list.length, {
            error: 'notify.email lists an address twice',
          })
          .default([]),
      })
      .optional(),
    /**
     * Encryption of a deployed stack's data at rest. Unset: the AWS-managed keys (SSE-S3 for the
     * bucket, the AWS managed DynamoDB key, SQS-managed queues, CloudWatch Logs' own). `kmsKey`:
     * `create` makes the stack a customer-managed KMS key (rotated yearly, retained when the stack is
     * deleted); a key ARN uses that key (its key policy must let the account's IAM policies grant its
     * use, and CloudWatch Logs encrypt with it). The key encrypts the data bucket, the ledger, the
     * target tables, the dead-letter queue and the log groups. The local stack encrypts nothing, but
     * checks every use of the key against the grants (local/iam.ts).
     */
    encryption: z
      .strictObject({
        kmsKey: z
          .string({ error: 'encryption.kmsKey must be "create" or a KMS key ARN' })
          .refine((v) => v === KMS_KEY_CREATE || KMS_KEY_ARN.test(v), {
            error: (issue) =>
              `encryption.kmsKey must be "create" or a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>; not an alias), not "${String(issue.input)}"`,
          }),
      })
      .optional(),
    /** Settings of the local stack (`crm-sync local …`) only: a deployed stack ignores them. */
    local: z
      .strictObject({
        /**
         * Snapshots of an entity the local bucket keeps (`local export` takes one every time):
         * after each snapshot, the entity's older ones beyond the newest `keepSnapshots` (and the
         * failed ones) are deleted with their work objects; a copy written with `--out` is never
         * touched. A deleted snapshot can no longer be restored by its id. Unset: 5
         * (DEFAULT_LOCAL_KEEP_SNAPSHOTS).
         */
        keepSnapshots: z
          .number({ error: 'local.keepSnapshots must be a number' })
          .int('local.keepSnapshots must be a whole number')
          .min(1, 'local.keepSnapshots must be at least 1 (the snapshot just taken)')
          .max(10_000, 'local.keepSnapshots must be at most 10000')
          .optional(),
      })
      .optional(),
    entities: z
      .record(
        z.string().regex(ENTITY_NAME, 'entity names are lower-case letters, digits and -'),
        entitySchema,
      )
      .refine((e) => Object.keys(e).length > 0, 'at least one entity is required'),
  })
  .transform((cfg) => ({ ...cfg, entities: withEntityTypes(cfg.entities) }))
  .superRefine((cfg, ctx) => {
    for (const problem of sharedTableProblems(cfg.entities)) ctx.addIssue({ code: 'custom', ...problem });
    for (const [name, entity] of Object.entries(cfg.entities)) {
      for (const [field, ref] of Object.entries(entity.references)) {
        if (!cfg.entities[ref.entity]) {
          ctx.addIssue({
            code: 'custom',
            path: ['entities', name, 'references', field, 'entity'],
            message: `unknown entity "${ref.entity}"`,
          });
        }
      }
    }
  });
export type CrmSyncConfig = z.output<typeof configSchema>;
export type CrmSyncConfigInput = z.input<typeof configSchema>;

type Problem = { path: PropertyKey[]; message: string };

/** The config paths of an entity's key parts, with the parts (the table's, then each index's). */
function keyPartsOf(
  target: z.output<typeof targetSchema>,
): Array<{ path: PropertyKey[]; part: KeyPart; primary: boolean }> {
  const out: Array<{ path: PropertyKey[]; part: KeyPart; primary: boolean }> = [];
  const pk = target.partitionKey ?? target.key;
  if (pk !== undefined) {
    out.push({
      path: ['target', target.partitionKey ? 'partitionKey' : 'key'],
      part: keyPartOf(pk),
      primary: true,
    });
  }
  if (target.sortKey !== undefined)
    out.push({ path: ['target', 'sortKey'], part: keyPartOf(target.sortKey), primary: true });
  for (const [name, ix] of Object.entries(target.indexes ?? {})) {
    out.push({
      path: ['target', 'indexes', name, 'partitionKey'],
      part: keyPartOf(ix.partitionKey),
      primary: false,
    });
    if (ix.sortKey !== undefined) {
      out.push({ path: ['target', 'indexes', name, 'sortKey'], part: keyPartOf(ix.sortKey), primary: false });
    }
  }
  return out;
}

/**
 * Problems of an entity's keys: `key` or `partitionKey` (one of them), the fields templates read (in
 * `fields`, not dotted; the primary key's required), the attributes key parts add (not a field's
 * name, not crm-sync's own, one template per attribute), index keys (not boolean fields).
 */
function keyProblems(entity: {
  target: unknown;
  fields: Record<string, { required?: boolean; type?: string; list?: unknown; onInvalid?: string }>;
}): Problem[] {
  const parsed = targetSchema.safeParse(entity.target);
  if (!parsed.success) return [];
  const target = parsed.data;
  const problems: Problem[] = [];
  if ((target.key === undefined) === (target.partitionKey === undefined)) {
    return [{ path: ['target'], message: 'set target.key or target.partitionKey (one of them)' }];
  }
  for (const name of Object.keys(target.indexes ?? {})) {
    if (!INDEX_NAME.test(name)) {
      problems.push({
        path: ['target', 'indexes', name],
        message: 'an index name is 3 to 255 letters, digits, _ . -',
      });
    }
  }
  const templates = new Map<string, string>();
  const spell = (part: KeyPart) =>
    part.parts.map((p) => ('literal' in p ? p.literal : `{${p.field}}`)).join('');
  for (const { path, part, primary } of keyPartsOf(target)) {
    for (const field of part.fields) {
      const spec = entity.fields[field];
      if (!spec) {
        problems.push({ path, message: `${primary ? 'key ' : ''}field "${field}" is not in fields` });
      } else if (primary && spec.required !== true) {
        problems.push({ path: ['fields', field, 'required'], message: 'the key field must be required' });
      } else if (part.plainField) {
        const problem = plainKeyProblem(field, spec, primary);
        if (problem) problems.push({ path, message: problem });
      }
    }
    // A constant sort key (`PROFILE`, `METADATA`) is common; a constant partition key puts every item in one partition.
    if (primary && path[1] !== 'sortKey' && part.fields.length === 0) {
      problems.push({ path, message: 'a key template names no field: every item would have the same key' });
    }
    if (part.plainField) continue;
    if (META_ATTRIBUTES.includes(part.name)) {
      problems.push({
        path,
        message: `attribute "${part.name}" is crm-sync's own (${META_ATTRIBUTES.join(', ')})`,
      });
    } else if (Object.hasOwn(entity.fields, part.name)) {
      problems.push({
        path,
        message: `attribute "${part.name}" is a field's name: name the key attribute otherwise, or use the field (${JSON.stringify(part.name)})`,
      });
    }
    const earlier = templates.get(part.name);
    if (earlier !== undefined && earlier !== spell(part)) {
      problems.push({
        path,
        message: `attribute "${part.name}" has two templates ("${earlier}" and "${spell(part)}")`,
      });
    }
    templates.set(part.name, spell(part));
  }
  const et = target.entityType;
  const etName = typeof et === 'string' ? et : et?.name;
  if (
    etName !== undefined &&
    (Object.hasOwn(entity.fields, etName) || templates.has(etName) || META_ATTRIBUTES.includes(etName))
  ) {
    problems.push({
      path: ['target', 'entityType'],
      message: `attribute "${etName}" is already a field, a key attribute or crm-sync's own`,
    });
  }
  return problems;
}

/** Field types whose values are DynamoDB numbers (an index keyed by such a field is numeric). */
export const NUMERIC_FIELD_TYPES: ReadonlySet<string> = new Set(['number', 'integer', 'currency', 'percent']);

/**
 * What keeps a field from being a key attribute as it is (not through a template): a key is one
 * string or number (no boolean, no list). A table key is a string: a numeric key field is stored as
 * its canonical text (mapping.ts). An index key has one type on every item: no `onInvalid: keep` on
 * a numeric field, whose kept text would be a string.
 */
function plainKeyProblem(
  field: string,
  spec: { type?: string; list?: unknown; onInvalid?: string },
  primary: boolean,
): string | undefined {
  const type = spec.type ?? 'string';
  if (spec.list !== undefined) return `field "${field}" is a list: a key is one string or number`;
  if (type === 'boolean') return `field "${field}" is a boolean: a key is a string or a number`;
  if (!primary && NUMERIC_FIELD_TYPES.has(type) && spec.onInvalid === 'keep') {
    return `field "${field}" keys a numeric index: onInvalid "keep" would store text in it (use "drop" or "reject")`;
  }
  return undefined;
}

/** Default name of the attribute that marks an item's entity on a shared table (dynamodb-toolbox's). */
export const DEFAULT_ENTITY_TYPE_ATTRIBUTE = '_et';

/**
 * Problems of tables shared by several entities (`target.table`): one key schema (attribute names)
 * per table, one entity-type attribute with a value per entity, one physical name, and indexes of one
 * name keyed by the same attributes. References must name a parent whose key reads one field.
 */
function sharedTableProblems(entities: Record<string, EntityConfig>): Problem[] {
  const problems: Problem[] = [];
  const byTable = new Map<string, string[]>();
  for (const [name, e] of Object.entries(entities)) {
    if (e.target.table !== undefined)
      byTable.set(e.target.table, [...(byTable.get(e.target.table) ?? []), name]);
  }
  for (const [table, names] of byTable) {
    const [first, ...others] = names.map((n) => ({
      n,
      keys: entityKeys(entities[n] as EntityConfig),
      e: entities[n] as EntityConfig,
    }));
    if (!first) continue;
    const values = new Map<string, string>();
    const indexes = new Map<string, { entity: string; schema: string }>();
    const types = new Map<string, { entity: string; type: string }>();
    for (const x of [first, ...others]) {
      const at = (...path: PropertyKey[]) => ['entities', x.n, 'target', ...path];
      if (
        x.keys.table.partition !== first.keys.table.partition ||
        x.keys.table.sort !== first.keys.table.sort
      ) {
        problems.push({
          path: at('partitionKey'),
          message: `table "${table}" is keyed (${first.keys.table.partition}${first.keys.table.sort ? `, ${first.keys.table.sort}` : ''}) by entity "${first.n}": every entity of a table uses its key attributes`,
        });
      }
      if (x.e.target.tableName !== first.e.target.tableName) {
        problems.push({
          path: at('tableName'),
          message: `entities of table "${table}" name it differently (tableName)`,
        });
      }
      const et = x.keys.entityType;
      if (et && first.keys.entityType && et.name !== first.keys.entityType.name) {
        problems.push({
          path: at('entityType'),
          message: `entities of table "${table}" mark their items in different attributes`,
        });
      }
      if (et) {
        const taken = values.get(et.value);
        if (taken !== undefined) {
          problems.push({
            path: at('entityType'),
            message: `entity "${taken}" marks its items "${et.value}" already`,
          });
        }
        values.set(et.value, x.n);
      }
      for (const part of x.keys.indexes.flatMap((ix) => [ix.partition, ...(ix.sort ? [ix.sort] : [])])) {
        const type = indexAttributeType(part, x.e);
        const seen = types.get(part.name);
        if (seen && seen.type !== type) {
          problems.push({
            path: at('indexes'),
            message: `attribute "${part.name}" of table "${table}" is a ${type === 'N' ? 'number' : 'string'} here and a ${seen.type === 'N' ? 'number' : 'string'} in entity "${seen.entity}" (an index key has one type)`,
          });
        }
        if (!seen) types.set(part.name, { entity: x.n, type });
      }
      for (const ix of x.keys.indexes) {
        const schema = `${ix.partition.name}/${ix.sort?.name ?? ''}/${ix.projection}`;
        const seen = indexes.get(ix.name);
        if (seen && seen.schema !== schema) {
          problems.push({
            path: at('indexes', ix.name),
            message: `index "${ix.name}" of table "${table}" is keyed otherwise by entity "${seen.entity}" (same attributes and projection in every entity)`,
          });
        }
        if (!seen) indexes.set(ix.name, { entity: x.n, schema });
      }
    }
  }
  for (const [name, e] of Object.entries(entities)) {
    if (e.target.tableName === undefined) continue;
    for (const [other, o] of Object.entries(entities)) {
      if (
        other < name &&
        o.target.tableName === e.target.tableName &&
        (o.target.table === undefined || o.target.table !== e.target.table)
      ) {
        problems.push({
          path: ['entities', name, 'target', 'tableName'],
          message: `entity "${other}" has the table "${e.target.tableName}" too: entities share a table through target.table`,
        });
      }
    }
  }
  for (const [name, e] of Object.entries(entities)) {
    for (const [field, ref] of Object.entries(e.references)) {
      const parent = Object.hasOwn(entities, ref.entity) ? entities[ref.entity] : undefined;
      if (parent && entityKeys(parent).keyFields.length !== 1) {
        problems.push({
          path: ['entities', name, 'references', field],
          message: `entity "${ref.entity}" is keyed by ${entityKeys(parent).keyFields.join(', ')}: a reference names a parent by one value, so its key must read one field`,
        });
      }
    }
  }
  return problems;
}

/** The DynamoDB type of an index key attribute: N for a plain numeric field, else S (a template, text). */
export function indexAttributeType(
  part: KeyPart,
  entity: { fields: Record<string, { type?: string }> },
): 'S' | 'N' {
  const type = entity.fields[part.fields[0] ?? '']?.type;
  return part.plainField && type !== undefined && NUMERIC_FIELD_TYPES.has(type) ? 'N' : 'S';
}

/**
 * Each entity's entity-type attribute as `{ name, value }`: on a shared table by default `_et` = the
 * entity's name; a name alone takes the entity's name as its value. Entities without one are untouched.
 */
function withEntityTypes(entities: Record<string, EntityConfig>): Record<string, EntityConfig> {
  const out: Record<string, EntityConfig> = {};
  for (const [name, e] of Object.entries(entities)) {
    const et = e.target.entityType;
    if (et === undefined && e.target.table === undefined) {
      out[name] = e;
      continue;
    }
    const resolvedType =
      typeof et === 'object' ? et : { name: et ?? DEFAULT_ENTITY_TYPE_ATTRIBUTE, value: name };
    out[name] = { ...e, target: { ...e.target, entityType: resolvedType } };
  }
  return out;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p) => String(p)).join('.') || '(root)';
}

/**
 * Names of Object.prototype's properties: an entity, field or reference named so would read the
 * prototype's member instead of the config's (`__proto__` is even dropped by the schema without a
 * word), so the config refuses them.
 */
const RESERVED_NAMES: ReadonlySet<string> = new Set(Object.getOwnPropertyNames(Object.prototype));

/** `path: message` for every entity, field or reference of `raw` named like a prototype property. */
function reservedNameIssues(raw: unknown): string[] {
  const own = (v: unknown): v is Record<string, unknown> =>
    v !== null && typeof v === 'object' && !Array.isArray(v);
  const issues: string[] = [];
  const check = (obj: unknown, path: string): void => {
    if (!own(obj)) return;
    for (const name of Object.keys(obj)) {
      if (RESERVED_NAMES.has(name)) {
        issues.push(
          `${path}.${name}: "${name}" is a reserved name (a JavaScript object property): choose another name`,
        );
      }
    }
  };
  if (!own(raw)) return issues;
  check(raw.entities, 'entities');
  if (!own(raw.entities)) return issues;
  for (const [name, entity] of Object.entries(raw.entities)) {
    if (!own(entity)) continue;
    check(entity.fields, `entities.${name}.fields`);
    check(entity.references, `entities.${name}.references`);
    if (own(entity.target)) check(entity.target.indexes, `entities.${name}.target.indexes`);
    if (own(entity.references)) {
      for (const [field, ref] of Object.entries(entity.references)) {
        if (own(ref) && typeof ref.entity === 'string' && RESERVED_NAMES.has(ref.entity)) {
          issues.push(`entities.${name}.references.${field}.entity: "${ref.entity}" is a reserved name`);
        }
      }
    }
  }
  return issues;
}

/**
 * Validates a parsed config object; throws a ConfigError listing every problem by path. Entity,
 * field and reference names that are Object.prototype members (`__proto__`, `constructor`,
 * `toString`…) are refused.
 */
export function parseConfig(raw: unknown, origin = 'config'): CrmSyncConfig {
  const reserved = reservedNameIssues(raw);
  const result = configSchema.safeParse(raw);
  if (result.success && reserved.length === 0) return result.data;
  const issues = [
    ...reserved,
    ...(result.success ? [] : result.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`)),
  ];
  throw new ConfigError(`${origin} is invalid:\n  ${issues.join('\n  ')}`, issues, {
    cause: result.success ? undefined : result.error,
  });
}

/** Parses config text (JSON or YAML) and validates it. */
export function parseConfigText(text: string, origin = 'config'): CrmSyncConfig {
  let raw: unknown;
  try {
    raw = /^\s*[{[]/.test(text) ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${origin} is not valid JSON or YAML: ${(err as Error).message}`, [], {
      cause: err,
    });
  }
  return parseConfig(raw, origin);
}

/** JSON with object keys sorted, so equal values always serialize the same. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const sorted: Record<string, unknown> = {};
      for (const k of Object.keys(v as object).sort()) sorted[k] = (v as Record<string, unknown>)[k];
      return sorted;
    }
    return v;
  });
}

/** Hash of an entity's effective config: a change of mapping makes a new run id. */
export function configHash(entity: EntityConfig): string {
  // When a run happens (the schedule) is not what it writes: changing it makes no new run ids.
  const { schedule: _schedule, scheduleTimezone: _timezone, ...hashed } = entity;
  return createHash('sha256').update(canonicalJson(hashed)).digest('hex').slice(0, 16);
}

export function getEntity(config: CrmSyncConfig, name: string): EntityConfig {
  const entity = config.entities[name];
  if (!entity) {
    throw new UnknownEntityError(
      `entity "${name}" is not configured (configured: ${Object.keys(config.entities).join(', ')})`,
    );
  }
  return entity;
}

/**
 * Whether every kept row needs the field's value: a required field, the key, the updatedAt field.
 * Such a field always rejects its row on a bad cell (no `onInvalid`), and a header must carry it.
 */
export function isNeededField(
  name: string,
  spec: { readonly required?: boolean | undefined },
  entity: KeyConfig & { readonly updatedAt?: string | undefined },
): boolean {
  return spec.required === true || isKeyField(entity, name) || name === entity.updatedAt;
}

/**
 * Normalized column name used for matching headers: trimmed (invisible characters at the ends too,
 * like the `trim` transform), lower-cased.
 */
export function columnKey(name: string): string {
  return trimInvisible(name).toLowerCase();
}

// ---------------------------------------------------------------- null values, value maps

/**
 * Null values that no value of the type can be (none parses as an email, phone, number or date), so
 * treating them as empty only turns what would be a reject into an absent value.
 */
const TYPED_NULL_VALUES = ['null', 'none', 'n/a', '#n/a', '[not provided]'] as const;
/**
 * For `string` fields: `#N/A` (a spreadsheet's failed lookup), `[not provided]` (HubSpot), and the
 * literal `null` and `None` that database and script exports write for a missing value. Stored as
 * text, they become names (`firstName: "null"`) that no reader can tell from real ones; the rare
 * person whose surname is Null or None gets `nullValues: ["#n/a", "[not provided]"]` on that field.
 * `N/A` stays text in a string field ("not applicable" is an answer some fields hold).
 */
const STRING_NULL_VALUES = ['null', 'none', '#n/a', '[not provided]'] as const;

/**
 * The null values a field gets when neither it nor its entity sets `nullValues`: TYPED_NULL_VALUES
 * for email, phone, number, integer, date, datetime; STRING_NULL_VALUES for string; none for boolean
 * and enum (their own vocabulary decides, and `None` or `N/A` may be a real picklist value).
 */
export function defaultNullValues(type: FieldType): readonly string[] {
  switch (type) {
    case 'string':
      return STRING_NULL_VALUES;
    case 'boolean':
    case 'enum':
      return [];
    default:
      return TYPED_NULL_VALUES;
  }
}

/** The null values a field of the entity uses: its own, else the entity's, else the type's defaults. */
export function effectiveNullValues(
  entity: { source?: { nullValues?: readonly string[] | undefined } },
  spec: Pick<FieldSpec, 'type' | 'nullValues'>,
): readonly string[] {
  return spec.nullValues ?? entity.source?.nullValues ?? defaultNullValues(spec.type);
}

/** How a null value or map key is compared with a cell: after the field's transforms, trimmed, lower-cased. */
export function cellRuleKey(text: string, spec: Pick<FieldSpec, 'transforms'>): string {
  return trimInvisible(applyTransforms(text, spec.transforms)).toLowerCase();
}

/** Problems of a field's aliases, occurrence/position, nullValues and map, with paths under the field. */
function cellRuleProblems(
  entity: { source?: { nullValues?: readonly string[] | undefined } },
  spec: FieldSpec,
): Array<{ path: PropertyKey[]; message: string }> {
  const problems: Array<{ path: PropertyKey[]; message: string }> = [];
  if (spec.occurrence !== undefined && spec.position !== undefined) {
    problems.push({ path: ['position'], message: 'set occurrence or position, not both' });
  }
  const names = new Set([columnKey(spec.source)]);
  (spec.aliases ?? []).forEach((alias, i) => {
    if (names.has(columnKey(alias))) {
      problems.push({
        path: ['aliases', i],
        message: `alias "${alias}" repeats the source or another alias`,
      });
    }
    names.add(columnKey(alias));
  });
  if (spec.map === undefined) return problems;
  const nulls = new Set(effectiveNullValues(entity, spec).map((v) => cellRuleKey(v, spec)));
  const keys = new Map<string, string>();
  for (const [key, value] of Object.entries(spec.map)) {
    const k = cellRuleKey(key, spec);
    if (k === '') {
      problems.push({
        path: ['map', key],
        message: 'a map key is empty: an empty cell is absent, set `default` for it instead',
      });
      continue;
    }
    const earlier = keys.get(k);
    if (earlier !== undefined) {
      problems.push({ path: ['map', key], message: `map key "${key}" is the same cell as "${earlier}"` });
    }
    keys.set(k, key);
    if (nulls.has(k)) {
      problems.push({
        path: ['map', key],
        message: `map key "${key}" is a null value of this field (null values apply first): drop it from one`,
      });
    }
    if (typeLiteral(value, spec) instanceof Invalid) {
      problems.push({
        path: ['map', key],
        message: `map value ${JSON.stringify(value)} is not a valid ${spec.type}`,
      });
    }
  }
  return problems;
}
