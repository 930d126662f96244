import fc from 'fast-check';
import type { FieldSpec, Transform } from '../../lambdas/domain/config';
import {
  applyTransforms,
  cellRules,
  normalizeField,
  normalizeWithRules,
} from '../../lambdas/domain/normalize';

/** A field spec as the config schema outputs it (defaults filled in). */
function spec(overrides: Partial<FieldSpec> = {}): FieldSpec {
  return { source: 'Column', type: 'string', required: false, transforms: ['trim'], ...overrides };
}

describe('applyTransforms', () => {
  it.each<[string, Transform[], string]>([
    ['  Ada  ', ['trim'], 'Ada'],
    ['\t\u00a0Ada\u3000\n', ['trim'], 'Ada'],
    ['\ufeffAda', ['trim'], 'Ada'],
    ['Ada LOVELACE', ['lower'], 'ada lovelace'],
    ['Ada Lovelace', ['upper'], 'ADA LOVELACE'],
    ['ÉCOLE Ωmega', ['lower'], 'école ωmega'],
    ['Ada   \t Lovelace', ['collapseSpaces'], 'Ada Lovelace'],
    ['Ada\u00a0\u2003Lovelace\r\nKing', ['collapseSpaces'], 'Ada Lovelace King'],
    ['  Ada  ', ['collapseSpaces'], ' Ada '],
    ['  Ada   Lovelace ', ['trim', 'collapseSpaces'], 'Ada Lovelace'],
    ['  Ada  ', ['collapseSpaces', 'lower', 'trim'], 'ada'],
    ['a\u200db', ['collapseSpaces', 'trim'], 'a\u200db'],
    ['  Ada  ', [], '  Ada  '],
  ])('%j with %j gives %j', (input, transforms, expected) => {
    // Prepare: inputs from the table

    // Act
    const out = applyTransforms(input, transforms);

    // Assess
    expect(out).toBe(expected);
  });
});

describe('normalizeField: absent values and defaults', () => {
  it.each<[string, string | undefined, Partial<FieldSpec>, unknown]>([
    ['empty cell', '', {}, undefined],
    ['missing column', undefined, {}, undefined],
    ['blank cell after trim', '   ', {}, undefined],
    ['blank number cell', '  ', { type: 'number', transforms: [] }, undefined],
    ['string default', '', { default: 'n/a' }, 'n/a'],
    ['boolean default', '', { type: 'boolean', default: false }, false],
    ['boolean default written as text', ' ', { type: 'boolean', default: 'yes' }, true],
    ['number default', undefined, { type: 'number', default: 0 }, 0],
    ['integer default as text', '', { type: 'integer', default: '1,000' }, 1000],
    [
      'enum default as written in values',
      '',
      { type: 'enum', values: ['Gold', 'Silver'], default: 'gold' },
      'Gold',
    ],
    ['datetime default', '', { type: 'datetime', default: '2024-01-01' }, '2024-01-01T00:00:00.000Z'],
  ])('%s', (_name, raw, overrides, expected) => {
    // Prepare
    const field = spec(overrides);

    // Act
    const result = normalizeField(raw, field);

    // Assess
    expect(result).toEqual({ ok: true, value: expected });
  });

  it('keeps a whitespace-only string when no transform removes it', () => {
    // Prepare
    const field = spec({ transforms: [] });

    // Act
    const result = normalizeField('  ', field);

    // Assess
    expect(result).toEqual({ ok: true, value: '  ' });
  });

  it('reports a default that does not fit the type', () => {
    // Prepare
    const field = spec({ type: 'integer', default: 'many' });

    // Act
    const result = normalizeField('', field);

    // Assess
    expect(result).toEqual({ ok: false, code: 'invalid_default' });
  });
});

describe('normalizeField: string', () => {
  it.each([
    ['emoji', '😀 👍🏽 🇫🇷'],
    ['zero-width joiner sequence', '👨\u200d👩\u200d👧\u200d👦'],
    ['right-to-left text', 'مرحبا بالعالم'],
    ['hebrew with right-to-left mark', 'שלום\u200f עולם'],
    ['right-to-left override', '\u202etest\u202c'],
    ['combining marks (NFD stays NFD)', 'Cafe\u0301 Zo\u0308e'],
    ['precomposed (NFC stays NFC)', 'Café Zoë'],
    ['zalgo', 'Ṱ̺̺̕o͞ ̷i̲̬͇̪͙n̝̗͕v̟̜̘̦͟o̶̙̰̠kè͚̮̺̪̹̱̤'],
    ['math symbols', 'Ω≈ç√∫˜µ≤≥÷'],
    ['CJK', '田中さんにあげて下さい'],
    ['zero-width non-joiner inside (Persian)', 'می\u200cخواهم'],
    ['null-like "null"', 'null'],
    ['null-like "undefined"', 'undefined'],
    ['null-like "NULL"', 'NULL'],
    ['number-like', '007'],
    ['boolean-like', 'false'],
    ['NaN', 'NaN'],
    ['formula-like', '=1+1'],
    ['astral plane', '𝕋𝕙𝕖 𝕢𝕦𝕚𝕔𝕜'],
  ])('passes %s through unchanged', (_name, text) => {
    // Prepare
    const field = spec();

    // Act
    const result = normalizeField(text, field);

    // Assess
    expect(result).toEqual({ ok: true, value: text });
    expect(result.ok && result.value === text).toBe(true);
  });

  it.each<[string, number, { ok: true; value: string } | { ok: false; code: string }]>([
    ['abc', 3, { ok: true, value: 'abc' }],
    ['abcd', 3, { ok: false, code: 'too_long' }],
    ['😀😀😀', 3, { ok: true, value: '😀😀😀' }],
    ['😀😀😀😀', 3, { ok: false, code: 'too_long' }],
    ['  abc  ', 3, { ok: true, value: 'abc' }],
  ])('maxLength: %j with maxLength %i', (text, maxLength, expected) => {
    // Prepare
    const field = spec({ maxLength });

    // Act
    const result = normalizeField(text, field);

    // Assess
    expect(result).toEqual(expected);
  });

  it('applies the configured transforms in order', () => {
    // Prepare
    const field = spec({ transforms: ['trim', 'collapseSpaces', 'upper'] });

    // Act
    const result = normalizeField('  main \t street  ', field);

    // Assess
    expect(result).toEqual({ ok: true, value: 'MAIN STREET' });
  });
});

describe('normalizeField: email', () => {
  it.each([
    ['ada@example.com', 'ada@example.com'],
    ['  Ada.Lovelace@Example.COM ', 'ada.lovelace@example.com'],
    ['first+tag@sub.example.co.uk', 'first+tag@sub.example.co.uk'],
    ["o'brien@example.ie", "o'brien@example.ie"],
    ['user@my-domain.io', 'user@my-domain.io'],
    ['user@xn--bcher-kva.example', 'user@xn--bcher-kva.example'],
    ['user@bücher.de', 'user@bücher.de'],
    ['用户@例子.广告', '用户@例子.广告'],
    ['user@пример.рф', 'user@пример.рф'],
    [`${'a'.repeat(64)}@example.com`, `${'a'.repeat(64)}@example.com`],
  ])('accepts %j', (input, expected) => {
    // Prepare
    const field = spec({ type: 'email' });

    // Act
    const result = normalizeField(input, field);

    // Assess
    expect(result).toEqual({ ok: true, value: expected });
  });

  it.each([
    ['no at sign', 'ada.example.com'],
    ['two at signs', 'ada@lovelace@example.com'],
    ['empty local part', '@example.com'],
    ['no dot in domain', 'ada@localhost'],
    ['space inside', 'ada lovelace@example.com'],
    ['two addresses', 'ada@example.com; bob@example.com'],
    ['display name', 'Ada <ada@example.com>'],
    ['empty domain label', 'ada@example..com'],
    ['domain ends with a dot', 'ada@example.com.'],
    ['label starts with hyphen', 'ada@-example.com'],
    ['label ends with hyphen', 'ada@example-.com'],
    ['underscore in domain', 'ada@exa_mple.com'],
    ['numeric top-level domain', 'ada@1.2.3.4'],
    ['local part starts with a dot', '.ada@example.com'],
    ['double dot in local part', 'ada..l@example.com'],
    ['local part longer than 64', `${'a'.repeat(65)}@example.com`],
    [
      'total longer than 254',
      `ada@${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(60)}.com`,
    ],
    ['label longer than 63', `ada@${'a'.repeat(64)}.com`],
  ])('rejects %s', (_name, input) => {
    // Prepare
    const field = spec({ type: 'email' });

    // Act
    const result = normalizeField(input, field);

    // Assess
    expect(result).toEqual({ ok: false, code: 'invalid_email' });
  });
});

describe('normalizeField: phone', () => {
  it.each<[string, string | undefined, string]>([
    ['(650) 253-0000', 'US', '+16502530000'],
    ['650-253-0000', undefined, '+16502530000'],
    ['650.253.0000', 'US', '+16502530000'],
    ['6502530000', 'US', '+16502530000'],
    ['1-650-253-0000', 'US', '+16502530000'],
    ['+1 (650) 253-0000', 'US', '+16502530000'],
    ['(415) 555-2671', 'US', '+14155552671'],
    ['415-555-0000', 'US', '+14155550000'],
    ['415.555.2671 x12', 'US', '+14155552671;ext=12'],
    ['650 253 0000 ext. 5', 'US', '+16502530000;ext=5'],
    ['+1-650-253-0000;ext=12', 'US', '+16502530000;ext=12'],
    ['+44 20 7946 0958', 'US', '+442079460958'],
    ['020 7946 0958', 'GB', '+442079460958'],
    ['+33 1 42 68 53 00', undefined, '+33142685300'],
    ['+49 30 901820', 'US', '+4930901820'],
  ])('accepts %j (region %s) as %s', (input, region, expected) => {
    // Prepare
    const field = spec({ type: 'phone', ...(region ? { region } : {}) });

    // Act
    const result = normalizeField(input, field);

    // Assess
    expect(result).toEqual({ ok: true, value: expected });
  });

  it.each([
    ['too short', '555-1234'],
    ['far too short', '12345'],
    ['letters only', 'call me'],
    ['trailing letters', '650-253-0000abc'],
    ['vanity letters', '1-800-FLOWERS'],
    ['too long', '+1 415 555 26711'],
    ['impossible exchange', '(415) 000-0000'],
    ['national number of another country without its code', '07911 123456'],
    ['two numbers', '650-253-0000 / 650-253-0001'],
  ])('rejects %s (%j)', (_name, input) => {
    // Prepare
    const field = spec({ type: 'phone', region: 'US' });

    // Act
    const result = normalizeField(input, field);

    // Assess
    expect(result).toEqual({ ok: false, code: 'invalid_phone' });
  });
});

describe('normalizeField: number and integer', () => {
  it.each<[string, number]>([
    ['1234.5', 1234.5],
    ['-0.5', -0.5],
    ['+7', 7],
    ['.5', 0.5],
    ['1e3', 1000],
    ['2.5E-3', 0.0025],
    ['1,234.56', 1234.56],
    ['12,345,678', 12345678],
    ['-1,000', -1000],
    ['  42  ', 42],
    ['500000.0', 500000],
    ['-0', 0],
  ])('number accepts %j as %d', (input, expected) => {
    // Prepare
    const field = spec({ type: 'number' });

    // Act
    const result = normalizeField(input, field);

    // Assess
    expect(result).toEqual({ ok: true, value: expected });
    expect(Object.is(result.ok && result.value, -0)).toBe(false);
  });

  it.each([
    '12abc',
    'abc',
    'NaN',
    'Infinity',
    '-Infinity',
    '0x1F',
    '1,23',
    '1,2345',
    '12,34.5',
    '1.234,56',
    '$100',
    '50%',
    '1 000',
    '1-2',
    '--1',
    '.',
    'e3',
  ])('number rejects %j', (input) => {
    // Prepare
    const field = spec({ type: 'number' });

    // Act
    const result = normalizeField(input, field);

    // Assess
    expect(result).toEqual({ ok: false, code: 'invalid_number' });
  });

  it.each<[string, number]>([
    ['42', 42],
    ['1,000', 1000],
    ['42.0', 42],
    ['-7', -7],
    ['1e3', 1000],
    ['9007199254740991', Number.MAX_SAFE_INTEGER],
  ])('integer accepts %j as %d', (input, expected) => {
    // Prepare
    const field = spec({ type: 'integer' });

    // Act
    const result = normalizeField(input, field);

    // Assess
    expect(result).toEqual({ ok: true, value: expected });
  });

  it.each(['42.5', '0.1', '1e-2', '12abc', 'NaN', 'Infinity', 'forty-two'])('integer rejects %j', (input) => {
    // Prepare
    const field = spec({ type: 'integer' });

    // Act
    const result = normalizeField(input, field);

    // Assess
    expect(result).toEqual({ ok: false, code: 'invalid_integer' });
  });
});

describe('normalizeField: boolean', () => {
  it.each<[string, boolean]>([
    ['true', true],
    ['TRUE', true],
    ['True', true],
    ['1', true],
    ['yes', true],
    ['Y', true],
    ['t', true],
    ['false', false],
    ['FALSE', false],
    ['0', false],
    ['No', false],
    ['n', false],
    ['F', false],
    [' true ', true],
  ])('accepts %j as %s', (input, expected) => {
    // Prepare
    const field = spec({ type: 'boolean' });

    // Act
    const result = normalizeField(input, field);

    // Assess
    expect(result).toEqual({ ok: true, value: expected });
  });

  it.each(['maybe', '2', '-1', 'on', 'off', 'truee', 'null', 'yes please'])('rejects %j', (input) => {
    // Prepare
    const field = spec({ type: 'boolean' });

    // Act
    const result = normalizeField(input, field);

    // Assess
    expect(result).toEqual({ ok: false, code: 'invalid_boolean' });
  });
});

describe('normalizeField: date', () => {
  it.each<[string, string]>([
    ['2024-03-05', '2024-03-05'],
    ['3/5/2024', '2024-03-05'],
    ['03/05/2024', '2024-03-05'],
    ['12/31/1999', '1999-12-31'],
    ['2024/03/05', '2024-03-05'],
    ['2024/3/5', '2024-03-05'],
    ['2024-02-29', '2024-02-29'],
    ['2000-02-29', '2000-02-29'],
    ['2024-03-05T10:22:33.000Z', '2024-03-05'],
    ['2024-03-05T23:30:00-05:00', '2024-03-06'],
    ['2024-03-05T00:30:00+02:00', '2024-03-04'],
    ['2010-10-14T00:00:00.000', '2010-10-14'],
  ])('accepts %j as %s', (input, expected) => {
    // Prepare
    const field = spec({ type: 'date' });

    // Act
    const result = normalizeField(input, field);

    // Assess
    expect(result).toEqual({ ok: true, value: expected });
  });

  it.each([
    '2023-02-29',
    '1900-02-29',
    '2024-04-31',
    '2024-13-01',
    '2024-00-10',
    '2024-01-00',
    '13/01/2024',
    '31/12/2024',
    '3/5/024',
    '2024-3-5',
    '2024-03/05',
    '2024\\03\\05',
    '0024-03-05',
    '20240305',
    'March 5, 2024',
    'yesterday',
    '2024-03-05T25:00',
  ])('rejects %j', (input) => {
    // Prepare
    const field = spec({ type: 'date' });

    // Act
    const result = normalizeField(input, field);

    // Assess
    expect(result).toEqual({ ok: false, code: 'invalid_date' });
  });
});

describe('normalizeField: datetime', () => {
  it.each<[string, string]>([
    ['2024-03-05T10:22:33.000Z', '2024-03-05T10:22:33.000Z'],
    ['2024-03-05T10:22:33Z', '2024-03-05T10:22:33.000Z'],
    ['2024-03-05T10:22:33.000+0000', '2024-03-05T10:22:33.000Z'],
    ['2024-03-05T10:22:33+05:30', '2024-03-05T04:52:33.000Z'],
    ['2024-03-05T10:22:33-08:00', '2024-03-05T18:22:33.000Z'],
    ['2024-03-05T10:22:33+05', '2024-03-05T05:22:33.000Z'],
    ['2024-03-05T01:00:00+02:00', '2024-03-04T23:00:00.000Z'],
    ['2024-03-05 10:22:33', '2024-03-05T10:22:33.000Z'],
    ['2024-03-05T10:22', '2024-03-05T10:22:00.000Z'],
    ['2024-03-05 10:22:33 UTC', '2024-03-05T10:22:33.000Z'],
    ['2024-03-05T10:22:33.1234567Z', '2024-03-05T10:22:33.123Z'],
    ['2024-03-05T10:22:33.5Z', '2024-03-05T10:22:33.500Z'],
    ['3/5/2024 10:22', '2024-03-05T10:22:00.000Z'],
    ['3/5/2024 10:22:33 PM', '2024-03-05T22:22:33.000Z'],
    ['3/5/2024 12:05 AM', '2024-03-05T00:05:00.000Z'],
    ['3/5/2024 12:05 pm', '2024-03-05T12:05:00.000Z'],
    ['2024/03/05 10:22:33', '2024-03-05T10:22:33.000Z'],
    ['2024-03-05', '2024-03-05T00:00:00.000Z'],
    ['3/5/2024', '2024-03-05T00:00:00.000Z'],
    ['1709634153000', '2024-03-05T10:22:33.000Z'],
    // Salesforce Data Loader's own test files (dateEndingInZ, dateWithTimeZone, timeZoneFormatTesting…).
    ['2010-10-14T12:00:00.000Z', '2010-10-14T12:00:00.000Z'],
    ['2010-10-14T12:00:00.000Z-0300', '2010-10-14T15:00:00.000Z'],
    ['2010-10-14T00:00:00.000', '2010-10-14T00:00:00.000Z'],
    ['07/15/2009 02:14:45+0800', '2009-07-14T18:14:45.000Z'],
    ['07/13/2009 22:14:45-0800', '2009-07-14T06:14:45.000Z'],
    ['07/14/2009 14:14:45+0200', '2009-07-14T12:14:45.000Z'],
    ['2009-07-14T14:14:45+02:00', '2009-07-14T12:14:45.000Z'],
  ])('accepts %j as %s', (input, expected) => {
    // Prepare
    const field = spec({ type: 'datetime' });

    // Act
    const result = normalizeField(input, field);

    // Assess
    expect(result).toEqual({ ok: true, value: expected });
  });

  it.each([
    ['backslash separators (Data Loader error row)', '2009\\7\\14 22:14:45+0800'],
    ['mixed separators (Data Loader error row)', '2009-07/14 02:14:45-0800'],
    ['month 13', '2024-13-05T10:22:33Z'],
    ['February 30', '2024-02-30T10:22:33Z'],
    ['February 29 in a common year', '2023-02-29 10:00'],
    ['hour 24', '2024-03-05T24:00:00Z'],
    ['minute 60', '2024-03-05T10:60:00Z'],
    ['second 60', '2024-03-05T10:22:60Z'],
    ['hour 13 with PM', '3/5/2024 13:22 PM'],
    ['hour 0 with AM', '3/5/2024 0:22 AM'],
    ['offset minutes 60', '2024-03-05T10:22:33+05:60'],
    ['offset beyond 18 hours', '2024-03-05T10:22:33+19:00'],
    ['zone without time', '2024-03-05Z'],
    ['named time zone', '2024-03-05T10:22:33 PST'],
    ['epoch seconds', '1709634153'],
    ['free text', 'next tuesday'],
    ['RFC 2822', 'Tue, 05 Mar 2024 10:22:33 GMT'],
    ['day-first', '31/12/2024 10:00'],
    ['trailing garbage', '2024-03-05T10:22:33Zabc'],
    ['past year 9999 after the offset', '9999-12-31T23:00:00-05:00'],
  ])('rejects %s (%j)', (_name, input) => {
    // Prepare
    const field = spec({ type: 'datetime' });

    // Act
    const result = normalizeField(input, field);

    // Assess
    expect(result).toEqual({ ok: false, code: 'invalid_datetime' });
  });
});

describe('normalizeField: enum', () => {
  const values = ['Hot', 'Warm', 'Cold', 'Closed - Won'];

  it.each<[string, string]>([
    ['Hot', 'Hot'],
    ['hot', 'Hot'],
    ['WARM', 'Warm'],
    ['  cold ', 'Cold'],
    ['closed - won', 'Closed - Won'],
  ])('accepts %j as %j', (input, expected) => {
    // Prepare
    const field = spec({ type: 'enum', values });

    // Act
    const result = normalizeField(input, field);

    // Assess
    expect(result).toEqual({ ok: true, value: expected });
  });

  it.each(['Lukewarm', 'H0t', 'closed won', 'Hot, Cold'])('rejects %j', (input) => {
    // Prepare
    const field = spec({ type: 'enum', values });

    // Act
    const result = normalizeField(input, field);

    // Assess
    expect(result).toEqual({ ok: false, code: 'invalid_enum' });
  });

  it.each<[Transform[], unknown]>([
    [['trim', 'collapseSpaces'], { ok: true, value: 'Closed - Won' }],
    [['trim'], { ok: false, code: 'invalid_enum' }],
  ])('compares after the transforms %j', (transforms, expected) => {
    // Prepare
    const field = spec({ type: 'enum', values, transforms });

    // Act
    const result = normalizeField(' closed   -  won ', field);

    // Assess
    expect(result).toEqual(expected);
  });
});

describe('trim: invisible characters', () => {
  it.each<[string, string, string]>([
    ['zero-width space at the end', 'Ada\u200b', 'Ada'],
    ['BOM and zero-width space at the start', '\ufeff\u200bAda', 'Ada'],
    ['spaces and invisibles interleaved', ' \u200b \u2060Ada\u00ad \u200e ', 'Ada'],
    ['Mongolian vowel separator and soft hyphen', '\u180eAda\u00ad', 'Ada'],
    ['direction marks and invisible operators', '\u200fAda\u2064\u2061', 'Ada'],
    ['zero-width space inside', 'a\u200bb', 'ab'],
    ['word joiner and BOM inside', 'a\u2060b\ufeffc', 'abc'],
    ['zero-width joiner inside stays', '👨\u200d👩', '👨\u200d👩'],
    ['zero-width non-joiner inside stays', 'می\u200cخواهم', 'می\u200cخواهم'],
    ['soft hyphen inside stays', 'Ada\u00adLovelace', 'Ada\u00adLovelace'],
    ['only invisibles', '\u200b\u200d\ufeff', ''],
    ['printable ASCII ends with a zero-width space inside', 'a\u200bb c', 'ab c'],
    ['plain ASCII', 'Ada Lovelace', 'Ada Lovelace'],
  ])('%s', (_name, input, expected) => {
    // Act
    const out = applyTransforms(input, ['trim']);

    // Assess
    expect(out).toBe(expected);
  });

  it('a typed field reads a cell of only invisible characters as empty, and ignores them at the ends', () => {
    // Act
    const results = [
      normalizeField('\u200b', spec({ type: 'number', transforms: [] })),
      normalizeField('42\u200b', spec({ type: 'integer', transforms: [] })),
      normalizeField('ada@example.com\u2060', spec({ type: 'email', transforms: [] })),
    ];

    // Assess
    expect(results).toEqual([
      { ok: true, value: undefined },
      { ok: true, value: 42 },
      { ok: true, value: 'ada@example.com' },
    ]);
  });

  const INVISIBLE = [
    '\u200b',
    '\u200c',
    '\u200d',
    '\u200e',
    '\u200f',
    '\u2060',
    '\u2064',
    '\ufeff',
    '\u00ad',
    '\u180e',
  ];
  const text = fc
    .array(fc.oneof(fc.constantFrom(...INVISIBLE, ' ', '\t', '\u00a0'), fc.string({ maxLength: 3 })), {
      maxLength: 8,
    })
    .map((parts) => parts.join(''));
  const isBlank = (c: string) => /[\s\u00ad\u180e\u200b-\u200f\u2060-\u2064]/u.test(c);

  it('is idempotent and leaves neither whitespace nor invisible characters at the ends', () => {
    fc.assert(
      fc.property(text, (s) => {
        const once = applyTransforms(s, ['trim']);
        expect(applyTransforms(once, ['trim'])).toBe(once);
        expect(once === '' || (!isBlank(once[0] as string) && !isBlank(once.at(-1) as string))).toBe(true);
        expect(/[\u200b\u2060\ufeff]/.test(once)).toBe(false);
      }),
      { numRuns: 5_000 },
    );
  });
});

describe('normalizeWithRules', () => {
  const rulesFor = (
    field: FieldSpec,
    nulls: string[],
    map: Array<[string, string | number | boolean]> = [],
    excelIds = false,
  ) => {
    const rules = cellRules(field, nulls, map, excelIds);
    if (!rules) throw new Error('no rules');
    return rules;
  };

  it.each<
    [string, FieldSpec, string[], Array<[string, string | number | boolean]>, boolean, string, unknown]
  >([
    ['a null value reads as empty', spec(), ['#n/a'], [], false, '#N/A', undefined],
    [
      'a null value ignores case and spaces',
      spec(),
      ['[not provided]'],
      [],
      false,
      ' [Not Provided] ',
      undefined,
    ],
    ['a null value takes the default', spec({ default: 'unknown' }), ['#n/a'], [], false, '#n/a', 'unknown'],
    ['a cell that only starts like a null value stays', spec(), ['#n/a'], [], false, '#N/A2', '#N/A2'],
    ['a longer cell is not compared', spec(), ['null'], [], false, 'Nullington', 'Nullington'],
    ['a mapped picklist value', spec(), [], [['closed won', 'won']], false, 'Closed Won', 'won'],
    [
      'a boolean map typed like a default',
      spec({ type: 'boolean' }),
      [],
      [['opted out', true]],
      false,
      'Opted Out',
      true,
    ],
    ['a number map', spec({ type: 'integer' }), [], [['ten', 10]], false, 'TEN', 10],
    [
      'an unmapped value passes through',
      spec(),
      [],
      [['closed won', 'won']],
      false,
      'Prospecting',
      'Prospecting',
    ],
    [
      'an unmapped value is typed as usual',
      spec({ type: 'boolean' }),
      [],
      [['opted out', true]],
      false,
      'maybe',
      'invalid_boolean',
    ],
    ['null values apply before the map', spec(), ['n/a'], [['n/a', 'x']], false, 'N/A', undefined],
    ['an Excel id is refused', spec(), [], [], true, '1.11015E+11', 'excel_mangled_id'],
    ['an Excel id with a decimal comma', spec(), [], [], true, '1,11015E+11', 'excel_mangled_id'],
    ['an Excel id without a fraction', spec(), [], [], true, '1E+15', 'excel_mangled_id'],
    ['a Salesforce id is not an Excel id', spec(), [], [], true, '0035e00000AbCdEAAV', '0035e00000AbCdEAAV'],
    ['an id with an E but no sign is not an Excel id', spec(), [], [], true, '1E5', '1E5'],
    ['an empty cell keeps its default', spec({ default: 'd' }), ['#n/a'], [], true, '', 'd'],
  ])('%s', (_name, field, nulls, map, excelIds, cell, expected) => {
    // Prepare
    const rules = rulesFor(field, nulls, map, excelIds);

    // Act
    const value = normalizeWithRules(cell, field, rules);

    // Assess
    expect(typeof value === 'object' && value !== null ? (value as { code: string }).code : value).toEqual(
      expected,
    );
  });

  it('gives no rules to a field without null values, map or id check', () => {
    expect(cellRules(spec(), [], [], false)).toBeUndefined();
  });

  it('never stores a null value, whatever its case and surrounding spaces', () => {
    const tokens = ['null', 'none', 'n/a', '#n/a', '[not provided]'];
    const field = spec();
    const rules = rulesFor(field, tokens);
    const casing = fc.tuple(fc.constantFrom(...tokens), fc.array(fc.boolean(), { maxLength: 14 }));
    fc.assert(
      fc.property(casing, fc.constantFrom('', ' ', '\t', '\u200b'), ([token, upper], pad) => {
        const cell = pad + [...token].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join('') + pad;
        expect(normalizeWithRules(cell, field, rules)).toBeUndefined();
      }),
      { numRuns: 2_000 },
    );
  });
});
