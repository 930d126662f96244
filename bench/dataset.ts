/**
 * The bench's input: one deterministic Salesforce-style Contact export from the project's generator
 * (examples/generate.ts, dirt on, CRLF, every field quoted), written to a temp dir, and a prefix of it
 * (header + the first rows) for the memory comparison.
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import { generateContacts } from '../examples/generate';
import { CsvRecordSplitter, type RawRecord } from '../lambdas/domain/csv';
import { HIGH_WATER_MARK } from './measure';

export const SEED = 42;

export interface Dataset {
  path: string;
  rows: number;
  bytes: number;
  seed: number;
  generateMs: number;
}

export async function makeWorkDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'crm-sync-bench-'));
}

export async function removeWorkDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Writes generateContacts({ rows, seed }) to `dir`/contacts-<rows>.csv. */
export async function generateDataset(dir: string, rows: number): Promise<Dataset> {
  const path = join(dir, `contacts-${rows}.csv`);
  const started = performance.now();
  const out = createWriteStream(path);
  const failed = new Promise<never>((_, reject) => out.once('error', reject));
  const write = async (): Promise<void> => {
    for (const piece of generateContacts({ rows, seed: SEED })) {
      if (!out.write(piece)) await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');
  };
  await Promise.race([write(), failed]);
  const { size } = await stat(path);
  return { path, rows, bytes: size, seed: SEED, generateMs: Math.round(performance.now() - started) };
}

/**
 * Copies the header and the first `rows` data rows of `source` (cut on a record boundary found by the
 * product's splitter, so quoted multi-line fields stay whole) to `dir`/contacts-<rows>-prefix.csv.
 */
export async function prefixOf(source: Dataset, dir: string, rows: number): Promise<Dataset> {
  const started = performance.now();
  const splitter = new CsvRecordSplitter();
  let records = 0;
  let cut: number | undefined;
  const emit = (record: RawRecord): void => {
    records++;
    // Record rows + 2 is the first one left out (the header is record 1).
    if (records === rows + 2 && cut === undefined) cut = record.offset;
  };
  for await (const buf of createReadStream(source.path, { highWaterMark: HIGH_WATER_MARK })) {
    splitter.push(buf as Buffer, emit);
    if (cut !== undefined) break;
  }
  if (cut === undefined) throw new RangeError(`${source.path} has fewer than ${rows + 1} data rows`);
  const path = join(dir, `contacts-${rows}-prefix.csv`);
  await pipeline(
    createReadStream(source.path, { start: 0, end: cut - 1, highWaterMark: HIGH_WATER_MARK }),
    createWriteStream(path),
  );
  return { path, rows, bytes: cut, seed: source.seed, generateMs: Math.round(performance.now() - started) };
}
