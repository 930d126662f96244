/**
 * Parquet exports (AppFlow, Glue, Airbyte, Spark): Plan converts one into JSON Lines, a row group at a
 * time, read with hyparquet through random access to the object (its footer first); the rest of the
 * run reads the copy as any JSON Lines export. Pure domain code: the bytes come through an
 * AsyncBuffer the adapter makes (ranged GETs).
 */
import { type AsyncBuffer, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { MalformedFileError } from './errors';

const MAGIC = [0x50, 0x41, 0x52, 0x31]; // PAR1

/** A Parquet file starts (and ends) with `PAR1`. */
export function isParquet(head: Uint8Array): boolean {
  return MAGIC.every((b, i) => head[i] === b);
}

/**
 * A Parquet value as JSON text: strings, booleans and numbers as themselves (INT64 as its digits, no
 * float in between), NaN and ±Infinity as strings, timestamps and dates as ISO 8601 strings (UTC),
 * bytes as base64, lists and structs as arrays and objects, null as null.
 */
export function jsonText(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : JSON.stringify(String(value));
  }
  if (value instanceof Date)
    return Number.isNaN(value.getTime()) ? 'null' : JSON.stringify(value.toISOString());
  if (value instanceof Uint8Array) return JSON.stringify(Buffer.from(value).toString('base64'));
  if (Array.isArray(value)) return `[${value.map(jsonText).join(',')}]`;
  if (typeof value === 'object') {
    const parts: string[] = [];
    for (const [k, v] of Object.entries(value)) parts.push(`${JSON.stringify(k)}:${jsonText(v)}`);
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(String(value));
}

/**
 * The rows of a Parquet file as JSON Lines (one object per row, jsonText), a row group at a time:
 * memory holds one row group's rows. `onRecords` is told the count at the end. Throws
 * MalformedFileError when the file is not valid Parquet (a cut-off file has no footer).
 */
export async function* parquetLines(
  file: AsyncBuffer,
  onRecords?: (records: number) => void,
): AsyncGenerator<Buffer> {
  const invalid = (err: unknown): MalformedFileError =>
    new MalformedFileError(
      `the Parquet file is not valid: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  const metadata = await parquetMetadataAsync(file).catch((err: unknown) => {
    throw invalid(err);
  });
  let records = 0;
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    const rows = await parquetReadObjects({ file, metadata, rowStart, rowEnd }).catch((err: unknown) => {
      throw invalid(err);
    });
    if (rows.length > 0) yield Buffer.from(`${rows.map(jsonText).join('\n')}\n`);
    records += rows.length;
    rowStart = rowEnd;
  }
  onRecords?.(records);
}
