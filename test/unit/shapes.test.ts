import fc from 'fast-check';
import { fromAttributeMap, toAttributeMap } from '../../lambdas/adapters/dynamodb';
import { type FieldSpec, getEntity, parseConfig } from '../../lambdas/domain/config';
import { itemDigest } from '../../lambdas/domain/digest';
import { bindHeader, mapRecord } from '../../lambdas/domain/mapping';
import { withCarried } from '../../lambdas/domain/merge';
import { normalizeField } from '../../lambdas/domain/normalize';
import { canonicalDecimal, type Value } from '../../lambdas/domain/value';

function spec(overrides: Partial<FieldSpec> = {}): FieldSpec {
  return { source: 'Column', type: 'string', required: false, transforms: ['trim'], ...overrides };
}

const NINE_38 = '9'.repeat(38);

describe('exact numbers', () => {
  it.each<[string, FieldSpec['type'], Value]>([
    ['12345678901234567890.123', 'number', { N: '12345678901234567890.123' }],
    ['+0012.5000', 'number', 12.5],
    ['1,234,567.10', 'number', 1234567.1],
    ['-0', 'number', 0],
    ['-0.000', 'number', 0],
    ['1.5e3', 'number', 1500],
    ['1E-7', 'number', 1e-7],
    ['1e125', 'number', 1e125],
    [`${NINE_38}`, 'number', { N: NINE_38 }],
    ['123456789012345678901234567890', 'integer', { N: '123456789012345678901234567890' }],
    ['9007199254740993', 'integer', { N: '9007199254740993' }],
    ['1e20', 'integer', 100000000000000000000],
    ['1.0', 'integer', 1],
  ])('%j as %s is %j', (cell, type, expected) => {
    // Act
    const result = normalizeField(cell, spec({ type }));
    // Assess
    expect(result).toEqual({ ok: true, value: expected });
  });

  it.each<[string, FieldSpec['type'], string]>([
    [`1${NINE_38}`, 'number', 'number_too_precise'],
    ['1234567890123456789012345678901234567.89', 'number', 'number_too_precise'],
    ['1e126', 'number', 'number_out_of_range'],
    ['1e400', 'number', 'number_out_of_range'],
    ['1e-131', 'number', 'number_out_of_range'],
    ['1.5', 'integer', 'invalid_integer'],
    ['12,34', 'number', 'invalid_number'],
  ])('%j as %s rejects with %s', (cell, type, code) => {
    expect(normalizeField(cell, spec({ type }))).toEqual({ ok: false, code });
  });

  it('keeps any decimal of up to 38 significant digits exactly through the item, the part JSON and the attribute map', () => {
    const decimal = fc
      .tuple(
        fc.boolean(),
        fc.stringMatching(/^[1-9]\d{0,37}$/),
        fc.integer({ min: -100, max: 80 }),
        fc.nat({ max: 3 }),
      )
      .map(([negative, digits, exponent, zeros]) => {
        const point = Math.max(0, Math.min(digits.length, digits.length + exponent));
        const text = `${digits.slice(0, point)}.${digits.slice(point)}${'0'.repeat(zeros)}`;
        return `${negative ? '-' : ''}${text}e${point - digits.length - exponent}`;
      });
    fc.assert(
      fc.property(decimal, (text) => {
        // Prepare
        const canonical = canonicalDecimal(text);
        if (canonical === undefined || canonical === 'digits' || canonical === 'range') throw new Error(text);
        // Act
        const typed = normalizeField(text, spec({ type: 'number' }));
        if (!typed.ok || typed.value === undefined) throw new Error(`${text} rejected`);
        const item = JSON.parse(JSON.stringify({ amount: typed.value })) as Record<string, Value>;
        const attributes = toAttributeMap(item);
        const back = fromAttributeMap({ amount: { N: attributes.amount?.N ?? '' } });
        // Assess
        expect(attributes.amount).toEqual({ N: canonical });
        expect(Number(canonical)).toBe(Number(text));
        expect(back).toEqual(item);
        expect(itemDigest(back)).toBe(itemDigest(item));
      }),
    );
  });

  it.each([
    ['1.50', '1.5'],
    ['0012345678901234567890.1230', '12345678901234567890.123'],
    ['1E+3', '1000'],
  ])('reads a stored %s as the value %s types to (one digest)', (stored, cell) => {
    const typed = normalizeField(cell, spec({ type: 'number' }));
    if (!typed.ok || typed.value === undefined) throw new Error('rejected');
    expect(itemDigest(fromAttributeMap({ n: { N: stored } }))).toBe(itemDigest({ n: typed.value }));
  });
});

describe('currency and percent', () => {
  it.each<[string, Partial<FieldSpec>, Value]>([
    ['$1,234.50', {}, 1234.5],
    ['1234.5', {}, 1234.5],
    ['(1,234.50)', {}, -1234.5],
    ['-$12', {}, -12],
    ['$-12', {}, -12],
    ['USD 99.99', { currencyCode: 'USD' }, 99.99],
    ['99.99 USD', {}, 99.99],
    ['$5', { currencyCode: 'CAD' }, 5],
    ['€1.234,50', { decimalSeparator: ',' }, 1234.5],
    ['1.234.567,5 €', { decimalSeparator: ',', currencyCode: 'EUR' }, 1234567.5],
    ['$12345678901234567890123456.78', {}, { N: '12345678901234567890123456.78' }],
  ])('currency %j (%j) is %j', (cell, over, expected) => {
    expect(normalizeField(cell, spec({ type: 'currency', ...over }))).toEqual({ ok: true, value: expected });
  });

  it.each<[string, Partial<FieldSpec>, string]>([
    ['€1.234,50', {}, 'invalid_currency'],
    ['1,234.50', { decimalSeparator: ',' }, 'invalid_currency'],
    ['1,23', {}, 'invalid_currency'],
    ['$€12', {}, 'invalid_currency'],
    ['$12 USD', {}, 'invalid_currency'],
    ['(12', {}, 'invalid_currency'],
    ['-(12)', {}, 'invalid_currency'],
    ['twelve dollars', {}, 'invalid_currency'],
    ['€12', { currencyCode: 'USD' }, 'currency_mismatch'],
    ['12 GBP', { currencyCode: 'USD' }, 'currency_mismatch'],
  ])('currency %j (%j) rejects with %s', (cell, over, code) => {
    expect(normalizeField(cell, spec({ type: 'currency', ...over }))).toEqual({ ok: false, code });
  });

  it.each<[string, Partial<FieldSpec>, Value]>([
    ['12.5%', {}, 0.125],
    ['12.5', {}, 0.125],
    ['-3 %', {}, -0.03],
    ['100%', {}, 1],
    ['12.5%', { percentScale: 'points' }, 12.5],
    ['33.333333333333333333%', {}, { N: '0.33333333333333333333' }],
  ])('percent %j (%j) is %j', (cell, over, expected) => {
    expect(normalizeField(cell, spec({ type: 'percent', ...over }))).toEqual({ ok: true, value: expected });
  });

  it.each(['12.5%%', '%12', 'half', '1e400%'])('percent %j rejects', (cell) => {
    const result = normalizeField(cell, spec({ type: 'percent' }));
    expect(result.ok).toBe(false);
  });
});

describe('lists and string sets', () => {
  const picklist = (over: Partial<FieldSpec> = {}) =>
    spec({
      type: 'enum',
      values: ['Red', 'Green', 'Blue'],
      list: { delimiter: ';', as: 'stringSet' },
      ...over,
    });

  it.each<[string, FieldSpec, Value | undefined]>([
    ['red; Green ;;blue', picklist(), { SS: ['Red', 'Green', 'Blue'] }],
    ['Red;red;RED', picklist(), { SS: ['Red'] }],
    [' ; ;', picklist(), undefined],
    ['a|b|a', spec({ list: { delimiter: '|', as: 'list' } }), { L: ['a', 'b', 'a'] }],
    [
      '1; 2.50;12345678901234567890.5',
      spec({ type: 'number', list: { delimiter: ';', as: 'list' } }),
      {
        L: [1, 2.5, { N: '12345678901234567890.5' }],
      },
    ],
  ])('%j is %j', (cell, field, expected) => {
    expect(normalizeField(cell, field)).toEqual({ ok: true, value: expected });
  });

  it.each<[string, FieldSpec, string]>([
    ['Red;Purple', picklist(), 'invalid_enum'],
    ['1;two', spec({ type: 'number', list: { delimiter: ';', as: 'list' } }), 'invalid_number'],
    ['a;toolong', spec({ maxLength: 3, list: { delimiter: ';', as: 'stringSet' } }), 'too_long'],
  ])('%j with an invalid element rejects with %s', (cell, field, code) => {
    expect(normalizeField(cell, field)).toEqual({ ok: false, code });
  });
});

const entityWith = (fields: Record<string, unknown>, over: Record<string, unknown> = {}) => ({
  entities: {
    contact: {
      target: { key: 'id' },
      fields: { id: { source: 'Id', required: true }, ...fields },
      ...over,
    },
  },
});

describe('config of shapes', () => {
  it.each<[string, Record<string, unknown>, Record<string, unknown>, RegExp]>([
    [
      'a name with an empty segment',
      { 'address..street': { source: 'S' } },
      {},
      /address\.\.street: Invalid key/,
    ],
    ['a name ending in a dot', { 'address.': { source: 'S' } }, {}, /address\.: Invalid key/],
    ['a segment starting with a digit', { 'address.1st': { source: 'S' } }, {}, /address\.1st: Invalid key/],
    [
      'a leaf that is also a parent',
      { address: { source: 'A' }, 'address.street': { source: 'S' } },
      {},
      /"address" is both a value and the map of "address.street"/,
    ],
    [
      'a dotted key',
      { 'ids.crm': { source: 'C', required: true } },
      { target: { key: 'ids.crm' } },
      /the key field cannot be a map member/,
    ],
    [
      'a dotted updatedAt',
      { 'dates.modified': { source: 'M', type: 'datetime' } },
      { updatedAt: 'dates.modified' },
      /the updatedAt field cannot be a map member/,
    ],
    [
      'a dotted reference',
      { 'account.id': { source: 'AccountId' } },
      { references: { 'account.id': { entity: 'contact' } } },
      /reference/,
    ],
    [
      'a string set of numbers',
      { n: { source: 'N', type: 'number', list: { as: 'stringSet' } } },
      {},
      /a stringSet holds strings/,
    ],
    ['an unknown list form', { n: { source: 'N', list: { as: 'bag' } } }, {}, /unknown list form "bag"/],
    ['an empty delimiter', { n: { source: 'N', list: { delimiter: '' } } }, {}, /delimiter is empty/],
    [
      'a currencyCode on a number',
      { n: { source: 'N', type: 'number', currencyCode: 'USD' } },
      {},
      /currencyCode applies to currency fields only/,
    ],
    [
      'a lower-case currencyCode',
      { n: { source: 'N', type: 'currency', currencyCode: 'usd' } },
      {},
      /ISO 4217/,
    ],
    [
      'a percentScale on a currency',
      { n: { source: 'N', type: 'currency', percentScale: 'points' } },
      {},
      /percentScale applies to percent fields only/,
    ],
  ])('refuses %s', (_label, fields, over, message) => {
    expect(() => parseConfig(entityWith(fields, over))).toThrow(message);
  });

  it('accepts dotted members of one map, lists, currency and percent fields', () => {
    const config = parseConfig(
      entityWith({
        'address.street': { source: 'Street' },
        'address.geo.city': { source: 'City' },
        tags: { source: 'Tags', list: {} },
        price: { source: 'Price', type: 'currency', currencyCode: 'USD' },
        share: { source: 'Share', type: 'percent' },
      }),
    );
    expect(getEntity(config, 'contact').fields.tags?.list).toEqual({ delimiter: ';', as: 'list' });
  });
});

describe('maps from dotted names', () => {
  const entity = getEntity(
    parseConfig(
      entityWith({
        'address.street': { source: 'Street' },
        'address.city': { source: 'City' },
        'address.geo.zip': { source: 'Zip' },
      }),
    ),
    'contact',
  );
  const columns = ['Id', 'Street', 'City', 'Zip'];

  it.each<[string[], Record<string, Value>]>([
    [
      ['c1', 'Main St 1', 'Springfield', '12345'],
      {
        id: 'c1',
        address: { M: { street: 'Main St 1', city: 'Springfield', geo: { M: { zip: '12345' } } } },
      },
    ],
    [['c1', 'Main St 1', '', ''], { id: 'c1', address: { M: { street: 'Main St 1' } } }],
    [['c1', '', '', ''], { id: 'c1' }],
  ])('%j builds %j', (cells, item) => {
    const mapped = mapRecord(cells, bindHeader(columns, entity), entity);
    expect(mapped.ok && mapped.item).toEqual(item);
  });

  it('keeps, for a partial export, the stored members its file does not carry and updates those it does', () => {
    // Prepare: the file carries Street only; the stored item has street, city and zip.
    const partial = bindHeader(['Id', 'Street'], entity);
    const mapped = mapRecord(['c1', 'New St 2'], partial, entity);
    if (!mapped.ok) throw new Error('rejected');
    const stored: Record<string, Value> = {
      id: 'c1',
      address: { M: { street: 'Main St 1', city: 'Springfield', geo: { M: { zip: '12345' } } } },
    };
    const missing = partial.missingFields.map((f) => f.field);
    // Act
    const merged = withCarried(mapped.item, stored, missing);
    // Assess
    expect(missing).toEqual(['address.city', 'address.geo.zip']);
    expect(merged).toEqual({
      id: 'c1',
      address: { M: { street: 'New St 2', city: 'Springfield', geo: { M: { zip: '12345' } } } },
    });
    expect(mapped.item).toEqual({ id: 'c1', address: { M: { street: 'New St 2' } } });
  });

  it('writes maps, lists and sets as M, L and SS and reads them back to the same digest', () => {
    const item: Record<string, Value> = {
      id: 'c1',
      address: { M: { street: 'Main', geo: { M: { zip: '1' } } } },
      tags: { L: ['a', 1, { N: '12345678901234567890.1' }] },
      colors: { SS: ['Red', 'Blue'] },
    };
    const attributes = toAttributeMap(item);
    expect(attributes).toEqual({
      id: { S: 'c1' },
      address: { M: { street: { S: 'Main' }, geo: { M: { zip: { S: '1' } } } } },
      tags: { L: [{ S: 'a' }, { N: '1' }, { N: '12345678901234567890.1' }] },
      colors: { SS: ['Red', 'Blue'] },
    });
    // DynamoDB returns a set's members in its own order: a set is compared as a set.
    const back = fromAttributeMap({ ...attributes, colors: { SS: ['Blue', 'Red'] } });
    expect(itemDigest(back)).toBe(itemDigest(item));
  });
});
