import fc from 'fast-check';
import { ChunkAccumulator, PART_FORMAT, readPartLines, withLostLines } from '../../lambdas/domain/chunk';
import { getEntity, parseConfig } from '../../lambdas/domain/config';
import { bindHeader } from '../../lambdas/domain/mapping';
import { type PartLine, partitionOf } from '../../lambdas/domain/run';

/**
 * The part objects the transform worker hands to the merge: written by ChunkAccumulator.serialize
 * (a header with the field names, one JSON array per winner) and read by readPartLines. What the
 * merge reads must be exactly the winners the worker kept, whatever the cells hold.
 */
const ENTITY = getEntity(
  parseConfig({
    entities: {
      person: {
        target: { key: 'id' },
        fields: {
          id: { source: 'Id', required: true },
          name: { source: 'Name' },
          score: { source: 'Score', type: 'number' },
          active: { source: 'Active', type: 'boolean' },
          modified: { source: 'Modified', type: 'datetime', required: true },
          note: { source: 'Note', default: 'none' },
        },
        updatedAt: 'modified',
        deleteFlag: { source: 'IsDeleted' },
      },
    },
  }),
  'person',
);
// `Note` is absent from the header: every item gets its default.
const COLUMNS = ['Id', 'Name', 'Score', 'Active', 'Modified', 'IsDeleted'];
const csv = (cells: readonly string[]) => cells.map((c) => `"${c.replaceAll('"', '""')}"`).join(',');

/** The winners as the earlier part format listed them: one PartLine object each. */
function expected(acc: ChunkAccumulator): PartLine[] {
  const lost = new Map(acc.duplicates().map((d) => [d.key, d.lines.filter((l) => l !== d.winner)]));
  return [...acc.winners.values()].map((c) => {
    const line: PartLine = { k: c.key, l: c.line, v: c.version, d: c.deleted, i: acc.itemOf(c) };
    const x = lost.get(c.key);
    if (x && x.length > 0) line.x = x;
    return line;
  });
}

function load(rows: ReadonlyArray<readonly string[]>): ChunkAccumulator {
  const acc = new ChunkAccumulator(ENTITY, bindHeader(COLUMNS, ENTITY), ',', 1 << 20);
  rows.forEach((cells, i) => {
    acc.add({ line: i + 2, offset: 0, bytes: Buffer.from(csv(cells)) });
  });
  return acc;
}

describe('part objects (ChunkAccumulator.serialize → readPartLines)', () => {
  it('round-trips every winner: lost lines, deletes, numbers, booleans, absent values, no invented defaults', () => {
    // Prepare
    const acc = load([
      ['a', 'Ada', '1.5', 'true', '2024-01-01T00:00:00Z', 'false'],
      ['a', 'Ada 2', '', 'no', '2024-02-01T00:00:00Z', 'false'],
      ['b', '', '-3', '', '2024-01-01T00:00:00Z', 'true'],
      ['c', '"quoted", ünïcode 😀 \\ /', '0', 'false', '2024-01-01T00:00:00Z', ''],
    ]);

    // Act
    const { parts } = acc.serialize(1);
    const read = readPartLines(parts[0] ?? '');

    // Assess
    expect(parts[0]?.split('\n')[0]).toBe(
      JSON.stringify({
        format: PART_FORMAT,
        fields: ['id', 'name', 'score', 'active', 'modified', 'isDeleted', 'note'].filter(
          (f) => f !== 'isDeleted',
        ),
      }),
    );
    expect(read).toEqual(expected(acc));
    expect(read.find((p) => p.k === 'a')).toMatchObject({
      l: 3,
      x: [2],
      i: { id: 'a', name: 'Ada 2', active: false },
    });
    // `note` has a default, but the file has no column for it: no value is invented.
    expect(read.find((p) => p.k === 'a')?.i).not.toHaveProperty('note');
    expect(read.find((p) => p.k === 'a')?.i).not.toHaveProperty('score');
    expect(read.find((p) => p.k === 'b')).toMatchObject({ d: true, i: { id: 'b' } });
    expect(read.find((p) => p.k === 'c')?.i).toMatchObject({
      name: '"quoted", ünïcode 😀 \\ /',
      score: 0,
      active: false,
    });
  });

  it('spreads winners over partitions by key, with the header in every non-empty part', () => {
    // Prepare
    const acc = load(
      Array.from({ length: 50 }, (_, i) => [
        `k${i}`,
        `n${i}`,
        `${i}`,
        'true',
        '2024-01-01T00:00:00Z',
        'false',
      ]),
    );

    // Act
    const { parts } = acc.serialize(4);

    // Assess
    const read = parts.map((p) => readPartLines(p));
    for (const [p, lines] of read.entries()) for (const l of lines) expect(partitionOf(l.k, 4)).toBe(p);
    expect(read.flat().sort((a, b) => a.l - b.l)).toEqual(expected(acc));
    for (const p of parts) if (p) expect(p.startsWith('{"format":')).toBe(true);
  });

  it('reads any cells back exactly (property)', () => {
    const cell = fc.string({ unit: 'grapheme', maxLength: 12 });
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.constantFrom('k1', 'k2', 'k3'), cell, fc.integer({ min: 1, max: 28 }), fc.boolean()),
          {
            minLength: 1,
            maxLength: 30,
          },
        ),
        (rows) => {
          const acc = load(
            rows.map(([k, name, day, del]) => [
              k,
              name,
              '',
              '',
              `2024-01-${String(day).padStart(2, '0')}T00:00:00Z`,
              del ? 'true' : 'false',
            ]),
          );
          const { parts } = acc.serialize(2);
          const read = parts.flatMap((p) => readPartLines(p)).sort((a, b) => a.l - b.l);
          return JSON.stringify(read) === JSON.stringify(expected(acc).sort((a, b) => a.l - b.l));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('puts the lost lines into a serialized row exactly where serializing the row with them would (property)', () => {
    const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 10 }), fc.string({ unit: 'grapheme' }));
    const value = fc.oneof(text, fc.double(), fc.integer(), fc.boolean(), fc.constant(null));
    fc.assert(
      fc.property(
        fc.record({
          key: text,
          line: fc.nat(),
          version: text,
          deleted: fc.boolean(),
          values: fc.array(value, { maxLength: 8 }),
          lost: fc.array(fc.nat(), { minLength: 1, maxLength: 5 }),
        }),
        ({ key, line, version, deleted, values, lost }) => {
          // Prepare: the row as the accumulator serializes it (no lost lines yet)
          const flag = deleted ? 1 : 0;
          const json = JSON.stringify([key, line, version, flag, null, ...values]);

          // Act
          const out = withLostLines({ key, line, version, deleted, json }, lost);

          // Assess
          return out === JSON.stringify([key, line, version, flag, lost, ...values]);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('refuses to put lost lines into a row that is not the candidate’s', () => {
    const json = JSON.stringify(['a', 2, 'v', 0, null, 'x']);
    expect(() => withLostLines({ key: 'b', line: 2, version: 'v', deleted: false, json }, [1])).toThrow(
      'part row of line 2 does not start with its key',
    );
    expect(() =>
      withLostLines(
        { key: 'a', line: 2, version: 'v', deleted: false, json: json.replace('null', '[]') },
        [1],
      ),
    ).toThrow('does not start with');
  });

  it('still reads format 2 parts (a digest per row): a run resumed after an upgrade', () => {
    // Prepare
    const text = [
      JSON.stringify({ format: 'crm-sync-part/2', fields: ['id', 'name', 'score'] }),
      JSON.stringify(['a', 3, '2024-02-01', 0, 'digest-a', [2], 'a', 'Ada', null]),
      JSON.stringify(['b', 4, '2024-01-01', 1, 'digest-b', null, 'b', null, 7]),
      '',
    ].join('\n');

    // Act
    const read = readPartLines(text);

    // Assess
    expect(read).toEqual([
      { k: 'a', l: 3, v: '2024-02-01', d: false, h: 'digest-a', x: [2], i: { id: 'a', name: 'Ada' } },
      { k: 'b', l: 4, v: '2024-01-01', d: true, h: 'digest-b', i: { id: 'b', score: 7 } },
    ]);
  });

  it('still reads parts in the earliest format (one object per line): a run resumed after an upgrade', () => {
    // Prepare
    const old: PartLine = { k: 'a', l: 2, v: '', d: false, h: 'h', i: { id: 'a' }, x: [1] };

    // Act & Assess
    expect(readPartLines(`${JSON.stringify(old)}\n`)).toEqual([old]);
  });

  it('refuses a part format it does not know, rather than misreading it', () => {
    expect(() => readPartLines('{"format":"crm-sync-part/9","fields":[]}\n["a",2]\n')).toThrow(
      'unknown part format crm-sync-part/9',
    );
  });
});
