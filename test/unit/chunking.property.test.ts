import fc from 'fast-check';
import {
  CsvRecordSplitter,
  decodeUtf8,
  parseRecord,
  planChunks,
  type RawRecord,
  recordsOf,
} from '../../lambdas/domain/csv';

type Delimiter = ',' | ';' | '\t' | '|';
const LINE_ENDINGS = ['\n', '\r\n', '\r'] as const;

/** Field text mixing CSV specials, printable graphemes and any code point (no NUL, no U+FEFF). */
const fieldArb = fc
  .array(
    fc.oneof(
      fc.constantFrom('"', '""', ',', ';', '\t', '|', '\n', '\r\n', '\r', ' ', 'a', '=1+1'),
      fc.string({ unit: 'grapheme', maxLength: 4 }),
      fc.string({ unit: 'binary', maxLength: 4 }),
    ),
    { maxLength: 5 },
  )
  .map((parts) => parts.join('').replaceAll('\u0000', '').replaceAll('\ufeff', ''));

const recordArb = (columns: number) =>
  fc.record({
    fields: fc.array(fieldArb, { minLength: columns, maxLength: columns }),
    /** Bit k set: quote field k even when it does not need quotes. */
    quoteMask: fc.nat({ max: 63 }),
    ending: fc.constantFrom(...LINE_ENDINGS),
    blankLinesBefore: fc.array(fc.constantFrom(...LINE_ENDINGS), { maxLength: 2 }),
  });
type GeneratedRecord = { fields: string[]; quoteMask: number; ending: string; blankLinesBefore: string[] };

const tableArb = fc.integer({ min: 1, max: 6 }).chain((columns) =>
  fc.record({
    delimiter: fc.constantFrom<Delimiter>(',', ';', '\t', '|'),
    header: recordArb(columns),
    rows: fc.array(recordArb(columns), { maxLength: 40 }),
    finalTerminator: fc.boolean(),
  }),
);

const piecesArb = fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 16 });

function serializeField(field: string, delimiter: Delimiter, force: boolean, columns: number): string {
  // RFC 4180 quoting where needed; a quote inside a field that does not start with one may stay bare
  // (`5" monitor`): it is an ordinary character there.
  const needs =
    force ||
    field.startsWith('"') ||
    field.includes(delimiter) ||
    field.includes('\r') ||
    field.includes('\n') ||
    (columns === 1 && field === ''); // an unquoted empty single field would be a blank line
  return needs ? `"${field.replaceAll('"', '""')}"` : field;
}

interface Serialized {
  data: Buffer;
  /** Byte offset where each record (header first) starts. */
  offsets: number[];
  /** Byte offset just after the header's terminator. */
  afterHeader: number;
}

function serialize(records: GeneratedRecord[], delimiter: Delimiter, finalTerminator: boolean): Serialized {
  const pieces: Buffer[] = [];
  const offsets: number[] = [];
  let size = 0;
  let afterHeader = 0;
  const add = (text: string): void => {
    const buf = Buffer.from(text, 'utf8');
    pieces.push(buf);
    size += buf.length;
  };
  records.forEach((record, k) => {
    for (const blank of record.blankLinesBefore) add(blank);
    // A blank LF right after a CR terminator joins it into one CRLF: still a valid, blank-free boundary.
    offsets.push(size);
    const columns = record.fields.length;
    add(
      record.fields
        .map((f, i) => serializeField(f, delimiter, (record.quoteMask & (1 << i)) !== 0, columns))
        .join(delimiter),
    );
    if (k < records.length - 1 || finalTerminator || k === 0) add(record.ending);
    if (k === 0) afterHeader = size;
  });
  const data = Buffer.concat(pieces, size);
  // A header ending in CR followed by a blank LF line: the two form one CRLF terminator.
  if (data[afterHeader - 1] === 0x0d && data[afterHeader] === 0x0a) afterHeader++;
  return { data, offsets, afterHeader };
}

/** 1 + line breaks (CRLF, CR, LF) in data[0, offset): the line a record starting there has. */
function lineAt(data: Buffer, offset: number): number {
  const matches = data
    .subarray(0, offset)
    .toString('latin1')
    .match(/\r\n|\r|\n/g);
  return 1 + (matches?.length ?? 0);
}

async function* pieces(data: Buffer, sizes: number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  let k = 0;
  while (at < data.length) {
    const size = sizes[k++ % sizes.length] as number;
    yield data.subarray(at, at + size);
    at += size;
  }
}

type Rec = { line: number; offset: number; bytes: string };
const rec = (r: RawRecord): Rec => ({ line: r.line, offset: r.offset, bytes: r.bytes.toString('hex') });

function splitWhole(data: Buffer, delimiter: Delimiter): Rec[] {
  const splitter = new CsvRecordSplitter({ delimiter });
  const out: Rec[] = [];
  const emit = (r: RawRecord): void => {
    out.push(rec(r));
  };
  splitter.push(data, emit);
  splitter.end(emit);
  return out;
}

describe('chunking (property)', () => {
  it('chunks concatenated give the records of the whole file, and the generated fields back', async () => {
    await fc.assert(
      fc.asyncProperty(
        tableArb,
        fc.integer({ min: 1, max: 200 }),
        piecesArb,
        piecesArb,
        async (table, chunkBytes, planPieces, chunkPieces) => {
          // Prepare
          const records = [table.header, ...table.rows];
          const { data, offsets, afterHeader } = serialize(records, table.delimiter, table.finalTerminator);
          const whole = splitWhole(data, table.delimiter);

          // Act
          const plan = await planChunks(pieces(data, planPieces), { chunkBytes, delimiter: table.delimiter });
          const fromChunks: Rec[] = [];
          for (const chunk of plan.chunks) {
            const range = data.subarray(chunk.start, chunk.end);
            for await (const batch of recordsOf(pieces(range, chunkPieces), chunk, {
              delimiter: table.delimiter,
            }))
              fromChunks.push(...batch.map(rec));
          }

          // Assess
          // The whole-file split finds exactly the generated records, at the right offsets and lines.
          expect(whole.map((r) => r.offset)).toEqual(offsets);
          expect(whole.map((r) => r.line)).toEqual(offsets.map((o) => lineAt(data, o)));
          // Plan: header, counts and coverage.
          expect(plan.bytes).toBe(data.length);
          expect(plan.rows).toBe(table.rows.length);
          expect(plan.chunks.reduce((sum, c) => sum + c.rows, 0)).toBe(plan.rows);
          expect(plan.header?.start).toBe(offsets[0]);
          expect(parseRecord(plan.header?.text ?? '', plan.delimiter)).toEqual({
            ok: true,
            fields: table.header.fields,
          });
          let at = afterHeader;
          for (const [k, chunk] of plan.chunks.entries()) {
            expect(chunk).toMatchObject({ index: k, start: at });
            expect(chunk.rows).toBeGreaterThan(0);
            if (k < plan.chunks.length - 1)
              expect(chunk.end - chunk.start).toBeGreaterThanOrEqual(chunkBytes);
            expect(chunk.firstLine).toBe(lineAt(data, chunk.start));
            at = chunk.end;
          }
          if (plan.chunks.length > 0) expect(at).toBe(data.length);
          else expect(table.rows).toHaveLength(0);
          // Workers: chunks concatenated == whole split minus the header.
          expect(fromChunks).toEqual(whole.slice(1));
          const parsed = fromChunks.map((r) =>
            parseRecord(decodeUtf8(Buffer.from(r.bytes, 'hex'), r.line), table.delimiter),
          );
          expect(parsed).toEqual(table.rows.map((row) => ({ ok: true, fields: row.fields })));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('the splitter gives the same records however the input is cut', () => {
    fc.assert(
      fc.property(tableArb, piecesArb, (table, sizes) => {
        // Prepare
        const { data } = serialize([table.header, ...table.rows], table.delimiter, table.finalTerminator);
        const expected = splitWhole(data, table.delimiter);
        const splitter = new CsvRecordSplitter({ delimiter: table.delimiter });
        const out: Rec[] = [];
        const emit = (r: RawRecord): void => {
          out.push(rec(r));
        };

        // Act
        let at = 0;
        for (let k = 0; at < data.length; k++) {
          const size = sizes[k % sizes.length] as number;
          splitter.push(data.subarray(at, at + size), emit);
          at += size;
        }
        splitter.end(emit);

        // Assess
        expect(out).toEqual(expected);
        expect(splitter.offset).toBe(data.length);
        expect(splitter.line).toBe(lineAt(data, data.length));
      }),
      { numRuns: 200 },
    );
  });
});
