import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type ChunkPlan,
  CsvRecordSplitter,
  decodeUtf8,
  detectDelimiter,
  detectEncoding,
  type FilePlan,
  headerFromHead,
  maxRecordBytesFor,
  parseRecord,
  planChunks,
  type RawRecord,
  recordsOf,
  type SourceEncoding,
  type SplitterOptions,
  transcodeToUtf8,
} from '../../lambdas/domain/csv';
import { MalformedFileError } from '../../lambdas/domain/errors';

const FIXTURES = join(__dirname, '..', 'fixtures', 'salesforce-dataloader');
const fixture = (name: string): Buffer => readFileSync(join(FIXTURES, name));

type Simple = { line: number; offset: number; text: string };
const simple = (r: RawRecord): Simple => ({ line: r.line, offset: r.offset, text: r.bytes.toString('utf8') });

/** Splits `data` fed in pieces of `pieceBytes` (whole buffer when omitted). */
function split(data: Buffer | string, pieceBytes?: number, options?: SplitterOptions): Simple[] {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const splitter = new CsvRecordSplitter(options);
  const out: Simple[] = [];
  const emit = (r: RawRecord): void => {
    out.push(simple(r));
  };
  const size = pieceBytes ?? Math.max(buf.length, 1);
  for (let o = 0; o < buf.length; o += size) splitter.push(buf.subarray(o, o + size), emit);
  splitter.end(emit);
  return out;
}

async function* stream(data: Buffer | string, pieceBytes = 64 * 1024): AsyncGenerator<Uint8Array> {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  for (let o = 0; o < buf.length; o += pieceBytes) yield new Uint8Array(buf.subarray(o, o + pieceBytes));
}

async function collect(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of source) parts.push(part);
  return Buffer.concat(parts);
}

async function chunkRecords(data: Buffer, chunk: ChunkPlan, pieceBytes?: number): Promise<Simple[]> {
  const out: Simple[] = [];
  for await (const batch of recordsOf(stream(data.subarray(chunk.start, chunk.end), pieceBytes), chunk)) {
    out.push(...batch.map(simple));
  }
  return out;
}

function expectCoverage(plan: FilePlan, headerTerminatorEnd: number): void {
  let at = headerTerminatorEnd;
  for (const [k, chunk] of plan.chunks.entries()) {
    expect(chunk.index).toBe(k);
    expect(chunk.start).toBe(at);
    expect(chunk.rows).toBeGreaterThan(0);
    at = chunk.end;
  }
  if (plan.chunks.length > 0) expect(at).toBe(plan.bytes);
  expect(plan.chunks.reduce((sum, c) => sum + c.rows, 0)).toBe(plan.rows);
}

describe('parseRecord', () => {
  it.each<[string, string, string, string[]]>([
    ['plain fields', 'a,b,c', ',', ['a', 'b', 'c']],
    ['a single field', 'abc', ',', ['abc']],
    ['empty record text', '', ',', ['']],
    ['quoted field with the delimiter', '"a,b",c', ',', ['a,b', 'c']],
    ['escaped quotes', '"say ""hi""",x', ',', ['say "hi"', 'x']],
    ['only an escaped quote', '""""', ',', ['"']],
    ['empty quoted field', '"",a', ',', ['', 'a']],
    ['quoted CRLF', '"a\r\nb",c', ',', ['a\r\nb', 'c']],
    ['quoted LF', '"a\nb",c', ',', ['a\nb', 'c']],
    ['quoted CR', '"a\rb",c', ',', ['a\rb', 'c']],
    ['empty fields', ',,', ',', ['', '', '']],
    ['empty middle field', 'a,,b', ',', ['a', '', 'b']],
    ['trailing delimiter', 'a,b,', ',', ['a', 'b', '']],
    ['trailing delimiter after a quoted field', '"a",', ',', ['a', '']],
    ['leading and trailing spaces kept', '  a , b  ', ',', ['  a ', ' b  ']],
    ['spaces inside quotes kept', '" a ",b', ',', [' a ', 'b']],
    ['a quote inside an unquoted field is literal', 'ab"c,d', ',', ['ab"c', 'd']],
    ['emoji', '😀,👩‍👩‍👧', ',', ['😀', '👩‍👩‍👧']],
    ['right-to-left text', 'שלום,مرحبا', ',', ['שלום', 'مرحبا']],
    ['combining marks', 'e\u0301,a\u0308', ',', ['e\u0301', 'a\u0308']],
    ['formula strings', '=1+1,+2,-3,@SUM(A1)', ',', ['=1+1', '+2', '-3', '@SUM(A1)']],
    ['semicolon delimiter', 'a;"b;c";d', ';', ['a', 'b;c', 'd']],
    ['tab delimiter', 'a\t"b\tc"\t', '\t', ['a', 'b\tc', '']],
    ['pipe delimiter', 'a|b|"c|d"', '|', ['a', 'b', 'c|d']],
    ['comma is data with another delimiter', 'a,b;c', ';', ['a,b', 'c']],
  ])('%s', (_name, text, delimiter, fields) => {
    // Prepare
    // Act
    const parsed = parseRecord(text, delimiter);

    // Assess
    expect(parsed).toEqual({ ok: true, fields });
  });

  it.each<[string, string, 'invalid_quote' | 'unterminated_quote']>([
    ['text after a closing quote', '"abc"x,d', 'invalid_quote'],
    ['a space after a closing quote', '"abc" ,d', 'invalid_quote'],
    ['a quoted field followed by a quote', 'a,"b""c"d', 'invalid_quote'],
    ['an opening quote without close', '"abc,d', 'unterminated_quote'],
    ['an unclosed quote in the last field', 'a,"b', 'unterminated_quote'],
    ['a lone quote', '"', 'unterminated_quote'],
  ])('rejects %s', (_name, text, reason) => {
    // Prepare
    // Act
    const parsed = parseRecord(text, ',');

    // Assess
    expect(parsed).toEqual({ ok: false, reason });
  });
});

describe('CsvRecordSplitter', () => {
  it.each<[string, string, Simple[]]>([
    [
      'LF endings',
      'a,b\nc,d\n',
      [
        { line: 1, offset: 0, text: 'a,b' },
        { line: 2, offset: 4, text: 'c,d' },
      ],
    ],
    [
      'CRLF endings',
      'a,b\r\nc,d\r\n',
      [
        { line: 1, offset: 0, text: 'a,b' },
        { line: 2, offset: 5, text: 'c,d' },
      ],
    ],
    [
      'CR endings',
      'a,b\rc,d\r',
      [
        { line: 1, offset: 0, text: 'a,b' },
        { line: 2, offset: 4, text: 'c,d' },
      ],
    ],
    [
      'mixed endings',
      'a\r\nb\nc\rd',
      [
        { line: 1, offset: 0, text: 'a' },
        { line: 2, offset: 3, text: 'b' },
        { line: 3, offset: 5, text: 'c' },
        { line: 4, offset: 7, text: 'd' },
      ],
    ],
    [
      'no final terminator',
      'a\nb',
      [
        { line: 1, offset: 0, text: 'a' },
        { line: 2, offset: 2, text: 'b' },
      ],
    ],
    [
      'blank lines skipped but counted',
      '\n\na\n\r\n\rb\n\n',
      [
        { line: 3, offset: 2, text: 'a' },
        { line: 6, offset: 7, text: 'b' },
      ],
    ],
    [
      'quoted newlines advance line numbers',
      '"a\nb","c\r\nd"\n"e\rf"\ng\n',
      [
        { line: 1, offset: 0, text: '"a\nb","c\r\nd"' },
        { line: 4, offset: 13, text: '"e\rf"' },
        { line: 6, offset: 19, text: 'g' },
      ],
    ],
    [
      'escaped quotes toggle twice',
      '"a""\nb",c\nd\n',
      [
        { line: 1, offset: 0, text: '"a""\nb",c' },
        { line: 3, offset: 10, text: 'd' },
      ],
    ],
    ['a record of spaces is not blank', ' \n', [{ line: 1, offset: 0, text: ' ' }]],
    [
      'an empty quoted field is not blank',
      'a\n""\n',
      [
        { line: 1, offset: 0, text: 'a' },
        { line: 2, offset: 2, text: '""' },
      ],
    ],
    ['only blank lines', '\r\n\n\r', []],
    ['empty input', '', []],
  ])('%s', (_name, input, expected) => {
    // Prepare
    // Act
    const records = split(input);

    // Assess
    expect(records).toEqual(expected);
  });

  it.each([
    ['CRLF endings', 'id,name\r\n1,"a\r\nb"\r\n\r\n2,c\r\n'],
    ['CR endings', 'id,name\r1,"a\rb"\r\r2,c\r'],
    ['mixed endings', 'id\r\n"x\r\ny"\r\rz\n\r\n"q""\r"\r\n'],
    ['unicode', 'é,😀\r\n"שלום\r\n",e\u0301\r'],
  ])('gives the same records when fed byte by byte: %s', (_name, input) => {
    // Prepare
    const whole = split(input);

    // Act
    const byByte = split(input, 1);
    const byTwo = split(input, 2);
    const byThree = split(input, 3);

    // Assess
    expect(byByte).toEqual(whole);
    expect(byTwo).toEqual(whole);
    expect(byThree).toEqual(whole);
  });

  it('counts a CRLF split across pushes as one line break', () => {
    // Prepare
    const splitter = new CsvRecordSplitter();
    const records: Simple[] = [];
    const emit = (r: RawRecord): void => {
      records.push(simple(r));
    };

    // Act
    splitter.push(Buffer.from('a\r'), emit);
    const lineAfterCr = splitter.line;
    splitter.push(Buffer.from('\nb\r\n'), emit);
    splitter.end(emit);

    // Assess
    expect(lineAfterCr).toBe(2);
    expect(splitter.line).toBe(3);
    expect(splitter.offset).toBe(6);
    expect(records).toEqual([
      { line: 1, offset: 0, text: 'a' },
      { line: 2, offset: 3, text: 'b' },
    ]);
  });

  it('starts at the given offset and line', () => {
    // Prepare
    const input = 'x\n"y\nz"\n';

    // Act
    const records = split(input, 2, { startOffset: 1000, startLine: 50 });

    // Assess
    expect(records).toEqual([
      { line: 50, offset: 1000, text: 'x' },
      { line: 51, offset: 1002, text: '"y\nz"' },
    ]);
  });

  it('reassembles records split across pushes', () => {
    // Prepare
    const input = 'first,record\nsecond,"multi\nline"\n';

    // Act
    const records = split(input, 5);

    // Assess
    expect(records).toEqual([
      { line: 1, offset: 0, text: 'first,record' },
      { line: 2, offset: 13, text: 'second,"multi\nline"' },
    ]);
  });

  it('throws with the line when input ends inside quotes', () => {
    // Prepare
    const input = 'a,b\nc,"d\ne\nf\n';

    // Act
    const act = (): Simple[] => split(input, 3);

    // Assess
    expect(act).toThrow(MalformedFileError);
    expect(act).toThrow('line 2: quoted field is never closed');
  });

  it.each([
    ['in one push', undefined],
    ['across pushes', 4],
  ])('throws when a record is longer than maxRecordBytes (%s)', (_name, pieceBytes) => {
    // Prepare
    const input = 'ok\nshort\n0123456789ABCDEF\nok\n';

    // Act
    const act = (): Simple[] => split(input, pieceBytes, { maxRecordBytes: 10 });

    // Assess
    expect(act).toThrow(MalformedFileError);
    expect(act).toThrow('line 3: record is longer than 10 bytes (an unclosed quote?)');
  });

  it('throws on an unclosed quote that runs past maxRecordBytes before the end', () => {
    // Prepare
    const input = `a\n"b\n${'x\n'.repeat(100)}`;

    // Act
    const act = (): Simple[] => split(input, 16, { maxRecordBytes: 64 });

    // Assess
    expect(act).toThrow('line 2: record is longer than 64 bytes (an unclosed quote?)');
  });

  it('accepts a record of exactly maxRecordBytes', () => {
    // Prepare
    const input = '0123456789\n';

    // Act
    const records = split(input, 3, { maxRecordBytes: 10 });

    // Assess
    expect(records).toEqual([{ line: 1, offset: 0, text: '0123456789' }]);
  });

  it('finds records in long runs of plain bytes (indexOf jumps)', () => {
    // Prepare
    const long = 'x'.repeat(1000);
    const input = `${long},"${long}\r\n${long}"\r\n${long}\n${long}\r`;

    // Act
    const whole = split(input);
    const pieces = split(input, 777);

    // Assess
    expect(whole.map((r) => [r.line, r.offset, r.text.length])).toEqual([
      [1, 0, 3005],
      [3, 3007, 1000],
      [4, 4008, 1000],
    ]);
    expect(pieces).toEqual(whole);
  });
});

describe('CsvRecordSplitter quotes (RFC 4180: a quote opens a field only at its start)', () => {
  const texts = (records: Simple[]): string[] => records.map((r) => r.text);

  it.each<[string, string, SplitterOptions, string[]]>([
    ['a stray quote in an unquoted field', 'a,5" monitor,b\nc,d,e\n', {}, ['a,5" monitor,b', 'c,d,e']],
    ['one stray quote and many lines after it', 'x"y\n1\n2\n3', {}, ['x"y', '1', '2', '3']],
    ['text after a closing quote', '"a"b,"c\nd"\ne', {}, ['"a"b,"c\nd"', 'e']],
    ['an escaped quote at the end of a field', '"say ""hi"""\nz', {}, ['"say ""hi"""', 'z']],
    ['a quote after the delimiter of the file', 'a;"b;\nc"\nd', { delimiter: ';' }, ['a;"b;\nc"', 'd']],
    ['a quote after another character', 'a,"b\nc"\nd', { delimiter: ';' }, ['a,"b', 'c"', 'd']],
    ['a quote after a tab delimiter', 'a\t"b\nc"\nd', { delimiter: '\t' }, ['a\t"b\nc"', 'd']],
    [
      'quotes as ordinary bytes (JSON Lines)',
      '{"a":"x\\"y"}\n{"b":"\\""}\r\n',
      { quoting: false },
      ['{"a":"x\\"y"}', '{"b":"\\""}'],
    ],
  ])('splits %s', (_name, input, options, expected) => {
    // Act
    const whole = split(input, undefined, options);
    const byByte = split(input, 1, options);
    const byTwo = split(input, 2, options);

    // Assess
    expect(texts(whole)).toEqual(expected);
    expect(byByte).toEqual(whole);
    expect(byTwo).toEqual(whole);
  });

  it('decides escape or close when a quote ends a push', () => {
    // Prepare: the quote pair "" is cut between two pushes, then a closing quote ends a push.
    const splitter = new CsvRecordSplitter();
    const out: string[] = [];
    const emit = (r: RawRecord): void => {
      out.push(r.bytes.toString());
    };

    // Act
    splitter.push(Buffer.from('"a"'), emit);
    splitter.push(Buffer.from('"b\nc"'), emit);
    splitter.push(Buffer.from('\nd,"e"'), emit);
    splitter.end(emit);

    // Assess
    expect(out).toEqual(['"a""b\nc"', 'd,"e"']);
  });

  it.each(['"', '', '\n', 'ab', 'é'])('refuses the delimiter %j', (delimiter) => {
    // Act / Assess
    expect(() => new CsvRecordSplitter({ delimiter })).toThrow(RangeError);
  });
});

describe('detectDelimiter', () => {
  it.each<[string, string, string]>([
    ['comma', 'Id,Name,Email', ','],
    ['semicolon', 'Id;Name;Email', ';'],
    ['tab', 'Id\tName\tEmail', '\t'],
    ['pipe', 'Id|Name|Email', '|'],
    ['the most frequent wins', 'Id;Name,Title;Email;Phone', ';'],
    ['delimiters inside quotes do not count', '"a,b,c,d";"e";"f"', ';'],
    ['ties go to the first in order , ; \\t |', 'a;b,c', ','],
    ['ties between ; and |', 'a|b;c', ';'],
    ['a single column defaults to comma', 'Id', ','],
    ['empty text defaults to comma', '', ','],
  ])('%s', (_name, header, expected) => {
    // Prepare
    // Act
    const delimiter = detectDelimiter(header);

    // Assess
    expect(delimiter).toBe(expected);
  });
});

describe('detectEncoding', () => {
  it.each<[string, SourceEncoding, number]>([
    ['csvtext.csv', 'utf8', 0],
    ['csvtext_BOM_UTF8.csv', 'utf8', 3],
    ['csvtext_BOM_UTF16LE.csv', 'utf16le', 2],
    ['csvtext_BOM_UTF16BE.csv', 'utf16be', 2],
    // Data Loader's UTF-32 files carry a 2-byte UTF-16 BOM in front of UTF-32 units.
    ['csvtext_BOM_UTF32LE.csv', 'utf32le', 2],
    ['csvtext_BOM_UTF32BE.csv', 'utf32be', 2],
  ])('detects %s', (name, encoding, bomBytes) => {
    // Prepare
    const head = fixture(name).subarray(0, 64);

    // Act
    const detected = detectEncoding(head);

    // Assess
    expect(detected).toEqual({ encoding, bomBytes });
  });

  it.each<[string, number[], SourceEncoding, number]>([
    ['UTF-32LE BOM (before UTF-16LE)', [0xff, 0xfe, 0x00, 0x00, 0x61, 0, 0, 0], 'utf32le', 4],
    ['UTF-32BE BOM', [0x00, 0x00, 0xfe, 0xff, 0, 0, 0, 0x61], 'utf32be', 4],
    ['UTF-16LE BOM', [0xff, 0xfe, 0x61, 0x00, 0x62, 0x00], 'utf16le', 2],
    ['UTF-16BE BOM', [0xfe, 0xff, 0x00, 0x61, 0x00, 0x62], 'utf16be', 2],
    ['UTF-8 BOM', [0xef, 0xbb, 0xbf, 0x61], 'utf8', 3],
    ['UTF-16LE without BOM', [...Buffer.from('id,name\n1,x\n', 'utf16le')], 'utf16le', 0],
    ['UTF-16BE without BOM', [...Buffer.from('id,name\n1,x\n', 'utf16le').swap16()], 'utf16be', 0],
    ['plain ASCII', [...Buffer.from('id,name\n')], 'utf8', 0],
    ['UTF-8 text', [...Buffer.from('naïve,😀\n')], 'utf8', 0],
    ['nothing', [], 'utf8', 0],
  ])('detects %s', (_name, bytes, encoding, bomBytes) => {
    // Prepare
    const head = Uint8Array.from(bytes);

    // Act
    const detected = detectEncoding(head);

    // Assess
    expect(detected).toEqual({ encoding, bomBytes });
  });
});

describe('transcodeToUtf8', () => {
  const utf8Text = fixture('csvtext_BOM_UTF8.csv').subarray(3).toString('utf8');
  const table = (text: string): string[][] =>
    text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => {
        const parsed = parseRecord(l, ',');
        if (!parsed.ok) throw new Error(parsed.reason);
        return parsed.fields;
      });

  it.each([1, 3, 64 * 1024])(
    'gives the same text for UTF-8 and UTF-16 files (pieces of %i bytes)',
    async (piece) => {
      // Prepare
      const files = ['csvtext_BOM_UTF16LE.csv', 'csvtext_BOM_UTF16BE.csv'];

      // Act
      const texts = await Promise.all(
        files.map(async (name) => {
          const data = fixture(name);
          const { encoding } = detectEncoding(data);
          return (await collect(transcodeToUtf8(stream(data, piece), encoding))).toString('utf8');
        }),
      );

      // Assess
      for (const text of texts) expect(text).toBe(utf8Text);
    },
  );

  it.each([
    'csvtext.csv',
    'csvtext_BOM_UTF8.csv',
    'csvtext_BOM_UTF16LE.csv',
    'csvtext_BOM_UTF16BE.csv',
    'csvtext_BOM_UTF32LE.csv',
    'csvtext_BOM_UTF32BE.csv',
  ])('gives the same table for %s', async (name) => {
    // Prepare
    const data = fixture(name);
    const { encoding, bomBytes } = detectEncoding(data);

    // Act
    const utf8 = await collect(transcodeToUtf8(stream(data, 5), encoding));
    const text = utf8.subarray(encoding === 'utf8' ? bomBytes : 0).toString('utf8');

    // Assess
    expect(table(text)).toEqual(table(utf8Text));
    expect(table(text)).toEqual([
      ['column1', 'column2', 'column3'],
      ['row1-1', 'row1-2', 'row1-3'],
      ['row2-1', 'row2-2', 'row2-3'],
    ]);
  });

  it.each<[SourceEncoding, (s: string) => Buffer]>([
    ['utf16le', (s) => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(s, 'utf16le')])],
    ['utf16be', (s) => Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(s, 'utf16le').swap16()])],
    ['utf32le', (s) => utf32(`\ufeff${s}`, false)],
    ['utf32be', (s) => utf32(`\ufeff${s}`, true)],
  ])('transcodes non-ASCII text from %s split anywhere', async (encoding, encode) => {
    // Prepare
    const text = 'naïve,"😀 שלום\r\n",e\u0301\n𝄞|€\n';
    const data = encode(text);

    // Act
    const results = await Promise.all(
      [1, 2, 3, 5, 7, data.length].map(async (piece) =>
        (await collect(transcodeToUtf8(stream(data, piece), encoding))).toString('utf8'),
      ),
    );

    // Assess
    for (const result of results) expect(result).toBe(text);
  });

  it.each<[string, SourceEncoding, number[], string]>([
    [
      'an unpaired low surrogate in UTF-16LE',
      'utf16le',
      [0xff, 0xfe, 0x61, 0x00, 0x00, 0xdc, 0x62, 0x00],
      'byte offset 4',
    ],
    [
      'an unpaired high surrogate in UTF-16BE',
      'utf16be',
      [0xfe, 0xff, 0x00, 0x61, 0xd8, 0x00, 0x00, 0x62],
      'byte offset 4',
    ],
    ['a high surrogate at the end', 'utf16le', [0x61, 0x00, 0x00, 0xd8], 'byte offset 2'],
    ['an odd number of bytes', 'utf16le', [0xff, 0xfe, 0x61, 0x00, 0x62], 'byte offset 4'],
    [
      'a code point above U+10FFFF',
      'utf32le',
      [0xff, 0xfe, 0, 0, 0x61, 0, 0, 0, 0, 0, 0x11, 0],
      'byte offset 8',
    ],
    ['a surrogate code point', 'utf32be', [0, 0, 0, 0x61, 0, 0, 0xd8, 0x00], 'byte offset 4'],
    ['a truncated UTF-32 unit', 'utf32be', [0, 0, 0, 0x61, 0, 0], 'byte offset 4'],
  ])('rejects %s', async (_name, encoding, bytes, where) => {
    // Prepare
    const data = Buffer.from(bytes);

    // Act
    const act = collect(transcodeToUtf8(stream(data, 3), encoding));

    // Assess
    await expect(act).rejects.toThrow(MalformedFileError);
    await expect(collect(transcodeToUtf8(stream(data, 3), encoding))).rejects.toThrow(where);
  });

  it('passes UTF-8 through unchanged', async () => {
    // Prepare
    const data = fixture('csvtext_BOM_UTF8.csv');

    // Act
    const out = await collect(transcodeToUtf8(stream(data, 4), 'utf8'));

    // Assess
    expect(out.equals(data)).toBe(true);
  });
});

function utf32(text: string, bigEndian: boolean): Buffer {
  const cps = [...text].map((ch) => ch.codePointAt(0) as number);
  const out = Buffer.alloc(cps.length * 4);
  for (const [k, cp] of cps.entries()) {
    if (bigEndian) out.writeUInt32BE(cp, k * 4);
    else out.writeUInt32LE(cp, k * 4);
  }
  return out;
}

describe('decodeUtf8', () => {
  it.each([
    ['ASCII', 'a,b,c'],
    ['emoji', '😀👩‍👩‍👧'],
    ['right-to-left', 'שלום مرحبا'],
    ['combining marks', 'e\u0301a\u0308'],
    ['CJK', '中文,日本語'],
    ['empty', ''],
  ])('accepts %s', (_name, text) => {
    // Prepare
    const bytes = Buffer.from(text, 'utf8');

    // Act
    const decoded = decodeUtf8(bytes, 7);

    // Assess
    expect(decoded).toBe(text);
  });

  it.each<[string, number[], string]>([
    ['an invalid continuation byte', [0x61, 0xc3, 0x28], 'line 7: byte 2 of the record is not valid UTF-8'],
    ['a lone continuation byte', [0x80], 'line 7: byte 1 of the record is not valid UTF-8'],
    ['a truncated sequence', [0x61, 0x62, 0xe2, 0x82], 'line 7: byte 3 of the record is not valid UTF-8'],
    ['an overlong encoding', [0xc0, 0xaf], 'line 7: byte 1 of the record is not valid UTF-8'],
    ['an encoded surrogate', [0xed, 0xa0, 0x80], 'line 7: byte 1 of the record is not valid UTF-8'],
    ['Latin-1 text', [...Buffer.from('café', 'latin1')], 'line 7: byte 4 of the record is not valid UTF-8'],
  ])('rejects %s', (_name, bytes, message) => {
    // Prepare
    const data = Uint8Array.from(bytes);

    // Act
    const act = (): string => decodeUtf8(data, 7);

    // Assess
    expect(act).toThrow(MalformedFileError);
    expect(act).toThrow(message);
  });
});

describe('planChunks', () => {
  it('reads the header after a UTF-8 BOM and counts rows', async () => {
    // Prepare
    const data = fixture('csvtext_BOM_UTF8.csv');

    // Act
    const plan = await planChunks(stream(data, 7), { chunkBytes: 1024, delimiter: 'auto' });

    // Assess
    expect(plan.header).toEqual({ line: 1, start: 3, end: 32, text: '"column1","column2","column3"' });
    expect(plan.bomBytes).toBe(3);
    expect(plan.delimiter).toBe(',');
    expect(plan.rows).toBe(2);
    expect(plan.bytes).toBe(data.length);
    expect(plan.chunks).toEqual([{ index: 0, start: 33, end: data.length, firstLine: 2, rows: 2 }]);
  });

  it('reads the header of a file without BOM', async () => {
    // Prepare
    const data = fixture('csvtext.csv');

    // Act
    const plan = await planChunks(stream(data), { chunkBytes: 20 });

    // Assess
    expect(plan.header).toEqual({ line: 1, start: 0, end: 23, text: 'column1,column2,column3' });
    expect(plan.bomBytes).toBe(0);
    expect(plan.rows).toBe(2);
    expect(plan.chunks).toEqual([
      { index: 0, start: 24, end: 45, firstLine: 2, rows: 1 },
      { index: 1, start: 45, end: 66, firstLine: 3, rows: 1 },
    ]);
  });

  it('cuts chunks on record boundaries, never inside quotes, and covers the data region', async () => {
    // Prepare
    const rows = Array.from({ length: 50 }, (_, k) => `${k},"note ${k}\r\nsecond line, ""quoted""",x`);
    const data = Buffer.from(`\r\n\r\nid,note,flag\r\n\r\n${rows.join('\r\n')}\r\n\r\n`);

    // Act
    const plan = await planChunks(stream(data, 13), { chunkBytes: 100 });
    const records = (await Promise.all(plan.chunks.map((c) => chunkRecords(data, c, 11)))).flat();

    // Assess
    expect(plan.header).toEqual({ line: 3, start: 4, end: 16, text: 'id,note,flag' });
    expect(plan.rows).toBe(50);
    expect(plan.chunks.length).toBeGreaterThan(5);
    expectCoverage(plan, 18);
    for (const chunk of plan.chunks.slice(0, -1)) expect(chunk.end - chunk.start).toBeGreaterThanOrEqual(100);
    expect(records.map((r) => r.text)).toEqual(rows);
    expect(records.map((r) => r.line)).toEqual(rows.map((_, k) => 5 + 2 * k));
  });

  it('keeps a CRLF after the header together when the CR ends a piece', async () => {
    // Prepare
    const data = Buffer.from('id,name\r\n1,a\r\n2,b\r\n');

    // Act
    const plan = await planChunks(stream(data, 8), { chunkBytes: 1 });

    // Assess
    expect(plan.chunks).toEqual([
      { index: 0, start: 9, end: 14, firstLine: 2, rows: 1 },
      { index: 1, start: 14, end: 19, firstLine: 3, rows: 1 },
    ]);
  });

  it('counts the header lines of a multi-line quoted header', async () => {
    // Prepare
    const data = Buffer.from('"id","long\nname"\n1,a\n');

    // Act
    const plan = await planChunks(stream(data), { chunkBytes: 1 });

    // Assess
    expect(plan.header?.line).toBe(1);
    expect(plan.chunks).toEqual([{ index: 0, start: 17, end: 21, firstLine: 3, rows: 1 }]);
  });

  it('puts trailing blank lines in the last chunk', async () => {
    // Prepare
    const data = Buffer.from('h\n1\n2\n\n\n');

    // Act
    const plan = await planChunks(stream(data), { chunkBytes: 1 });

    // Assess
    expect(plan.chunks).toEqual([
      { index: 0, start: 2, end: 4, firstLine: 2, rows: 1 },
      { index: 1, start: 4, end: 8, firstLine: 3, rows: 1 },
    ]);
  });

  it.each([
    ['a header with a terminator', 'id,name\n'],
    ['a header without a terminator', 'id,name'],
    ['a header and blank lines', 'id,name\r\n\r\n\n'],
  ])('gives no chunks for %s', async (_name, text) => {
    // Prepare
    const data = Buffer.from(text);

    // Act
    const plan = await planChunks(stream(data), { chunkBytes: 10 });

    // Assess
    expect(plan.rows).toBe(0);
    expect(plan.chunks).toEqual([]);
    expect(plan.header?.text).toBe('id,name');
  });

  it('handles a last record without a terminator', async () => {
    // Prepare
    const data = Buffer.from('id\n1\n2');

    // Act
    const plan = await planChunks(stream(data, 1), { chunkBytes: 1000 });

    // Assess
    expect(plan.rows).toBe(2);
    expect(plan.chunks).toEqual([{ index: 0, start: 3, end: 6, firstLine: 2, rows: 2 }]);
  });

  it.each<[string, 'auto' | ';' | undefined, string]>([
    ['detects the delimiter when auto', 'auto', ';'],
    ['detects the delimiter by default', undefined, ';'],
    ['keeps a given delimiter', ';', ';'],
  ])('%s', async (_name, delimiter, expected) => {
    // Prepare
    const data = Buffer.from('Id;Name;"A,B"\n1;x;y\n');

    // Act
    const plan = await planChunks(stream(data), { chunkBytes: 10, delimiter });

    // Assess
    expect(plan.delimiter).toBe(expected);
  });

  it('keeps a given delimiter that the header does not suggest', async () => {
    // Prepare
    const data = Buffer.from('Id,Name\n1,x\n');

    // Act
    const plan = await planChunks(stream(data), { chunkBytes: 10, delimiter: '|' });

    // Assess
    expect(plan.delimiter).toBe('|');
  });

  it.each<[string, Buffer, string | RegExp]>([
    ['an empty file', Buffer.alloc(0), 'file is empty'],
    ['only a BOM', Buffer.from([0xef, 0xbb, 0xbf]), 'file is empty'],
    ['only blank lines', Buffer.from('\r\n\n\r'), 'file is empty'],
    ['a NUL byte in the header (binary file)', Buffer.from('id,\u0000name\n1,x\n'), 'binary file, not CSV'],
    [
      'a gzip file',
      Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03]),
      'the file is a gzip file: decompress it',
    ],
    ['an xlsx (zip) file', Buffer.from('PK\u0003\u0004\u0014\u0000\u0006\u0000'), 'a zip archive (an .xlsx'],
    ['a Parquet file', Buffer.from('PAR1\u0015\u0004\u0015'), 'a Parquet file'],
    ['a PDF', Buffer.from('%PDF-1.7\n%\u00e2\u00e3'), 'a PDF document'],
    [
      'a PNG image',
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]),
      'binary file, not CSV or JSON Lines: the file is a PNG image',
    ],
    [
      'a UTF-16LE BOM',
      fixture('csvtext_BOM_UTF16LE.csv'),
      /UTF-16LE.*byte-order mark.*transcode it to UTF-8/,
    ],
    ['a UTF-16BE BOM', fixture('csvtext_BOM_UTF16BE.csv'), /UTF-16BE.*transcode it to UTF-8/],
    ['a UTF-32LE BOM', fixture('csvtext_BOM_UTF32LE.csv'), /UTF-32LE.*transcode it to UTF-8/],
    ['UTF-16 without BOM', Buffer.from('id,name\n1,x\n', 'utf16le'), /UTF-16LE.*no byte-order mark/],
    [
      'an unclosed quote at the end',
      Buffer.from('id,name\n1,"x\n2,y\n'),
      'line 2: quoted field is never closed',
    ],
    [
      'an invalid UTF-8 header',
      Buffer.from([0x69, 0x64, 0xc3, 0x28, 0x0a]),
      'line 1, byte offset 2: the file is not valid UTF-8 (bytes 0xC3 0x28)',
    ],
  ])('rejects %s', async (_name, data, message) => {
    // Prepare
    // Act
    const act = planChunks(stream(data, 5), { chunkBytes: 100 });

    // Assess
    await expect(act).rejects.toThrow(MalformedFileError);
    await expect(planChunks(stream(data, 5), { chunkBytes: 100 })).rejects.toThrow(message);
  });

  it('rejects a record longer than maxRecordBytes', async () => {
    // Prepare
    const data = Buffer.from(`id\n1\n${'x'.repeat(200)}\n`);

    // Act
    const act = planChunks(stream(data, 16), { chunkBytes: 100, maxRecordBytes: 100 });

    // Assess
    await expect(act).rejects.toThrow('line 3: record is longer than 100 bytes (an unclosed quote?)');
  });

  it.each([
    ['in the first 64 KiB', 2],
    ['after the first 64 KiB', 700],
  ])('leaves a NUL byte of a data row %s to that row (the worker rejects it)', async (_name, at) => {
    // Prepare
    const row = `${'x'.repeat(99)}\n`;
    const data = Buffer.from(`id\n${row.repeat(at)}1,\u0000\n${row.repeat(702 - at)}`);

    // Act
    const plan = await planChunks(stream(data), { chunkBytes: 16 * 1024 });

    // Assess
    expect(plan.rows).toBe(703);
    expectCoverage(plan, 3);
  });
});

describe('planChunks: encodings and formats', () => {
  it.each<[string, Buffer, string]>([
    [
      'a Latin-1 byte in a data row',
      Buffer.concat([Buffer.from('Id,Name\n1,Ren'), Buffer.from([0xe9]), Buffer.from('\n2,b\n')]),
      'line 2, byte offset 13: the file is not valid UTF-8 (bytes 0xE9 0xA)',
    ],
    [
      'a character cut off by the end of the file',
      Buffer.concat([Buffer.from('Id,Name\n1,a\n2,'), Buffer.from([0xe2, 0x82])]),
      'line 3, byte offset 14: the file is not valid UTF-8 (bytes 0xE2 0x82)',
    ],
    [
      'Windows-1252 quotes on line 3',
      Buffer.concat([Buffer.from('Id,Name\n1,a\n2,'), Buffer.from([0x93, 0x78, 0x94]), Buffer.from('\n')]),
      'line 3, byte offset 14: the file is not valid UTF-8 (bytes 0x93 0x78)',
    ],
  ])('names the line and offset of %s', async (_name, data, message) => {
    for (const piece of [1, 2, 5, 1024]) {
      // Act
      const act = planChunks(stream(data, piece), { chunkBytes: 4 });

      // Assess
      await expect(act).rejects.toThrow(message);
      await expect(planChunks(stream(data, piece), { chunkBytes: 4 })).rejects.toThrow(MalformedFileError);
    }
  });

  it('accepts UTF-8 whose characters are cut by every push size', async () => {
    // Prepare: 2-, 3- and 4-byte characters everywhere.
    const text = `Id,Name\n${Array.from({ length: 50 }, (_, i) => `${i},é€😀ÿ中`).join('\n')}\n`;
    const data = Buffer.from(text);

    for (const piece of [1, 2, 3, 5, 7]) {
      // Act
      const plan = await planChunks(stream(data, piece), { chunkBytes: 64 });

      // Assess
      expect(plan.rows).toBe(50);
    }
  });

  it('plans JSON Lines: no header, quotes and commas are ordinary, every line is a record', async () => {
    // Prepare
    const data = Buffer.from('\uFEFF{"Id":"1","Name":"a \\"b\\", c"}\r\n\n{"Id":"2"}\n{"Id":"3"}');

    // Act
    const plan = await planChunks(stream(data, 3), { chunkBytes: 10, format: 'jsonl' });
    const records: Simple[] = [];
    for (const chunk of plan.chunks) {
      for await (const batch of recordsOf(stream(data.subarray(chunk.start, chunk.end), 2), chunk, {
        quoting: false,
      }))
        records.push(...batch.map(simple));
    }

    // Assess
    expect(plan.header).toBeUndefined();
    expect(plan.rows).toBe(3);
    expect(plan.chunks[0]?.start).toBe(3);
    expect(records.map((r) => [r.line, JSON.parse(r.text).Id])).toEqual([
      [1, '1'],
      [3, '2'],
      [4, '3'],
    ]);
  });

  it('refuses an empty JSON Lines file', async () => {
    // Act / Assess
    await expect(planChunks(stream('\n\n'), { chunkBytes: 10, format: 'jsonl' })).rejects.toThrow(
      'file is empty (no JSON record)',
    );
  });

  it('detects the delimiter from a header longer than the encoding sniff', async () => {
    // Prepare: a 3 KB header of ;-separated names.
    const header = Array.from({ length: 300 }, (_, i) => `Col${i}`).join(';');
    const data = Buffer.from(`${header}\n${Array.from({ length: 300 }, () => 'x').join(';')}\n`);

    // Act
    const plan = await planChunks(stream(data, 512), { chunkBytes: 10 });

    // Assess
    expect(plan.delimiter).toBe(';');
    expect(plan.rows).toBe(1);
  });
});

describe('transcodeToUtf8 from Windows-1252', () => {
  it('maps every byte to its character, across pushes', async () => {
    // Prepare: é, €, “ ” (0x93/0x94), ÿ and ASCII.
    const bytes = Buffer.from([0x52, 0x65, 0x6e, 0xe9, 0x2c, 0x80, 0x93, 0x78, 0x94, 0xff]);

    // Act
    const out = await collect(transcodeToUtf8(stream(bytes, 2), 'windows1252'));

    // Assess
    expect(out.toString('utf8')).toBe('René,€“x”ÿ');
  });
});

describe('recordsOf', () => {
  it('yields one array per input buffer, with absolute offsets and lines', async () => {
    // Prepare
    const data = Buffer.from('h\na\nb\nc\n');
    const chunk = { start: 2, firstLine: 2 };

    // Act
    const batches: Simple[][] = [];
    for await (const batch of recordsOf(stream(data.subarray(2), 4), chunk)) batches.push(batch.map(simple));

    // Assess
    expect(batches).toEqual([
      [
        { line: 2, offset: 2, text: 'a' },
        { line: 3, offset: 4, text: 'b' },
      ],
      [{ line: 4, offset: 6, text: 'c' }],
    ]);
  });

  it('passes maxRecordBytes on', async () => {
    // Prepare
    const data = Buffer.from('0123456789\n');

    // Act
    const act = async (): Promise<void> => {
      for await (const _batch of recordsOf(stream(data), { start: 0, firstLine: 1 }, { maxRecordBytes: 5 })) {
        // drain
      }
    };

    // Assess
    await expect(act()).rejects.toThrow('line 1: record is longer than 5 bytes');
  });
});

describe('headerFromHead', () => {
  it.each([
    [
      'a terminated header',
      '"Id","Name"\r\n"1","a"',
      false,
      { line: 1, text: '"Id","Name"', delimiter: ',' },
    ],
    [
      'a UTF-8 BOM and blank lines first',
      '\uFEFF\n\n"Id";"Name"\n',
      false,
      { line: 3, text: '"Id";"Name"', delimiter: ';' },
    ],
    [
      'a quoted newline inside the header',
      '"Id"\t"Na\nme"\n',
      false,
      { line: 1, text: '"Id"\t"Na\nme"', delimiter: '\t' },
    ],
    ['a header cut by the end of the head', '"Id","Na', false, undefined],
    [
      'a whole file that is only an unterminated header',
      'Id|Name',
      true,
      { line: 1, text: 'Id|Name', delimiter: '|' },
    ],
  ])('finds %s', (_name, text, wholeFile, expected) => {
    // Act
    const header = headerFromHead(Buffer.from(text), wholeFile);

    // Assess
    expect(header).toEqual(expected);
  });

  it('refuses a whole file whose header never closes its quote', () => {
    // Act / Assess
    expect(() => headerFromHead(Buffer.from('"Id,Name\n'), true)).toThrow(MalformedFileError);
  });
});

describe('maxRecordBytesFor (the limit Plan and the transform workers share)', () => {
  const MiB = 1024 * 1024;

  it.each([
    ['the default field limit (128 KiB): 4 MiB', 128 * 1024, 4 * MiB],
    ['a 1-byte field limit: still 4 MiB', 1, 4 * MiB],
    ['exactly half of 4 MiB: 4 MiB', 2 * MiB, 4 * MiB],
    ['a 3 MiB field limit: two fields, 6 MiB', 3 * MiB, 6 * MiB],
  ])('%s', (_name, maxFieldBytes, expected) => {
    // Prepare
    const source = { maxFieldBytes };

    // Act
    const limit = maxRecordBytesFor(source);

    // Assess
    expect(limit).toBe(expected);
  });

  it('lets the splitter read a record with one field at the field limit', () => {
    // Prepare: a 3 MiB field limit and a record of a key and one 3 MiB field
    const maxFieldBytes = 3 * MiB;
    const input = `id,notes\n1,${'x'.repeat(maxFieldBytes)}\n`;

    // Act
    const records = split(input, 64 * 1024, { maxRecordBytes: maxRecordBytesFor({ maxFieldBytes }) });

    // Assess
    expect(records.map((r) => r.line)).toEqual([1, 2]);
  });
});
