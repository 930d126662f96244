/**
 * Child process of the memory measurement (started by bench/memory.ts with --expose-gc): plans one file,
 * collects garbage, then runs the hot path once while sampling process.memoryUsage() every 50 ms and
 * after every input buffer. Prints one JSON line (MemorySample) to stdout.
 *
 *   node --expose-gc --import tsx bench/memory-child.ts <file> <chunkBytes>
 */
import { performance } from 'node:perf_hooks';
import { loadEntity, planJob, runHotPath } from './hot-path';
import { collectGarbage, MiB, round } from './measure';
import { type MemorySample, SAMPLE_INTERVAL_MS } from './memory';

async function main(argv: string[]): Promise<void> {
  const [path, chunkBytesText] = argv;
  const chunkBytes = Number(chunkBytesText);
  if (!path || !Number.isSafeInteger(chunkBytes) || chunkBytes < 1) {
    throw new Error('usage: memory-child.ts <file> <chunkBytes>');
  }
  const job = await planJob(path, loadEntity(), chunkBytes);
  collectGarbage();
  const baseline = process.memoryUsage();
  let peakRss = baseline.rss;
  let peakHeap = baseline.heapUsed;
  let samples = 0;
  const sample = (): void => {
    const m = process.memoryUsage();
    samples++;
    if (m.rss > peakRss) peakRss = m.rss;
    if (m.heapUsed > peakHeap) peakHeap = m.heapUsed;
  };
  const timer = setInterval(sample, SAMPLE_INTERVAL_MS);
  const started = performance.now();
  let totals: Awaited<ReturnType<typeof runHotPath>>;
  try {
    totals = await runHotPath(job, sample);
  } finally {
    clearInterval(timer);
  }
  sample();
  collectGarbage();
  const after = process.memoryUsage();
  const out: MemorySample = {
    rows: totals.rows,
    bytes: job.plan.bytes,
    chunks: totals.chunks,
    baselineRssMiB: round(baseline.rss / MiB, 1),
    baselineHeapUsedMiB: round(baseline.heapUsed / MiB, 1),
    peakRssMiB: round(peakRss / MiB, 1),
    peakHeapUsedMiB: round(peakHeap / MiB, 1),
    rssGrowthMiB: round((peakRss - baseline.rss) / MiB, 1),
    heapUsedGrowthMiB: round((peakHeap - baseline.heapUsed) / MiB, 1),
    retainedHeapMiB: round((after.heapUsed - baseline.heapUsed) / MiB, 1),
    samples,
    durationMs: Math.round(performance.now() - started),
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
});
