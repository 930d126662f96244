import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const REPO = join(__dirname, '..', '..');
const ROWS = 3000;
const PARSERS = ['ours', 'papaparse', 'csvParse', 'udsv'] as const;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function runBench(args: string[]): Run {
  const out = spawnSync(process.execPath, ['--import', 'tsx', join(REPO, 'bench', 'index.ts'), ...args], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: out.status, stdout: out.stdout, stderr: out.stderr };
}

type Json = Record<string, unknown>;

function obj(value: unknown, path: string): Json {
  expect({ path, isObject: typeof value === 'object' && value !== null && !Array.isArray(value) }).toEqual({
    path,
    isObject: true,
  });
  return value as Json;
}

function positive(value: unknown): boolean {
  return typeof value === 'number' && Number.isFinite(value) && value > 0;
}

describe('npm run bench -- --quick', () => {
  // One bench run shared by the assertions below (a few seconds on 2 cores).
  let run: Run;
  let report: Json;

  beforeAll(() => {
    run = runBench(['--quick', '--rows', String(ROWS)]);
    report = run.status === 0 ? (JSON.parse(run.stdout) as Json) : {};
  });

  it('exits 0 and prints exactly one JSON document on stdout, progress on stderr', () => {
    // Prepare: the run above

    // Act
    const parsed = (): unknown => JSON.parse(run.stdout);

    // Assess
    expect({ status: run.status, stderr: run.status === 0 ? '' : run.stderr }).toEqual({
      status: 0,
      stderr: '',
    });
    expect(parsed).not.toThrow();
    expect(run.stdout.trim().startsWith('{')).toBe(true);
    expect(run.stderr).toContain('[bench]');
  });

  it('describes the generated file, the runtime and the settings', () => {
    // Prepare
    const file = obj(report.file, 'file');

    // Act
    const settings = obj(report.settings, 'settings');

    // Assess
    expect(file).toMatchObject({ rows: ROWS, kept: false, columns: 19 });
    expect(positive(file.bytes)).toBe(true);
    expect(typeof file.path).toBe('string');
    expect(obj(file.mapping, 'file.mapping')).toMatchObject({ missingOptional: [] });
    expect(report.node).toBe(process.version);
    expect(positive(report.cpus)).toBe(true);
    expect(settings).toMatchObject({ quick: true, warmup: 0, runs: 1 });
  });

  it('reports every parser with the same row and field counts and positive throughputs', () => {
    // Prepare
    const parse = obj(report.parse, 'parse');

    // Act
    const results = PARSERS.map((name) => obj(parse[name], `parse.${name}`));

    // Assess
    expect(Object.keys(parse).sort()).toEqual([...PARSERS].sort());
    for (const r of results) {
      expect(r.rows).toBe(ROWS);
      expect(r.fields).toBe(ROWS * 19);
      expect([positive(r.mbPerS), positive(r.rowsPerS), positive(r.medianMs)]).toEqual([true, true, true]);
      expect(r.runsMs).toEqual([r.medianMs]);
      expect(typeof r.api).toBe('string');
    }
  });

  it('reports the hot path over the planned chunks with the file’s rows', () => {
    // Prepare
    const hot = obj(report.hotPath, 'hotPath');

    // Act
    const accounted = (hot.candidates as number) + (hot.rejected as number) + (hot.superseded as number);

    // Assess
    expect(hot.rows).toBe(ROWS);
    expect(accounted).toBe(ROWS);
    expect([
      positive(hot.mbPerS),
      positive(hot.rowsPerS),
      positive(hot.chunks),
      positive(hot.chunkBytes),
    ]).toEqual([true, true, true, true]);
    expect(positive(hot.outputChars)).toBe(true);
    expect((hot.runsMs as unknown[]).length).toBe(1);
  });

  it('breaks the hot path into stages that account for its time', () => {
    // Prepare
    const hot = obj(report.hotPath, 'hotPath');
    const stages = obj(hot.stages, 'hotPath.stages');

    // Act
    const ms = obj(stages.ms, 'hotPath.stages.ms') as Record<string, number>;
    const perRow = obj(stages.usPerRow, 'hotPath.stages.usPerRow') as Record<string, number>;

    // Assess
    expect(Object.keys(ms)).toEqual(['split', 'parse', 'map', 'serialize', 'other']);
    for (const stage of ['split', 'parse', 'map', 'serialize']) {
      expect({ stage, positive: positive(ms[stage]) }).toEqual({ stage, positive: true });
      expect(perRow[stage]).toBeCloseTo(((ms[stage] as number) * 1000) / ROWS, 1);
    }
    // The stages map the rows the hot path accepts: the generated file has no oversized cells and
    // the contact entity rejects no orphans, so every row that maps is a candidate or superseded.
    expect(stages.mapped).toBe((hot.candidates as number) + (hot.superseded as number));
    // Each stage is a part of the hot path: none takes longer than the whole (generous: two timings).
    for (const stage of ['split', 'parse', 'map', 'serialize']) {
      expect({ stage, under: (ms[stage] as number) < 2 * (hot.medianMs as number) }).toEqual({
        stage,
        under: true,
      });
    }
  });

  it('runs Plan and the hot path on the gzipped file as on the plain one, in the same run', () => {
    // Prepare
    const gzip = obj(report.gzip, 'gzip');

    // Act
    const [plain, gzipped, decompress] = [
      obj(gzip.plain, 'plain'),
      obj(gzip.gzipped, 'gzipped'),
      obj(gzip.decompress, 'decompress'),
    ];

    // Assess
    expect(gzipped.rows).toBe(ROWS);
    expect(plain.rows).toBe(ROWS);
    expect([positive(gzip.gzipBytes), positive(decompress.mbPerS), positive(gzipped.mbPerS)]).toEqual([
      true,
      true,
      true,
    ]);
    expect(gzip.gzipBytes as number).toBeLessThan(obj(report.file, 'file').bytes as number);
    expect(gzip.slowdown).toBeCloseTo((gzipped.medianMs as number) / (plain.medianMs as number), 2);
  });

  it('reports hot-path memory at two file sizes, the smaller first', () => {
    // Prepare
    const memory = obj(report.memory, 'memory');

    // Act
    const sizes = (memory.sizes as unknown[]).map((s, i) => obj(s, `memory.sizes.${i}`));

    // Assess
    expect(sizes.map((s) => s.rows)).toEqual([ROWS / 4, ROWS]);
    for (const s of sizes) {
      expect([positive(s.peakRssMiB), positive(s.peakHeapUsedMiB), positive(s.baselineRssMiB)]).toEqual([
        true,
        true,
        true,
      ]);
      expect(s.peakRssMiB as number).toBeGreaterThanOrEqual(s.baselineRssMiB as number);
      expect(typeof s.retainedHeapMiB).toBe('number');
    }
    expect([positive(memory.peakRssRatio), positive(memory.peakHeapUsedRatio)]).toEqual([true, true]);
    expect(typeof memory.flat).toBe('boolean');
  });

  it('compares the hot path with the fastest parse-only throughput', () => {
    // Prepare
    const ratios = obj(report.ratios, 'ratios');
    const parse = obj(report.parse, 'parse');
    const hot = obj(report.hotPath, 'hotPath');

    // Act
    const fastest = ratios.fastestParser as (typeof PARSERS)[number];
    const best = Math.max(...PARSERS.map((n) => obj(parse[n], n).mbPerS as number));

    // Assess
    expect(PARSERS).toContain(fastest);
    expect(obj(parse[fastest], fastest).mbPerS).toBe(best);
    expect(ratios.hotPathVsFastestParse).toBeCloseTo((hot.mbPerS as number) / best, 2);
    expect(ratios.target).toBe(0.5);
    expect(ratios.meetsTarget).toBe((ratios.hotPathVsFastestParse as number) >= 0.5);
    // The stages-only figure: our parse-only pass plus the map and serialize stages, against the same best.
    expect(ratios.stagesOnlyVsFastestParse).toBeCloseTo((ratios.stagesOnlyMbPerS as number) / best, 2);
    expect(positive(ratios.stagesOnlyMbPerS)).toBe(true);
  });

  it('rejects a bad option with exit code 2 and no JSON', () => {
    // Prepare
    const args = ['--rows', 'many'];

    // Act
    const bad = runBench(args);

    // Assess
    expect(bad.status).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toContain('--rows must be an integer');
  });
});
