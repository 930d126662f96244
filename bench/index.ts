/**
 * `npm run bench`: parse-only throughput of four CSV parsers and the transform worker's hot path on one
 * generated Salesforce-style Contact export, plus Plan and the hot path on the gzipped file against the
 * plain one, and hot-path memory at two file sizes.
 *
 *   npm run bench -- [--rows N] [--quick] [--out file.json] [--chunk-bytes N] [--runs N] [--warmup N] [--keep]
 *   npm run bench -- e2e [...]   the end-to-end comparison with a baseline load (bench/e2e.ts)
 *
 * --rows       data rows of the generated file (default 200,000 ≈ 55 MB; --quick: 20,000)
 * --quick      1 measured run, no warm-up, 20,000 rows unless --rows says otherwise
 * --chunk-bytes  chunk size of the hot path (default: the contact entity's source.chunkBytes)
 * --keep       keep the generated files (default: the temp dir is removed at the end)
 *
 * One JSON document goes to stdout (and to --out); progress goes to stderr. Fails (exit 1) when the
 * parsers disagree on the rows or fields of the file, or the hot path reads other rows than the plan.
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { measureGzip } from './compressed';
import { type Dataset, generateDataset, makeWorkDir, prefixOf, removeWorkDir } from './dataset';
import { e2eMain } from './e2e';
import {
  type HotPathJob,
  loadEntity,
  mappingCoverage,
  planJob,
  runHotPath,
  runStages,
  type StageTimes,
} from './hot-path';
import {
  type CaseResult,
  collectGarbage,
  HIGH_WATER_MARK,
  MB,
  measure,
  median,
  type RunPlan,
  round,
} from './measure';
import { measureMemory } from './memory';
import { PARSERS, type ParserName } from './parsers';

export const DEFAULT_ROWS = 200_000;
export const QUICK_ROWS = 20_000;
/** Product target: the hot path runs at least at half the fastest parse-only throughput. */
export const TARGET_RATIO = 0.5;

export interface BenchOptions {
  rows: number;
  quick: boolean;
  out: string | undefined;
  chunkBytes: number | undefined;
  keep: boolean;
  plan: RunPlan;
}

const USAGE =
  'usage: npm run bench -- [--rows N] [--quick] [--out file.json] [--chunk-bytes N] [--runs N] [--warmup N] [--keep]';

function positiveInt(name: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min) throw new RangeError(`--${name} must be an integer >= ${min}`);
  return n;
}

export function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      rows: { type: 'string' },
      quick: { type: 'boolean', default: false },
      out: { type: 'string' },
      'chunk-bytes': { type: 'string' },
      runs: { type: 'string' },
      warmup: { type: 'string' },
      keep: { type: 'boolean', default: false },
    },
  });
  const quick = values.quick;
  return {
    rows: positiveInt('rows', values.rows, 8) ?? (quick ? QUICK_ROWS : DEFAULT_ROWS),
    quick,
    out: values.out,
    chunkBytes: positiveInt('chunk-bytes', values['chunk-bytes'], 1024),
    keep: values.keep,
    plan: {
      warmup: positiveInt('warmup', values.warmup, 0) ?? (quick ? 0 : 1),
      runs: positiveInt('runs', values.runs, 1) ?? (quick ? 1 : 3),
    },
  };
}

/** runStages warmup + runs times (GC before each); the median of each stage over the measured runs. */
async function measureStages(
  job: HotPathJob,
  plan: RunPlan,
  log: (line: string) => void,
): Promise<StageTimes> {
  const runs: StageTimes[] = [];
  for (let i = 0; i < plan.warmup + plan.runs; i++) {
    collectGarbage();
    const times = await runStages(job);
    if (i >= plan.warmup) runs.push(times);
    log(
      `stages: split ${times.splitMs.toFixed(0)} ms, parse ${times.parseMs.toFixed(0)} ms, map ${times.mapMs.toFixed(0)} ms, serialize ${times.serializeMs.toFixed(0)} ms`,
    );
  }
  const last = runs[runs.length - 1];
  if (!last) throw new RangeError('stages: no runs');
  return {
    splitMs: median(runs.map((r) => r.splitMs)),
    parseMs: median(runs.map((r) => r.parseMs)),
    mapMs: median(runs.map((r) => r.mapMs)),
    serializeMs: median(runs.map((r) => r.serializeMs)),
    fieldMs: Object.fromEntries(
      Object.keys(last.fieldMs).map((f) => [f, median(runs.map((r) => r.fieldMs[f] ?? 0))]),
    ),
    rows: last.rows,
    mapped: last.mapped,
  };
}

/**
 * Where the hot path's time goes: each stage timed on its own (runStages), in ms and µs per data row
 * of the file. The stages run as separate passes over a chunk, the hot path interleaves them per row
 * (a row is serialized while its values are still in the caches, which is cheaper than a pass of its
 * own), so `other`, the hot path's median less the stages' medians (taken in other runs), is the
 * accumulator's glue (dedupe, candidates, rejects, the size check, the lost lines, per-chunk set-up)
 * less what interleaving saves: a rough figure, near zero or even negative.
 */
function stageReport(stages: StageTimes, hotMs: number, rows: number): Record<string, unknown> {
  const ms = {
    split: stages.splitMs,
    parse: stages.parseMs,
    map: stages.mapMs,
    serialize: stages.serializeMs,
  };
  const sum = ms.split + ms.parse + ms.map + ms.serialize;
  const all = { ...ms, other: hotMs - sum };
  return {
    what: 'each stage timed on its own, as a pass over each chunk (median of the runs); other: the hot path median less the stages (glue less what interleaving the stages per row saves)',
    ms: Object.fromEntries(Object.entries(all).map(([k, v]) => [k, round(v, 1)])),
    usPerRow: Object.fromEntries(Object.entries(all).map(([k, v]) => [k, round((v * 1000) / rows, 2)])),
    share: Object.fromEntries(Object.entries(all).map(([k, v]) => [k, round(v / hotMs, 3)])),
    mapUsPerRowByField: Object.fromEntries(
      Object.entries(stages.fieldMs).map(([f, v]) => [f, round((v * 1000) / rows, 3)]),
    ),
    mapped: stages.mapped,
  };
}

/**
 * Roughly the best the hot path could do with today's parser, mapping and serialization and no glue
 * at all: our parse-only pass (one stream over the file) plus the map and serialize stages (timed per
 * chunk). If even that stays far under the target, the target needs those stages faster, not the
 * glue between them.
 */
function stagesOnly(
  stages: StageTimes,
  parseOnlyMs: number,
  bytes: number,
  fastestMbPerS: number,
): { stagesOnlyMbPerS: number; stagesOnlyVsFastestParse: number } {
  const ms = parseOnlyMs + stages.mapMs + stages.serializeMs;
  const mbPerS = bytes / MB / (ms / 1000);
  return { stagesOnlyMbPerS: round(mbPerS), stagesOnlyVsFastestParse: round(mbPerS / fastestMbPerS, 3) };
}

function progress(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

type ParseReport = Record<ParserName, CaseResult & { api: string }>;

export async function runBench(options: BenchOptions): Promise<Record<string, unknown>> {
  const dir = await makeWorkDir();
  try {
    progress(`generating ${options.rows} rows in ${dir}`);
    const file = await generateDataset(dir, options.rows);
    progress(`${file.bytes} bytes in ${file.generateMs} ms`);

    const entity = loadEntity();
    const chunkBytes = options.chunkBytes ?? entity.source.chunkBytes ?? 8 * 1024 * 1024;
    const job = await planJob(file.path, entity, chunkBytes);
    if (job.plan.rows !== file.rows) {
      throw new Error(`planChunks counted ${job.plan.rows} data rows, the generator wrote ${file.rows}`);
    }
    const coverage = mappingCoverage(job);
    if (coverage.mappedFields !== coverage.configuredFields || coverage.missingOptional.length > 0) {
      throw new Error(
        `the generated columns do not cover the contact mapping: missing ${coverage.missingOptional.join(', ')}`,
      );
    }

    const parse = {} as ParseReport;
    for (const parser of PARSERS) {
      const result = await measure(
        parser.name,
        file.bytes,
        options.plan,
        () => parser.pass(file.path),
        progress,
      );
      parse[parser.name] = { ...result, api: parser.api };
    }
    const expectedFields = file.rows * job.columns.length;
    const disagree = PARSERS.filter(
      (p) => parse[p.name].rows !== file.rows || parse[p.name].fields !== expectedFields,
    );
    if (disagree.length > 0) {
      const seen = PARSERS.map(
        (p) => `${p.name} ${parse[p.name].rows} rows / ${parse[p.name].fields} fields`,
      );
      throw new Error(
        `parsers disagree (expected ${file.rows} rows / ${expectedFields} fields): ${seen.join(', ')}`,
      );
    }

    let totals: Awaited<ReturnType<typeof runHotPath>> | undefined;
    const hot = await measure(
      'hotPath',
      file.bytes,
      options.plan,
      async () => {
        totals = await runHotPath(job);
        return { rows: totals.rows, fields: 0 };
      },
      progress,
    );
    if (!totals) throw new Error('hot path did not run');
    const stages = await measureStages(job, options.plan, progress);
    const gzip = await measureGzip(file, entity, chunkBytes, options.plan, progress);

    const quarter = Math.max(1, Math.floor(file.rows / 4));
    const small: Dataset = await prefixOf(file, dir, quarter);
    const memory = await measureMemory([small, file], chunkBytes, progress);

    const fastest = PARSERS.map((p) => p.name).reduce((best, name) =>
      parse[name].mbPerS > parse[best].mbPerS ? name : best,
    );
    const fastestMbPerS = parse[fastest].mbPerS;
    const hotPathVsFastestParse = round(hot.mbPerS / fastestMbPerS, 3);
    const parseVsFastest = Object.fromEntries(
      PARSERS.map((p) => [p.name, round(parse[p.name].mbPerS / fastestMbPerS, 3)]),
    );

    const { fields: _fields, ...hotCounts } = hot;
    return {
      file: {
        rows: file.rows,
        bytes: file.bytes,
        mb: round(file.bytes / MB),
        path: file.path,
        kept: options.keep,
        seed: file.seed,
        generator: 'examples/generate.ts generateContacts (dirt on, CRLF, all fields quoted)',
        generateMs: file.generateMs,
        columns: job.columns.length,
        mapping: coverage,
      },
      node: process.version,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      settings: {
        quick: options.quick,
        warmup: options.plan.warmup,
        runs: options.plan.runs,
        highWaterMark: HIGH_WATER_MARK,
        mbIs: `${MB} bytes`,
        statistic: 'median of the measured runs; runsMs lists them in order',
      },
      parse,
      hotPath: {
        ...hotCounts,
        what: 'planned chunks; per chunk: fs range stream → recordsOf → ChunkAccumulator.add → winners and rejects to JSON lines',
        entity: 'contact (examples/crm-sync.config.json)',
        chunkBytes,
        chunks: totals.chunks,
        partitions: job.partitions,
        candidates: totals.candidates,
        rejected: totals.rejected,
        superseded: totals.superseded,
        outputChars: totals.outputChars,
        lastRunSerializeMs: round(totals.serializeMs, 1),
        stages: stageReport(stages, hot.medianMs, file.rows),
        plan: { ms: round(job.planMs, 1), mbPerS: round(file.bytes / MB / (job.planMs / 1000)), runs: 1 },
      },
      gzip,
      memory,
      ratios: {
        fastestParser: fastest,
        hotPathVsFastestParse,
        target: TARGET_RATIO,
        meetsTarget: hotPathVsFastestParse >= TARGET_RATIO,
        hotPathVsOurParse: round(hot.mbPerS / parse.ours.mbPerS, 3),
        ...stagesOnly(stages, parse.ours.medianMs, file.bytes, fastestMbPerS),
        parseVsFastest,
      },
    };
  } finally {
    if (!options.keep) await removeWorkDir(dir);
  }
}

async function main(argv: string[]): Promise<void> {
  let options: BenchOptions;
  try {
    options = parseOptions(argv);
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const report = await runBench(options);
  const json = JSON.stringify(report, null, 2);
  if (options.out) writeFileSync(options.out, `${json}\n`);
  process.stdout.write(`${json}\n`);
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  (argv[0] === 'e2e' ? e2eMain(argv.slice(1)) : main(argv)).catch((err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exitCode = 1;
  });
}
