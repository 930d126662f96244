import fc from 'fast-check';
import { columnKey, parseConfig } from '../../lambdas/domain/config';
import { HeaderMismatchError } from '../../lambdas/domain/errors';
import {
  checkFirstJsonLine,
  firstJsonLine,
  JsonNumber,
  jsonAliases,
  jsonColumns,
  jsonFields,
  jsonNames,
  parseJsonLine,
  resolveFormat,
} from '../../lambdas/domain/jsonl';

const entity = parseConfig({
  entities: {
    contact: {
      target: { key: 'id' },
      fields: {
        id: { source: 'Id', required: true },
        email: { source: 'properties.email', type: 'email' },
        name: { source: 'Name' },
        alias: { source: ' name ' },
      },
      deleteFlag: { source: 'IsDeleted' },
    },
  },
}).entities.contact;
if (!entity) throw new Error('test config has no contact');

describe('jsonColumns', () => {
  it('lists each source name once (by trimmed, case-insensitive name), delete flag last', () => {
    // Act / Assess
    expect(jsonColumns(entity)).toEqual(['Id', 'properties.email', 'Name', 'IsDeleted']);
  });
});

describe('jsonFields', () => {
  const columns = ['Id', 'properties.email', 'Name', 'IsDeleted'];

  it.each<[string, string, ReturnType<typeof jsonFields>]>([
    [
      'strings as they are, other scalars as JSON text',
      '{"Id":"001","properties":{"email":"a@b.co"},"Name":" Zoë ","IsDeleted":false}',
      { ok: true, fields: ['001', 'a@b.co', ' Zoë ', 'false'] },
    ],
    [
      'numbers as the line writes them',
      '{"Id":42,"Name":1.5e3}',
      { ok: true, fields: ['42', '', '1.5e3', ''] },
    ],
    ['null and missing as absent', '{"Id":"1","Name":null}', { ok: true, fields: ['1', '', '', ''] }],
    [
      'names in another case, and a top-level dotted name first',
      '{"ID":"1","Properties.Email":"x@y.z","name":"n"}',
      { ok: true, fields: ['1', 'x@y.z', 'n', ''] },
    ],
    ['not JSON', '{"Id":"1",', { ok: false, reasons: ['invalid_json'] }],
    ['an array', '[1,2]', { ok: false, reasons: ['not_an_object'] }],
    ['a string', '"Id"', { ok: false, reasons: ['not_an_object'] }],
    ['null', 'null', { ok: false, reasons: ['not_an_object'] }],
    [
      'an object where a value is expected',
      '{"Id":{"v":1},"Name":[1]}',
      { ok: false, reasons: ['not_scalar:Id', 'not_scalar:Name'] },
    ],
    ['a path through a non-object', '{"Id":"1","properties":"x"}', { ok: true, fields: ['1', '', '', ''] }],
    [
      'unicode and formula text untouched',
      '{"Id":"=1+1","Name":"\\u0000\\ud83d\\ude00\\u202e"}',
      { ok: true, fields: ['=1+1', '', '\u0000😀\u202e', ''] },
    ],
  ])('parses %s', (_name, text, expected) => {
    // Act / Assess
    expect(jsonFields(text, columns)).toEqual(expected);
  });
});

describe('firstJsonLine', () => {
  it.each<[string, string, boolean, ReturnType<typeof firstJsonLine>]>([
    ['a first line', '{"a":1}\n{"b":2}', false, { line: 1, text: '{"a":1}' }],
    ['after a BOM and blank lines', '\uFEFF\r\n\n  \n{"a":"x"}\r\n', false, { line: 4, text: '{"a":"x"}' }],
    ['a line cut by the end of the head', '{"a":', false, undefined],
    ['a whole file of one line', '{"a":1}', true, { line: 1, text: '{"a":1}' }],
    ['only blank lines', '\n\n', true, undefined],
  ])('finds %s', (_name, text, wholeFile, expected) => {
    // Act / Assess
    expect(firstJsonLine(Buffer.from(text), wholeFile)).toEqual(expected);
  });
});

describe('checkFirstJsonLine', () => {
  it.each<[string, string, ReturnType<typeof checkFirstJsonLine>]>([
    ['an object', '{"Id":"1","Name":"a"}', { keys: ['Id', 'Name'] }],
    [
      'a JSON array',
      '[{"Id":"1"}',
      { problem: 'the file is a JSON array, not JSON Lines (one object per line)' },
    ],
    [
      'pretty-printed JSON',
      '{',
      { problem: 'the file is pretty-printed JSON, not JSON Lines (one object per line)' },
    ],
    ['a number', '42', { problem: 'not JSON Lines: the first record is not a JSON object' }],
  ])('judges %s', (_name, text, expected) => {
    // Act / Assess
    expect(checkFirstJsonLine(text)).toEqual(expected);
  });

  it('names the JSON error of a CSV line', () => {
    // Act
    const checked = checkFirstJsonLine('Id,Name');

    // Assess
    expect(checked).toEqual({
      problem: expect.stringMatching(/^not JSON Lines: the first record is not valid JSON \(/),
    });
  });
});

describe('resolveFormat', () => {
  it.each<[string, 'auto' | 'csv' | 'jsonl', string, string, 'csv' | 'jsonl']>([
    ['configured csv wins over the name', 'csv', 'inbox/c/x.jsonl', '{', 'csv'],
    ['configured jsonl wins over the content', 'jsonl', 'inbox/c/x.csv', 'Id,Name', 'jsonl'],
    ['.jsonl', 'auto', 'inbox/c/X.JSONL', 'Id,Name', 'jsonl'],
    ['.ndjson', 'auto', 'inbox/c/x.ndjson', '', 'jsonl'],
    ['.csv', 'auto', 'inbox/c/x.csv', '{"a":1}', 'csv'],
    ['.tsv', 'auto', 'inbox/c/x.tsv', '{', 'csv'],
    ['no extension, an object first', 'auto', 'inbox/c/export', '\uFEFF \n{"a":1}', 'jsonl'],
    ['no extension, a header first', 'auto', 'inbox/c/export.dat', 'Id,Name', 'csv'],
    ['.json, an array first', 'auto', 'inbox/c/x.json', '\uFEFF\n  [ {', 'jsonl'],
    ['.json, a tree file', 'auto', 'inbox/c/Accounts.json', '{\n    "records": [', 'jsonl'],
  ])('picks the format for %s', (_name, configured, key, head, expected) => {
    // Act / Assess
    expect(resolveFormat(configured, key, head)).toBe(expected);
  });
});

describe('JSONL and column aliases', () => {
  const withAliases = parseConfig({
    entities: {
      contact: {
        target: { key: 'id' },
        fields: {
          id: { source: 'Id', aliases: ['Contact ID', 'hs_object_id'], required: true },
          email: { source: 'Email', aliases: ['properties.email'] },
        },
      },
    },
  }).entities.contact;
  if (!withAliases) throw new Error('test config has no contact');

  it.each<[string, string, ReturnType<typeof jsonFields>]>([
    ['the source name', '{"Id":"1","Email":"a@b.co"}', { ok: true, fields: ['1', 'a@b.co'] }],
    ['the first alias present', '{"hs_object_id":"2","Contact ID":"3"}', { ok: true, fields: ['3', ''] }],
    [
      'an alias as a dotted path',
      '{"Id":"4","properties":{"email":"x@y.z"}}',
      { ok: true, fields: ['4', 'x@y.z'] },
    ],
    ['the source over an alias', '{"Id":"5","Contact ID":"6"}', { ok: true, fields: ['5', ''] }],
  ])('reads %s', (_name, line, expected) => {
    // Prepare
    const columns = jsonColumns(withAliases);

    // Act
    const parsed = jsonFields(line, columns, jsonAliases(withAliases, columns));

    // Assess
    expect(parsed).toEqual(expected);
  });

  it('lists the aliases among the names a record may hold', () => {
    expect(jsonNames(withAliases)).toEqual(['Id', 'Email', 'Contact ID', 'hs_object_id', 'properties.email']);
  });

  it.each([
    ['position', { position: 2 }],
    ['occurrence 2', { occurrence: 2 }],
  ])('refuses a field with %s (CSV header columns only)', (_name, extra) => {
    // Prepare
    const entity = parseConfig({
      entities: {
        c: {
          target: { key: 'id' },
          fields: { id: { source: 'Id', required: true }, p: { source: 'P', ...extra } },
        },
      },
    }).entities.c;
    if (!entity) throw new Error('no entity');

    // Act / Assess
    expect(() => jsonColumns(entity)).toThrow(HeaderMismatchError);
    expect(() => jsonColumns(entity)).toThrow(
      'field p: position and occurrence pick columns of a CSV header',
    );
  });
});

describe('jsonFields: hostile records', () => {
  const columns = ['Id', 'LastName', 'properties.email'];

  it.each<[string, string, ReturnType<typeof jsonFields>]>([
    ['an id past 2^53', '{"Id":9007199254740993}', { ok: true, fields: ['9007199254740993', '', ''] }],
    ['its neighbour', '{"Id":9007199254740992}', { ok: true, fields: ['9007199254740992', '', ''] }],
    [
      '29 digits',
      '{"Id":12345678901234567890123456789}',
      { ok: true, fields: ['12345678901234567890123456789', '', ''] },
    ],
    ['an exponent past a double', '{"Id":1e400}', { ok: true, fields: ['1e400', '', ''] }],
    [
      'a negative zero and trailing zeros',
      '{"Id":-0,"LastName":1.50}',
      { ok: true, fields: ['-0', '1.50', ''] },
    ],
    [
      'an exact duplicate name',
      '{"Id":"1","LastName":"a","LastName":"b"}',
      { ok: false, reasons: ['duplicate_key:LastName'] },
    ],
    [
      'a case variant',
      '{"Id":"1","LastName":"a","lastname":"b"}',
      { ok: false, reasons: ['duplicate_key:lastname'] },
    ],
    ['a variant with spaces', '{"Id":"1"," id ":"2"}', { ok: false, reasons: ['duplicate_key: id '] }],
    [
      'a nested duplicate',
      '{"Id":"1","properties":{"email":"a@b.co","email":"c@d.co"}}',
      { ok: false, reasons: ['duplicate_key:email'] },
    ],
    ['__proto__ as an ordinary name', '{"__proto__":{"x":1},"Id":"1"}', { ok: true, fields: ['1', '', ''] }],
    ['a raw control character', '{"Id":"1\u0001"}', { ok: false, reasons: ['invalid_json'] }],
    ['a bad escape', '{"Id":"\\x41"}', { ok: false, reasons: ['invalid_json'] }],
    ['a leading zero', '{"Id":01}', { ok: false, reasons: ['invalid_json'] }],
    ['a trailing comma', '{"Id":"1",}', { ok: false, reasons: ['invalid_json'] }],
  ])('reads %s', (_name, text, expected) => {
    // Act / Assess
    expect(jsonFields(text, columns)).toEqual(expected);
  });

  it('names no value of the record when the first line is not JSON', () => {
    // Act
    const checked = checkFirstJsonLine('{"Name":"Jane Doe","Email":"jane@example.com",}');

    // Assess
    expect(JSON.stringify(checked)).not.toMatch(/Jane|jane@example/);
  });
});

describe('parseJsonLine', () => {
  it('gives what JSON.parse gives, numbers as their text, for any JSON value', () => {
    // Prepare
    const asText = (v: unknown): unknown => {
      if (v instanceof JsonNumber) return Number(v.text);
      if (Array.isArray(v)) return v.map(asText);
      if (v !== null && typeof v === 'object')
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, asText(x)]));
      return v;
    };
    const distinctNames = (v: unknown): boolean => {
      if (Array.isArray(v)) return v.every(distinctNames);
      if (v === null || typeof v !== 'object') return true;
      const keys = Object.keys(v).map((k) => columnKey(k));
      return new Set(keys).size === keys.length && Object.values(v).every(distinctNames);
    };

    // Act / Assess
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = JSON.stringify(value);
        fc.pre(distinctNames(value));
        expect(asText(parseJsonLine(text))).toEqual(JSON.parse(text));
      }),
    );
  });
});
