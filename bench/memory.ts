/**
 * Memory of the hot path at two file sizes, each in a fresh Node process (so the parse-only passes of
 * the parent do not inflate RSS), to show whether memory stays flat as the file grows.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Dataset } from './dataset';
import { round } from './measure';

/** How often the child samples process.memoryUsage() (it also samples after every buffer). */
export const SAMPLE_INTERVAL_MS = 50;

export interface MemorySample {
  rows: number;
  bytes: number;
  chunks: number;
  /** After planning and a full GC, before the hot path. */
  baselineRssMiB: number;
  baselineHeapUsedMiB: number;
  peakRssMiB: number;
  peakHeapUsedMiB: number;
  /** Peak minus baseline. */
  rssGrowthMiB: number;
  heapUsedGrowthMiB: number;
  /** heapUsed after the hot path and a full GC, minus the baseline: what the hot path kept. */
  retainedHeapMiB: number;
  samples: number;
  durationMs: number;
}

const CHILD = join(__dirname, 'memory-child.ts');
const REPO = join(__dirname, '..');

export interface MemoryReport {
  method: string;
  sampleIntervalMs: number;
  chunkBytes: number;
  sizes: MemorySample[];
  /** Largest file over smallest file. */
  peakRssRatio: number;
  peakHeapUsedRatio: number;
  /** The larger file's peak RSS is within 25% of the smaller file's (peak heapUsed moves with GC timing). */
  flat: boolean;
}

function measureChild(file: Dataset, chunkBytes: number): Promise<MemorySample> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', CHILD, file.path, String(chunkBytes)],
      { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) {
        reject(new Error(`memory child for ${file.path} exited with ${code}: ${stderr.trim()}`));
        return;
      }
      const last = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as MemorySample);
      } catch (err) {
        reject(new Error(`memory child printed no JSON: ${stdout}${stderr}`, { cause: err }));
      }
    });
  });
}

/** Measures the files one after the other (never in parallel: 2 cores). */
export async function measureMemory(
  files: readonly Dataset[],
  chunkBytes: number,
  progress: (line: string) => void,
): Promise<MemoryReport> {
  const sizes: MemorySample[] = [];
  for (const file of files) {
    const sample = await measureChild(file, chunkBytes);
    if (sample.rows !== file.rows) {
      throw new Error(`memory child read ${sample.rows} rows of ${file.path}, expected ${file.rows}`);
    }
    progress(
      `memory: ${file.rows} rows, peak RSS ${sample.peakRssMiB} MiB, peak heapUsed ${sample.peakHeapUsedMiB} MiB`,
    );
    sizes.push(sample);
  }
  const small = sizes[0];
  const large = sizes[sizes.length - 1];
  if (!small || !large) throw new RangeError('measureMemory: no files');
  const peakRssRatio = round(large.peakRssMiB / small.peakRssMiB);
  const peakHeapUsedRatio = round(large.peakHeapUsedMiB / small.peakHeapUsedMiB);
  return {
    method: `fresh node --expose-gc process per size; plan, gc, then process.memoryUsage() every ${SAMPLE_INTERVAL_MS} ms and after every input buffer and chunk during the hot path; full GC after it for retainedHeapMiB`,
    sampleIntervalMs: SAMPLE_INTERVAL_MS,
    chunkBytes,
    sizes,
    peakRssRatio,
    peakHeapUsedRatio,
    flat: peakRssRatio <= 1.25,
  };
}
