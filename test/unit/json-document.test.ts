import fc from 'fast-check';
import { MalformedFileError } from '../../lambdas/domain/errors';
import {
  type DocumentKind,
  documentHeadLines,
  documentKind,
  jsonDocumentLines,
  MAX_RECORD_DEPTH,
} from '../../lambdas/domain/json-document';
import { jsonFields } from '../../lambdas/domain/jsonl';

/** The JSON Lines a document converts to, fed in pieces of `piece` bytes. */
async function convert(text: string | Buffer, kind: DocumentKind, piece = 5): Promise<string> {
  const bytes = Buffer.from(text);
  const source = (async function* () {
    for (let i = 0; i < bytes.length; i += piece) yield bytes.subarray(i, i + piece);
  })();
  const out: Buffer[] = [];
  for await (const part of jsonDocumentLines(source, kind)) out.push(part);
  return Buffer.concat(out).toString('utf8');
}

describe('documentKind', () => {
  it.each<[string, string, DocumentKind | undefined]>([
    ['an array', '[{"a":1}]', 'array'],
    ['an array after a BOM and blank lines', '\uFEFF\r\n  \t[', 'array'],
    ['a pretty-printed tree file', '{\n    "records": [\n', 'tree'],
    ['a compact tree file', '{"records":[{"attributes":{}}]}', 'tree'],
    ['a tree file with a non-array records (Plan says so)', '{\n  "records": 5\n}', 'tree'],
    ['JSON Lines', '{"Id":"1"}\n{"Id":"2"}\n', undefined],
    [
      'JSON Lines whose first record has records and more',
      '{"records":[1],"Id":"1"}\n{"Id":"2"}\n',
      undefined,
    ],
    ['a pretty-printed object of another shape', '{\n  "data": []\n}', undefined],
    ['CSV', 'Id,Name\n1,Ada\n', undefined],
  ])('%s', (_name, head, expected) => {
    // Act / Assess
    expect(documentKind(head)).toBe(expected);
  });
});

describe('jsonDocumentLines', () => {
  it.each<[string, DocumentKind, string, string]>([
    [
      'an array, one line per record',
      'array',
      '[{"a":1},\n {"b":[1,{"c":null}]}]',
      '{"a":1}\n{"b":[1,{"c":null}]}\n',
    ],
    [
      'a pretty-printed array',
      'array',
      '[\n  {\n    "a": "x y",\n    "b": true\n  }\n]\n',
      '{"a":"x y","b":true}\n',
    ],
    ['an array after a BOM', 'array', '\uFEFF[{"a":1}]', '{"a":1}\n'],
    [
      'numbers as written',
      'array',
      '[{"a":9007199254740993,"b":1.50,"c":-1e400,"d":0}]',
      '{"a":9007199254740993,"b":1.50,"c":-1e400,"d":0}\n',
    ],
    [
      'escapes and newlines in strings',
      'array',
      '[{"a\\"b":"l1\\nl2 \\u00e9 \\ud83d\\ude00 \\ud800"}]',
      '{"a\\"b":"l1\\nl2 é 😀 \\ud800"}\n',
    ],
    ['non-object records as their own lines', 'array', '[1, "s", null, [2]]', '1\n"s"\nnull\n[2]\n'],
    ['an empty array', 'array', '[ ]\n', ''],
    [
      'a tree record: attributes dropped, its referenceId kept',
      'tree',
      '{"records": [{"attributes": {"type": "Contact", "referenceId": "ContactRef1"}, "AccountId": "@AccountRef1"}]}',
      '{"referenceId":"ContactRef1","@referenceId":"@ContactRef1","AccountId":"@AccountRef1"}\n',
    ],
    [
      'a tree record without referenceId, and a nested attributes kept',
      'tree',
      '{"records": [{"attributes": {"type": "A"}, "X": {"attributes": {"referenceId": "R"}}}, {"N": 1}]}',
      '{"X":{"attributes":{"referenceId":"R"}}}\n{"N":1}\n',
    ],
    ['an empty tree', 'tree', '{"records": []}', ''],
  ])('converts %s', async (_name, kind, text, expected) => {
    // Act
    const lines = await convert(text, kind);

    // Assess
    expect(lines).toBe(expected);
  });

  const deep = `[${'['.repeat(MAX_RECORD_DEPTH + 1)}${']'.repeat(MAX_RECORD_DEPTH + 1)}]`;
  const deepEnough = `[${'['.repeat(MAX_RECORD_DEPTH)}${']'.repeat(MAX_RECORD_DEPTH)}]`;
  it.each<[string, DocumentKind, string, RegExp]>([
    ['a cut-off array', 'array', '[{"a":1},', /^the JSON array is cut off: it ends before its last record$/],
    ['an array cut inside a string', 'array', '[{"a":"x', /cut off/],
    ['an array without its ]', 'array', '[{"a":1}', /cut off/],
    ['text after the array', 'array', '[{"a":1}] x', /^the JSON array has text after its end$/],
    ['a second array', 'array', '[{"a":1}][]', /has text after its end/],
    [
      'two commas',
      'array',
      '[{"a":1},,{"b":2}]',
      /^the JSON array is not valid JSON \(byte offset \d+ of its UTF-8 text\)$/,
    ],
    ['a missing colon', 'array', '[{"a" 1}]', /is not valid JSON/],
    ['an object, not an array', 'array', '{"a":1}', /is not a JSON document of records/],
    ['records that is a number', 'tree', '{"records": 5}', /has "records" that is not an array$/],
    ['no records', 'tree', '{}', /has no "records" array/],
    ['another property', 'tree', '{"records": [], "done": true}', /has a property other than "records"/],
    [
      'values nested too deep',
      'array',
      deep,
      /^record 1 of the JSON array nests values more than 100 levels deep$/,
    ],
  ])('refuses %s with one line', async (_name, kind, text, problem) => {
    // Act
    const converting = convert(text, kind);

    // Assess
    await expect(converting).rejects.toThrow(MalformedFileError);
    await expect(convert(text, kind)).rejects.toThrow(problem);
  });

  it('never repeats the text where the JSON breaks (it may be personal data)', async () => {
    // Act / Assess
    await expect(convert('[{"a":1} "secret@example.com"]', 'array')).rejects.toThrow(/^((?!secret).)*$/);
  });

  it('keeps a record nested exactly to the limit', async () => {
    // Act / Assess
    expect(await convert(deepEnough, 'array', 64)).toBe(`${deepEnough.slice(1, -1)}\n`);
  });

  it('gives the same rows as the same objects written as JSON Lines (property)', async () => {
    // Prepare: any objects (names distinct, as JSON Lines requires), pretty-printed or not, in any pieces.
    const columns = ['a', 'b', 'c', 'n.x'];
    const record = fc.dictionary(fc.constantFrom('a', 'b', 'c', 'n', 'z'), fc.jsonValue({ maxDepth: 3 }));
    await fc.assert(
      fc.asyncProperty(
        fc.array(record, { maxLength: 8 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 64 }),
        async (objects, pretty, piece) => {
          const text = JSON.stringify(objects, null, pretty ? 2 : undefined);

          // Act
          const lines = (await convert(text, 'array', piece)).split('\n').slice(0, -1);

          // Assess
          expect(lines.map((l) => jsonFields(l, columns))).toEqual(
            objects.map((o) => jsonFields(JSON.stringify(o), columns)),
          );
        },
      ),
    );
  });
});

describe('documentHeadLines', () => {
  it('gives the records a cut head holds whole, and nothing of the cut one', () => {
    // Act
    const lines = documentHeadLines(Buffer.from('[{"a":1}, {"b":2}, {"c":'), 'array', false);

    // Assess
    expect(lines.toString()).toBe('{"a":1}\n{"b":2}\n');
  });

  it('refuses a whole file that is cut off', () => {
    // Act / Assess
    expect(() => documentHeadLines(Buffer.from('[{"a":1}, '), 'array', true)).toThrow(/cut off/);
  });
});
