/**
 * `npx tsx bench/phones.ts [--cells N] [--runs N]`: the cost of a phone cell on the mapping's per-row
 * path (mapValues), per phone setting, on N generated cells (default 100,000) in the shapes exports
 * hold: NANP numbers written `1-572-069-1592`, `(650) 253-0000`, `650.253.0000`, international
 * `+44 20 7946 0958`, one in twenty with an extension, and a country column (`US`, `United States`,
 * `USA`, `Germany`, `United Kingdom`, empty; and one that always names the US).
 *
 * Each case maps the same rows through a one-field entity (id + phone) and reports the fastest of
 * --runs timed passes (interleaved with the other cases, after one warm-up each: the fastest is the
 * least disturbed by other work on a shared machine) minus the same pass with the phone field replaced by a
 * string field: µs per phone cell. One JSON document goes to stdout.
 */
import { parseArgs } from 'node:util';
import { type EntityConfig, parseConfig } from '../lambdas/domain/config';
import { bindHeader, mapValues } from '../lambdas/domain/mapping';
import type { Scalar } from '../lambdas/domain/normalize';

const { values: args } = parseArgs({
  options: { cells: { type: 'string', default: '100000' }, runs: { type: 'string', default: '7' } },
});
const CELLS = Number(args.cells);
const RUNS = Number(args.runs);

/** A deterministic generator (no Math.random: runs compare the same cells). */
let seed = 20261201;
function next(n: number): number {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return seed % n;
}
const d = (count: number) => Array.from({ length: count }, () => String(next(10))).join('');
const area = () => `${2 + next(8)}${d(2)}`;

function phoneCell(): string {
  const shape = next(20);
  const ext = next(20) === 0 ? ` x${d(1 + next(4))}` : '';
  if (shape < 8) return `1-${d(3)}-${d(3)}-${d(4)}${ext}`; // the Salesforce sample's shape
  if (shape < 14) return `(${area()}) ${area()}-${d(4)}${ext}`;
  if (shape < 17) return `${area()}.${area()}.${d(4)}${ext}`;
  if (shape < 19) return `+44 20 ${d(4)} ${d(4)}${ext}`;
  return `+49 30 ${d(8)}${ext}`;
}
const COUNTRIES = ['US', 'United States', 'USA', 'Germany', 'United Kingdom', ''];
/** A country column that always names the default region: the lookup's cost alone, same phone work. */
const US_NAMES = ['US', 'United States', 'USA', 'usa', 'United States of America'];

const rows: string[][] = Array.from({ length: CELLS }, (_, i) => [
  `id${i}`,
  phoneCell(),
  COUNTRIES[next(COUNTRIES.length)] as string,
  US_NAMES[next(US_NAMES.length)] as string,
]);
const HEADER = ['Id', 'Phone', 'Country', 'UsCountry'];

function entityOf(phone: Record<string, unknown>): EntityConfig {
  const config = parseConfig({
    entities: { people: { target: { key: 'id' }, fields: { id: { source: 'Id', required: true }, phone } } },
  });
  return config.entities['people'] as EntityConfig;
}

function timePass(entity: EntityConfig): { ms: number; accepted: number } {
  const binding = bindHeader(HEADER, entity);
  const out: Array<Scalar | number[] | null> = [];
  let accepted = 0;
  const start = process.hrtime.bigint();
  for (const row of rows) {
    out.length = 0;
    if (mapValues(row, binding, entity, out).ok) accepted++;
  }
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, accepted };
}

const CASES: Array<[string, Record<string, unknown>]> = [
  ['string (no phone work: the floor)', { source: 'Phone' }],
  ['phone, validity valid (default)', { source: 'Phone', type: 'phone', region: 'US' }],
  ['phone, validity possible', { source: 'Phone', type: 'phone', region: 'US', validity: 'possible' }],
  [
    'phone, validity possible, regionFrom Country',
    { source: 'Phone', type: 'phone', region: 'US', validity: 'possible', regionFrom: 'Country' },
  ],
  [
    'phone, validity valid, regionFrom UsCountry (always US: the lookup alone)',
    { source: 'Phone', type: 'phone', region: 'US', regionFrom: 'UsCountry' },
  ],
  [
    'phone, validity valid, regionFrom Country',
    { source: 'Phone', type: 'phone', region: 'US', regionFrom: 'Country' },
  ],
];

const entities = CASES.map(([, phone]) => entityOf(phone));
for (const entity of entities) timePass(entity); // warm-up: plans compiled, memos filled
// Interleaved: run r times every case once, so drift in the machine's load spreads over all cases.
const times: number[][] = CASES.map(() => []);
const accepted: number[] = CASES.map(() => 0);
for (let r = 0; r < RUNS; r++) {
  entities.forEach((entity, i) => {
    const pass = timePass(entity);
    times[i]?.push(pass.ms);
    accepted[i] = pass.accepted;
  });
}
const floor = Math.min(...(times[0] ?? []));
const results: Record<string, { msPerPass: number; usPerCell: number; accepted: number }> = {};
CASES.forEach(([name], i) => {
  const ms = Math.min(...(times[i] ?? []));
  results[name] = {
    msPerPass: Math.round(ms * 10) / 10,
    usPerCell: Math.round(((ms - floor) * 1000 * 1000) / CELLS) / 1000,
    accepted: accepted[i] ?? 0,
  };
});
process.stdout.write(
  `${JSON.stringify({ cells: CELLS, runs: RUNS, node: process.version, results }, null, 2)}\n`,
);
