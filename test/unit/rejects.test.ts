import fc from 'fast-check';
import { parseConfigText } from '../../lambdas/domain/config';
import { ConfigError } from '../../lambdas/domain/errors';
import {
  decideRejects,
  REJECT_LINES_SHOWN,
  type RejectCounts,
  reasonLines,
  sumRejectCounts,
} from '../../lambdas/domain/rejects';
import { forcedRerun } from '../../lambdas/domain/run';

function counts(rows: number, rejected: number, reasons: Record<string, number> = {}): RejectCounts {
  return { rows, rejected, reasons, lines: {} };
}

const LIMIT = { maxRejectRatio: 0.1, allowEmptyExport: false, force: false };
const LIMIT_OF = (options: Partial<typeof LIMIT>) => ({ ...LIMIT, ...options, force: false });

describe('decideRejects', () => {
  it.each<[string, RejectCounts, Partial<typeof LIMIT>, boolean, string | undefined]>([
    ['no rejects', counts(100, 0), {}, true, undefined],
    ['the demo file: 126 of 3,000 (4.2 %)', counts(3000, 126), {}, true, undefined],
    ['just under the limit', counts(1000, 99), {}, true, undefined],
    ['at the limit (10 of 100)', counts(100, 10), {}, true, undefined],
    ['just over the limit (11 of 100)', counts(100, 11), {}, false, 'RejectLimitError'],
    ['over the limit, forced', counts(100, 11), { force: true }, true, undefined],
    ['no rejects, forced (nothing to override)', counts(100, 0), { force: true }, true, undefined],
    ['every row rejected', counts(22, 22), {}, false, 'RejectLimitError'],
    [
      'every row rejected with maxRejectRatio 1',
      counts(22, 22),
      { maxRejectRatio: 1 },
      false,
      'RejectLimitError',
    ],
    ['every row rejected, forced', counts(22, 22), { force: true }, true, undefined],
    ['the one row rejected', counts(1, 1), { maxRejectRatio: 1 }, false, 'RejectLimitError'],
    [
      'maxRejectRatio 0: one reject refuses',
      counts(1000, 1),
      { maxRejectRatio: 0 },
      false,
      'RejectLimitError',
    ],
    ['maxRejectRatio 0: no reject passes', counts(1000, 0), { maxRejectRatio: 0 }, true, undefined],
    ['maxRejectRatio 1: all but one rejected passes', counts(3, 2), { maxRejectRatio: 1 }, true, undefined],
    ['no data row', counts(0, 0), {}, false, 'EmptyExportError'],
    ['no data row, allowEmptyExport', counts(0, 0), { allowEmptyExport: true }, true, undefined],
    ['no data row, forced', counts(0, 0), { force: true }, true, undefined],
  ])('%s', (_name, input, options, allowed, error) => {
    // Prepare: force is said only where it overrode a refusal
    const forced = options.force === true && decideRejects(input, LIMIT_OF(options)).allowed === false;

    // Act
    const decision = decideRejects(input, { ...LIMIT, ...options });

    // Assess
    expect(decision.allowed).toBe(allowed);
    expect(decision.error).toBe(error);
    expect(decision.reason === undefined).toBe(allowed);
    expect(decision.forced).toBe(forced);
    expect(decision).toMatchObject({ rows: input.rows, rejected: input.rejected });
  });

  it('names rows, rejects, the share against the limit, the top reasons with counts and lines, and --force', () => {
    // Prepare
    const input: RejectCounts = {
      rows: 22,
      rejected: 22,
      reasons: { invalid_email: 20, missing_required: 4, bad_phone: 4 },
      lines: { invalid_email: [2, 3, 4], missing_required: [7, 9], bad_phone: [5] },
    };

    // Act
    const decision = decideRejects(input, LIMIT);

    // Assess
    expect(decision.reason).toBe(
      '22 of 22 rows rejected (100%), every row: nothing was written; top reasons: invalid_email ×20 (lines 2, 3, 4); ' +
        'bad_phone ×4 (lines 5); missing_required ×4 (lines 7, 9); see rejects.csv, fix the file or the config, ' +
        'or run again with --force to load the valid rows',
    );
    expect(decision.topReasons.map((r) => r.reason)).toEqual([
      'invalid_email',
      'bad_phone',
      'missing_required',
    ]);
    expect(decision.ratio).toBe(1);
  });

  it('says which limit a file over the ratio passes', () => {
    // Act
    const decision = decideRejects(counts(200, 50, { invalid_date: 50 }), { ...LIMIT, maxRejectRatio: 0.2 });

    // Assess
    expect(decision.reason).toContain('50 of 200 rows rejected (25%), above maxRejectRatio 20%');
    expect(decision.reason).toContain('invalid_date ×50');
  });

  it('shows at most five reasons', () => {
    // Prepare
    const reasons = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`r${i}`, 10 - i]));

    // Act
    const decision = decideRejects(counts(60, 60, reasons), LIMIT);

    // Assess
    expect(decision.topReasons.map((r) => r.reason)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
    expect(decision.reason).not.toContain('r5');
  });

  it('property: refused exactly when rows > 0 and (all rejected or the share passes the limit), or rows = 0; never when forced', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.boolean(),
        fc.boolean(),
        (rows, share, maxRejectRatio, force, allowEmptyExport) => {
          const rejected = Math.round(rows * share);
          const decision = decideRejects(counts(rows, rejected), { maxRejectRatio, allowEmptyExport, force });
          const refused =
            rows === 0 ? !allowEmptyExport : rejected === rows || rejected / rows > maxRejectRatio;
          expect(decision.allowed).toBe(force || !refused);
        },
      ),
    );
  });
});

describe('reasonLines and sumRejectCounts', () => {
  it('keeps the first lines of each reason code (the part before ":"), each line once', () => {
    // Prepare
    const rejects = [
      { line: 2, reasons: ['field_too_large:Email', 'invalid_email:Email'] },
      { line: 3, reasons: ['invalid_email:Email'] },
      { line: 5, reasons: ['invalid_email:Email', 'invalid_email:Other'] },
      { line: 8, reasons: ['invalid_email:Email'] },
      { line: 9, reasons: ['invalid_email:Email'] },
    ];

    // Act
    const lines = reasonLines(rejects);

    // Assess
    expect(lines).toEqual({ field_too_large: [2], invalid_email: [2, 3, 5] });
  });

  it('adds up the chunks and keeps the file’s first lines per reason, in any chunk order', () => {
    // Prepare
    const chunks: Parameters<typeof sumRejectCounts>[0] = [
      { rows: 10, rejected: 3, topReasons: { a: 3 }, reasonLines: { a: [15, 16, 17] } },
      { rows: 10, rejected: 2, topReasons: { a: 1, b: 1 }, reasonLines: { a: [4], b: [9] } },
      // a chunk recorded before reasonLines existed
      { rows: 5, rejected: 1, topReasons: { b: 1 } },
    ];

    // Act
    const sum = sumRejectCounts(chunks);

    // Assess
    expect(sum).toEqual({
      rows: 25,
      rejected: 6,
      reasons: { a: 4, b: 2 },
      lines: { a: [4, 15, 16], b: [9] },
    });
    expect(sum.lines.a).toHaveLength(REJECT_LINES_SHOWN);
  });

  it('sums nothing to an empty file', () => {
    expect(sumRejectCounts([])).toEqual({ rows: 0, rejected: 0, reasons: {}, lines: {} });
  });
});

describe('forcedRerun (the run id of a forced run)', () => {
  it.each([
    [{}, undefined],
    [{ force: true }, 'force'],
    [{ forceDeletes: true }, 'force-deletes'],
    [{ force: true, forceDeletes: true }, 'force+force-deletes'],
    [{ rerun: 'r1', force: true }, 'r1'],
  ])('%j → %s', (options, expected) => {
    expect(forcedRerun(options)).toBe(expected);
  });
});

describe('config: maxRejectRatio, allowEmptyExport', () => {
  const entity = (extra: Record<string, unknown>) =>
    JSON.stringify({
      entities: {
        contact: { target: { key: 'id' }, fields: { id: { source: 'Id', required: true } }, ...extra },
      },
    });

  it('defaults to 0.1 and false', () => {
    // Act
    const contact = parseConfigText(entity({})).entities.contact;

    // Assess
    expect(contact).toMatchObject({ maxRejectRatio: 0.1, allowEmptyExport: false });
  });

  it.each([
    [{ maxRejectRatio: 1.5 }, 'entities.contact.maxRejectRatio'],
    [{ maxRejectRatio: -0.1 }, 'entities.contact.maxRejectRatio'],
    [{ maxRejectRatio: '10%' }, 'entities.contact.maxRejectRatio'],
    [{ allowEmptyExport: 'yes' }, 'entities.contact.allowEmptyExport'],
  ])('%j is refused by path', (extra, path) => {
    // Act
    const parse = () => parseConfigText(entity(extra));

    // Assess
    expect(parse).toThrow(ConfigError);
    try {
      parse();
    } catch (err) {
      expect((err as ConfigError).issues.join('\n')).toContain(path);
    }
  });
});
