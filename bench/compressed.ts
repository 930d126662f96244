/**
 * The hot path on a gzip export against the same plain file, in one bench run: the plain case plans
 * the file and runs the transform's hot path over its chunks; the gzip case first decompresses the
 * gzipped file once, streaming, into a copy (lambdas/domain/compressed.ts gunzip, as Plan writes
 * work/<runId>/source.decompressed), then plans and runs the copy the same way.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { decompressedLimit, gunzip } from '../lambdas/domain/compressed';
import type { EntityConfig } from '../lambdas/domain/config';
import type { Dataset } from './dataset';
import { planJob, runHotPath } from './hot-path';
import { type CaseResult, HIGH_WATER_MARK, measure, type RunPlan, round } from './measure';

export interface GzipReport {
  what: string;
  gzipBytes: number;
  ratio: number;
  gzipMs: number;
  decompress: CaseResult;
  plain: CaseResult;
  gzipped: CaseResult;
  /** The gzip case's median over the plain case's. */
  slowdown: number;
}

/** Decompresses `gz` into `out` as Plan does; the bytes written. */
async function decompressTo(gz: string, out: string, gzipBytes: number): Promise<number> {
  let bytes = 0;
  const counted = async function* (): AsyncGenerator<Buffer> {
    for await (const piece of gunzip(
      createReadStream(gz, { highWaterMark: HIGH_WATER_MARK }),
      decompressedLimit(gzipBytes),
    )) {
      bytes += piece.length;
      yield piece;
    }
  };
  await pipeline(counted, createWriteStream(out));
  return bytes;
}

export async function measureGzip(
  file: Dataset,
  entity: EntityConfig,
  chunkBytes: number,
  plan: RunPlan,
  progress: (line: string) => void,
): Promise<GzipReport> {
  const gz = `${file.path}.gz`;
  const copy = `${file.path}.decompressed`;
  const started = performance.now();
  await pipeline(createReadStream(file.path), createGzip(), createWriteStream(gz));
  const gzipMs = performance.now() - started;
  const gzipBytes = (await stat(gz)).size;
  const planAndRun = async (path: string) => {
    const job = await planJob(path, entity, chunkBytes);
    const totals = await runHotPath(job);
    return { rows: totals.rows, fields: 0 };
  };
  const decompress = await measure(
    'gunzip',
    file.bytes,
    plan,
    async () => {
      const bytes = await decompressTo(gz, copy, gzipBytes);
      if (bytes !== file.bytes) throw new Error(`gunzip wrote ${bytes} bytes of ${file.bytes}`);
      return { rows: 0, fields: 0 };
    },
    progress,
  );
  const plain = await measure('plan+hotPath plain', file.bytes, plan, () => planAndRun(file.path), progress);
  const gzipped = await measure(
    'plan+hotPath gzip',
    file.bytes,
    plan,
    async () => {
      await decompressTo(gz, copy, gzipBytes);
      return planAndRun(copy);
    },
    progress,
  );
  if (gzipped.rows !== plain.rows)
    throw new Error(`gzip case read ${gzipped.rows} rows, plain ${plain.rows}`);
  return {
    what: 'plain: planChunks + hot path over the file; gzipped: gunzip (node:zlib, streaming) to a copy, then the same over the copy; MB/s of the decompressed bytes',
    gzipBytes,
    ratio: round(file.bytes / gzipBytes, 2),
    gzipMs: round(gzipMs, 1),
    decompress,
    plain,
    gzipped,
    slowdown: round(gzipped.medianMs / plain.medianMs, 3),
  };
}
