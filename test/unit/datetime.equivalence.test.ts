import fc from 'fast-check';
import type { FieldSpec } from '../../lambdas/domain/config';
import { normalizeField } from '../../lambdas/domain/normalize';
import { expectEqual, expectSame } from './expect-equal';
import { referenceParseDateTime } from './reference/normalize-before';

/**
 * parseDateTime's fast path for canonical shapes must not change any result: the reference is the
 * regex parser of normalize.ts as it was before (test/unit/reference/normalize-before.ts), plus,
 * on purpose since, the default formats read with luxon: numeric slash or dot dates with a 2-digit
 * or 4-digit year, month first, optionally with a time (newShape below models them).
 */

/**
 * The default formats' shapes the old parser refused: `M/d/yy` and `M.d.yy` (a 4-digit year too),
 * then optionally ` H:mm[:ss]` or, slash dates only, ` h:mm[:ss] a`. 2-digit years: 00–60 → 20xx,
 * 61–99 → 19xx. Returns the expected ISO value, or undefined when the text is not of that shape.
 */
function newShape(text: string): string | null | undefined {
  const m =
    /^(\d{1,2})([/.])(\d{1,2})\2(\d{2}|\d{4})(?: (\d{1,2}):(\d{2})(?::(\d{2}))?(?: ?([AaPp][Mm]))?)?$/.exec(
      text,
    );
  if (!m) return undefined;
  const [, mo, sep, d, y, h, mi, s, ap] = m;
  if (ap !== undefined && (sep === '.' || !text.includes(` ${ap}`))) return undefined;
  const yy = Number(y);
  const year = (y as string).length === 4 ? yy : yy <= 60 ? 2000 + yy : 1900 + yy;
  let hour = Number(h ?? 0);
  if (ap !== undefined) {
    if (/p/i.test(ap) && hour < 12) hour += 12;
    else if (/a/i.test(ap) && hour === 12) hour = 0;
  }
  const ms = Date.UTC(year, Number(mo) - 1, Number(d), hour, Number(mi ?? 0), Number(s ?? 0));
  const date = new Date(ms);
  const valid =
    year >= 1000 &&
    date.getUTCMonth() === Number(mo) - 1 &&
    date.getUTCDate() === Number(d) &&
    date.getUTCHours() === hour &&
    hour < 24 &&
    Number(mi ?? 0) < 60 &&
    Number(s ?? 0) < 60;
  return valid ? date.toISOString() : null;
}

function reference(raw: string, type: 'date' | 'datetime'): { ok: boolean; value?: string } {
  const text = raw.trim();
  if (text === '') return { ok: true, value: undefined };
  const iso = referenceParseDateTime(text) ?? newShape(text) ?? undefined;
  if (iso === undefined) return { ok: false };
  return { ok: true, value: type === 'date' ? iso.slice(0, 10) : iso };
}

/**
 * One spec per type for every run, as a config's field is one object for every cell: the parser's
 * compiled formats and memo are kept per spec, so a new spec per call compiled every format again.
 */
const SPECS: Record<'date' | 'datetime', FieldSpec> = {
  date: { source: 'When', type: 'date', required: false, transforms: ['trim'] },
  datetime: { source: 'When', type: 'datetime', required: false, transforms: ['trim'] },
};

function ours(raw: string, type: 'date' | 'datetime'): { ok: boolean; value?: string } {
  const r = normalizeField(raw, SPECS[type]);
  if (!r.ok) {
    expectSame(r.code, `invalid_${type}`);
    return { ok: false };
  }
  return { ok: true, value: r.value as string | undefined };
}

const digit = fc.constantFrom(...'0123456789');
const digits = (min: number, max: number) =>
  fc.array(digit, { minLength: min, maxLength: max }).map((a) => a.join(''));
/** Mostly in range, sometimes at or past the edges. */
const num = (width: number, lo: number, hi: number) =>
  fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: lo, max: hi }).map((v) => String(v).padStart(width, '0')) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        ...[lo - 1, hi + 1, 0, 99].map((v) => String(Math.max(0, v)).padStart(width, '0')),
      ),
    },
    { weight: 1, arbitrary: digits(1, width + 1) },
  );
const year = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1990, max: 2030 }).map(String) },
  {
    weight: 2,
    arbitrary: fc.constantFrom('1000', '0999', '9999', '2000', '1900', '2100', '2024', '2023', '0024'),
  },
  { weight: 1, arbitrary: digits(1, 5) },
);
const month = num(2, 1, 12);
const day = fc.oneof(
  { weight: 3, arbitrary: num(2, 1, 28) },
  { weight: 1, arbitrary: fc.constantFrom('29', '30', '31', '32', '00') },
);
const hour = num(2, 0, 23);
const minute = num(2, 0, 59);
const fraction = fc.oneof(
  { weight: 4, arbitrary: digits(3, 3) },
  { weight: 2, arbitrary: digits(1, 10) },
  { weight: 1, arbitrary: fc.constant('') },
);
const zone = fc.constantFrom(
  '',
  '',
  'Z',
  'Z',
  'z',
  'UTC',
  ' UTC',
  'GMT',
  '+00:00',
  '-05:00',
  '+0530',
  '-08',
  'Z-0300',
  '+19:00',
  '+05:60',
  ' PST',
  'ZZ',
  'Zabc',
  ' ',
);
const dateSep = fc.constantFrom('-', '-', '-', '/', '\\', '.');
const timeSep = fc.constantFrom('T', 'T', 'T', ' ', 't', '  ', '\t', '_', '');
const ampm = fc.constantFrom('', '', '', ' AM', ' PM', 'pm', ' am');

/** Date(time)-like text: ISO-ish, slash and US orders, optional time, fraction, AM/PM and zone. */
const dateText = fc
  .tuple(
    fc.constantFrom('ymd', 'ymd', 'ymd', 'mdy', 'epoch', 'date'),
    year,
    month,
    day,
    dateSep,
    fc.boolean(),
    timeSep,
    hour,
    minute,
    fc.option(minute, { nil: undefined }),
    fc.option(fraction, { nil: undefined }),
    ampm,
    zone,
    fc.constantFrom('', '', '', ' ', '\t', '\u00a0'),
  )
  .map(([order, y, mo, d, ds, withTime, ts, h, mi, s, f, ap, z, pad]) => {
    if (order === 'epoch') return `${pad}${y}${mo}${d}${h}${mi}${s ?? ''}`.slice(0, 13);
    const date = order === 'mdy' ? `${mo}${ds}${d}${ds}${y}` : `${y}${ds}${mo}${ds}${d}`;
    if (order === 'date' || !withTime) return `${pad}${date}${pad}`;
    let time = `${h}:${mi}`;
    if (s !== undefined) {
      time += `:${s}`;
      if (f !== undefined) time += `.${f}`;
    }
    return `${pad}${date}${ts}${time}${ap}${z}${pad}`;
  });

const noise = fc
  .array(fc.constantFrom(...'0123456789-:/.TZ+ tz'.split('')), { minLength: 0, maxLength: 26 })
  .map((a) => a.join(''));

describe('date/datetime parsing equals the regex-only implementation', () => {
  it.each(['date', 'datetime'] as const)('for generated date-like text (%s)', (type) => {
    let accepted = 0;
    const runs = 30_000;
    fc.assert(
      fc.property(dateText, (text) => {
        const expected = reference(text, type);
        expectEqual(ours(text, type), expected);
        if (expected.ok) accepted++;
      }),
      // Seeded: the counts below check that both branches were exercised, so they must not depend on luck.
      { numRuns: runs, seed: 20261125 },
    );
    // Not vacuous: a good share of the inputs is accepted.
    expect(accepted).toBeGreaterThan(runs * 0.2);
  });

  it.each(['date', 'datetime'] as const)('for noise over a date alphabet (%s)', (type) => {
    fc.assert(
      fc.property(noise, (text) => {
        expectEqual(ours(text, type), reference(text, type));
      }),
      { numRuns: 20_000 },
    );
  });

  it('for every canonical timestamp shape around edges of months, years and the day', () => {
    const times = ['00:00:00', '23:59:59', '12:34:56', '24:00:00', '23:60:00', '23:59:60'];
    const dates = [
      '2024-02-29',
      '2023-02-29',
      '2000-02-29',
      '1900-02-29',
      '1000-01-01',
      '0999-12-31',
      '9999-12-31',
      '2024-04-31',
      '2024-12-31',
      '2024-00-01',
      '2024-13-01',
    ];
    for (const date of dates) {
      const inputs = [date];
      for (const time of times) {
        for (const sep of ['T', ' ', 't']) {
          inputs.push(
            `${date}${sep}${time}`,
            `${date}${sep}${time}Z`,
            `${date}${sep}${time}.123`,
            `${date}${sep}${time}.123Z`,
            `${date}${sep}${time}.999z`,
          );
        }
      }
      for (const input of inputs) {
        for (const type of ['date', 'datetime'] as const)
          expectEqual(ours(input, type), reference(input, type));
      }
    }
  });
});
