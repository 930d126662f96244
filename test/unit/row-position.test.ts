import fc from 'fast-check';
import { PartitionMerger } from '../../lambdas/domain/merge';
import { CSV_REPORTS } from '../../lambdas/domain/reconcile';
import { decideRejects } from '../../lambdas/domain/rejects';
import { rejectsHeader, rejectsRow } from '../../lambdas/domain/report';
import {
  PART_STRIDE,
  positionCells,
  positionLabel,
  rowOrdinal,
  rowPosition,
} from '../../lambdas/domain/row-position';

const FILES = ['part-1.csv', 'part-2.csv', 'part-3.csv'];

describe('row positions over a multi-file export', () => {
  it.each([
    ['a single file: the line', 0, 17, undefined, { line: 17 }, '17'],
    ['the first part', 0, 17, FILES, { file: 'part-1.csv', line: 17 }, 'part-1.csv:17'],
    ['the third part', 2, 2, FILES, { file: 'part-3.csv', line: 2 }, 'part-3.csv:2'],
    [
      'the largest line of a part',
      1,
      PART_STRIDE - 1,
      FILES,
      { file: 'part-2.csv', line: PART_STRIDE - 1 },
      `part-2.csv:${PART_STRIDE - 1}`,
    ],
  ])('%s', (_name, part, line, files, position, label) => {
    // Act
    const ordinal = rowOrdinal(part, line);

    // Assess
    expect(rowPosition(ordinal, files)).toEqual(position);
    expect(positionLabel(ordinal, files)).toBe(label);
  });

  it('a safe integer for 2^21 parts, each with up to 2^32 - 1 lines', () => {
    expect(Number.isSafeInteger(rowOrdinal(2 ** 21 - 1, PART_STRIDE - 1))).toBe(true);
  });

  it.each([
    [
      'same version: the later part wins over a greater line of an earlier part',
      [
        [0, 900, 'v1'],
        [1, 2, 'v1'],
      ],
      [1, 2],
    ],
    [
      'same version and part: the greater line wins',
      [
        [1, 5, 'v1'],
        [1, 3, 'v1'],
      ],
      [1, 5],
    ],
    [
      'a newer version wins from an earlier part',
      [
        [0, 2, 'v2'],
        [2, 9, 'v1'],
      ],
      [0, 2],
    ],
  ] as const)('the winner of a key in several parts: %s', (_name, rows, winner) => {
    // Prepare
    const merger = new PartitionMerger();
    for (const [part, line, v] of rows)
      merger.add({ k: 'a', l: rowOrdinal(part, line), v, d: false, i: { id: 'a' } });

    // Act
    const out = merger.finish(new Map(), 'newer-wins', 'run-1');

    // Assess
    expect(out.puts.map((c) => rowPosition(c.line, FILES))).toEqual([
      { file: FILES[winner[0]], line: winner[1] },
    ]);
  });

  it('the winner over parts is the greatest (version, part, line), whatever order the rows arrive in', () => {
    const row = fc.record({
      key: fc.constantFrom('a', 'b', 'c'),
      version: fc.constantFrom('', '2024-01-01', '2024-06-01'),
      part: fc.nat({ max: 4 }),
      line: fc.integer({ min: 2, max: PART_STRIDE - 1 }),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(row, { minLength: 1, maxLength: 40, selector: (r) => `${r.part}:${r.line}` }),
        (rows) => {
          // Act
          const merger = new PartitionMerger();
          for (const r of rows)
            merger.add({ k: r.key, l: rowOrdinal(r.part, r.line), v: r.version, d: false, i: { id: r.key } });
          const won = new Map(
            merger
              .finish(new Map(), 'newer-wins', 'run-1')
              .puts.map((c) => [c.key, rowPosition(c.line, FILES.concat('part-4.csv', 'part-5.csv'))]),
          );

          // Assess: the reference model orders (version, part, line) lexicographically.
          const model = new Map<string, (typeof rows)[number]>();
          for (const r of rows) {
            const m = model.get(r.key);
            const greater =
              m === undefined ||
              r.version > m.version ||
              (r.version === m.version && (r.part > m.part || (r.part === m.part && r.line > m.line)));
            if (greater) model.set(r.key, r);
          }
          expect(won.size).toBe(model.size);
          for (const [key, m] of model) expect(won.get(key)?.line).toBe(m.line);
          for (const [key, m] of model)
            expect(won.get(key)?.file).toBe(FILES.concat('part-4.csv', 'part-5.csv')[m.part]);
        },
      ),
    );
  });
});

describe('reports of a multi-file export name the part of each row', () => {
  const ordinal = rowOrdinal(1, 17);

  it.each([
    [
      'rejects.csv',
      () =>
        rejectsHeader(['Id']) + rejectsRow({ line: 17, reasons: ['missing_key:Id'], raw: '' }, ['Id'], ','),
      'line,reasons,Id\r\n17,missing_key:Id,\r\n',
    ],
    [
      'rejects.csv of parts',
      () =>
        rejectsHeader(['Id'], FILES) +
        rejectsRow({ line: ordinal, reasons: ['missing_key:Id'], raw: '' }, ['Id'], ',', FILES),
      'file,line,reasons,Id\r\npart-2.csv,17,missing_key:Id,\r\n',
    ],
  ])('%s', (_name, render, expected) => {
    expect(render()).toBe(expected);
  });

  it.each([
    [
      'a single file',
      undefined,
      'line,reason,action,value',
      ['17', 'invalid_phone:Phone', 'drop', 'x'],
      '17 18',
      '18',
      'key,action,line',
      ['a', 'update', '17'],
    ],
    [
      'parts',
      FILES,
      'file,line,reason,action,value',
      ['part-2.csv', '17', 'invalid_phone:Phone', 'drop', 'x'],
      'part-2.csv:17 part-2.csv:18',
      'part-2.csv:18',
      'key,action,file,line',
      ['a', 'update', 'part-2.csv', '17'],
    ],
  ] as const)(
    'warnings, duplicates and diff of %s',
    (_name, files, warningsHeader, warning, lines, winner, diffHeader, diff) => {
      // Prepare
      const base = files === undefined ? 17 : ordinal;

      // Act
      const w = CSV_REPORTS.warnings(files);
      const d = CSV_REPORTS.duplicates(files);
      const m = CSV_REPORTS.diff(files);

      // Assess
      expect(w.header).toBe(`${warningsHeader}\r\n`);
      expect(w.cells({ line: base, reason: 'invalid_phone:Phone', action: 'drop', value: 'x' })).toEqual(
        warning,
      );
      expect(d.cells({ key: 'a', lines: [base, base + 1], winner: base + 1 })).toEqual(['a', lines, winner]);
      expect(m.header).toBe(`${diffHeader}\r\n`);
      expect(m.cells({ k: 'a', o: 'put', h: 'x', l: base })).toEqual(diff);
    },
  );

  it('the reject gate names the parts of the lines it shows', () => {
    // Act
    const decision = decideRejects(
      {
        rows: 4,
        rejected: 4,
        reasons: { missing_key: 4 },
        lines: { missing_key: [rowOrdinal(0, 2), ordinal] },
      },
      { maxRejectRatio: 0.1, allowEmptyExport: false, force: false, files: FILES },
    );

    // Assess
    expect(decision.topReasons).toEqual([
      { reason: 'missing_key', count: 4, lines: ['part-1.csv:2', 'part-2.csv:17'] },
    ]);
    expect(decision.reason).toContain('(lines part-1.csv:2, part-2.csv:17)');
  });

  it('positionCells of a single file is the line alone', () => {
    expect(positionCells(17)).toEqual(['17']);
  });
});
