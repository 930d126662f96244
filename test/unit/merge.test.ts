import fc from 'fast-check';
import { type Candidate, classify, csvCell, newer } from '../../lambdas/domain/chunk';
import { itemDigest } from '../../lambdas/domain/digest';
import { PartitionMerger, storedContentDigest, storedVersionOf } from '../../lambdas/domain/merge';
import type { PartLine } from '../../lambdas/domain/run';
import { partitionOf } from '../../lambdas/domain/run';

const cand = (over: Partial<Candidate>): Candidate => ({
  key: 'k',
  line: 2,
  version: '2024-01-01T00:00:00.000Z',
  deleted: false,
  item: { id: 'k' },
  digest: 'd1',
  ...over,
});

describe('classify', () => {
  const stored = { version: '2024-01-01T00:00:00.000Z', line: 5, digest: 'd1' };
  it.each([
    ['new key', cand({}), undefined, 'newer-wins', 'put'],
    ['same content', cand({ line: 9 }), stored, 'newer-wins', 'unchanged'],
    [
      'newer content',
      cand({ version: '2025-01-01T00:00:00.000Z', digest: 'd2' }),
      stored,
      'newer-wins',
      'put',
    ],
    [
      'older content',
      cand({ version: '2023-01-01T00:00:00.000Z', digest: 'd2' }),
      stored,
      'newer-wins',
      'superseded',
    ],
    ['same version, lower line', cand({ line: 3, digest: 'd2' }), stored, 'newer-wins', 'superseded'],
    ['same version, higher line', cand({ line: 7, digest: 'd2' }), stored, 'newer-wins', 'put'],
    [
      'older content, upsert',
      cand({ version: '2023-01-01T00:00:00.000Z', digest: 'd2' }),
      stored,
      'upsert',
      'put',
    ],
    ['existing key, insert-only', cand({ digest: 'd2' }), stored, 'insert-only', 'superseded'],
    [
      'delete of a stored key',
      cand({ deleted: true, version: '2025-01-01T00:00:00.000Z' }),
      stored,
      'newer-wins',
      'delete',
    ],
    [
      'older delete',
      cand({ deleted: true, version: '2023-01-01T00:00:00.000Z' }),
      stored,
      'newer-wins',
      'superseded',
    ],
    ['delete of a missing key', cand({ deleted: true }), undefined, 'newer-wins', 'unchanged'],
  ] as const)('%s', (_name, candidate, storedVersion, mode, expected) => {
    // Act
    const decision = classify(candidate, storedVersion, mode);

    // Assess
    expect(decision).toBe(expected);
  });
});

describe('storedVersionOf', () => {
  const content = { id: 'a', updatedAt: '2030-01-01T00:00:00.000Z', name: 'Ada' };
  it.each([
    [
      'an item crm-sync wrote: `_v`, even where its updatedAt attribute was changed by hand',
      { ...content, _v: '2024-04-01T00:00:00.000Z', _line: 3, _run: 'r1', _digest: 'd' },
      { version: '2024-04-01T00:00:00.000Z', line: 3, run: 'r1' },
    ],
    [
      'an item crm-sync did not write: no version, line or run',
      { ...content },
      { version: '', line: 0, run: undefined },
    ],
  ] as const)('%s', (_name, item, expected) => {
    // Act
    const version = storedVersionOf(item);

    // Assess: the digest is of the business attributes only.
    expect(version).toEqual({ ...expected, digest: itemDigest(content) });
    expect(version.digest).toBe(storedContentDigest(item));
  });
});

describe('PartitionMerger', () => {
  const line = (k: string, l: number, v: string, h = `h${l}`, extra: Partial<PartLine> = {}): PartLine => ({
    k,
    l,
    v,
    d: false,
    h,
    i: { id: k },
    ...extra,
  });

  it('digests each winner’s item itself when the part carries no digest (format 3), and only winners', () => {
    // Prepare
    const merger = new PartitionMerger();
    const item = { id: 'a', name: 'Ada', score: 3, active: true };
    merger.add({ k: 'a', l: 2, v: '2024-01-01', d: false, i: { id: 'a', name: 'old' } });
    merger.add({ k: 'a', l: 5, v: '2024-02-01', d: false, i: item });
    merger.add({ k: 'b', l: 7, v: '2024-02-01', d: true, i: { id: 'b' } });
    const stored = new Map([['c', { version: '', line: 1, digest: itemDigest({ id: 'c' }) }]]);
    merger.add({ k: 'c', l: 9, v: '2024-02-01', d: false, i: { id: 'c' } });

    // Act
    const out = merger.finish(stored, 'newer-wins', 'run-1');

    // Assess
    expect(out.puts.map((c) => [c.key, c.digest])).toEqual([['a', itemDigest(item)]]);
    expect(out.merged).toEqual([
      { k: 'a', o: 'put', h: itemDigest(item), l: 5, n: true },
      { k: 'b', o: 'unchanged', h: null, l: 7 },
      { k: 'c', o: 'unchanged', h: itemDigest({ id: 'c' }), l: 9 },
    ]);
  });

  it('picks the newest (updatedAt, line) per key whatever order chunks arrive in, and lists every duplicate line', () => {
    // Prepare
    const merger = new PartitionMerger();

    // Act
    merger.add(line('a', 50, '2024-02-01', 'new', { x: [10] }));
    merger.add(line('a', 20, '2024-01-01', 'old'));
    merger.add(line('b', 30, '2024-01-01'));
    const out = merger.finish(new Map(), 'newer-wins', 'run-1');

    // Assess
    expect(out.puts.map((c) => [c.key, c.line])).toEqual([
      ['a', 50],
      ['b', 30],
    ]);
    expect(out.superseded).toBe(1);
    expect(out.duplicates).toEqual([{ key: 'a', lines: [10, 20, 50], winner: 50 }]);
  });

  it.each([
    ['newer-wins', 'unchanged'],
    ['upsert', 'unchanged'],
    // insert-only calls any stored item superseded: the run's own item must still count applied.
    ['insert-only', 'superseded'],
  ] as const)(
    '%s: counts an item this run already wrote (a retried merge) as applied, another run’s as %s',
    (mode, other) => {
      // Prepare
      const merger = new PartitionMerger();
      merger.add(line('a', 2, '2024-01-01', 'h'));
      const stored = new Map([['a', { version: '2024-01-01', line: 2, digest: 'h', run: 'run-1' }]]);

      // Act
      const sameRun = merger.finish(stored, mode, 'run-1');
      const otherRun = merger.finish(stored, mode, 'run-2');

      // Assess
      expect([sameRun.alreadyApplied, sameRun.unchanged, sameRun.superseded, sameRun.puts.length]).toEqual([
        1, 0, 0, 0,
      ]);
      expect(sameRun.merged).toEqual([{ k: 'a', o: 'put', h: 'h', l: 2 }]);
      expect(otherRun.alreadyApplied).toBe(0);
      expect(otherRun.merged[0]?.o).toBe(other);
    },
  );

  describe('tombstones of deleted keys', () => {
    type Row = { d: boolean; v: string; l: number };
    const T = (v: string, l: number, run: string, removed: boolean) => ({
      version: v,
      line: l,
      run,
      removed,
    });
    const stored = { version: '2024-01-01', line: 1, digest: 'old', run: 'run-0' };

    it.each<
      [
        string,
        Row,
        typeof stored | undefined,
        ReturnType<typeof T> | undefined,
        'newer-wins' | 'upsert' | 'insert-only',
        { decision: string; tombstone?: ReturnType<typeof T> },
      ]
    >([
      [
        'a delete of a stored item leaves a tombstone that says it removed it',
        { d: true, v: '2024-05-01', l: 7 },
        stored,
        undefined,
        'newer-wins',
        { decision: 'delete', tombstone: T('2024-05-01', 7, 'run-1', true) },
      ],
      [
        'an older export does not bring a deleted record back',
        { d: false, v: '2024-03-01', l: 9 },
        undefined,
        T('2024-05-01', 7, 'run-0', true),
        'newer-wins',
        { decision: 'superseded' },
      ],
      [
        'nor does an insert-only run',
        { d: false, v: '2024-03-01', l: 9 },
        undefined,
        T('2024-05-01', 7, 'run-0', true),
        'insert-only',
        { decision: 'superseded' },
      ],
      [
        'a row newer than the delete brings it back',
        { d: false, v: '2024-06-01', l: 2 },
        undefined,
        T('2024-05-01', 7, 'run-0', true),
        'newer-wins',
        { decision: 'put' },
      ],
      [
        'upsert ignores versions, tombstones too',
        { d: false, v: '2024-03-01', l: 9 },
        undefined,
        T('2024-05-01', 7, 'run-0', true),
        'upsert',
        { decision: 'put' },
      ],
      [
        'a delete this run already did (retried merge) counts as deleted, with no write',
        { d: true, v: '2024-05-01', l: 7 },
        undefined,
        T('2024-05-01', 7, 'run-1', true),
        'newer-wins',
        { decision: 'alreadyDeleted' },
      ],
      [
        'a delete of a key never loaded is unchanged, and leaves a tombstone against older rows',
        { d: true, v: '2024-05-01', l: 7 },
        undefined,
        undefined,
        'newer-wins',
        { decision: 'unchanged', tombstone: T('2024-05-01', 7, 'run-1', false) },
      ],
      [
        'the retry of that delete is still unchanged',
        { d: true, v: '2024-05-01', l: 7 },
        undefined,
        T('2024-05-01', 7, 'run-1', false),
        'newer-wins',
        { decision: 'unchanged' },
      ],
      [
        'a delete older than the tombstone changes nothing',
        { d: true, v: '2024-01-01', l: 3 },
        undefined,
        T('2024-05-01', 7, 'run-0', true),
        'newer-wins',
        { decision: 'unchanged' },
      ],
    ])('%s', (_name, row, storedItem, tombstone, mode, expected) => {
      // Prepare
      const merger = new PartitionMerger();
      merger.add({ k: 'a', l: row.l, v: row.v, d: row.d, h: 'new', i: { id: 'a' } });
      const storedMap = new Map(storedItem ? [['a', storedItem]] : []);
      const tombstones = new Map(tombstone ? [['a', tombstone]] : []);

      // Act
      const out = merger.finish(storedMap, mode, 'run-1', tombstones);

      // Assess
      const decision =
        out.puts.length > 0
          ? 'put'
          : out.deletes.length > 0
            ? 'delete'
            : out.alreadyDeleted > 0
              ? 'alreadyDeleted'
              : out.unchanged > 0
                ? 'unchanged'
                : out.superseded > 0
                  ? 'superseded'
                  : 'none';
      expect(decision).toBe(expected.decision);
      expect(out.tombstones).toEqual(expected.tombstone ? [{ key: 'a', tombstone: expected.tombstone }] : []);
      expect(out.puts.length + out.deletes.length + out.alreadyDeleted + out.unchanged + out.superseded).toBe(
        1,
      );
    });
  });

  it('has the same winners and counts for any split of the rows into chunks (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ k: fc.constantFrom('a', 'b', 'c', 'd'), v: fc.constantFrom('1', '2', '3') }), {
          minLength: 1,
          maxLength: 40,
        }),
        fc.array(fc.nat(40), { maxLength: 6 }),
        (rows, cuts) => {
          // Prepare: rows with line numbers; chunk winners by (v, line), like the transform step.
          const lines = rows.map((r, i) => line(r.k, i + 2, r.v, `${r.k}${r.v}${i}`));
          const bounds = [
            0,
            ...[...new Set(cuts)].filter((c) => c < lines.length).sort((a, b) => a - b),
            lines.length,
          ];
          const merger = new PartitionMerger();
          let chunkSuperseded = 0;
          for (let c = bounds.length - 2; c >= 0; c--) {
            const best = new Map<string, PartLine>();
            for (const l of lines.slice(bounds[c], bounds[c + 1])) {
              const cur = best.get(l.k);
              if (cur) chunkSuperseded++;
              if (!cur || newer({ version: l.v, line: l.l }, { version: cur.v, line: cur.l }))
                best.set(l.k, l);
            }
            for (const l of best.values()) merger.add(l);
          }

          // Act
          const out = merger.finish(new Map(), 'newer-wins', 'r');

          // Assess: the reference is the whole file's winner per key.
          const expected = new Map<string, PartLine>();
          for (const l of lines) {
            const cur = expected.get(l.k);
            if (!cur || l.v > cur.v || (l.v === cur.v && l.l > cur.l)) expected.set(l.k, l);
          }
          expect(new Map(out.puts.map((c) => [c.key, c.line]))).toEqual(
            new Map([...expected].map(([k, l]) => [k, l.l])),
          );
          expect(chunkSuperseded + out.superseded + out.puts.length).toBe(lines.length);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('partitionOf and csvCell', () => {
  it('spreads keys over every partition and is stable', () => {
    // Act
    const seen = new Set(Array.from({ length: 2000 }, (_, i) => partitionOf(`003${i}`, 16)));

    // Assess
    expect(seen.size).toBe(16);
    expect(partitionOf('003qP0000002WGpQAM', 16)).toBe(partitionOf('003qP0000002WGpQAM', 16));
  });

  it.each([
    ['=HYPERLINK("http://x","click")', `"'=HYPERLINK(""http://x"",""click"")"`],
    ['+1+1', "'+1+1"],
    ['-5', "'-5"],
    ['@SUM(A1)', "'@SUM(A1)"],
    ['\tx', "'\tx"],
    ['plain, with comma', '"plain, with comma"'],
    ['Zoë 🎉', 'Zoë 🎉'],
  ])('escapes %j for spreadsheets', (input, expected) => {
    // Act / Assess
    expect(csvCell(input)).toBe(expected);
  });
});
