/**
 * Dates and times as CRMs write them: the format lists a date/datetime field reads (luxon format
 * tokens), its time zone, and the day/month order of numeric dates, decided once per file from its
 * values (DateOrderScan, run at Plan). Pure domain code: luxon reads the formats and the IANA zone
 * data; nothing here does I/O.
 */
import { DateTime, IANAZone } from 'luxon';
import type { EntityConfig, FieldSpec } from './config';
import { InconsistentDateOrderError } from './errors';

/** How a numeric date `03/04/24` is read: month first (US) or day first (most of the world). */
export type DateOrder = 'month-first' | 'day-first';

/**
 * A column's order and what decided it: its own values, the field's `dayFirst` (true, or false as
 * by default), or nothing (`dayFirst: 'auto'` and no value decides: read month-first, `undecided`).
 */
export interface DateOrderDecision {
  order: DateOrder;
  decidedBy: 'values' | 'setting' | 'undecided';
  /**
   * The sampled values of a datetime column have a time and no UTC offset (`5/20/2024 7:42`, as
   * Dynamics and report exports write local times): they are read in the field's timezone, which
   * the summary names so that a default UTC is never silent.
   */
  localTimes?: true;
}

/**
 * The formats a date/datetime field reads when its config sets no `formats`, after the ISO forms
 * (always read), as written for a month-first column; a day-first column reads them with `d` and
 * `M` swapped. `yy` reads a 4-digit year as it is (`2/5/2024`) and a 2-digit one by luxon's pivot:
 * 00–60 → 2000–2060, 61–99 → 1961–1999.
 */
export const DEFAULT_DATE_FORMATS: readonly string[] = [
  'M/d/yy',
  'M/d/yy h:mm a',
  'M/d/yy h:mm:ss a',
  'M/d/yy H:mm',
  'M/d/yy H:mm:ss',
  'M.d.yy',
  'M.d.yy H:mm',
  'M.d.yy H:mm:ss',
];

/**
 * What a value must start with for the default formats to be tried: a numeric slash or dot date
 * whose year has 2 digits or 4 (from 1000). luxon's `yy` alone would also take `000` or `0024`.
 */
export const DEFAULT_FORMAT_SHAPE = /^\d{1,2}([/.])\d{1,2}\1(?:\d{2}|[1-9]\d{3})(?!\d)/;

/** What every date/datetime field reads before its formats: the ISO family and epoch milliseconds. */
export const ISO_DATE_FORMS =
  'yyyy-MM-dd, yyyy-MM-dd[T| ]HH:mm[:ss[.SSS]][Z|±HH:mm], yyyy/M/d [time], 13-digit epoch ms';

/** The text a report shows for the formats a field reads (after the ISO forms), in its day/month order. */
export function acceptedFormats(spec: Pick<FieldSpec, 'formats' | 'dayFirst'>): string {
  const defaults = ['M/d/yyyy [h:mm[:ss] a|H:mm[:ss]]', ...DEFAULT_DATE_FORMATS];
  const formats = spec.formats ?? (spec.dayFirst === true ? defaults.map(swapDayMonth) : defaults);
  return `${ISO_DATE_FORMS}; ${formats.join(', ')}`;
}

// ---------------------------------------------------------------- formats

/** A format prepared once: luxon's parser, and whether the format itself carries an offset. */
export interface CompiledFormat {
  format: string;
  parser: ReturnType<typeof DateTime.buildFormatParser>;
  zoned: boolean;
}

/** `d` ↔ `M` in a format (quoted literals kept): the day-first reading of a month-first format. */
export function swapDayMonth(format: string): string {
  return format.replace(/'[^']*'|[dM]+/g, (t) =>
    t.startsWith("'") ? t : t.replace(/[dM]/g, (c) => (c === 'd' ? 'M' : 'd')),
  );
}

/** Whether a format has an offset or zone token (outside quoted literals). */
function hasZoneToken(format: string): boolean {
  return /[Zz]/.test(format.replace(/'[^']*'/g, ''));
}

const OPTIONS = { locale: 'en-US', numberingSystem: 'latn' } as const;

export function compileFormat(format: string): CompiledFormat {
  return { format, parser: DateTime.buildFormatParser(format, OPTIONS), zoned: hasZoneToken(format) };
}

/**
 * Why a format string cannot be used, or undefined: luxon builds a parser for any text (unknown
 * letters are literals), so a format is refused when it reads no year, month or day.
 */
export function formatProblem(format: string): string | undefined {
  const bare = format.replace(/'[^']*'/g, '');
  if (!/y/.test(bare) || !/[ML]/.test(bare) || !/d/.test(bare)) {
    return `format "${format}" must read a year (y), a month (M) and a day (d), e.g. "M/d/yy h:mm a"`;
  }
  return undefined;
}

/**
 * Reads `text` with the first format that takes it. Returns epoch milliseconds: the instant for a
 * format with an offset token (then `zonedResult.value` is true), else the wall-clock time as if it
 * were UTC (the caller places it in the field's zone). NaN: no format takes it.
 */
/** A time of hour 24 (`24:00`): luxon rolls it over to the next day; it is refused, as in ISO values. */
const HOUR_24 = /(?:^|[\sT])24:\d/;

export function parseWithFormats(
  text: string,
  formats: readonly CompiledFormat[],
  zonedResult: { value: boolean },
): number {
  if (HOUR_24.test(text)) return Number.NaN;
  for (const f of formats) {
    const dt = f.zoned
      ? DateTime.fromFormatParser(text, f.parser, { ...OPTIONS, zone: 'utc', setZone: true })
      : DateTime.fromFormatParser(text, f.parser, { ...OPTIONS, zone: 'utc' });
    if (dt.isValid && dt.year >= 1000 && dt.year <= 9999) {
      zonedResult.value = f.zoned;
      return dt.toMillis();
    }
  }
  return Number.NaN;
}

// ---------------------------------------------------------------- zones

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * Wall-clock time in an IANA zone → the instant, with luxon's zone data. Rule (Temporal's
 * `compatible`, java.time's too): a time that does not exist (the spring-forward gap,
 * America/New_York 2024-03-10 02:30) moves forward by the gap (03:30 EDT = 07:30Z); a time that
 * exists twice (the fall-back overlap, 2024-11-03 01:30) is the earlier instant (01:30 EDT = 05:30Z).
 *
 * Each wall-clock day's offset is looked up once: a day whose offset is the same over every instant
 * one of its wall times can stand for (from 14 h before to 36 h after its midnight, probed at both
 * ends and the middle) maps every time by that offset; a day of a transition maps each value
 * exactly (four zone look-ups).
 */
export class ZoneClock {
  private readonly zone: IANAZone;
  /** Wall-clock day number → its one offset in minutes, NaN for a day with a transition. */
  private readonly days = new Map<number, number>();

  constructor(readonly name: string) {
    this.zone = IANAZone.create(name);
  }

  /** The instant (ms) of wall-clock `wall` (ms, as if UTC). */
  toInstant(wall: number): number {
    const day = Math.floor(wall / DAY);
    let offset = this.days.get(day);
    if (offset === undefined) {
      const start = day * DAY - 14 * HOUR;
      const a = this.zone.offset(start);
      offset =
        a === this.zone.offset(start + 25 * HOUR) && a === this.zone.offset(start + 50 * HOUR)
          ? a
          : Number.NaN;
      if (this.days.size >= 50_000) this.days.clear();
      this.days.set(day, offset);
    }
    return Number.isNaN(offset) ? this.exact(wall) : wall - offset * MINUTE;
  }

  /** The wall-clock time (ms, as if UTC) of an instant in this zone. */
  wallOf(instant: number): number {
    return instant + this.zone.offset(instant) * MINUTE;
  }

  private exact(wall: number): number {
    const before = this.zone.offset(wall - DAY);
    const after = this.zone.offset(wall + DAY);
    const early = wall - before * MINUTE;
    const late = wall - after * MINUTE;
    const earlyExists = this.zone.offset(early) === before;
    const lateExists = this.zone.offset(late) === after;
    if (earlyExists && lateExists) return Math.min(early, late); // an overlap (or no transition): the earlier
    if (earlyExists) return early;
    if (lateExists) return late;
    return early; // a gap: read with the offset before it, the time moves forward by the gap
  }
}

const clocks = new Map<string, ZoneClock>();

/** The shared ZoneClock of a zone, or undefined for UTC (no conversion). */
export function zoneClock(name: string | undefined): ZoneClock | undefined {
  if (name === undefined || name === 'UTC') return undefined;
  let clock = clocks.get(name);
  if (!clock) {
    clock = new ZoneClock(name);
    clocks.set(name, clock);
  }
  return clock;
}

// ---------------------------------------------------------------- entity settings

/**
 * The entity's date settings carried into its fields: the entity `timezone` becomes the `timezone`
 * of each date/datetime field that sets none (a field's own wins). Returns the entity itself when
 * nothing changes.
 */
export function withEntityTimezone<
  E extends { timezone?: string | undefined; fields: Record<string, FieldSpec> },
>(entity: E): E {
  const zone = entity.timezone;
  if (zone === undefined) return entity;
  const fields: Record<string, FieldSpec> = {};
  for (const [name, spec] of Object.entries(entity.fields)) {
    fields[name] =
      (spec.type === 'date' || spec.type === 'datetime') && spec.timezone === undefined
        ? { ...spec, timezone: zone }
        : spec;
  }
  return { ...entity, fields };
}

/**
 * The entity a worker maps with: the day/month order Plan decided per field (WorkerJob.dateOrder)
 * written into each field's `dayFirst`. The entity itself when there is no decision.
 */
export function withDateOrder(
  entity: EntityConfig,
  orders: Record<string, DateOrderDecision> | undefined,
): EntityConfig {
  if (orders === undefined || Object.keys(orders).length === 0) return entity;
  const fields: Record<string, FieldSpec> = {};
  for (const [name, spec] of Object.entries(entity.fields)) {
    const decision = orders[name];
    fields[name] = decision === undefined ? spec : { ...spec, dayFirst: decision.order === 'day-first' };
  }
  return { ...entity, fields };
}

// ---------------------------------------------------------------- the order decision

/** The numbers of a numeric slash or dot date (`3/04/24 …`, `24.02.2026 …`). */
const NUMERIC_DATE = /^(\d{1,2})[/.](\d{1,2})[/.](\d{2}|\d{4})(?:$|[\sT])/;

/** Whether day/month/year is a date of the calendar (a 2-digit year by luxon's pivot, 60). */
function isCalendarDate(day: number, month: number, yearText: string): boolean {
  const yy = Number(yearText);
  const year = yearText.length === 4 ? yy : yy <= 60 ? 2000 + yy : 1900 + yy;
  const date = new Date(Date.UTC(year, month - 1, day));
  return month >= 1 && month <= 12 && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/**
 * What one value says about its column's order: `day-first` or `month-first` when only that
 * reading is a date (`24/02/26`, `02/24/26`), `numeric` when it is a numeric date that does not
 * decide (`03/04/24`, or a date neither way: `31/02/2024` is rejected whatever the order),
 * undefined for any other text.
 */
export function orderEvidence(value: string): DateOrder | 'numeric' | undefined {
  const m = NUMERIC_DATE.exec(value);
  if (!m) return undefined;
  const first = Number(m[1]);
  const second = Number(m[2]);
  const year = m[3] as string;
  const dayFirst = isCalendarDate(first, second, year);
  const monthFirst = isCalendarDate(second, first, year);
  if (dayFirst && !monthFirst) return 'day-first';
  if (monthFirst && !dayFirst) return 'month-first';
  return 'numeric';
}

interface ColumnEvidence {
  field: string;
  source: string;
  setting: boolean | 'auto' | undefined;
  numeric: boolean;
  dayFirstLine: number | undefined;
  dayFirstValue: string | undefined;
  monthFirstLine: number | undefined;
  monthFirstValue: string | undefined;
  /** A datetime column whose sampled values have times without an offset. */
  datetime: boolean;
  localTimes: boolean;
}

/** A time of day (`7:42`) with no offset or zone after it (`Z`, `UTC`, `GMT`, `+0000`, `-05:00`). */
const LOCAL_TIME = /\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:\s*[AP]M)?$/i;

/**
 * Decides, once per file, the day/month order of each date/datetime field that reads the default
 * formats (no `formats` setting): `add` each sampled value with its line, then `decide`. A value
 * whose first number is over 12 (`24/02/26`) says day-first, whose second is (`02/24/26`) says
 * month-first; both in one column fail the file (InconsistentDateOrderError, naming the column and
 * two lines). Nothing deciding: the field's `dayFirst` (true → day-first; false, unset or `auto` →
 * month-first). Only fields with at least one numeric slash/dot date in the sample get a decision.
 */
function localTimes(c: ColumnEvidence): { localTimes?: true } {
  return c.localTimes ? { localTimes: true } : {};
}

export class DateOrderScan {
  private readonly columns: ColumnEvidence[];

  constructor(fields: ReadonlyArray<{ field: string; spec: FieldSpec }>) {
    this.columns = fields
      .filter(({ spec }) => (spec.type === 'date' || spec.type === 'datetime') && spec.formats === undefined)
      .map(({ field, spec }) => ({
        field,
        source: spec.source,
        setting: spec.dayFirst,
        numeric: false,
        dayFirstLine: undefined,
        dayFirstValue: undefined,
        monthFirstLine: undefined,
        monthFirstValue: undefined,
        datetime: spec.type === 'datetime',
        localTimes: false,
      }));
  }

  /** The fields it decides, in the order `add` takes their values. */
  get fields(): string[] {
    return this.columns.map((c) => c.field);
  }

  /** One sampled value (trimmed) of the i-th of `fields`, at `line` of the file. */
  add(i: number, value: string, line: number): void {
    const column = this.columns[i];
    if (column === undefined) return;
    const evidence = orderEvidence(value);
    if (evidence === undefined) return;
    column.numeric = true;
    if (column.datetime && !column.localTimes && LOCAL_TIME.test(value)) column.localTimes = true;
    if (evidence === 'day-first' && column.dayFirstLine === undefined) {
      column.dayFirstLine = line;
      column.dayFirstValue = value;
    } else if (evidence === 'month-first' && column.monthFirstLine === undefined) {
      column.monthFirstLine = line;
      column.monthFirstValue = value;
    }
  }

  /** The decision per field (only fields whose sample had numeric dates); throws when a column is inconsistent. */
  decide(): Record<string, DateOrderDecision> {
    const out: Record<string, DateOrderDecision> = {};
    const problems: string[] = [];
    for (const c of this.columns) {
      if (!c.numeric) continue;
      if (c.dayFirstLine !== undefined && c.monthFirstLine !== undefined) {
        problems.push(
          `column ${c.source} has dates written day-first (line ${c.dayFirstLine}) ` +
            `and month-first (line ${c.monthFirstLine}); ` +
            `one file must write one order (or set the field's formats)`,
        );
      } else if (c.dayFirstLine !== undefined) {
        out[c.field] = { order: 'day-first', decidedBy: 'values', ...localTimes(c) };
      } else if (c.monthFirstLine !== undefined) {
        out[c.field] = { order: 'month-first', decidedBy: 'values', ...localTimes(c) };
      } else {
        out[c.field] = {
          order: c.setting === true ? 'day-first' : 'month-first',
          decidedBy: c.setting === 'auto' ? 'undecided' : 'setting',
          ...localTimes(c),
        };
      }
    }
    if (problems.length > 0) throw new InconsistentDateOrderError(problems.join('; '));
    return out;
  }
}
