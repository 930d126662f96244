import { estimateRun, maxRowsPerRun } from '../../lambdas/domain/estimate';
import { planLayout, RUN_TIMEOUT_SECONDS } from '../../lambdas/domain/sizing';
import { contactEntity } from './fixtures';

/** The demo config's contact entity cuts 256 KiB chunks (examples/crm-sync.config.json). */
const DEMO = contactEntity({}, { source: { chunkBytes: 262_144 } });
const SIZED = contactEntity();
const SLOW = contactEntity({
  throughput: { mode: 'provisioned', writeCapacityUnits: 1_000, readCapacityUnits: 3_000 },
});

describe('estimate verdict: whether the run can run at all', () => {
  it.each([
    {
      name: 'sized chunks, 10M rows of 400 B: runs in about 70 min',
      entity: SIZED,
      rows: 10_000_000,
      runnable: true,
      errors: [] as RegExp[],
      changes: [] as RegExp[],
    },
    {
      name: '256 KiB chunks, 10M rows: Plan refuses (part reads) and it would pass the 12 h limit',
      entity: DEMO,
      rows: 10_000_000,
      runnable: false,
      errors: [/^Plan refuses this run .*merge part reads/, /would take 125\.7 h, past the execution's 12 h/],
      changes: [/raise source\.chunkBytes/, /raise the table's write throughput/, /split the export/],
    },
    {
      name: 'a 1,000 WCU/s table, 100M rows: past the time limit, the merge is the slow stage',
      entity: SLOW,
      rows: 100_000_000,
      runnable: false,
      errors: [
        /^Plan refuses this run .*merge write rate/,
        /would take 42\.2 h, past the execution's 12 h time limit/,
      ],
      changes: [
        /raise the table's write throughput .*1,000 WCU\/s/,
        /split the export into files of at most/,
      ],
    },
  ])('$name', ({ entity, rows, runnable, errors, changes }) => {
    // Act
    const e = estimateRun({ rows, avgRowBytes: 400, entity });

    // Assess
    expect(e.verdict.runnable).toBe(runnable);
    expect(e.verdict.errors).toEqual(errors.map((re) => expect.stringMatching(re)));
    expect(e.verdict.changes).toEqual(changes.map((re) => expect.stringMatching(re)));
    if (runnable) expect(e.layout.seconds.total).toBeLessThanOrEqual(RUN_TIMEOUT_SECONDS);
  });

  it.each([
    { name: '256 KiB chunks', entity: DEMO },
    { name: 'a 1,000 WCU/s table', entity: SLOW },
  ])('splits the export into runs that fit: $name', ({ entity }) => {
    // Act
    const most = maxRowsPerRun({ rows: 100_000_000, avgRowBytes: 400, entity });

    // Assess
    const layoutOf = (rows: number) =>
      planLayout({ objectBytes: rows * 400, avgRowBytes: 400, rows, entity });
    const fits = (rows: number) => {
      const l = layoutOf(rows);
      return l.seconds.total <= RUN_TIMEOUT_SECONDS && l.checks.every((c) => c.ok || c.kind !== 'quota');
    };
    expect(most).toBeGreaterThan(0);
    expect(fits(most)).toBe(true);
    expect(fits(Math.ceil(most * 1.01))).toBe(false);
  });
});
