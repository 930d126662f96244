import fc from 'fast-check';
import { ChunkAccumulator } from '../../lambdas/domain/chunk';
import { getEntity, parseConfig } from '../../lambdas/domain/config';
import { bindHeader, mapRecord } from '../../lambdas/domain/mapping';
import type { Value } from '../../lambdas/domain/normalize';
import { referenceMapRecord } from './reference/mapping-before';

/**
 * The transform worker keeps each row's values in its part row (mapValues) instead of an item
 * object. mapRecord (now built on mapValues) and the part rows the worker writes must say exactly
 * what the item-per-row code said, for any row: valid, invalid, ragged, deleted, with absent cells
 * and defaults.
 */
const ENTITY = getEntity(
  parseConfig({
    entities: {
      person: {
        target: { key: 'id' },
        fields: {
          id: { source: 'Id', required: true, transforms: ['trim'] },
          name: { source: 'Name', transforms: ['trim', 'collapseSpaces'], required: true },
          email: { source: 'Email', type: 'email' },
          phone: { source: 'Phone', type: 'phone', region: 'US' },
          score: { source: 'Score', type: 'number' },
          rank: { source: 'Rank', type: 'integer' },
          active: { source: 'Active', type: 'boolean', default: false },
          born: { source: 'Born', type: 'date' },
          tier: { source: 'Tier', type: 'enum', values: ['Gold', 'Silver'] },
          modified: { source: 'Modified', type: 'datetime', required: true },
          // Not in the header: every row reads it as absent, so its default applies.
          region: { source: 'Region', default: 'EMEA' },
          note: { source: 'Note' },
        },
        updatedAt: 'modified',
        deleteFlag: { source: 'IsDeleted', values: ['true', '1'] },
      },
    },
  }),
  'person',
);
// Columns in another order than the config, and one the mapping does not use.
const COLUMNS = [
  'Modified',
  'Id',
  'Unused',
  'Name',
  'Email',
  'Phone',
  'Score',
  'Rank',
  'Active',
  'Born',
  'Tier',
  'IsDeleted',
];
const BINDING = bindHeader(COLUMNS, ENTITY);

const anyText = fc.oneof(fc.string({ maxLength: 8 }), fc.string({ unit: 'grapheme', maxLength: 6 }));
/** Mostly the listed cells (valid and invalid ones of the type), sometimes any text. */
const cell = (...values: string[]) =>
  fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...values) }, { weight: 1, arbitrary: anyText });
const cellByColumn: Record<string, fc.Arbitrary<string>> = {
  Modified: cell('2024-01-02T03:04:05Z', '2024-02-30', '1/2/2024 1:05 PM', '', ' '),
  Id: cell('a', ' b ', 'c', '', '  '),
  Unused: anyText,
  Name: cell('Ada  Lovelace', ' x ', '', '\u00a0'),
  Email: cell('A@B.co', 'bad@', ' ', 'x@y.z1'),
  Phone: cell('(415) 555-2671', '+44 20 7946 0958', '12', 'abc'),
  Score: cell('1,234.5', '-0', '1e3', 'NaN', ''),
  Rank: cell('7', '7.5', '9007199254740993', ''),
  Active: cell('yes', 'N', 'maybe', ''),
  Born: cell('2000-02-29', '1999-02-29', ''),
  Tier: cell('gold', 'SILVER', 'bronze', ''),
  IsDeleted: cell('true', ' 1 ', 'false', ''),
};
const row = fc.tuple(...COLUMNS.map((c) => cellByColumn[c] as fc.Arbitrary<string>));
// Sometimes ragged: a cell short or one too many.
const cells = fc.oneof(
  { weight: 8, arbitrary: row.map((r) => [...r]) },
  { weight: 1, arbitrary: row.map((r) => r.slice(0, -1)) },
  { weight: 1, arbitrary: row.map((r) => [...r, 'extra']) },
);

describe('mapping without an item object per row equals the item-per-row code', () => {
  it('mapRecord: same result (item, key, updatedAt, deleted, reasons in order) for any row', () => {
    fc.assert(
      fc.property(cells, (fields) => {
        expect(mapRecord(fields, BINDING, ENTITY)).toEqual(referenceMapRecord(fields, BINDING, ENTITY));
      }),
      { numRuns: 20_000 },
    );
  });

  it('the part rows the worker writes hold each winner’s item values in field order (null: absent)', () => {
    let withWinners = 0;
    fc.assert(
      fc.property(fc.array(cells, { minLength: 1, maxLength: 20 }), (rows) => {
        // Prepare
        const acc = new ChunkAccumulator(ENTITY, BINDING, ',', 1 << 20);
        const csv = (r: string[]) => r.map((c) => `"${c.replaceAll('"', '""')}"`).join(',');
        rows.forEach((r, i) => {
          acc.add({ line: i + 2, offset: 0, bytes: Buffer.from(csv(r)) });
        });

        // Act
        const parts = acc.serialize(1).parts[0] ?? '';

        // Assess: what the item-per-row code wrote for the same winners.
        const [header, ...lines] = parts.split('\n').filter((l) => l !== '');
        if (acc.winners.size === 0) return parts === '';
        withWinners++;
        const fieldNames = (JSON.parse(header ?? '{}') as { fields: string[] }).fields;
        const lost = new Map(acc.duplicates().map((d) => [d.key, d.lines.filter((l) => l !== d.winner)]));
        const expected = [...acc.winners.values()].map((c) => {
          const cellsOfWinner = rows[c.line - 2] ?? [];
          const mapped = referenceMapRecord(cellsOfWinner, BINDING, ENTITY);
          if (!mapped.ok) throw new Error(`line ${c.line} won but the reference rejects it`);
          const item: Record<string, Value> = mapped.item;
          return [
            mapped.key,
            c.line,
            mapped.updatedAt ?? '',
            mapped.deleted ? 1 : 0,
            lost.get(c.key) ?? null,
            ...fieldNames.map((f) => item[f] ?? null),
          ];
        });
        expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual(expected);
        return true;
      }),
      { numRuns: 2_000 },
    );
    // The generator must reach the interesting case, not only chunks where every row is rejected.
    expect(withWinners).toBeGreaterThan(500);
  });
});
