import fc from 'fast-check';
import { DateTime } from 'luxon';
import { type FieldSpec, parseConfig } from '../../lambdas/domain/config';
import {
  DATE_SAMPLE_BYTES,
  dateSampleEnd,
  decideDateOrders,
  needsDateOrder,
} from '../../lambdas/domain/date-order';
import {
  acceptedFormats,
  DateOrderScan,
  orderEvidence,
  swapDayMonth,
  withDateOrder,
  ZoneClock,
} from '../../lambdas/domain/dates';
import { InconsistentDateOrderError } from '../../lambdas/domain/errors';
import { bindHeader, mapRecord } from '../../lambdas/domain/mapping';
import { normalizeField } from '../../lambdas/domain/normalize';
import { PRESETS } from '../../lambdas/domain/presets';

type DateType = 'date' | 'datetime';

function field(type: DateType, extra: Partial<FieldSpec> = {}): FieldSpec {
  return { source: 'When', type, required: false, transforms: ['trim'], ...extra };
}

/** The stored value, or the reason code. */
function read(raw: string, spec: FieldSpec): string | undefined {
  const r = normalizeField(raw, spec);
  return r.ok ? (r.value as string | undefined) : r.code;
}

describe('dates: the shapes CRM exports write, with no setting', () => {
  it.each<[string, string, string]>([
    ['Salesforce API / Data Loader', '2017-08-04T09:09:50.000+0000', '2017-08-04T09:09:50.000Z'],
    ['Salesforce report, 2-digit year, 12-hour', '02/24/26 02:18 AM', '2026-02-24T02:18:00.000Z'],
    ['Salesforce report, 4-digit year, 12-hour', '2/24/2026 2:18 PM', '2026-02-24T14:18:00.000Z'],
    ['Salesforce report, seconds', '2/24/26 2:18:07 PM', '2026-02-24T14:18:07.000Z'],
    ['noon and midnight', '2/24/26 12:05 AM', '2026-02-24T00:05:00.000Z'],
    ['lower-case meridiem', '2/24/26 12:05 pm', '2026-02-24T12:05:00.000Z'],
    ['HubSpot, 2-digit year, 24-hour', '2/5/24 1:51', '2024-02-05T01:51:00.000Z'],
    ['HubSpot, 24-hour with seconds', '2/5/24 13:51:09', '2024-02-05T13:51:09.000Z'],
    ['HubSpot, ISO without seconds', '2024-02-05 01:51', '2024-02-05T01:51:00.000Z'],
    ['Dynamics 365', '5/20/2024 7:42', '2024-05-20T07:42:00.000Z'],
    ['a date alone, 2-digit year', '2/5/24', '2024-02-05T00:00:00.000Z'],
    ['dotted, month-first by default', '02.05.2024 14:18', '2024-02-05T14:18:00.000Z'],
  ])('%s: %j → %s', (_what, raw, expected) => {
    // Prepare
    const spec = field('datetime');

    // Act
    const value = read(raw, spec);

    // Assess
    expect(value).toBe(expected);
  });

  it.each<[string, string]>([
    ['2/30/24', 'invalid_datetime'],
    ['13/13/24', 'invalid_datetime'],
    ['2/29/23', 'invalid_datetime'],
    ['2/29/24', '2024-02-29T00:00:00.000Z'],
    ['2/5/24 24:00', 'invalid_datetime'],
    ['2/5/24 1:60', 'invalid_datetime'],
    ['2/5/024', 'invalid_datetime'],
    ['2.5.0024', 'invalid_datetime'],
    ['2/5/24 1:51 +0200', 'invalid_datetime'],
    ['24.02.2026 14:18', 'invalid_datetime'],
    ['2/5/24T1:51', 'invalid_datetime'],
    ['Feb 5, 2024', 'invalid_datetime'],
  ])('rejects what no default format reads: %j → %s', (raw, expected) => {
    expect(read(raw, field('datetime'))).toBe(expected);
  });

  it.each<[string, string]>([
    ['1/1/00', '2000-01-01'],
    ['1/1/26', '2026-01-01'],
    ['1/1/60', '2060-01-01'],
    ['1/1/61', '1961-01-01'],
    ['1/1/99', '1999-01-01'],
  ])('reads a 2-digit year by the pivot 60 (00–60 → 20xx, 61–99 → 19xx): %j → %s', (raw, expected) => {
    expect(read(raw, field('date'))).toBe(expected);
  });

  it('keeps the ISO results of before (the equivalence test covers them at length)', () => {
    expect(read('2024-03-05T23:30:00-05:00', field('date'))).toBe('2024-03-06');
    expect(read('2024-03-05 10:00', field('datetime'))).toBe('2024-03-05T10:00:00.000Z');
    expect(read('1709596800000', field('datetime'))).toBe('2024-03-05T00:00:00.000Z');
  });
});

describe('dates: dayFirst', () => {
  it.each<[boolean | 'auto' | undefined, string, string]>([
    [undefined, '03/04/24', '2024-03-04'],
    [false, '03/04/24', '2024-03-04'],
    ['auto', '03/04/24', '2024-03-04'],
    [true, '03/04/24', '2024-04-03'],
    [true, '03/04/2024 10:00', '2024-04-03'],
    [true, '24.02.2026 14:18', '2026-02-24'],
    [true, '13/1/24 1:51 PM', '2024-01-13'],
    [true, '1/13/24', 'invalid_date'],
    [false, '13/1/24', 'invalid_date'],
    [true, '2024-03-04', '2024-03-04'],
    [true, '2024/3/4', '2024-03-04'],
  ])('dayFirst %j reads %j as %s', (dayFirst, raw, expected) => {
    // Prepare
    const spec = field('date', dayFirst === undefined ? {} : { dayFirst });

    // Act
    const value = read(raw, spec);

    // Assess
    expect(value).toBe(expected);
  });
});

describe('dates: formats', () => {
  it.each<[string[], string, string]>([
    [['dd.MM.yyyy HH:mm'], '24.02.2026 14:18', '2026-02-24T14:18:00.000Z'],
    [['dd/MM/yyyy'], '03/04/2024', '2024-04-03T00:00:00.000Z'],
    [['dd/MM/yyyy'], '2024-04-03T10:00:00Z', '2024-04-03T10:00:00.000Z'],
    [['dd/MM/yyyy'], '2/5/24 1:51', 'invalid_datetime'],
    [['d MMM yyyy h:mm a'], '5 Feb 2024 1:51 PM', '2024-02-05T13:51:00.000Z'],
    [["yyyy-MM-dd'T'HH:mm:ss ZZ"], '2024-02-05T13:51:00 +02:00', '2024-02-05T11:51:00.000Z'],
    [['MM/dd/yyyy', 'dd.MM.yyyy'], '24.02.2026', '2026-02-24T00:00:00.000Z'],
    [['MM/dd/yyyy', 'dd.MM.yyyy'], '02/24/2026', '2026-02-24T00:00:00.000Z'],
    [['dd.MM.yyyy'], '31.02.2026', 'invalid_datetime'],
  ])('formats %j read %j as %s', (formats, raw, expected) => {
    // Prepare
    const spec = field('datetime', { formats });

    // Act
    const value = read(raw, spec);

    // Assess
    expect(value).toBe(expected);
  });

  it('swaps day and month of a format, leaving quoted literals', () => {
    expect(swapDayMonth("M/d/yy 'da' h:mm a")).toBe("d/M/yy 'da' h:mm a");
    expect(swapDayMonth('MM.dd.yyyy')).toBe('dd.MM.yyyy');
  });

  it('names the formats a field reads, in its order', () => {
    expect(acceptedFormats(field('date'))).toContain('M/d/yy h:mm a');
    expect(acceptedFormats(field('date', { dayFirst: true }))).toContain('d/M/yy h:mm a');
    expect(acceptedFormats(field('date', { formats: ['dd.MM.yyyy'] }))).toMatch(
      /yyyy-MM-dd.*; dd\.MM\.yyyy$/,
    );
  });
});

describe('dates: timezone', () => {
  const ny = field('datetime', { timezone: 'America/New_York' });
  it.each<[FieldSpec, string, string]>([
    [ny, '1/15/24 9:00 AM', '2024-01-15T14:00:00.000Z'],
    [ny, '7/15/24 9:00 AM', '2024-07-15T13:00:00.000Z'],
    [ny, '2024-07-15 09:00', '2024-07-15T13:00:00.000Z'],
    [ny, '2024-07-15T09:00:00', '2024-07-15T13:00:00.000Z'],
    [ny, '2024-07-15T09:00:00Z', '2024-07-15T09:00:00.000Z'],
    [ny, '2024-07-15T09:00:00.000+0000', '2024-07-15T09:00:00.000Z'],
    [ny, '1721048400000', '2024-07-15T13:00:00.000Z'],
    // Spring forward: 02:00–02:59 does not exist; it moves forward by the gap (EDT).
    [ny, '3/10/2024 1:59', '2024-03-10T06:59:00.000Z'],
    [ny, '3/10/2024 2:30', '2024-03-10T07:30:00.000Z'],
    [ny, '3/10/2024 3:00', '2024-03-10T07:00:00.000Z'],
    // Fall back: 01:00–01:59 exists twice; the earlier (EDT) is taken.
    [ny, '11/3/2024 0:59', '2024-11-03T04:59:00.000Z'],
    [ny, '11/3/2024 1:30', '2024-11-03T05:30:00.000Z'],
    [ny, '11/3/2024 2:00', '2024-11-03T07:00:00.000Z'],
    // Southern hemisphere: Sydney springs forward on 2024-10-06 at 02:00 and falls back on 2024-04-07 at 03:00.
    [field('datetime', { timezone: 'Australia/Sydney' }), '10/6/24 2:30', '2024-10-05T16:30:00.000Z'],
    [field('datetime', { timezone: 'Australia/Sydney' }), '4/7/24 2:30', '2024-04-06T15:30:00.000Z'],
    [field('datetime', { timezone: 'Asia/Kolkata' }), '2/5/24 1:51', '2024-02-04T20:21:00.000Z'],
    [
      field('datetime', { timezone: 'Europe/Berlin', dayFirst: true }),
      '31.03.2024 02:30',
      '2024-03-31T01:30:00.000Z',
    ],
  ])('reads %j', (spec, raw, expected) => {
    expect(read(raw, spec)).toBe(expected);
  });

  it.each<[string, string]>([
    ['2/5/24', '2024-02-05'],
    ['2024-02-05', '2024-02-05'],
    ['2024-02-05 23:30', '2024-02-05'],
    // An instant's date is the date in the field's zone.
    ['2024-02-06T03:00:00Z', '2024-02-05'],
    ['2024-02-06T03:00:00.000+0000', '2024-02-05'],
  ])('a date field keeps the calendar date: %j → %s', (raw, expected) => {
    expect(read(raw, field('date', { timezone: 'America/New_York' }))).toBe(expected);
  });

  it('matches luxon on every quarter hour of a year of transitions (gaps excepted, overlaps earlier)', () => {
    // Prepare
    const clock = new ZoneClock('America/New_York');
    const mismatches: string[] = [];

    // Act
    for (let wall = Date.UTC(2024, 0, 1); wall < Date.UTC(2025, 0, 1); wall += 15 * 60_000) {
      const w = DateTime.fromMillis(wall, { zone: 'utc' });
      const local = DateTime.fromObject(
        { year: w.year, month: w.month, day: w.day, hour: w.hour, minute: w.minute },
        { zone: 'America/New_York' },
      );
      const exists = local.hour === w.hour && local.minute === w.minute;
      const earlier = local.minus({ hours: 1 });
      const ambiguous = earlier.hour === w.hour && earlier.minute === w.minute;
      const expected = ambiguous ? earlier.toMillis() : local.toMillis();
      if (exists && clock.toInstant(wall) !== expected) mismatches.push(w.toISO() ?? '');
    }

    // Assess
    expect(mismatches).toEqual([]);
  });

  it('property: formatting an instant in a zone with a default format reads back the instant (outside overlaps)', () => {
    const zones = [
      'America/New_York',
      'America/Los_Angeles',
      'Europe/Berlin',
      'Australia/Sydney',
      'Asia/Kolkata',
    ];
    const formats = ['M/d/yy H:mm:ss', 'M/d/yyyy h:mm:ss a', "yyyy-MM-dd'T'HH:mm:ss", 'M/d/yy h:mm:ss a'];
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(2000, 0, 1) / 1000, max: Date.UTC(2040, 0, 1) / 1000 }),
        fc.constantFrom(...zones),
        fc.constantFrom(...formats),
        (seconds, zone, format) => {
          // Prepare
          const instant = seconds * 1000;
          const text = DateTime.fromMillis(instant, { zone }).toFormat(format, { locale: 'en-US' });

          // Act
          const value = read(text, field('datetime', { timezone: zone }));

          // Assess: the same wall time always; the same instant unless the wall time exists twice.
          const back = DateTime.fromISO(String(value), { zone }).toFormat(format, { locale: 'en-US' });
          expect(back).toBe(text);
          const twice = [-1, 1].some(
            (h) => DateTime.fromMillis(instant + h * 3_600_000, { zone }).toFormat(format) === text,
          );
          if (!twice) expect(value).toBe(new Date(instant).toISOString());
        },
      ),
      { numRuns: 2_000 },
    );
  });
});

describe('dates: config', () => {
  const entity = (fields: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    entities: {
      contact: {
        target: { key: 'id' },
        fields: { id: { source: 'Id', required: true }, ...fields },
        ...extra,
      },
    },
  });

  it('carries the entity timezone into its date fields; a field keeps its own', () => {
    // Act
    const config = parseConfig(
      entity(
        {
          a: { source: 'A', type: 'datetime' },
          b: { source: 'B', type: 'datetime', timezone: 'Europe/Berlin' },
          c: { source: 'C', type: 'string' },
        },
        { timezone: 'America/Chicago' },
      ),
    );

    // Assess
    const fields = config.entities.contact?.fields;
    expect(fields?.a?.timezone).toBe('America/Chicago');
    expect(fields?.b?.timezone).toBe('Europe/Berlin');
    expect(fields?.c?.timezone).toBeUndefined();
    // Parsing the parsed config again gives the same config (the workers re-read it).
    expect(parseConfig(config)).toEqual(config);
  });

  it.each<[Record<string, unknown>, Record<string, unknown>, string]>([
    [
      { a: { source: 'A', type: 'datetime', timezone: 'Mars/Olympus' } },
      {},
      'entities.contact.fields.a.timezone: unknown time zone "Mars/Olympus"',
    ],
    [
      { a: { source: 'A', type: 'datetime', timezone: 'america/new_york' } },
      {},
      'write the time zone as "America/New_York"',
    ],
    [{}, { timezone: 'EST5EDT ' }, 'entities.contact.timezone: "EST5EDT " is not an IANA time zone name'],
    [
      { a: { source: 'A', type: 'date', formats: ['HH:mm'] } },
      {},
      'entities.contact.fields.a.formats.0: format "HH:mm" must read a year',
    ],
    [{ a: { source: 'A', type: 'date', formats: [] } }, {}, 'formats lists at least one format'],
    [
      { a: { source: 'A', type: 'date', formats: ['dd.MM.yyyy'], dayFirst: true } },
      {},
      'fields.a.dayFirst: dayFirst applies to the default formats only',
    ],
    [
      { a: { source: 'A', type: 'string', timezone: 'UTC' } },
      {},
      'fields.a.timezone: timezone applies to date and datetime fields only',
    ],
    [{ a: { source: 'A', type: 'date', dayFirst: 'yes' } }, {}, 'entities.contact.fields.a.dayFirst'],
  ])('refuses %j %j', (fields, extra, message) => {
    expect(() => parseConfig(entity(fields, extra))).toThrow(message);
  });
});

describe('dates: the order decided once per file', () => {
  it.each<[string, ReturnType<typeof orderEvidence>]>([
    ['24/02/26 02:18 AM', 'day-first'],
    ['24.02.2026 14:18', 'day-first'],
    ['02/24/26 02:18 AM', 'month-first'],
    ['2/24/2026', 'month-first'],
    ['03/04/24', 'numeric'],
    ['31/02/2024', 'numeric'],
    ['2/29/23', 'numeric'],
    ['29/2/24', 'day-first'],
    ['2024-02-24', undefined],
    ['2024/2/24', undefined],
    ['1708741080000', undefined],
    ['', undefined],
  ])('%j says %s', (value, expected) => {
    expect(orderEvidence(value)).toBe(expected);
  });

  const spec = (extra: Partial<FieldSpec> = {}): FieldSpec =>
    field('datetime', { source: 'Created', ...extra });
  const scanOf = (s: FieldSpec, values: string[]) => {
    const scan = new DateOrderScan([{ field: 'createdAt', spec: s }]);
    for (const [i, v] of values.entries()) scan.add(0, v, i + 2);
    return scan;
  };

  it.each<[string, FieldSpec, string[], Record<string, unknown>]>([
    [
      'times without an offset (Dynamics, report exports) are local times',
      spec(),
      ['5/20/2024 7:42', '5/21/2024 7:42 PM'],
      { createdAt: { order: 'month-first', decidedBy: 'values', localTimes: true } },
    ],
    [
      'times with an offset or zone are not',
      spec(),
      ['5/20/2024 7:42 +0200', '5/21/2024 07:42:10Z', '5/22/2024 7:42 UTC', '5/23/2024'],
      { createdAt: { order: 'month-first', decidedBy: 'values' } },
    ],
    [
      'a date field has no times',
      field('date', { source: 'Created' }),
      ['5/20/2024 7:42'],
      { createdAt: { order: 'month-first', decidedBy: 'values' } },
    ],
    [
      'values say day-first',
      spec(),
      ['03/04/24', '24/02/26'],
      { createdAt: { order: 'day-first', decidedBy: 'values' } },
    ],
    [
      'values say month-first',
      spec({ dayFirst: true }),
      ['03/04/24', '2/24/26'],
      { createdAt: { order: 'month-first', decidedBy: 'values' } },
    ],
    [
      'nothing decides, default',
      spec(),
      ['03/04/24'],
      { createdAt: { order: 'month-first', decidedBy: 'setting' } },
    ],
    [
      'nothing decides, dayFirst',
      spec({ dayFirst: true }),
      ['03/04/24'],
      { createdAt: { order: 'day-first', decidedBy: 'setting' } },
    ],
    [
      'nothing decides, auto',
      spec({ dayFirst: 'auto' }),
      ['03/04/24'],
      { createdAt: { order: 'month-first', decidedBy: 'undecided' } },
    ],
    ['no numeric date', spec(), ['2024-02-24T10:00:00Z', ''], {}],
  ])('%s', (_what, s, values, expected) => {
    expect(scanOf(s, values).decide()).toEqual(expected);
  });

  it('leaves out fields with formats and fields of other types', () => {
    const scan = new DateOrderScan([
      { field: 'a', spec: field('date', { formats: ['dd/MM/yy'] }) },
      { field: 'b', spec: { source: 'B', type: 'string', required: false, transforms: [] } },
      { field: 'c', spec: field('date') },
    ]);
    expect(scan.fields).toEqual(['c']);
  });

  it('fails a column written both ways, naming it and a line of each', () => {
    // Act
    const err = (() => {
      try {
        scanOf(spec(), ['03/04/24', '24/02/26 1:00', '02/24/26', '25/02/26']).decide();
      } catch (e) {
        return e;
      }
      return undefined;
    })();

    // Assess
    expect(err).toBeInstanceOf(InconsistentDateOrderError);
    expect((err as Error).name).toBe('InconsistentDateOrderError');
    expect((err as Error).message).toBe(
      'column Created has dates written day-first (line 3) and month-first (line 4); ' +
        "one file must write one order (or set the field's formats)",
    );
  });

  it('the workers read every row in the decided order; a value contradicting it is a reject', () => {
    // Prepare
    const config = parseConfig({
      entities: {
        contact: {
          target: { key: 'id' },
          fields: {
            id: { source: 'Id', required: true },
            createdAt: { source: 'Created', type: 'datetime' },
          },
        },
      },
    });
    const configured = config.entities.contact;
    if (!configured) throw new Error('no entity');
    const entity = withDateOrder(configured, { createdAt: { order: 'day-first', decidedBy: 'values' } });
    const binding = bindHeader(['Id', 'Created'], entity);

    // Act
    const agreeing = mapRecord(['1', '03/04/24 10:00'], binding, entity);
    const contradicting = mapRecord(['2', '02/24/26 10:00'], binding, entity);

    // Assess
    expect(agreeing).toMatchObject({ ok: true, item: { createdAt: '2024-04-03T10:00:00.000Z' } });
    expect(contradicting).toEqual({ ok: false, reasons: ['invalid_datetime:Created'] });
    expect(withDateOrder(configured, undefined)).toBe(configured);
  });
});

describe('dates: presets', () => {
  it.each(Object.keys(PRESETS))('%s: every date field reads the CRM report-export shapes', (name) => {
    // Prepare
    const config = parseConfig(PRESETS[name]);
    const specs = Object.values(config.entities).flatMap((e) =>
      Object.values(e.fields).filter((f) => f.type === 'date' || f.type === 'datetime'),
    );

    // Act
    const values = specs.flatMap((spec) =>
      [
        '02/24/26 02:18 AM',
        '2/24/2026 2:18 PM',
        '2/5/24 1:51',
        '2024-02-05 01:51',
        '2017-08-04T09:09:50.000+0000',
      ].map((raw) => read(raw, spec)),
    );

    // Assess
    expect(specs.length).toBeGreaterThan(0);
    expect(values.filter((v) => v === undefined || v.startsWith('invalid_'))).toEqual([]);
  });
});

describe('dates: the sample Plan reads', () => {
  const M = DATE_SAMPLE_BYTES;
  it.each<[string, Array<{ end: number }>, number]>([
    ['no chunk: nothing', [], 0],
    ['a file under the limit: all of it', [{ end: 10 }, { end: 900 }], 900],
    ['the last chunk ending within the limit', [{ end: M / 2 }, { end: M }, { end: M + 1 }], M],
    ['a first chunk past the limit: that chunk', [{ end: M + 7 }, { end: 2 * M }], M + 7],
    ['never the limit itself when no chunk ends on it', [{ end: M - 5 }, { end: M + 5 }], M - 5],
  ])('ends at a chunk boundary: %s', (_what, chunks, expected) => {
    expect(dateSampleEnd(chunks)).toBe(expected);
  });

  const spec = field('datetime', { source: 'Created' });
  const fieldColumns = [{ field: 'createdAt', spec, index: 1 }];
  const batches = (lines: string[]) =>
    (async function* () {
      yield lines.map((text, i) => ({ line: i + 1, offset: 0, bytes: Buffer.from(text) }));
    })();

  it.each<[string, 'csv' | 'jsonl', string[], boolean, Record<string, unknown>]>([
    [
      'CSV, the header skipped',
      'csv',
      ['Id,Created', '1,03/04/24', '2,24/02/26'],
      false,
      { createdAt: { order: 'day-first', decidedBy: 'values' } },
    ],
    [
      'CSV, a header that looks like a date is not a value',
      'csv',
      ['Id,24/02/26', '1,03/04/24', '2,02/24/26'],
      false,
      { createdAt: { order: 'month-first', decidedBy: 'values' } },
    ],
    [
      'CSV, malformed and ragged rows skipped',
      'csv',
      ['Id,Created', '1,"03/04/24', '2,24/02/26,extra', '3,02/24/26'],
      false,
      { createdAt: { order: 'month-first', decidedBy: 'values' } },
    ],
    [
      'CSV, a cut last record is not read',
      'csv',
      ['Id,Created', '1,03/04/24', '2,24/02/2'],
      true,
      { createdAt: { order: 'month-first', decidedBy: 'setting' } },
    ],
    [
      'JSON Lines, no header, bad lines skipped',
      'jsonl',
      ['{"Id":"1","Created":"24/02/26"}', 'not json', '{"Id":"2","Created":"03/04/24"}'],
      false,
      { createdAt: { order: 'day-first', decidedBy: 'values' } },
    ],
  ])('%s', async (_what, format, lines, truncated, expected) => {
    // Act
    const decided = await decideDateOrders(batches(lines), {
      format,
      delimiter: ',',
      columns: ['Id', 'Created'],
      fieldColumns,
      truncated,
    });

    // Assess
    expect(decided).toEqual(expected);
  });

  it('needs no sample for fields with formats or without dates', () => {
    expect(needsDateOrder([{ field: 'a', spec: field('date', { formats: ['dd.MM.yyyy'] }), index: 0 }])).toBe(
      false,
    );
    expect(needsDateOrder(fieldColumns)).toBe(true);
  });
});
