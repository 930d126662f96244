import { columnKey, type EntityConfig } from './config';
import {
  binaryProblem,
  type Delimiter,
  detectEncoding,
  headerFromHead,
  nulInFirstLine,
  parseRecord,
  type SourceEncoding,
  type SourceFormat,
  transcodeToUtf8,
} from './csv';
import { HeaderMismatchError, MalformedFileError } from './errors';
import { type DocumentKind, documentHeadLines, documentKind } from './json-document';
import { checkFirstJsonLine, firstJsonLine, jsonNames, resolveFormat } from './jsonl';
import { bindHeader, type HeaderBinding } from './mapping';
import { averageRowBytes, chunkBytesFor, sampleRows } from './sizing';

/**
 * Plan's first look at an export: its first bytes (HEAD_BYTES) tell the encoding and the format,
 * and must hold a header (CSV) or first record (JSONL) that fits the entity's mapping, before any
 * transcoding, scan or write.
 */

/** Bytes read to check the header before anything else (a header longer than this is checked after the scan). */
export const HEAD_BYTES = 64 * 1024;

/** Parses a header record and binds it to the entity's mapping; throws the error a user should see. */
export function bindHeaderText(
  header: { line: number; text: string },
  entity: EntityConfig,
  delimiter: string,
): { columns: string[]; binding: HeaderBinding } {
  const parsed = parseRecord(header.text, delimiter);
  if (!parsed.ok) {
    throw new MalformedFileError(`line ${header.line}: the header is not valid CSV (${parsed.reason})`);
  }
  const columns = parsed.fields.map((c) => c.trim());
  return { columns, binding: bindHeader(columns, entity) };
}

/** The encoding to read the object with: configured, else sniffed from its first bytes. */
export function sourceEncoding(entity: EntityConfig, head: Buffer): SourceEncoding {
  switch (entity.source.encoding) {
    case 'utf-8':
      return 'utf8';
    case 'utf-16le':
      return 'utf16le';
    case 'utf-16be':
      return 'utf16be';
    case 'windows-1252':
      return 'windows1252';
    default:
      return detectEncoding(head).encoding;
  }
}

/** The first bytes of the object as UTF-8 (transcoded in memory); whole code units only. */
export async function utf8Head(head: Buffer, encoding: SourceEncoding): Promise<Buffer> {
  if (encoding === 'utf8') return head;
  // Whole 4-byte groups only, so no UTF-16/32 unit is cut; the full transcode reports bad bytes.
  const whole = head.subarray(0, head.length - (head.length % 4));
  const parts: Buffer[] = [];
  try {
    const bytes = (async function* () {
      yield whole;
    })();
    for await (const p of transcodeToUtf8(bytes, encoding)) parts.push(p);
  } catch (err) {
    if (err instanceof MalformedFileError) return Buffer.alloc(0);
    throw err;
  }
  return Buffer.concat(parts);
}

/**
 * Fail fast on the first bytes, before any transcoding, scan or write: the CSV header must bind to the
 * mapping; a JSONL file's first record must be a JSON object holding at least one mapped field.
 * Returns the delimiter found in the header (CSV).
 */
export function checkHead(
  head: Buffer,
  wholeFile: boolean,
  format: SourceFormat,
  entity: EntityConfig,
): Delimiter | undefined {
  if (format === 'csv') {
    const header = headerFromHead(head, wholeFile, entity.source.delimiter);
    if (header) bindHeaderText(header, entity, header.delimiter);
    return header?.delimiter;
  }
  const first = firstJsonLine(head, wholeFile);
  if (!first) return undefined;
  const checked = checkFirstJsonLine(first.text);
  if ('problem' in checked) throw new MalformedFileError(`line ${first.line}: ${checked.problem}`);
  const found = new Set(checked.keys.map(columnKey));
  const columns = jsonNames(entity);
  if (!columns.some((c) => found.has(columnKey(c)) || found.has(columnKey(c.split('.')[0] ?? c)))) {
    throw new HeaderMismatchError(
      `line ${first.line}: the first record has none of the mapped fields ` +
        `(expected some of: ${columns.join(', ')}; found: ${checked.keys.slice(0, 40).join(', ')})`,
    );
  }
  return undefined;
}

/** What the first bytes of an export say. */
export interface SourceHead {
  /** The encoding the object is read with (anything but utf8 is transcoded to a UTF-8 copy). */
  encoding: SourceEncoding;
  format: SourceFormat;
  /** The delimiter the CSV header was found with (undefined: JSONL, or no header in the head). */
  delimiter: Delimiter | undefined;
  /**
   * A JSON array or tree file (json-document.ts), which Plan converts to a JSON Lines copy; undefined:
   * the object is CSV or JSON Lines itself.
   */
  document: DocumentKind | undefined;
  /** The first bytes as UTF-8 (of a document: the JSON Lines of the records they hold whole). */
  utf8: Buffer;
  /** Average bytes of a row in the head (UTF-8), to size chunks by before the scan counts them. */
  headRowBytes: number;
  /** Bytes per chunk, from the object's UTF-8 size and the head's rows. */
  chunkBytes: number;
}

/**
 * Reads an object's first bytes (`raw`, the first HEAD_BYTES of its `size`): a binary file, a NUL in the
 * first line, a header or first record that does not fit the mapping is a MalformedFileError or
 * HeaderMismatchError here.
 */
export async function inspectHead(
  raw: Buffer,
  object: { key: string; size: number },
  entity: EntityConfig,
): Promise<SourceHead> {
  const binary = binaryProblem(raw);
  if (binary !== undefined) throw new MalformedFileError(binary);
  const encoding = sourceEncoding(entity, raw);
  let head = await utf8Head(raw, encoding);
  const nul = nulInFirstLine(head);
  if (nul !== undefined) throw new MalformedFileError(nul);
  const format = resolveFormat(entity.source.format, object.key, head.toString('utf8', 0, 64));
  const wholeFile = Math.min(HEAD_BYTES, object.size) === object.size;
  const document = format === 'jsonl' ? documentKind(head.toString('utf8')) : undefined;
  if (document !== undefined) head = documentHeadLines(head, document, wholeFile);
  const delimiter = checkHead(head, wholeFile, format, entity);
  // Size the chunks from the object and the rows in its head (UTF-8 bytes: a transcoded object
  // shrinks or grows by the head's ratio).
  const sample = sampleRows(head, { format, wholeFile });
  const utf8Bytes = Math.round(object.size * (raw.length > 0 ? head.length / raw.length : 1));
  const headRowBytes = averageRowBytes(sample, head.length);
  const chunkBytes = chunkBytesFor(utf8Bytes, headRowBytes, entity);
  return { encoding, format, document, delimiter, utf8: head, headRowBytes, chunkBytes };
}
