/**
 * Parse-only passes over one CSV file streamed from disk (1 MiB reads): each returns the data rows
 * (header excluded) and fields it saw, and keeps nothing. Fields stay strings (no typing).
 *
 * papaparse and udsv parse strings: they get chunks decoded by the stream (`encoding: 'utf8'`, a
 * StringDecoder), because their own Buffer handling (`chunk.toString()` per chunk) would split
 * multi-byte characters at chunk boundaries. Ours and csv-parse take the raw bytes.
 */
import { createReadStream } from 'node:fs';
import { parse as csvParse } from 'csv-parse';
import Papa from 'papaparse';
import { inferSchema, initParser, type Parser as UdsvParser } from 'udsv';
import { decodeUtf8, parseRecord, recordsOf } from '../lambdas/domain/csv';
import { HIGH_WATER_MARK, type PassCounts } from './measure';

/** The generated file's delimiter, given to every parser (none of them sniffs it). */
const DELIMITER = ',';

export type ParserName = 'ours' | 'papaparse' | 'csvParse' | 'udsv';

export interface ParserCase {
  name: ParserName;
  /** How the parser is driven, for the report. */
  api: string;
  pass: (path: string) => Promise<PassCounts>;
}

/** The product's parser: recordsOf (quote-aware splitter) → decodeUtf8 → parseRecord, per record. */
async function ours(path: string): Promise<PassCounts> {
  let rows = 0;
  let fields = 0;
  let header = true;
  const source = createReadStream(path, { highWaterMark: HIGH_WATER_MARK });
  for await (const batch of recordsOf(source, { start: 0, firstLine: 1 }, { delimiter: DELIMITER })) {
    for (const record of batch) {
      const text = decodeUtf8(record.bytes, record.line);
      if (header) {
        header = false;
        continue;
      }
      const parsed = parseRecord(text, DELIMITER);
      if (!parsed.ok) throw new Error(`ours: line ${record.line}: ${parsed.reason}`);
      rows++;
      fields += parsed.fields.length;
    }
  }
  return { rows, fields };
}

async function papaparse(path: string): Promise<PassCounts> {
  let rows = -1; // the header is the first row
  let fields = 0;
  let headerFields = 0;
  await new Promise<void>((resolve, reject) => {
    const source = createReadStream(path, { highWaterMark: HIGH_WATER_MARK, encoding: 'utf8' });
    source.once('error', reject);
    Papa.parse<string[]>(source, {
      header: false,
      dynamicTyping: false,
      delimiter: DELIMITER,
      chunk: (results) => {
        const first = results.errors[0];
        if (first) {
          reject(new Error(`papaparse: row ${first.row}: ${first.code} ${first.message}`));
          return;
        }
        for (const row of results.data) {
          if (row.length === 1 && row[0] === '') continue; // a blank line (what skipEmptyLines: true drops)
          if (rows === -1) headerFields = row.length;
          rows++;
          fields += row.length;
        }
      },
      complete: () => resolve(),
      error: (err: Error) => reject(err),
    });
  });
  return { rows, fields: fields - headerFields };
}

async function csvParseStream(path: string): Promise<PassCounts> {
  let rows = -1;
  let fields = 0;
  let headerFields = 0;
  const parser = csvParse({ delimiter: DELIMITER });
  const source = createReadStream(path, { highWaterMark: HIGH_WATER_MARK });
  const done = new Promise<void>((resolve, reject) => {
    parser.once('end', resolve);
    parser.once('error', reject);
    source.once('error', reject);
  });
  parser.on('readable', () => {
    for (let record = parser.read() as string[] | null; record !== null; record = parser.read()) {
      if (rows === -1) headerFields = record.length;
      rows++;
      fields += record.length;
    }
  });
  source.pipe(parser);
  await done;
  return { rows, fields: fields - headerFields };
}

/** udsv's incremental API (parser.chunk per string chunk, a row callback so nothing accumulates). */
async function udsv(path: string): Promise<PassCounts> {
  let rows = 0;
  let fields = 0;
  const onRow = (row: string[]): void => {
    rows++;
    fields += row.length;
  };
  let parser: UdsvParser | undefined;
  const source = createReadStream(path, { highWaterMark: HIGH_WATER_MARK, encoding: 'utf8' });
  for await (const chunk of source) {
    const text = chunk as string;
    parser ??= initParser(inferSchema(text, { col: DELIMITER }));
    parser.chunk<string[]>(text, parser.stringArrs, onRow);
  }
  parser?.end();
  return { rows, fields };
}

export const PARSERS: readonly ParserCase[] = [
  { name: 'ours', api: 'recordsOf + decodeUtf8 + parseRecord per record', pass: ours },
  {
    name: 'papaparse',
    api: 'Papa.parse(fs stream, { chunk, dynamicTyping: false }), blank rows skipped in the callback',
    pass: papaparse,
  },
  { name: 'csvParse', api: "fs stream .pipe(parse()), 'readable' + read() loop", pass: csvParseStream },
  {
    name: 'udsv',
    api: 'initParser(inferSchema(first chunk, { col })).chunk(text, stringArrs, onRow) per chunk',
    pass: udsv,
  },
];
