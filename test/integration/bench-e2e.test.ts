import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const REPO = join(__dirname, '..', '..');
const ROWS = 2000;
const PUT_ROWS = 300;

type Json = Record<string, unknown>;

function bench(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const out = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(REPO, 'bench', 'index.ts'), 'e2e', ...args],
    {
      cwd: REPO,
      encoding: 'utf8',
      timeout: 240_000,
    },
  );
  return { status: out.status, stdout: out.stdout, stderr: out.stderr };
}

const positive = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v > 0;

/** A tiny end-to-end comparison: crm-sync local run, the BatchWriteItem baseline and put-per-row. */
describe('npm run bench -- e2e (2,000 rows)', () => {
  let run: ReturnType<typeof bench>;
  let report: Json;

  beforeAll(() => {
    run = bench(['--rows', String(ROWS), '--put-rows', String(PUT_ROWS)]);
    report = run.status === 0 ? (JSON.parse(run.stdout) as Json) : {};
  }, 300_000);

  it('exits 0 with one JSON document on stdout', () => {
    // Assess
    expect({ status: run.status, stderr: run.status === 0 ? '' : run.stderr }).toEqual({
      status: 0,
      stderr: '',
    });
    expect(report.mode).toBe('e2e');
    expect(run.stderr).toContain('[bench e2e]');
  });

  it('crm-sync and the baseline read every row and leave the same number of items', () => {
    // Prepare
    const crm = report.crmSync as Json;
    const baseline = report.baseline as Json;
    const file = report.file as Json;

    // Act
    const dirt = file.dirt as Json;

    // Assess
    expect(file.rows).toBe(ROWS);
    expect(crm).toMatchObject({ status: 'SUCCEEDED', reconciliation: 'MATCHED', rows: ROWS });
    expect(baseline.rowsRead).toBe(ROWS);
    expect(baseline.items).toBe(crm.items);
    expect(crm.items).toBe(dirt.expectedItems);
    expect((crm.counts as Json).applied).toBe(crm.items);
  });

  it('runs put-per-row on the prefix and says it extrapolated', () => {
    // Prepare
    const put = report.putPerRow as Json;

    // Assess
    expect(put).toMatchObject({ rowsRead: PUT_ROWS, subset: true });
    expect(put.items).toBe(put.distinctKeys);
    expect(String(put.note)).toContain(`first ${PUT_ROWS} rows`);
    expect(positive(put.extrapolatedMs)).toBe(true);
    // The plain script's way too: one PutItem at a time, on at most the same prefix.
    const one = report.putPerRowOneAtATime as Json;
    expect(one).toMatchObject({ rowsRead: PUT_ROWS, inFlight: 1, subset: true });
    expect(one.items).toBe(put.items);
    expect((report.ratios as Json).crmSyncVsPutPerRowOneAtATime).toBeCloseTo(
      ((report.crmSync as Json).rowsPerS as number) / (one.rowsPerS as number),
      2,
    );
  });

  it('reports throughput, peak RSS and stage times of each contender, and their ratios', () => {
    // Prepare
    const crm = report.crmSync as Json;
    const ratios = report.ratios as Json;

    // Act
    const stages = crm.stagesMs as Json;

    // Assess
    for (const name of ['crmSync', 'baseline', 'putPerRow', 'putPerRowOneAtATime']) {
      const c = report[name] as Json;
      const memory = c.memory as Json;
      expect([positive(c.rowsPerS), positive(c.mbPerS), positive(memory.peakTreeRssMiB)]).toEqual([
        true,
        true,
        true,
      ]);
      // The anonymous part (heaps, buffers) is a part of the resident set, never more.
      expect(positive(memory.peakTreeAnonMiB)).toBe(true);
      expect(memory.peakTreeAnonMiB as number).toBeLessThanOrEqual(memory.peakTreeRssMiB as number);
      // Each process's own peaks: the contender itself ('main') and its dynalite, none above the tree's.
      const perProcess = memory.perProcess as Json[];
      expect(perProcess.map((p) => p.role)).toEqual(expect.arrayContaining(['dynalite', 'main']));
      for (const p of perProcess) {
        expect(positive(p.peakRssMiB)).toBe(true);
        expect(p.peakRssMiB as number).toBeLessThanOrEqual(memory.peakTreeRssMiB as number);
      }
    }
    expect(Object.keys(stages)).toEqual([
      'startAndUpload',
      'plan',
      'transform',
      'merge',
      'reconcile',
      'reportsAndShutdown',
    ]);
    for (const v of Object.values(stages)) expect(typeof v).toBe('number');
    expect(ratios.crmSyncVsBaseline).toBeCloseTo(
      (crm.rowsPerS as number) / ((report.baseline as Json).rowsPerS as number),
      2,
    );
    expect(typeof ratios.meetsBaselineGoal).toBe('boolean');
    expect(report.machine).toMatchObject({ node: process.version });
  });

  it('rejects a bad option with exit code 2 and no JSON', () => {
    // Act
    const bad = bench(['--rows', 'many']);

    // Assess
    expect(bad.status).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toContain('--rows must be an integer');
  });
});
