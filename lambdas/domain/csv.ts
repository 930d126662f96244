/**
 * CSV on bytes: the quote-aware record splitter shared by the Plan step (which cuts the file into
 * byte-range chunks on record boundaries) and the transform workers (which split one byte range into
 * records), the RFC 4180 field parser, the chunk planner and the encoding helpers.
 *
 * Plan and workers use the same splitter, so the records of all chunks concatenated equal the records
 * of the whole file, with identical line numbers and offsets. Pure domain code: no AWS imports.
 */
import { isUtf8 } from 'node:buffer';
import { TextDecoder } from 'node:util';
import { MalformedFileError } from './errors';
import type { RejectCode } from './reject-reasons';

const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;

/** Ordinary bytes in a row after which the splitter jumps with indexOf instead of looking at each byte. */
const SCAN = 32;
const DEFAULT_MAX_RECORD_BYTES = 4 * 1024 * 1024;

/**
 * The longest record of an entity's file: 4 MiB, or two of its longest fields when that is more.
 * Plan (chunk boundaries, the date sample) and the transform workers must read records with the same
 * limit, or a record one accepts fails the other and the run.
 */
export function maxRecordBytesFor(source: { maxFieldBytes: number }): number {
  return Math.max(DEFAULT_MAX_RECORD_BYTES, source.maxFieldBytes * 2);
}
/** Bytes the planner collects before sniffing the encoding. */
const ENCODING_SNIFF_BYTES = 1024;

/**
 * One CSV record as raw bytes. `line` = 1-based physical line number where the record starts (newlines
 * inside quoted fields count as lines; CRLF counts as one line break, a lone CR counts as one, LF one).
 * `offset` = absolute byte offset of the record's first byte in the file. `bytes` = the record's bytes
 * WITHOUT its terminator.
 */
export interface RawRecord {
  line: number;
  offset: number;
  bytes: Buffer;
}

export interface SplitterOptions {
  /** Absolute offset of the first byte pushed (default 0). */
  startOffset?: number;
  /** Line number of the first byte pushed (default 1). */
  startLine?: number;
  /** Longest record accepted (default 4 MiB); a longer one throws MalformedFileError. */
  maxRecordBytes?: number;
  /**
   * Field delimiter (default `,`): a quote opens a quoted field only right after it, after a line
   * break or at the start of the input.
   */
  delimiter?: string;
  /** `false`: quotes are ordinary bytes, every line break ends a record (JSON Lines). Default true. */
  quoting?: boolean;
}

type Emit = (record: RawRecord) => void;

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/**
 * Splits a byte stream into CSV records. Terminators are LF, CRLF and lone CR outside quotes. Quotes
 * follow RFC 4180: a `"` opens a quoted field only at the start of a field (after the delimiter, a line
 * break or at the start of the input); inside it `""` is an escaped quote and a single `"` closes it.
 * A `"` anywhere else (`5" monitor`, or text after a closing quote) is an ordinary byte, so one stray
 * quote cannot swallow the lines after it; parseRecord applies the same rule and rejects the row.
 * Blank records are skipped but counted as lines. Emitted `bytes` are views of the pushed buffers where
 * possible (no copy), so callers must not reuse a buffer after pushing it.
 */
export class CsvRecordSplitter {
  private pos: number;
  private lineNo: number;
  private readonly maxRecordBytes: number;
  /** Byte that separates fields, and the quote byte (-1 when quoting is off). */
  private readonly delimiterByte: number;
  private readonly quoteByte: number;
  private inQuotes = false;
  /** The last byte pushed was a quote inside a quoted field: the next byte says escape or close. */
  private quotePending = false;
  /** Last byte pushed (-1 before any): a quote right after a delimiter or line break opens a field. */
  private lastByte = -1;
  /** The last byte processed was a CR (a following LF belongs to the same line break). */
  private afterCR = false;
  /** Bytes of the current record carried over from earlier pushes. */
  private parts: Buffer[] = [];
  private pendingBytes = 0;
  /** Offset and line of the current record's first byte (valid while `parts` is not empty). */
  private recordOffset: number;
  private recordLine: number;

  constructor(options: SplitterOptions = {}) {
    this.pos = options.startOffset ?? 0;
    this.lineNo = options.startLine ?? 1;
    this.maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
    const delimiter = options.delimiter ?? ',';
    if (delimiter.length !== 1 || delimiter.charCodeAt(0) > 0x7f || /["\r\n]/.test(delimiter)) {
      throw new RangeError(`the delimiter must be one ASCII character other than a quote or line break`);
    }
    this.delimiterByte = delimiter.charCodeAt(0);
    this.quoteByte = options.quoting === false ? -1 : QUOTE;
    this.recordOffset = this.pos;
    this.recordLine = this.lineNo;
  }

  /** Absolute offset of the next byte to be pushed. */
  get offset(): number {
    return this.pos;
  }

  /** The current line number (line of the next byte to be pushed). */
  get line(): number {
    return this.lineNo;
  }

  /** Feeds the next bytes; calls `emit` for each complete record. */
  push(chunk: Uint8Array, emit: Emit): void {
    const buf = asBuffer(chunk);
    const n = buf.length;
    if (n === 0) return;
    const base = this.pos;
    const max = this.maxRecordBytes;
    let quoted = this.inQuotes;
    let line = this.lineNo;
    // `start` = index in `buf` where the current record's bytes in this buffer begin.
    let start = 0;
    let recordLine = this.parts.length > 0 ? this.recordLine : line;
    let i = 0;

    const delim = this.delimiterByte;
    const quote = this.quoteByte;
    if (this.quotePending) {
      // A quote inside a quoted field ended the last push: `""` is an escaped quote, else it closed.
      this.quotePending = false;
      if (buf[0] === QUOTE) i = 1;
      else quoted = false;
    } else if (this.afterCR && buf[0] === LF) {
      // Second half of a CRLF split across pushes: no new line; outside quotes the record already ended.
      i = 1;
      if (!quoted) start = 1;
    }

    // Byte loop while special bytes (quote, CR, LF) are dense; after SCAN ordinary bytes in a row, jump to
    // the next special byte with indexOf (memchr). Cached positions stay valid until `i` passes them.
    let nextQuote = quote === -1 ? n : -1;
    let nextLF = -1;
    let nextCR = -1;
    let stop = Math.min(i + SCAN, n);
    for (;;) {
      while (i < stop) {
        const c = buf[i] as number;
        if (c > QUOTE) {
          i++;
          continue;
        }
        if (c === quote) {
          if (quoted) {
            if (i + 1 === n) {
              this.quotePending = true; // escape or close: the next push decides
            } else if (buf[i + 1] === QUOTE) {
              i++; // escaped quote: stay in the field
            } else {
              quoted = false;
            }
          } else {
            const prev = i > 0 ? (buf[i - 1] as number) : this.lastByte;
            if (prev === delim || prev === LF || prev === CR || prev === -1) quoted = true;
          }
        } else if (c === LF) {
          if (i > 0 && buf[i - 1] === CR) {
            // Second half of a CRLF: no new line; outside quotes the record ended at the CR.
            if (!quoted) start = i + 1;
          } else {
            line++;
            if (!quoted) {
              if (i > start || this.parts.length > 0)
                this.emitRecord(buf, base, start, i, recordLine, max, emit);
              start = i + 1;
              recordLine = line;
            }
          }
        } else if (c === CR) {
          line++;
          if (!quoted) {
            if (i > start || this.parts.length > 0)
              this.emitRecord(buf, base, start, i, recordLine, max, emit);
            start = i + 1;
            recordLine = line;
          }
        } else {
          i++;
          continue;
        }
        i++;
        stop = Math.min(i + SCAN, n);
      }
      if (i >= n) break;
      if (nextQuote < i) nextQuote = indexOrEnd(buf, QUOTE, i);
      if (nextLF < i) nextLF = indexOrEnd(buf, LF, i);
      if (nextCR < i) nextCR = indexOrEnd(buf, CR, i);
      let next = Math.min(nextQuote, nextLF);
      if (nextCR < next) next = nextCR;
      if (next >= n) break;
      i = next;
      stop = Math.min(i + SCAN, n);
    }

    this.lastByte = buf[n - 1] as number;
    this.afterCR = buf[n - 1] === CR;
    this.inQuotes = quoted;
    this.lineNo = line;
    this.pos = base + n;
    if (start < n) {
      if (this.parts.length === 0) {
        this.recordOffset = base + start;
        this.recordLine = recordLine;
      }
      this.parts.push(buf.subarray(start, n));
      this.pendingBytes += n - start;
      if (this.pendingBytes > max) throw tooLong(this.recordLine, max);
    }
  }

  /** End of input: emits the last record if it has no terminator; throws if input ends inside quotes. */
  end(emit: Emit): void {
    if (this.quotePending) {
      this.quotePending = false; // the input ended right after a closing quote
      this.inQuotes = false;
    }
    if (this.inQuotes) {
      throw new MalformedFileError(`line ${this.recordLine}: quoted field is never closed`);
    }
    if (this.parts.length > 0) {
      const bytes = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts);
      const record: RawRecord = { line: this.recordLine, offset: this.recordOffset, bytes };
      this.parts = [];
      this.pendingBytes = 0;
      emit(record);
    }
    this.afterCR = false;
    this.recordOffset = this.pos;
    this.recordLine = this.lineNo;
  }

  private emitRecord(
    buf: Buffer,
    base: number,
    start: number,
    end: number,
    line: number,
    max: number,
    emit: Emit,
  ): void {
    let record: RawRecord;
    if (this.parts.length === 0) {
      if (end - start > max) throw tooLong(line, max);
      record = { line, offset: base + start, bytes: buf.subarray(start, end) };
    } else {
      const length = this.pendingBytes + end - start;
      if (length > max) throw tooLong(this.recordLine, max);
      if (end > start) this.parts.push(buf.subarray(start, end));
      const bytes = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts, length);
      record = { line: this.recordLine, offset: this.recordOffset, bytes };
      this.parts = [];
      this.pendingBytes = 0;
    }
    emit(record);
  }
}

/** Position of the next `byte` at or after `from`, or buf.length if none. */
function indexOrEnd(buf: Buffer, byte: number, from: number): number {
  const at = buf.indexOf(byte, from);
  return at === -1 ? buf.length : at;
}

function tooLong(line: number, max: number): MalformedFileError {
  return new MalformedFileError(`line ${line}: record is longer than ${max} bytes (an unclosed quote?)`);
}

/** Counts line breaks in bytes (CRLF = one, lone CR = one, LF = one). */
function countLineBreaks(bytes: Uint8Array): number {
  let count = 0;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (c === LF) {
      if (i === 0 || bytes[i - 1] !== CR) count++;
    } else if (c === CR) {
      count++;
    }
  }
  return count;
}

// ---------------------------------------------------------------------------------------------------------
// Fields

export type ParsedRecord =
  | { ok: true; fields: string[] }
  | { ok: false; reason: Extract<RejectCode, 'invalid_quote' | 'unterminated_quote'> };

/**
 * Splits one record's text into fields (RFC 4180: fields may be quoted; `""` inside quotes is a quote;
 * quoted fields may contain delimiters, CR, LF). A quote inside an unquoted field is kept literally.
 * Text after a closing quote other than the delimiter -> invalid_quote; an opening quote with no close
 * -> unterminated_quote. Whitespace is not trimmed. Empty text -> [''].
 */
export function parseRecord(text: string, delimiter: string): ParsedRecord {
  const dl = delimiter.length;
  if (dl === 0) throw new RangeError('parseRecord: the delimiter must not be empty');
  // Every delimiter the planner picks is one character: compare its code, not a substring.
  const single = dl === 1;
  const d = delimiter.charCodeAt(0);
  const fields: string[] = [];
  const n = text.length;
  let i = 0;
  for (;;) {
    if (text.charCodeAt(i) === QUOTE) {
      let q = text.indexOf('"', i + 1);
      if (q === -1) return { ok: false, reason: 'unterminated_quote' };
      let value: string;
      if (text.charCodeAt(q + 1) !== QUOTE) {
        value = text.slice(i + 1, q); // no escaped quote: one slice
      } else {
        // Escaped quotes: collect the segments, each `""` contributing one quote.
        value = '';
        let segment = i + 1;
        while (text.charCodeAt(q + 1) === QUOTE) {
          value += text.slice(segment, q + 1);
          segment = q + 2;
          q = text.indexOf('"', segment);
          if (q === -1) return { ok: false, reason: 'unterminated_quote' };
        }
        value += text.slice(segment, q);
      }
      fields.push(value);
      i = q + 1;
      if (i === n) return { ok: true, fields };
      if (single ? text.charCodeAt(i) !== d : !text.startsWith(delimiter, i)) {
        return { ok: false, reason: 'invalid_quote' };
      }
      i += dl;
    } else {
      const e = text.indexOf(delimiter, i);
      if (e === -1) {
        fields.push(i === 0 ? text : text.slice(i));
        return { ok: true, fields };
      }
      fields.push(text.slice(i, e));
      i = e + dl;
    }
  }
}

const DELIMITERS = [',', ';', '\t', '|'] as const;
export type Delimiter = (typeof DELIMITERS)[number];

/** Picks the delimiter of a header line: the one of , ; \t | most frequent outside quotes (ties: in that order). */
export function detectDelimiter(headerText: string): Delimiter {
  let comma = 0;
  let semicolon = 0;
  let tab = 0;
  let pipe = 0;
  let quoted = false;
  for (let i = 0; i < headerText.length; i++) {
    const c = headerText.charCodeAt(i);
    if (c === QUOTE) quoted = !quoted;
    else if (quoted) continue;
    else if (c === 0x2c) comma++;
    else if (c === 0x3b) semicolon++;
    else if (c === 0x09) tab++;
    else if (c === 0x7c) pipe++;
  }
  const counts = [comma, semicolon, tab, pipe];
  let best = 0;
  for (let k = 1; k < counts.length; k++) {
    if ((counts[k] as number) > (counts[best] as number)) best = k;
  }
  return DELIMITERS[best] as Delimiter;
}

// ---------------------------------------------------------------------------------------------------------
// Encodings

export type SourceEncoding = 'utf8' | 'utf16le' | 'utf16be' | 'utf32le' | 'utf32be' | 'windows1252';

const ENCODING_NAMES: Record<SourceEncoding, string> = {
  windows1252: 'Windows-1252',
  utf8: 'UTF-8',
  utf16le: 'UTF-16LE',
  utf16be: 'UTF-16BE',
  utf32le: 'UTF-32LE',
  utf32be: 'UTF-32BE',
};

/**
 * BOM sniffing on the first bytes (UTF-32 before UTF-16: FF FE 00 00 is UTF-32LE). Without a BOM:
 * text whose every other byte is 0x00 (every 4-byte unit 00-padded) is reported as UTF-16 (UTF-32)
 * with bomBytes 0; anything else is utf8 with bomBytes 0.
 *
 * Also recognizes UTF-32 written after a 2-byte UTF-16 BOM (FE FF or FF FE, then UTF-32LE or UTF-32BE
 * units; Salesforce Data Loader's own UTF-32 test files look like this): bomBytes 2.
 */
export function detectEncoding(head: Uint8Array): { encoding: SourceEncoding; bomBytes: number } {
  const n = head.length;
  const b = (i: number): number => (i < n ? (head[i] as number) : -1);
  if (b(0) === 0x00 && b(1) === 0x00 && b(2) === 0xfe && b(3) === 0xff)
    return { encoding: 'utf32be', bomBytes: 4 };
  if (b(0) === 0xff && b(1) === 0xfe && b(2) === 0x00 && b(3) === 0x00)
    return { encoding: 'utf32le', bomBytes: 4 };
  if (b(0) === 0xef && b(1) === 0xbb && b(2) === 0xbf) return { encoding: 'utf8', bomBytes: 3 };
  const le16 = b(0) === 0xff && b(1) === 0xfe;
  if (le16 || (b(0) === 0xfe && b(1) === 0xff)) {
    // Read as UTF-16, 00-padded 4-byte units would put U+0000 right after the BOM: UTF-32 behind a 2-byte BOM.
    const utf32 = sniffUtf32(head.subarray(2, Math.min(n, ENCODING_SNIFF_BYTES)), 1);
    if (utf32) return { encoding: utf32, bomBytes: 2 };
    return { encoding: le16 ? 'utf16le' : 'utf16be', bomBytes: 2 };
  }
  const sniffed = sniffWithoutBom(head.subarray(0, Math.min(n, ENCODING_SNIFF_BYTES)));
  return { encoding: sniffed, bomBytes: 0 };
}

/** 'utf32le'/'utf32be' when every whole 4-byte unit (at least minUnits) is a 00-padded BMP code point. */
function sniffUtf32(head: Uint8Array, minUnits: number): 'utf32le' | 'utf32be' | undefined {
  const units = head.length >> 2;
  if (units < minUnits) return undefined;
  let le = 0;
  let be = 0;
  for (let o = 0; o < units * 4; o += 4) {
    const b0 = head[o] as number;
    const b1 = head[o + 1] as number;
    const b2 = head[o + 2] as number;
    const b3 = head[o + 3] as number;
    if (b2 === 0 && b3 === 0 && (b0 !== 0 || b1 !== 0)) le++;
    if (b0 === 0 && b1 === 0 && (b2 !== 0 || b3 !== 0)) be++;
  }
  if (le === units) return 'utf32le';
  if (be === units) return 'utf32be';
  return undefined;
}

function sniffWithoutBom(head: Uint8Array): SourceEncoding {
  const utf32 = sniffUtf32(head, 2);
  if (utf32) return utf32;
  const units16 = head.length >> 1;
  if (units16 >= 2) {
    let evenZeros = 0;
    let oddZeros = 0;
    for (let k = 0; k < units16 * 2; k += 2) {
      if (head[k] === 0) evenZeros++;
      if (head[k + 1] === 0) oddZeros++;
    }
    // Mostly-Latin UTF-16: one byte of (nearly) every unit is 0x00, the other (nearly) never.
    if (oddZeros * 10 >= units16 * 7 && evenZeros * 10 <= units16) return 'utf16le';
    if (evenZeros * 10 >= units16 * 7 && oddZeros * 10 <= units16) return 'utf16be';
  }
  return 'utf8';
}

/**
 * Streaming transcoder to UTF-8 for UTF-16/UTF-32 sources: input chunks may split code units anywhere.
 * Drops the BOM (also the 2-byte BOM in front of UTF-32, see detectEncoding). Invalid sequences (unpaired
 * surrogates, code points above U+10FFFF, a truncated last unit) throw MalformedFileError naming the
 * byte offset in the source. 'utf8' passes the bytes through unchanged (BOM included, offsets kept).
 */
export async function* transcodeToUtf8(
  source: AsyncIterable<Uint8Array>,
  encoding: SourceEncoding,
): AsyncGenerator<Buffer> {
  if (encoding === 'utf8') {
    for await (const chunk of source) yield asBuffer(chunk);
    return;
  }
  if (encoding === 'windows1252') {
    // One byte is one character: no state across chunks, and no byte is invalid.
    const decoder = new TextDecoder('windows-1252');
    for await (const chunk of source) {
      if (chunk.length > 0) yield Buffer.from(decoder.decode(chunk), 'utf8');
    }
    return;
  }
  const unit = encoding === 'utf16le' || encoding === 'utf16be' ? 2 : 4;
  const bigEndian = encoding === 'utf16be' || encoding === 'utf32be';
  const name = ENCODING_NAMES[encoding];
  const decoder =
    unit === 2
      ? new TextDecoder(bigEndian ? 'utf-16be' : 'utf-16le', { fatal: true, ignoreBOM: true })
      : undefined;
  const decodeUnits = (body: Buffer, at: number): Buffer =>
    decoder ? decodeUtf16(decoder, body, bigEndian, at, name) : decodeUtf32(body, bigEndian, at, name);
  /** Source offset of carry[0]. */
  let offset = 0;
  let carry: Buffer = Buffer.alloc(0);
  let bomChecked = false;

  for await (const chunk of source) {
    let data = carry.length > 0 ? Buffer.concat([carry, asBuffer(chunk)]) : asBuffer(chunk);
    if (!bomChecked) {
      if (data.length < 4) {
        carry = Buffer.from(data);
        continue;
      }
      bomChecked = true;
      const skip = bomLength(data, encoding);
      data = data.subarray(skip);
      offset += skip;
    }
    // Decode whole units; keep a trailing partial unit (and for UTF-16 a trailing high surrogate).
    let usable = data.length - (data.length % unit);
    if (unit === 2 && usable >= 2) {
      const last = bigEndian ? data.readUInt16BE(usable - 2) : data.readUInt16LE(usable - 2);
      if (last >= 0xd800 && last <= 0xdbff) usable -= 2;
    }
    if (usable > 0) {
      const out = decodeUnits(data.subarray(0, usable), offset);
      if (out.length > 0) yield out;
    }
    offset += usable;
    carry = Buffer.from(data.subarray(usable));
  }

  if (!bomChecked && carry.length > 0) {
    const skip = bomLength(carry, encoding);
    carry = carry.subarray(skip);
    offset += skip;
    const usable = carry.length - (carry.length % unit);
    if (usable > 0) {
      const out = decodeUnits(carry.subarray(0, usable), offset);
      if (out.length > 0) yield out;
      offset += usable;
      carry = carry.subarray(usable);
    }
  }
  if (carry.length > 0) {
    throw new MalformedFileError(
      `${name} data is invalid at byte offset ${offset}: the file ends inside a character`,
    );
  }
}

/** BOM bytes to drop at the start of a UTF-16/32 stream. */
function bomLength(data: Buffer, encoding: SourceEncoding): number {
  const [b0, b1, b2, b3] = [data[0], data[1], data[2], data[3]];
  switch (encoding) {
    case 'utf16le':
      return b0 === 0xff && b1 === 0xfe ? 2 : 0;
    case 'utf16be':
      return b0 === 0xfe && b1 === 0xff ? 2 : 0;
    // UTF-32 may also come behind a 2-byte UTF-16 BOM of either byte order (see detectEncoding).
    case 'utf32le':
      if (b0 === 0xff && b1 === 0xfe && b2 === 0 && b3 === 0) return 4;
      return (b0 === 0xff && b1 === 0xfe) || (b0 === 0xfe && b1 === 0xff) ? 2 : 0;
    case 'utf32be':
      if (b0 === 0 && b1 === 0 && b2 === 0xfe && b3 === 0xff) return 4;
      return (b0 === 0xff && b1 === 0xfe) || (b0 === 0xfe && b1 === 0xff) ? 2 : 0;
    default:
      return 0;
  }
}

function decodeUtf16(
  decoder: TextDecoder,
  body: Buffer,
  bigEndian: boolean,
  offset: number,
  name: string,
): Buffer {
  let text: string;
  try {
    text = decoder.decode(body);
  } catch (cause) {
    const at = offset + firstInvalidUtf16(body, bigEndian);
    throw new MalformedFileError(`${name} data is invalid at byte offset ${at}: unpaired surrogate`, {
      cause,
    });
  }
  return Buffer.from(text, 'utf8');
}

/** Byte index of the first unpaired surrogate in whole UTF-16 units (body.length if none). */
function firstInvalidUtf16(body: Buffer, bigEndian: boolean): number {
  const read = (i: number): number => (bigEndian ? body.readUInt16BE(i) : body.readUInt16LE(i));
  for (let i = 0; i + 1 < body.length; i += 2) {
    const u = read(i);
    if (u >= 0xdc00 && u <= 0xdfff) return i;
    if (u >= 0xd800 && u <= 0xdbff) {
      if (i + 3 >= body.length) return i;
      const next = read(i + 2);
      if (next < 0xdc00 || next > 0xdfff) return i;
      i += 2;
    }
  }
  return body.length;
}

function decodeUtf32(body: Buffer, bigEndian: boolean, offset: number, name: string): Buffer {
  const out = Buffer.allocUnsafe(body.length); // each 4-byte unit needs at most 4 UTF-8 bytes
  let o = 0;
  for (let i = 0; i < body.length; i += 4) {
    const cp = bigEndian ? body.readUInt32BE(i) : body.readUInt32LE(i);
    if (cp < 0x80) {
      out[o++] = cp;
    } else if (cp < 0x800) {
      out[o++] = 0xc0 | (cp >> 6);
      out[o++] = 0x80 | (cp & 0x3f);
    } else if (cp < 0x10000) {
      if (cp >= 0xd800 && cp <= 0xdfff) {
        throw new MalformedFileError(
          `${name} data is invalid at byte offset ${offset + i}: surrogate code point`,
        );
      }
      out[o++] = 0xe0 | (cp >> 12);
      out[o++] = 0x80 | ((cp >> 6) & 0x3f);
      out[o++] = 0x80 | (cp & 0x3f);
    } else if (cp <= 0x10ffff) {
      out[o++] = 0xf0 | (cp >> 18);
      out[o++] = 0x80 | ((cp >> 12) & 0x3f);
      out[o++] = 0x80 | ((cp >> 6) & 0x3f);
      out[o++] = 0x80 | (cp & 0x3f);
    } else {
      throw new MalformedFileError(
        `${name} data is invalid at byte offset ${offset + i}: not a Unicode code point`,
      );
    }
  }
  return out.subarray(0, o);
}

/** Decodes UTF-8 bytes; throws MalformedFileError("line N: … is not valid UTF-8") if they are not valid. */
export function decodeUtf8(bytes: Uint8Array, line: number): string {
  const buf = asBuffer(bytes);
  // Decode first (`toString()` without arguments is Buffer's shortest path to UTF-8), validate only when
  // needed: the decoder replaces every invalid sequence with U+FFFD, so text without one came from valid
  // UTF-8 (and includes() of a non-Latin-1 character in a one-byte string returns at once). A real
  // U+FFFD in the data is told apart by isUtf8.
  const text = buf.toString();
  if (!text.includes('\uFFFD') || isUtf8(buf)) return text;
  const at = firstInvalidUtf8(buf);
  throw new MalformedFileError(`line ${line}: byte ${at + 1} of the record is not valid UTF-8`);
}

/** Index of the first byte that starts an invalid UTF-8 sequence (only called on invalid input). */
function firstInvalidUtf8(bytes: Uint8Array): number {
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    const c = bytes[i] as number;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) {
      need = 1;
      min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      min = 0x10000;
    } else {
      return i;
    }
    if (i + need >= n) return i;
    let cp = c & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const t = bytes[i + k] as number;
      if ((t & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (t & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return n;
}

// ---------------------------------------------------------------------------------------------------------
// Chunk planning (Plan step) and chunk reading (workers)

export interface ChunkPlan {
  index: number;
  start: number;
  end: number;
  firstLine: number;
  rows: number;
}

export interface FilePlan {
  /** CSV: the first non-blank record (after a UTF-8 BOM); `end` excludes its terminator. JSONL: none. */
  header?: { line: number; start: number; end: number; text: string };
  delimiter: Delimiter;
  bomBytes: number;
  /** Cover [after the header's terminator, file end) without gaps or overlap; never a chunk with 0 rows. */
  chunks: ChunkPlan[];
  /** Data records (non-blank) after the header == sum of chunk rows. */
  rows: number;
  /** Total bytes read. */
  bytes: number;
}

export type SourceFormat = 'csv' | 'jsonl';

export interface PlanOptions {
  chunkBytes: number;
  maxRecordBytes?: number;
  /** Given, or detected from the header when 'auto' (the default). */
  delimiter?: 'auto' | Delimiter;
  /** 'jsonl': no header, quotes are ordinary bytes, every non-blank line is a record. Default 'csv'. */
  format?: SourceFormat;
}

/**
 * The text of the first non-blank line of `bytes` (quotes toggle, so a quoted line break does not end
 * it), or undefined when no line break ends it within `bytes`. Used to pick the delimiter before the
 * real split, which needs it.
 */
function firstLineText(bytes: Buffer): string | undefined {
  let quoted = false;
  let begin = -1;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (c === QUOTE) quoted = !quoted;
    if (c === LF || c === CR) {
      if (quoted) continue;
      if (begin !== -1) return bytes.toString('utf8', begin, i);
    } else if (begin === -1) {
      begin = i;
    }
  }
  return undefined;
}

/**
 * Checks that a stream is UTF-8, one buffer at a time (a character split across buffers is carried
 * over); reports the first invalid byte as a MalformedFileError naming the line and byte offset.
 */
class Utf8Validator {
  private carry: Buffer = Buffer.alloc(0);

  /** `line`: line number of buf[0]; `offset`: absolute offset of buf[0]. */
  check(buf: Buffer, offset: number, line: number): void {
    let from = 0;
    if (this.carry.length > 0) {
      const need = utf8Length(this.carry[0] as number) - this.carry.length;
      const head = Buffer.concat([this.carry, buf.subarray(0, need)]);
      if (head.length < this.carry.length + need) {
        this.carry = head; // still incomplete (a tiny buffer)
        return;
      }
      if (!isUtf8(head)) this.fail(head, offset - this.carry.length, line);
      this.carry = Buffer.alloc(0);
      from = need;
    }
    const cut = incompleteTail(buf, from);
    const body = buf.subarray(from, cut);
    if (!isUtf8(body)) this.fail(body, offset + from, line + countLineBreaks(buf.subarray(0, from)));
    if (cut < buf.length) this.carry = Buffer.from(buf.subarray(cut));
  }

  /** End of input: a character cut off by the end of the file is invalid too. */
  end(offset: number, line: number): void {
    if (this.carry.length > 0) this.fail(this.carry, offset - this.carry.length, line);
  }

  private fail(bytes: Buffer, offset: number, line: number): never {
    const at = firstInvalidUtf8(bytes);
    const shown = [...bytes.subarray(at, at + 2)].map((b) => `0x${b.toString(16).toUpperCase()}`);
    throw new MalformedFileError(
      `line ${line + countLineBreaks(bytes.subarray(0, at))}, byte offset ${offset + at}: the file is ` +
        `not valid UTF-8 (bytes ${shown.join(' ')}); it is probably Windows-1252/Latin-1: ` +
        'save it as UTF-8 or set the entity\'s source.encoding to "windows-1252"',
    );
  }
}

/** Bytes of the UTF-8 sequence that `lead` starts (1 for ASCII and for invalid leads). */
function utf8Length(lead: number): number {
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  return 1;
}

/** Index where a UTF-8 sequence cut off by the end of `buf` starts (buf.length if none). */
function incompleteTail(buf: Buffer, from: number): number {
  const n = buf.length;
  for (let back = 1; back <= 3 && n - back >= from; back++) {
    const c = buf[n - back] as number;
    if ((c & 0xc0) === 0x80) continue; // continuation byte: look further back for the lead
    return utf8Length(c) > back ? n - back : n;
  }
  return n;
}

/**
 * Scans a UTF-8 CSV (or JSON Lines) stream once (the Plan step) and cuts it into chunks: a chunk ends at
 * the start of the first record at or after start + chunkBytes (blank lines stay with the chunk before).
 * Throws MalformedFileError for an empty file, a binary file (binaryProblem, nulInFirstLine), a UTF-16/32
 * file (to be transcoded first), bytes that are not UTF-8 (naming the line and offset), an unclosed quote
 * at EOF or a record longer than maxRecordBytes.
 */
export async function planChunks(source: AsyncIterable<Uint8Array>, options: PlanOptions): Promise<FilePlan> {
  const { chunkBytes } = options;
  if (!Number.isFinite(chunkBytes) || chunkBytes < 1)
    throw new RangeError(`chunkBytes must be >= 1, got ${chunkBytes}`);
  const jsonl = options.format === 'jsonl';
  const autoDelimiter = !jsonl && (!options.delimiter || options.delimiter === 'auto');
  let delimiter: Delimiter =
    jsonl || !options.delimiter || options.delimiter === 'auto' ? ',' : options.delimiter;
  const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  let splitter: CsvRecordSplitter | undefined;
  const utf8 = new Utf8Validator();
  let bomBytes = 0;
  let total = 0;
  let head: Buffer[] = [];
  let headLength = 0;

  let header: { line: number; start: number; end: number; bytes: Buffer } | undefined;
  /** The header as emit set it (read through a call: the compiler cannot see emit's assignment). */
  const headerRead = (): typeof header => header;
  /** Header ended with a CR as the last byte of a push: the next byte decides CR vs CRLF. */
  let headerCrPending = false;

  const chunks: ChunkPlan[] = [];
  let rows = 0;
  let chunkStart = 0;
  let chunkLine = 1;
  let chunkRows = 0;
  let currentBuffer: Buffer = Buffer.alloc(0);
  let currentBase = 0;

  const emit = (record: RawRecord): void => {
    if (header === undefined && !jsonl) {
      const end = record.offset + record.bytes.length;
      header = { line: record.line, start: record.offset, end, bytes: record.bytes };
      chunkLine = record.line + countLineBreaks(record.bytes) + 1;
      const at = end - currentBase; // the terminator byte is in the buffer being pushed
      if (at < 0 || at >= currentBuffer.length) {
        chunkStart = end; // no terminator (emitted by end())
      } else if (currentBuffer[at] === CR) {
        if (at + 1 < currentBuffer.length) chunkStart = end + (currentBuffer[at + 1] === LF ? 2 : 1);
        else headerCrPending = true;
      } else {
        chunkStart = end + 1;
      }
      return;
    }
    if (chunkRows > 0 && record.offset - chunkStart >= chunkBytes) {
      chunks.push({
        index: chunks.length,
        start: chunkStart,
        end: record.offset,
        firstLine: chunkLine,
        rows: chunkRows,
      });
      chunkStart = record.offset;
      chunkLine = record.line;
      chunkRows = 0;
    }
    chunkRows++;
    rows++;
  };

  const feed = (buf: Buffer, base: number): void => {
    const active = splitter as CsvRecordSplitter;
    utf8.check(buf, base, active.line);
    if (headerCrPending && buf.length > 0) {
      headerCrPending = false;
      chunkStart = (header as { end: number }).end + (buf[0] === LF ? 2 : 1);
    }
    currentBuffer = buf;
    currentBase = base;
    active.push(buf, emit);
  };

  /** Enough of the head to sniff the encoding and, for an auto delimiter, to hold the first line. */
  const headIsEnough = (all: Buffer): boolean =>
    all.length >= ENCODING_SNIFF_BYTES &&
    (!autoDelimiter || all.length >= maxRecordBytes || firstLineText(all) !== undefined);

  /** Reads the head: the encoding, the delimiter; makes the splitter and feeds it the head. */
  const start = (): CsvRecordSplitter => {
    const all = head.length === 1 ? (head[0] as Buffer) : Buffer.concat(head, headLength);
    head = [all];
    const binary = binaryProblem(all);
    if (binary !== undefined) throw new MalformedFileError(binary);
    const detected = detectEncoding(all);
    if (detected.encoding !== 'utf8') {
      const name = ENCODING_NAMES[detected.encoding];
      const how =
        detected.bomBytes > 0
          ? 'has a byte-order mark'
          : 'looks like it (every other byte is 0x00, no byte-order mark)';
      throw new MalformedFileError(`file is ${name}, not UTF-8 (it ${how}): transcode it to UTF-8 first`);
    }
    head = [];
    const nul = nulInFirstLine(all);
    if (nul !== undefined) throw new MalformedFileError(nul);
    bomBytes = detected.bomBytes;
    chunkStart = bomBytes;
    const body = all.subarray(bomBytes);
    if (autoDelimiter) delimiter = detectDelimiter(firstLineText(body) ?? body.toString('utf8'));
    const made = new CsvRecordSplitter({
      startOffset: bomBytes,
      maxRecordBytes,
      delimiter,
      quoting: !jsonl,
    });
    splitter = made;
    if (body.length > 0) feed(body, bomBytes);
    return made;
  };

  for await (const chunk of source) {
    const buf = asBuffer(chunk);
    if (buf.length === 0) continue;
    if (splitter === undefined) {
      head.push(buf);
      headLength += buf.length;
      total += buf.length;
      if (headLength >= ENCODING_SNIFF_BYTES) {
        head = [head.length === 1 ? (head[0] as Buffer) : Buffer.concat(head, headLength)];
        if (headIsEnough(head[0] as Buffer)) start();
      }
      continue;
    }
    feed(buf, total);
    total += buf.length;
  }
  const startAtEnd = (): CsvRecordSplitter => {
    if (headLength === 0) throw new MalformedFileError('file is empty');
    return start();
  };
  const active = splitter ?? startAtEnd();
  utf8.end(total, active.line);
  currentBuffer = Buffer.alloc(0);
  active.end(emit);
  const found = headerRead();
  if (headerCrPending && found !== undefined) {
    headerCrPending = false;
    chunkStart = found.end + 1;
  }

  if (found === undefined && !jsonl) throw new MalformedFileError('file is empty (no header line)');
  if (jsonl && rows === 0) throw new MalformedFileError('file is empty (no JSON record)');
  if (chunkRows > 0) {
    chunks.push({
      index: chunks.length,
      start: chunkStart,
      end: total,
      firstLine: chunkLine,
      rows: chunkRows,
    });
  } else if (chunks.length > 0) {
    (chunks[chunks.length - 1] as ChunkPlan).end = total; // trailing blank lines join the last chunk
  }
  return {
    header: found && {
      line: found.line,
      start: found.start,
      end: found.end,
      text: decodeUtf8(found.bytes, found.line),
    },
    delimiter,
    bomBytes,
    chunks,
    rows,
    bytes: total,
  };
}

/** File kinds told by their first bytes, and what to do with them. */
const MAGIC: ReadonlyArray<{ bytes: readonly number[]; what: string }> = [
  {
    bytes: [0x1f, 0x8b],
    what: 'a gzip file: decompress it first (gunzip) and load the CSV or JSON Lines inside',
  },
  {
    bytes: [0x50, 0x4b, 0x03, 0x04],
    what: 'a zip archive (an .xlsx or .docx file is one): unzip it, or save the sheet as "CSV UTF-8", and load that',
  },
  { bytes: [0x50, 0x4b, 0x05, 0x06], what: 'an empty zip archive: export the data as CSV or JSON Lines' },
  {
    bytes: [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1],
    what: 'an Excel 97-2003 workbook (.xls) or another Office file: save the sheet as "CSV UTF-8"',
  },
  { bytes: [0x50, 0x41, 0x52, 0x31], what: 'a Parquet file: export the data as CSV or JSON Lines' },
  { bytes: [0x89, 0x50, 0x4e, 0x47], what: 'a PNG image: export the data as CSV or JSON Lines' },
  { bytes: [0x25, 0x50, 0x44, 0x46, 0x2d], what: 'a PDF document: export the data as CSV or JSON Lines' },
  { bytes: [0x42, 0x5a, 0x68], what: 'a bzip2 file: decompress it first (bunzip2)' },
  { bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], what: 'an xz file: decompress it first (unxz)' },
  { bytes: [0x28, 0xb5, 0x2f, 0xfd], what: 'a zstd file: decompress it first (unzstd)' },
  { bytes: [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c], what: 'a 7-Zip archive: extract it first' },
  {
    bytes: [0x53, 0x51, 0x4c, 0x69, 0x74, 0x65, 0x20, 0x66],
    what: 'an SQLite database: export the table as CSV',
  },
];

/**
 * What a file is when its first bytes say it is no text file (gzip, zip and so .xlsx, .xls, Parquet,
 * PDF, bzip2, xz, zstd, 7-Zip, SQLite), as the message a person acts on; undefined otherwise.
 */
export function binaryProblem(head: Uint8Array): string | undefined {
  for (const m of MAGIC) {
    if (head.length >= m.bytes.length && m.bytes.every((b, i) => head[i] === b)) {
      return `binary file, not CSV or JSON Lines: the file is ${m.what}`;
    }
  }
  return undefined;
}

/**
 * A NUL byte before the first line break of UTF-8 bytes (the header of a CSV, the first record of
 * JSON Lines) marks a binary file: the message, or undefined. A NUL in a later line rejects that
 * line's row (`nul_char:<column>`), wherever it is in the file.
 */
export function nulInFirstLine(head: Uint8Array): string | undefined {
  const buf = asBuffer(head);
  let end = buf.length;
  const lf = buf.indexOf(LF);
  if (lf !== -1) end = lf;
  const cr = buf.subarray(0, end).indexOf(CR);
  if (cr !== -1) end = cr;
  const nul = buf.subarray(0, end).indexOf(0);
  return nul === -1
    ? undefined
    : `binary file, not CSV or JSON Lines: a NUL byte at byte offset ${nul}, in the first line`;
}

/**
 * The header (first non-blank record) of a UTF-8 file from its first bytes, BOM removed, or
 * undefined when those bytes end before the header does. `wholeFile`: the bytes are the whole file,
 * so an unterminated last record still counts. Plan uses it to check the header before it scans,
 * transcodes or writes anything.
 */
export function headerFromHead(
  head: Uint8Array,
  wholeFile: boolean,
  delimiter: 'auto' | Delimiter = 'auto',
): { line: number; text: string; delimiter: Delimiter } | undefined {
  let bytes = asBuffer(head);
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
  const lineText = firstLineText(bytes) ?? (wholeFile ? bytes.toString('utf8') : undefined);
  if (lineText === undefined) return undefined;
  const chosen = delimiter === 'auto' ? detectDelimiter(lineText) : delimiter;
  let first: RawRecord | undefined;
  const emit = (r: RawRecord) => {
    first ??= r;
  };
  const splitter = new CsvRecordSplitter({ maxRecordBytes: bytes.length + 1, delimiter: chosen });
  splitter.push(bytes, emit);
  if (first === undefined && wholeFile) splitter.end(emit);
  const found = first as RawRecord | undefined;
  return found
    ? { line: found.line, text: decodeUtf8(found.bytes, found.line), delimiter: chosen }
    : undefined;
}

/**
 * Worker side: splits the bytes of one chunk (a stream of exactly the chunk's byte range) into records,
 * yielding them in arrays (one array per input buffer that completed records).
 */
export async function* recordsOf(
  source: AsyncIterable<Uint8Array>,
  chunk: Pick<ChunkPlan, 'start' | 'firstLine'>,
  options: Pick<SplitterOptions, 'maxRecordBytes' | 'delimiter' | 'quoting'> = {},
): AsyncGenerator<RawRecord[]> {
  const splitter = new CsvRecordSplitter({
    ...options,
    startOffset: chunk.start,
    startLine: chunk.firstLine,
  });
  let batch: RawRecord[] = [];
  const emit = (record: RawRecord): void => {
    batch.push(record);
  };
  for await (const buf of source) {
    splitter.push(buf, emit);
    if (batch.length > 0) {
      yield batch;
      batch = [];
    }
  }
  splitter.end(emit);
  if (batch.length > 0) yield batch;
}
