/**
 * Micro-benchmark of date/datetime cells as CRM exports write them: µs per cell through
 * normalizeValue (the mapping's per-cell call), 100k distinct cells per shape, best of 5.
 * `npx tsx bench/dates.ts`
 */
import type { FieldSpec } from '../lambdas/domain/config';
import { normalizeValue } from '../lambdas/domain/normalize';

const N = 100_000;
const pad = (n: number) => String(n).padStart(2, '0');

/** The shapes: a formatter of (y, mo, d, h, mi, s) for each. */
const SHAPES: Record<string, (y: number, mo: number, d: number, h: number, mi: number, s: number) => string> =
  {
    'ISO canonical (2024-02-05T01:51:00.000Z)': (y, mo, d, h, mi, s) =>
      `${y}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}:${pad(s)}.000Z`,
    'Data Loader (2017-08-04T09:09:50.000+0000)': (y, mo, d, h, mi, s) =>
      `${y}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}:${pad(s)}.000+0000`,
    'SF report (02/24/26 02:18 AM)': (y, mo, d, h, mi) =>
      `${pad(mo)}/${pad(d)}/${pad(y % 100)} ${pad(((h + 11) % 12) + 1)}:${pad(mi)} ${h < 12 ? 'AM' : 'PM'}`,
    'SF report (2/24/2026 2:18 PM)': (y, mo, d, h, mi) =>
      `${mo}/${d}/${y} ${((h + 11) % 12) + 1}:${pad(mi)} ${h < 12 ? 'AM' : 'PM'}`,
    'HubSpot (2/5/24 1:51)': (y, mo, d, h, mi) => `${mo}/${d}/${pad(y % 100)} ${h}:${pad(mi)}`,
    'HubSpot (2024-02-05 01:51)': (y, mo, d, h, mi) => `${y}-${pad(mo)}-${pad(d)} ${pad(h)}:${pad(mi)}`,
    'Dynamics (5/20/2024 7:42)': (y, mo, d, h, mi) => `${mo}/${d}/${y} ${h}:${pad(mi)}`,
    'European (24.02.2026 14:18), day-first': (y, mo, d, h, mi) =>
      `${pad(d)}.${pad(mo)}.${y} ${pad(h)}:${pad(mi)}`,
  };

function cells(shape: (typeof SHAPES)[string], distinct: number): string[] {
  const out: string[] = [];
  let seed = 42;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const pool: string[] = [];
  for (let i = 0; i < distinct; i++) {
    pool.push(shape(2000 + rnd(40), 1 + rnd(12), 1 + rnd(28), rnd(24), rnd(60), rnd(60)));
  }
  for (let i = 0; i < N; i++) out.push(pool[i % distinct] as string);
  return out;
}

function time(values: string[], spec: FieldSpec): { us: number; invalid: number } {
  let invalid = 0;
  for (let i = 0; i < 5_000; i++) normalizeValue(values[i], spec);
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 5; round++) {
    invalid = 0;
    const t = process.hrtime.bigint();
    for (const v of values) if (typeof normalizeValue(v, spec) !== 'string') invalid++;
    best = Math.min(best, Number(process.hrtime.bigint() - t) / 1e3 / values.length);
  }
  return { us: best, invalid };
}

const base: FieldSpec = { source: 'When', type: 'datetime', required: false, transforms: ['trim'] };
const settings: Array<[string, Partial<FieldSpec>]> = [
  ['UTC', {}],
  ['America/New_York', { timezone: 'America/New_York' }],
];
const rows: string[] = [];
for (const [name, shape] of Object.entries(SHAPES)) {
  const dayFirst = name.includes('day-first') ? { dayFirst: true } : {};
  for (const distinct of [N, 100]) {
    const values = cells(shape, distinct);
    const line = settings.map(([zone, extra]) => {
      // A fresh spec per measurement: its memo starts empty.
      const r = time(values, { ...base, ...dayFirst, ...extra });
      return `${zone} ${r.us.toFixed(2)} µs${r.invalid ? ` (${r.invalid} invalid)` : ''}`;
    });
    rows.push(`${name}, ${distinct === N ? 'all distinct' : '100 distinct'}: ${line.join(', ')}`);
  }
}
console.log(rows.join('\n'));
