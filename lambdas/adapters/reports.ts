import { mirrorDecisionSchema } from '../contract/checks';
import type { WorkerJob } from '../contract/job';
import { csvCell, type Reject } from '../domain/chunk';
import type { MirrorDecision } from '../domain/mirror';
import { rejectColumns } from '../domain/reconcile';
import { rejectsHeader, rejectsRow } from '../domain/report';
import { workKeys } from '../domain/run';
import { putJson, putObject, putStream, readJson, readTextIfExists } from './s3';

/**
 * The run's reports under reports/<runId>/: CSV files made of the objects the workers wrote under
 * work/, report.html and summary.json; and the mirror decision CheckMirrorDeletes keeps for Reconcile.
 */

/**
 * Writes one CSV report made of the objects the workers wrote, one per partition (or chunk), in
 * their order: the header, then each object's text (`transform` may rewrite it: `jsonRows`,
 * `csvRows`). Streamed: no report is held whole.
 */
export async function putCsvReport(
  bucket: string,
  key: string,
  partitions: Iterable<number>,
  header: string,
  keyOf: (partition: number) => string,
  transform: (text: string) => string = (t) => t,
): Promise<void> {
  async function* body(): AsyncGenerator<Buffer> {
    yield Buffer.from(header);
    for (const p of [...new Set(partitions)].sort((a, b) => a - b)) {
      const text = await readTextIfExists({ bucket, key: keyOf(p) });
      if (text) yield Buffer.from(transform(text));
    }
  }
  await putStream(bucket, key, body(), 'text/csv; charset=utf-8');
}

/** A `transform` for putCsvReport: each JSON line of the object becomes one row of text. */
export function jsonRows<T>(row: (line: T) => string): (text: string) => string {
  return (text) =>
    text
      .split('\n')
      .filter(Boolean)
      .map((l) => row(JSON.parse(l) as T))
      .join('');
}

/** jsonRows whose rows are CSV cells (escaped for spreadsheets). */
export function csvRows<T>(cells: (line: T) => readonly string[]): (text: string) => string {
  return jsonRows<T>((line) => `${cells(line).map(csvCell).join(',')}\r\n`);
}

/**
 * rejects.csv: the rejects of every chunk, in chunk order, under the file's columns (a JSONL reject
 * keeps its line in one `record` cell). `visit` sees each reject as it is written.
 */
export async function putRejectsReport(
  bucket: string,
  key: string,
  job: Pick<WorkerJob, 'format' | 'columns' | 'delimiter' | 'workPrefix' | 'files'>,
  chunks: number,
  visit: (reject: Reject) => void = () => {},
): Promise<void> {
  const { columns, delimiter } = rejectColumns(job);
  await putCsvReport(
    bucket,
    key,
    Array.from({ length: chunks }, (_, c) => c),
    rejectsHeader(columns, job.files),
    (c) => workKeys.rejects(job.workPrefix, c),
    jsonRows<Reject>((reject) => {
      visit(reject);
      return rejectsRow(reject, columns, delimiter, job.files);
    }),
  );
}

/** report.html (the page a person reads), then summary.json. */
export async function putRunReport(
  bucket: string,
  keys: { html: string; summary: string },
  html: string,
  summary: unknown,
): Promise<void> {
  await putObject(bucket, keys.html, html, 'text/html; charset=utf-8');
  await putJson(bucket, keys.summary, summary);
}

/** CheckMirrorDeletes' decision, kept under the run's work prefix for Reconcile. */
export async function putMirrorDecision(
  bucket: string,
  workPrefix: string,
  decision: MirrorDecision,
): Promise<void> {
  await putJson(bucket, workKeys.mirrorDecision(workPrefix), decision);
}

export async function readMirrorDecision(bucket: string, workPrefix: string): Promise<MirrorDecision> {
  return mirrorDecisionSchema.parse(await readJson({ bucket, key: workKeys.mirrorDecision(workPrefix) }));
}
