/**
 * Plan's decision of the day/month order of each date column, from the first records of the file
 * (see DateOrderScan): the records are split, parsed and transformed as the workers do it.
 */
import type { FieldSpec } from './config';
import { decodeUtf8, parseRecord, type RawRecord, type SourceFormat } from './csv';
import { type DateOrderDecision, DateOrderScan } from './dates';
import { jsonFields } from './jsonl';
import { applyTransforms } from './normalize';

/** Bytes of the file Plan samples for the order of its date columns. */
export const DATE_SAMPLE_BYTES = 4 * 1024 * 1024;
/** Data records sampled, at most. */
export const DATE_SAMPLE_ROWS = 50_000;

export interface DateSampleInput {
  format: SourceFormat;
  delimiter: string;
  /** Header cells (CSV) or the source names (JSONL): what the field indexes point into. */
  columns: readonly string[];
  /** Mapped fields with their column index. */
  fieldColumns: ReadonlyArray<{ field: string; spec: FieldSpec; index: number }>;
  /** The records come from a prefix of the file: the last one may be cut and is not read. */
  truncated: boolean;
}

/**
 * Where the date sample ends: at the end of the last chunk that ends within `limit` bytes (chunks
 * end on record boundaries, so no record of the sample is cut, not even one whose quoted field
 * runs past the limit), or the first chunk's end when even it ends past the limit.
 */
export function dateSampleEnd(chunks: ReadonlyArray<{ end: number }>, limit = DATE_SAMPLE_BYTES): number {
  let end = chunks[0]?.end ?? 0;
  for (const c of chunks) {
    if (c.end > limit) break;
    end = c.end;
  }
  return end;
}

/** Whether any field of the binding needs a decision (a date/datetime field without `formats`). */
export function needsDateOrder(fieldColumns: DateSampleInput['fieldColumns']): boolean {
  return new DateOrderScan(fieldColumns).fields.length > 0;
}

/**
 * Reads the records of the file's first bytes (the CSV header first) and decides the order of each
 * date column that reads the default formats. Throws InconsistentDateOrderError for a column written
 * both ways. Records that do not parse are skipped (the workers reject them).
 */
export async function decideDateOrders(
  batches: AsyncIterable<RawRecord[]>,
  input: DateSampleInput,
): Promise<Record<string, DateOrderDecision>> {
  const fields = input.fieldColumns.filter(
    ({ spec }) => (spec.type === 'date' || spec.type === 'datetime') && spec.formats === undefined,
  );
  const scan = new DateOrderScan(fields);
  let header = input.format === 'csv';
  let rows = 0;
  let pending: RawRecord | undefined;
  const read = (record: RawRecord): void => {
    if (header) {
      header = false;
      return;
    }
    rows++;
    let text: string;
    try {
      text = decodeUtf8(record.bytes, record.line);
    } catch {
      return;
    }
    let cells: string[];
    if (input.format === 'jsonl') {
      const parsed = jsonFields(text, input.columns);
      if (!parsed.ok) return;
      cells = parsed.fields;
    } else {
      const parsed = parseRecord(text, input.delimiter);
      if (!parsed.ok || parsed.fields.length !== input.columns.length) return;
      cells = parsed.fields;
    }
    fields.forEach(({ spec, index }, i) => {
      const cell = cells[index];
      if (cell !== undefined && cell !== '')
        scan.add(i, applyTransforms(cell, spec.transforms).trim(), record.line);
    });
  };
  outer: for await (const batch of batches) {
    for (const record of batch) {
      if (pending !== undefined) read(pending);
      pending = record;
      if (rows >= DATE_SAMPLE_ROWS) break outer;
    }
  }
  if (pending !== undefined && !input.truncated && rows < DATE_SAMPLE_ROWS) read(pending);
  return scan.decide();
}
