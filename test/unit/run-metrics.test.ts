import { METRIC, runMetrics } from '../../lambdas/domain/run-metrics';

const counts = { rows: 0, applied: 0, unchanged: 0, superseded: 0, deleted: 0, rejected: 0 };
const check = (ok: boolean) => ({ name: ok ? 'rows-read' : 'accounting', ok, detail: '' });

describe('runMetrics', () => {
  it.each([
    ['an empty file', { ...counts }, [check(true)], 0, { ratio: 0, mismatches: 0 }],
    [
      'a file with a tenth rejected',
      { ...counts, rows: 10, rejected: 1, applied: 9 },
      [check(true)],
      0,
      { ratio: 0.1, mismatches: 0 },
    ],
    [
      'every row rejected',
      { ...counts, rows: 4, rejected: 4 },
      [check(true)],
      0,
      { ratio: 1, mismatches: 0 },
    ],
    [
      'two failed checks, three keys',
      { ...counts, rows: 5, applied: 5 },
      [check(false), check(true), check(false)],
      3,
      { ratio: 0, mismatches: 2 },
    ],
  ])('%s', (_what, c, checks, mismatchedKeyCount, expected) => {
    // Act
    const values = Object.fromEntries(
      runMetrics({
        counts: c,
        durationMs: 1234,
        reconciliation: {
          status: 'MATCHED',
          checks,
          verifiedKeys: 0,
          mismatchedKeys: [],
          mismatchedKeyCount,
        },
      }).map((m) => [m.name, m.value]),
    );

    // Assess
    expect(values).toEqual({
      [METRIC.rows]: c.rows,
      [METRIC.applied]: c.applied,
      [METRIC.rejected]: c.rejected,
      [METRIC.rejectRatio]: expected.ratio,
      [METRIC.duration]: 1234,
      [METRIC.mismatches]: expected.mismatches,
      [METRIC.mismatchedKeys]: mismatchedKeyCount,
    });
  });
});
