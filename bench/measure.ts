/**
 * Timing helpers shared by the bench cases: explicit GC between runs, warm-up + measured runs, median.
 */
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** 1 MB = 10^6 bytes in every MB/s figure. */
export const MB = 1_000_000;
export const MiB = 1024 * 1024;
/** Read buffer size of every file stream in the bench (the workers see 1 MiB-ish buffers too). */
export const HIGH_WATER_MARK = MiB;

/** What one parse-only or hot-path pass reports, to check that every parser saw the same data. */
export interface PassCounts {
  /** Data rows (header excluded). */
  rows: number;
  /** Fields over all data rows. */
  fields: number;
}

export interface CaseResult extends PassCounts {
  mbPerS: number;
  rowsPerS: number;
  medianMs: number;
  /** Measured runs only, in the order they ran. */
  runsMs: number[];
  warmupMs: number[];
}

let collector: (() => void) | undefined;

/** A full GC if the runtime allows one (enables --expose-gc at runtime: `npm run bench` passes no flags). */
export function collectGarbage(): void {
  if (collector === undefined) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (typeof exposed === 'function') {
      collector = exposed;
    } else {
      setFlagsFromString('--expose-gc');
      collector = runInNewContext('gc') as () => void;
    }
  }
  collector();
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export interface RunPlan {
  warmup: number;
  runs: number;
}

/**
 * Runs `pass` warmup + runs times (GC before each), checks every pass returns the same counts, and
 * reports the median of the measured runs as throughput over `bytes`.
 */
export async function measure(
  name: string,
  bytes: number,
  plan: RunPlan,
  pass: () => Promise<PassCounts>,
  progress: (line: string) => void,
): Promise<CaseResult> {
  const warmupMs: number[] = [];
  const runsMs: number[] = [];
  let counts: PassCounts | undefined;
  for (let i = 0; i < plan.warmup + plan.runs; i++) {
    collectGarbage();
    const started = performance.now();
    const result = await pass();
    const ms = performance.now() - started;
    if (counts && (counts.rows !== result.rows || counts.fields !== result.fields)) {
      throw new Error(
        `${name}: run ${i + 1} read ${result.rows} rows / ${result.fields} fields, run 1 read ${counts.rows} / ${counts.fields}`,
      );
    }
    counts = result;
    const warm = i < plan.warmup;
    (warm ? warmupMs : runsMs).push(round(ms, 1));
    progress(`${name}: ${warm ? 'warm-up' : `run ${i - plan.warmup + 1}/${plan.runs}`} ${ms.toFixed(0)} ms`);
  }
  if (!counts) throw new RangeError(`${name}: no runs`);
  const medianMs = median(runsMs);
  return {
    rows: counts.rows,
    fields: counts.fields,
    mbPerS: round(bytes / MB / (medianMs / 1000)),
    rowsPerS: Math.round(counts.rows / (medianMs / 1000)),
    medianMs,
    runsMs,
    warmupMs,
  };
}
