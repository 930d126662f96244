/**
 * Where a row is in its export. A single file's row is its line number. A multi-file export's row
 * is an ordinal over the whole export, `part index × 2^32 + line` (a safe integer for any part
 * count below 2^21): ordering rows by it orders them by (part, line), so a key's winner over the
 * parts is decided by (version, part, line) with no other change to the comparisons, and the
 * stored `_line` keeps the position of the row that wrote the item. Reports decode it to the
 * part's file and its own line. Pure.
 */

/** Lines a part may have: the ordinal's stride between parts. */
export const PART_STRIDE = 2 ** 32;

/** The ordinal of line `line` (1-based) of the part at `part` (0-based; 0 is a single file's line). */
export function rowOrdinal(part: number, line: number): number {
  return part * PART_STRIDE + line;
}

/** A row's file (a multi-file export's part name; undefined for a single file) and its line in it. */
export interface RowPosition {
  file?: string | undefined;
  line: number;
}

/**
 * The position `ordinal` names: with `files` (the parts' names in part order), its part's name and
 * line; without, the ordinal itself is the line.
 */
export function rowPosition(ordinal: number, files?: readonly string[]): RowPosition {
  if (files === undefined) return { line: ordinal };
  const part = Math.floor(ordinal / PART_STRIDE);
  return { file: files[part] ?? `part ${part + 1}`, line: ordinal - part * PART_STRIDE };
}

/** `17` for a single file, `part-2.csv:17` for a part. */
export function positionLabel(ordinal: number, files?: readonly string[]): string {
  const p = rowPosition(ordinal, files);
  return p.file === undefined ? String(p.line) : `${p.file}:${p.line}`;
}

/** A report's position cells: `[line]` for a single file, `[file, line]` for a multi-file export. */
export function positionCells(ordinal: number, files?: readonly string[]): string[] {
  const p = rowPosition(ordinal, files);
  return p.file === undefined ? [String(p.line)] : [p.file, String(p.line)];
}

/** A report's position columns: `line`, or `file,line` for a multi-file export. */
export function positionColumns(files?: readonly string[]): string[] {
  return files === undefined ? ['line'] : ['file', 'line'];
}
