import { type FolderObject, inboxKeyOf, parseManifest, partsDigest, resolveParts } from './export-folder';
import { deriveRunId } from './run';

/**
 * Ongoing sync: which export under `inbox/<entity>/` a schedule (AWS) or `crm-sync local sync`
 * runs. Pure: the listing and the ledger lookup are handed in, so both paths choose identically.
 */

/** One object of an entity's inbox, as a listing reports it. */
export interface InboxObject {
  key: string;
  size: number;
  lastModified: Date;
  /** ETag, with or without its quotes. */
  etag?: string | undefined;
  /** Version id (a versioned bucket); the run id is derived from it when present, as ClaimRun does. */
  versionId?: string | undefined;
}

/** What the run id of an inbox object is derived with (besides the object itself). */
export interface InboxContext {
  bucket: string;
  entity: string;
  /** `configHash()` of the entity: a config change makes the newest export eligible again. */
  configHash: string;
}

/** Why an object of the inbox is not an export that a sync would run. */
export type NotAnExport = 'folder' | 'empty' | 'hidden' | 'part';

/**
 * Objects directly in the inbox that are never exports: folder markers (`inbox/contact/`, created by the S3 console),
 * empty objects (Plan would fail them: "file is empty") and hidden or marker files whose name starts
 * with `.` or `_` (`.DS_Store`, an editor's temp file, `_SUCCESS` of Spark/Glue jobs). Every other
 * name is an export: Plan takes any extension (format `auto` sniffs the content).
 */
export function notAnExport(object: Pick<InboxObject, 'key' | 'size'>): NotAnExport | undefined {
  if (object.key.endsWith('/')) return 'folder';
  if (object.size === 0) return 'empty';
  const name = object.key.slice(object.key.lastIndexOf('/') + 1);
  if (name.startsWith('.') || name.startsWith('_')) return 'hidden';
  return undefined;
}

/** The object's version or ETag, without quotes (what the run id is derived from). */
function identity(o: InboxObject): string {
  return o.versionId || (o.etag ?? '').replaceAll('"', '');
}

/**
 * Newest first: by `lastModified`; equal times (S3 lists them to the second) by key, the greater
 * first (exports named by date, `contacts-2026-05-02.csv` > `contacts-2026-05-01.csv`), then by
 * version/ETag, so the order never depends on the listing's order.
 */
export function newestFirst(a: InboxObject, b: InboxObject): number {
  const t = b.lastModified.getTime() - a.lastModified.getTime();
  if (t !== 0) return t;
  if (a.key !== b.key) return a.key < b.key ? 1 : -1;
  const ia = identity(a);
  const ib = identity(b);
  return ia === ib ? 0 : ia < ib ? 1 : -1;
}

/**
 * The run id a trigger of this object gets (the same derivation as ClaimRun's); `parts`: a
 * multi-file export's parts digest (partsDigest), for its marker or manifest.
 */
export function inboxRunId(object: InboxObject, context: InboxContext, parts?: string): string {
  return deriveRunId(
    {
      bucket: context.bucket,
      key: object.key,
      versionId: object.versionId || undefined,
      etag: (object.etag ?? '').replaceAll('"', '') || undefined,
    },
    context.entity,
    context.configHash,
    undefined,
    parts,
  );
}

/** One export of an inbox: a file, or a completed export folder (its trigger and its objects). */
export interface InboxExport {
  /** The file, or the folder's `manifest.json` (when it has one) else its `_SUCCESS`: its date is the export's. */
  object: InboxObject;
  /** An export folder's prefix (`inbox/<entity>/<export>/`) and every object under it. */
  folder?: { prefix: string; objects: InboxObject[] } | undefined;
}

/** An inbox as exports: files and completed folders; objects that are none; folders with no marker. */
export interface InboxExports {
  exports: InboxExport[];
  /** Objects directly in the inbox that are not exports (notAnExport). */
  skipped: number;
  /** Export folders with neither `_SUCCESS` nor `manifest.json`: not complete, not run (their prefixes). */
  incomplete: string[];
}

/**
 * The exports of `entity`'s inbox listing: each file directly under `inbox/<entity>/` that is an
 * export, and each export folder (`inbox/<entity>/<export>/`) with `_SUCCESS` or `manifest.json`,
 * as one export dated by that marker (the manifest when it has both, which is the exact list); the
 * parts of a folder are never exports of their own. A folder without a marker is incomplete.
 */
export function inboxExports(objects: readonly InboxObject[], entity: string): InboxExports {
  const exports: InboxExport[] = [];
  const folders = new Map<string, InboxObject[]>();
  let skipped = 0;
  for (const o of objects) {
    const kind = inboxKeyOf(o.key, entity);
    if (kind === undefined || kind.kind === 'file') {
      if (kind === undefined || notAnExport(o) !== undefined) skipped++;
      else exports.push({ object: o });
      continue;
    }
    const list = folders.get(kind.folder) ?? [];
    list.push(o);
    folders.set(kind.folder, list);
  }
  const incomplete: string[] = [];
  for (const [prefix, list] of folders) {
    const named = (kind: 'marker' | 'manifest') => list.find((o) => inboxKeyOf(o.key, entity)?.kind === kind);
    const trigger = named('manifest') ?? named('marker');
    if (trigger) exports.push({ object: trigger, folder: { prefix, objects: list } });
    else incomplete.push(prefix);
  }
  return { exports, skipped, incomplete: incomplete.sort() };
}

/**
 * The parts digest an export folder's run id is derived with, as ClaimRun derives it (its listing
 * by key and ETag; the manifest read with `readManifest`), or undefined when the folder's parts are
 * malformed: its run then fails at ClaimRun, naming the problem.
 */
async function folderDigest(
  exp: InboxExport,
  entity: string,
  readManifest: ((object: InboxObject) => Promise<string>) | undefined,
): Promise<string | undefined> {
  if (!exp.folder) return undefined;
  const { prefix, objects } = exp.folder;
  const listing: FolderObject[] = objects.map((o) => ({ key: o.key, size: o.size, etag: o.etag }));
  try {
    const isManifest = inboxKeyOf(exp.object.key, entity)?.kind === 'manifest';
    const manifest =
      isManifest && readManifest ? parseManifest(await readManifest(exp.object), prefix) : undefined;
    return partsDigest(resolveParts(prefix, listing, manifest));
  } catch {
    return undefined;
  }
}

/** The decision of a sync for one entity. */
export type SyncPick =
  | {
      /** `run`: the newest export has no run yet; `up-to-date`: it has one (whatever its status). */
      action: 'run' | 'up-to-date';
      entity: string;
      object: InboxObject;
      runId: string;
      /** Older exports in the inbox, never run by a sync (see pickExport). */
      older: number;
      /** Objects that are not exports (see notAnExport). */
      skipped: number;
      /** Export folders without `_SUCCESS` or `manifest.json` (see inboxExports). */
      incomplete: string[];
      /** The newest export is a folder: its prefix. */
      folder?: string | undefined;
    }
  | {
      action: 'empty';
      entity: string;
      object: null;
      runId: null;
      older: 0;
      skipped: number;
      incomplete: string[];
    };

/**
 * Picks what a sync of one entity runs: the newest export of its inbox, if the ledger has no run of
 * it (`hasRun` is asked about that one run id only).
 *
 * Newest only: when the newest export already ran, older ones that never ran are not run either.
 * An older export cannot update a key the newer one holds (newer wins), but it would bring back keys
 * the newer export no longer has — and in `mirror` mode it would delete keys added since. A person
 * who wants an older file anyway runs it by hand.
 *
 * Any run counts, failed ones included: the schedule does not retry a failed run (its trigger would
 * find the claim and end as a duplicate anyway); a failed run is redriven, or a corrected export
 * dropped. The config hash is part of the run id, so after a config change (mapping, types, modes;
 * not the schedule itself) the newest export runs once more, under the new config.
 */
export async function pickExport(
  objects: readonly InboxObject[],
  context: InboxContext,
  hasRun: (runId: string) => boolean | Promise<boolean>,
  /** Reads a folder's `manifest.json` (asked only for the newest export, when it is one). */
  readManifest?: (object: InboxObject) => Promise<string>,
): Promise<SyncPick> {
  const { exports, skipped, incomplete } = inboxExports(objects, context.entity);
  const newest = [...exports].sort((a, b) => newestFirst(a.object, b.object))[0];
  if (!newest)
    return {
      action: 'empty',
      entity: context.entity,
      object: null,
      runId: null,
      older: 0,
      skipped,
      incomplete,
    };
  const runId = inboxRunId(newest.object, context, await folderDigest(newest, context.entity, readManifest));
  return {
    action: (await hasRun(runId)) ? 'up-to-date' : 'run',
    entity: context.entity,
    object: newest.object,
    runId,
    older: exports.length - 1,
    skipped,
    incomplete,
    ...(newest.folder ? { folder: newest.folder.prefix } : {}),
  };
}

/**
 * Execution name of a scheduled start: the run id and the scheduled time to the minute. A schedule
 * delivered twice (at least once) starts one execution — Step Functions refuses a second execution
 * of the same name — and the next tick can still start one when the previous never claimed the run
 * (e.g. it gave up waiting for a busy entity). 80 characters at most: a run id is at most 61.
 */
export function scheduledExecutionName(runId: string, scheduledTime: Date): string {
  // 2026-05-01T02:00:00.000Z → 20260501T0200Z (names allow letters, digits, - and _ only).
  const stamp = `${scheduledTime.toISOString().slice(0, 16).replace(/[-:]/g, '')}Z`;
  return `${runId}-${stamp}`.slice(0, 80);
}

/**
 * Entities in the order a sync of all runs them: referenced entities before the entities that
 * reference them (accounts before the contacts pointing at them, so the contacts' reference check
 * sees the new accounts), otherwise in config order. A reference cycle is cut where it closes.
 */
export function syncOrder(
  entities: Record<string, { references?: Record<string, { entity: string }> }>,
): string[] {
  const names = Object.keys(entities);
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string): void => {
    if (state.get(name) !== undefined) return; // done, or a cycle: leave it where it is
    state.set(name, 'visiting');
    for (const ref of Object.values(entities[name]?.references ?? {})) {
      if (ref.entity !== name && ref.entity in entities) visit(ref.entity);
    }
    state.set(name, 'done');
    order.push(name);
  };
  for (const name of names) visit(name);
  return order;
}

// ---------------------------------------------------------------------------------------------------
// Schedule expressions (EventBridge Scheduler syntax), validated when the config loads.

const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;
const CRON = /^cron\((.*)\)$/;
const MONTHS = 'JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC';
const DAYS = 'SUN|MON|TUE|WED|THU|FRI|SAT';

interface CronField {
  name: string;
  min: number;
  max: number;
  names?: string;
  /** Extra forms of the field (`L`, `W`, `#`), as a regex of one whole item. */
  special?: RegExp;
}

const CRON_FIELDS: readonly CronField[] = [
  { name: 'minutes', min: 0, max: 59 },
  { name: 'hours', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31, special: /^(L|LW|\d{1,2}W|L-\d{1,2})$/ },
  { name: 'month', min: 1, max: 12, names: MONTHS },
  {
    name: 'day-of-week',
    min: 1,
    max: 7,
    names: DAYS,
    special: new RegExp(`^(L|([1-7]|${DAYS})(L|#[1-5]))$`),
  },
  { name: 'year', min: 1970, max: 2199 },
];

/** A problem with one item of a cron field (`5`, `1-5`, `*\/10`, `MON-FRI`), or undefined. */
function cronItemProblem(item: string, field: CronField): string | undefined {
  if (field.special?.test(item)) return undefined;
  const value = `(\\d+${field.names ? `|${field.names}` : ''})`;
  const m = new RegExp(`^(\\*|${value}(-${value})?)(/(\\d+))?$`).exec(item);
  if (!m) return `"${item}" is not a valid ${field.name} value`;
  const toNumber = (v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    if (/^\d+$/.test(v)) return Number(v);
    const list = (field.names ?? '').split('|');
    return list.indexOf(v) + field.min;
  };
  for (const v of [m[2], m[4]]) {
    const n = toNumber(v);
    if (n !== undefined && (n < field.min || n > field.max)) {
      return `${field.name} ${v} is out of range ${field.min}-${field.max}`;
    }
  }
  if (m[6] !== undefined && Number(m[6]) < 1) return `the ${field.name} step must be at least 1`;
  return undefined;
}

/**
 * Why a schedule expression is not one EventBridge Scheduler takes for a recurring schedule, or
 * undefined when it is: `rate(<n> minute[s]|hour[s]|day[s])` (singular for 1) or
 * `cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>)` with `?` in one of the two
 * day fields. One-time `at(...)` schedules are refused: a sync recurs.
 */
export function scheduleExpressionProblem(expression: string): string | undefined {
  if (expression.startsWith('at(')) {
    return 'one-time at(...) schedules are not supported: use rate(...) or cron(...)';
  }
  if (expression.startsWith('rate(')) {
    const m = RATE.exec(expression);
    if (!m) return `"${expression}" is not a rate: write rate(<n> minutes|hours|days), e.g. rate(1 hour)`;
    const n = Number(m[1]);
    const unit = m[2] ?? '';
    if (n < 1) return 'the rate must be at least 1';
    if (n === 1 && unit.endsWith('s')) return `write rate(1 ${unit.slice(0, -1)}), singular for 1`;
    if (n > 1 && !unit.endsWith('s')) return `write rate(${n} ${unit}s), plural above 1`;
    return undefined;
  }
  const cron = CRON.exec(expression);
  if (!cron) {
    return `"${expression}" is not a schedule expression: write rate(1 hour) or cron(0 2 * * ? *)`;
  }
  const parts = (cron[1] ?? '').trim().split(/\s+/);
  if (parts.length !== 6) {
    return `cron needs 6 fields (minutes hours day-of-month month day-of-week year), got ${parts.length}: e.g. cron(0 2 * * ? *)`;
  }
  const [, , dayOfMonth, , dayOfWeek] = parts;
  if ((dayOfMonth === '?') === (dayOfWeek === '?')) {
    return 'cron: one of day-of-month and day-of-week must be ? (e.g. cron(0 2 * * ? *) or cron(0 2 ? * MON-FRI *))';
  }
  for (const [i, text] of parts.entries()) {
    const field = CRON_FIELDS[i];
    if (!field || text === '?') continue;
    for (const item of text.toUpperCase().split(',')) {
      const problem = cronItemProblem(item, field);
      if (problem) return `cron: ${problem}`;
    }
  }
  return undefined;
}

/**
 * Why a time zone name is not an IANA name this runtime knows (`Europe/Berlin`, `UTC`), or
 * undefined when it is. Offsets (`+01:00`) and abbreviations (`CET` aside, which IANA lists) are
 * refused; a name in the wrong case is refused with the right spelling.
 */
export function timeZoneProblem(name: string): string | undefined {
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(name)) {
    return `"${name}" is not an IANA time zone name such as "Europe/Berlin" or "UTC"`;
  }
  let resolved: string;
  try {
    resolved = new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return `unknown time zone "${name}" (an IANA name such as "Europe/Berlin" or "UTC")`;
  }
  if (resolved !== name && resolved.toLowerCase() === name.toLowerCase()) {
    return `write the time zone as "${resolved}"`;
  }
  return undefined;
}
