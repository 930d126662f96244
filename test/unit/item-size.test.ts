import fc from 'fast-check';
import { ChunkAccumulator, META, writeLimits, writtenItemSize } from '../../lambdas/domain/chunk';
import { getEntity, parseConfig } from '../../lambdas/domain/config';
import {
  dynamoItemSize,
  dynamoValueSize,
  keyFits,
  MAX_ITEM_BYTES,
  MAX_PARTITION_KEY_BYTES,
  numberSize,
} from '../../lambdas/domain/item-size';
import { bindHeader } from '../../lambdas/domain/mapping';
import { PartitionMerger } from '../../lambdas/domain/merge';
import type { Value } from '../../lambdas/domain/value';

/**
 * DynamoDB's size rules (Developer Guide, "DynamoDB item sizes and formats"): strings are their
 * UTF-8 bytes, numbers 1 byte per two significant digits plus 1, booleans and null 1 byte, lists
 * and maps 3 bytes plus 1 byte per element; an item is the sum of its names and values.
 */
describe('dynamoValueSize', () => {
  it.each<[string, Value, number]>([
    ['an ASCII string: its length', 'Ada', 3],
    ['an empty string', '', 0],
    ['a 2-byte character', 'é', 2],
    ['a 3-byte character', '日', 3],
    ['a 4-byte character (surrogate pair)', '😀', 4],
    ['a number: 1 byte per two significant digits, plus 1', 123, 3],
    ['a number with trailing zeroes (trimmed)', 1000, 2],
    ['a number with leading zeroes (trimmed)', 0.0012, 2],
    ['a negative decimal', -12.5, 3],
    ['zero', 0, 2],
    ['a 16-digit integer', Number.MAX_SAFE_INTEGER, 9],
    ['a number in exponent form: its mantissa', 1e21, 2],
    ['an exact number: its significant digits', { N: '12345678901234567890.123' }, 13],
    ['a boolean', true, 1],
    ['an empty list: 3 bytes', { L: [] }, 3],
    ['a list: 3 bytes, plus 1 byte and the size of each element', { L: ['a', 'bc'] }, 3 + 2 + 3],
    ['a string set: the sizes of its members', { SS: ['a', 'bc'] }, 3],
    ['an empty map', { M: {} }, 3],
    ['a map: each element its name, its value and 1 byte', { M: { a: 'x', bb: true } }, 3 + 3 + 4],
    ['nested', { M: { l: { L: [1, { L: [true] }] } } }, 3 + (1 + 1 + (3 + (1 + 2) + (1 + (3 + 1 + 1))))],
  ])('%s', (_label, value, bytes) => {
    // Act / Assess
    expect(dynamoValueSize(value)).toBe(bytes);
  });

  it.each<[number | string, number]>([
    ['12345678901234567890123456789012345678', 20],
    ['-0.000', 2],
    ['+7E-10', 2],
  ])('numberSize(%s) = %i', (text, bytes) => {
    expect(numberSize(text)).toBe(bytes);
  });
});

describe('dynamoItemSize', () => {
  it.each<[string, Record<string, Value>, number]>([
    ['no attribute', {}, 0],
    ['names count as their UTF-8 bytes', { Name: 'Ada' }, 4 + 3],
    ['a multi-byte name', { prénom: 'Zoë' }, 7 + 4],
    ['scalars of every type', { id: 'p1', n: 42, ok: false }, 2 + 2 + (1 + 2) + (2 + 1)],
  ])('%s', (_label, item, bytes) => {
    expect(dynamoItemSize(item)).toBe(bytes);
  });

  const scalar = fc.oneof(
    fc.string({ unit: 'grapheme' }),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
  );
  const item = fc.dictionary(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }), scalar, {
    maxKeys: 8,
  });

  it('is additive over attributes with distinct names, and adding an attribute never makes an item smaller', () => {
    fc.assert(
      fc.property(item, item, (a, b) => {
        // Prepare: b without a's names, so the union holds both whole.
        const rest = Object.fromEntries(Object.entries(b).filter(([k]) => !Object.hasOwn(a, k)));
        // Act
        const union = dynamoItemSize({ ...a, ...rest });
        // Assess
        expect(union).toBe(dynamoItemSize(a) + dynamoItemSize(rest));
        expect(union).toBeGreaterThanOrEqual(dynamoItemSize(a));
      }),
    );
  });

  it('keyFits measures UTF-8 bytes against the limit', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 1200 }), (key) => {
        expect(keyFits(key, MAX_PARTITION_KEY_BYTES)).toBe(Buffer.byteLength(key) <= MAX_PARTITION_KEY_BYTES);
      }),
    );
  });
});

describe('rows DynamoDB cannot store are rejected at the transform', () => {
  const ENTITY = getEntity(
    parseConfig({
      entities: {
        notes: {
          target: { key: 'id' },
          fields: {
            id: { source: 'Id', required: true },
            a: { source: 'A' },
            b: { source: 'B' },
            c: { source: 'C' },
            d: { source: 'D' },
            modified: { source: 'Modified', type: 'datetime', required: true },
          },
          updatedAt: 'modified',
          deleteFlag: { source: 'IsDeleted' },
          source: { maxFieldBytes: 128 * 1024 },
        },
      },
    }),
    'notes',
  );
  const COLUMNS = ['Id', 'A', 'B', 'C', 'D', 'Modified', 'IsDeleted'];
  const RUN_ID = 'notes-0123456789abcdef0123';
  const LIMITS = writeLimits({ entity: 'notes', runId: RUN_ID });
  const MODIFIED = '2024-01-01T00:00:00Z';
  const KiB = 1024;

  function load(rows: ReadonlyArray<readonly string[]>, maxFieldBytes = 128 * KiB): ChunkAccumulator {
    const acc = new ChunkAccumulator(ENTITY, bindHeader(COLUMNS, ENTITY), ',', maxFieldBytes, 'csv', LIMITS);
    rows.forEach((cells, i) => {
      acc.add({ line: i + 2, offset: 0, bytes: Buffer.from(cells.join(',')) });
    });
    return acc;
  }
  const rejected = (acc: ChunkAccumulator) => acc.rejects.map((r) => [r.line, r.reasons]);

  it.each<[string, string[], Array<[number, string[]]>]>([
    [
      'four fields of 120 KiB, each under maxFieldBytes',
      ['p1', ...Array(4).fill('x'.repeat(120 * KiB)), MODIFIED, 'false'],
      [[2, ['item_too_large']]],
    ],
    ['three fields of 120 KiB', ['p1', ...Array(3).fill('x'.repeat(120 * KiB)), '', MODIFIED, 'false'], []],
    ['a 3,010-byte key', ['k'.repeat(3010), 'a', '', '', '', MODIFIED, 'false'], [[2, ['key_too_large']]]],
    ['a 2,048-byte key', ['k'.repeat(2048), 'a', '', '', '', MODIFIED, 'false'], []],
    [
      'a 2,048-byte key of 3-byte characters',
      ['日'.repeat(683), 'a', '', '', '', MODIFIED, 'false'],
      [[2, ['key_too_large']]],
    ],
    [
      'a delete whose tombstone key (TOMB#notes#<key>) would be too long',
      ['k'.repeat(2045), '', '', '', '', MODIFIED, 'true'],
      [[2, ['key_too_large']]],
    ],
    [
      'a delete of 120 KiB fields: only its key is written',
      ['p1', ...Array(4).fill('x'.repeat(120 * KiB)), MODIFIED, 'true'],
      [],
    ],
    [
      'both',
      ['k'.repeat(3010), ...Array(4).fill('x'.repeat(120 * KiB)), MODIFIED, 'false'],
      [[2, ['key_too_large', 'item_too_large']]],
    ],
  ])('%s', (_label, cells, expected) => {
    // Act
    const acc = load([cells]);
    // Assess
    expect(rejected(acc)).toEqual(expected);
    expect(acc.winners.size).toBe(expected.length === 0 ? 1 : 0);
    if (expected.length > 0) {
      for (const [, reasons] of expected) for (const r of reasons) expect(acc.reasonCounts[r]).toBe(1);
    }
  });

  it('the item at exactly 409,600 bytes as the merge writes it loads, one byte more is rejected; other rows load', () => {
    // Prepare: the padding that makes the written item (row, _v, _line, _run, _digest) 409,600 bytes.
    const version = '2024-01-01T00:00:00.000Z';
    const base = writtenItemSize({ id: 'p1', a: '', b: '', modified: version }, version, LIMITS);
    const fill = MAX_ITEM_BYTES - base;
    const half = Math.floor(fill / 2);
    const at = ['p1', 'x'.repeat(half), 'y'.repeat(fill - half), '', '', MODIFIED, 'false'];
    const over = ['p2', 'x'.repeat(half), 'y'.repeat(fill - half + 1), '', '', MODIFIED, 'false'];
    // Act
    const acc = load([at, over, ['p3', 'small', '', '', '', MODIFIED, 'false']], MAX_ITEM_BYTES);
    // Assess
    expect(rejected(acc)).toEqual([[3, ['item_too_large']]]);
    const kept = acc.winners.get('p1');
    if (!kept) throw new Error('p1 was not kept');
    const item = acc.itemOf(kept);
    expect(writtenItemSize(item, kept.version, LIMITS)).toBe(MAX_ITEM_BYTES);
    // The merge's own attributes are what writeLimits budgets for.
    expect(
      dynamoItemSize({
        ...item,
        [META.version]: kept.version,
        [META.line]: Number.MAX_SAFE_INTEGER,
        [META.run]: RUN_ID,
        [META.digest]: 'x'.repeat(27),
      }),
    ).toBe(MAX_ITEM_BYTES);
    expect([...acc.winners.keys()].sort()).toEqual(['p1', 'p3']);
  });

  it('rejects a row iff its written item is over the limit, whatever its characters (the cheap bound never skips one)', () => {
    const version = '2024-01-01T00:00:00.000Z';
    const base = writtenItemSize({ id: 'p1', a: '', modified: version }, version, LIMITS);
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }).filter((c) => !/[",\r\n\s]/.test(c)),
        fc.integer({ min: -6, max: 6 }),
        (char, delta) => {
          // Prepare: `a` filled with one character to about the limit (±6 bytes' worth of it).
          const count = Math.max(1, Math.floor((MAX_ITEM_BYTES - base) / Buffer.byteLength(char)) + delta);
          const cell = char.repeat(count);
          // Act
          const acc = load([['p1', cell, '', '', '', MODIFIED, 'false']], 2 * MAX_ITEM_BYTES);
          // Assess
          const size = writtenItemSize({ id: 'p1', a: cell, modified: version }, version, LIMITS);
          expect(acc.rejects.map((r) => r.reasons)).toEqual(
            size > MAX_ITEM_BYTES ? [['item_too_large']] : [],
          );
        },
      ),
      { numRuns: 25 },
    );
  });

  it('rows held for their references are measured too, after their parents are settled', () => {
    // Prepare: an entity that rejects orphans; a row too large with a valid parent, one that fits.
    const entity = getEntity(
      parseConfig({
        entities: {
          account: { target: { key: 'id' }, fields: { id: { source: 'Id', required: true } } },
          contact: {
            target: { key: 'id' },
            fields: {
              id: { source: 'Id', required: true },
              accountId: { source: 'AccountId' },
              a: { source: 'A' },
              b: { source: 'B' },
              modified: { source: 'Modified', type: 'datetime', required: true },
            },
            updatedAt: 'modified',
            references: { accountId: { entity: 'account', reject: true } },
          },
        },
      }),
      'contact',
    );
    const acc = new ChunkAccumulator(
      entity,
      bindHeader(['Id', 'AccountId', 'A', 'B', 'Modified'], entity),
      ',',
      MAX_ITEM_BYTES,
      'csv',
      LIMITS,
    );
    const half = 'x'.repeat(205 * KiB);
    acc.add({ line: 2, offset: 0, bytes: Buffer.from(`c1,A1,${half},${half},${MODIFIED}`) });
    acc.add({ line: 3, offset: 0, bytes: Buffer.from(`c2,A1,${half},,${MODIFIED}`) });
    acc.add({ line: 4, offset: 0, bytes: Buffer.from(`c3,A9,${half},${half},${MODIFIED}`) });
    // Act
    acc.settleReferences(new Map([['accountId', new Set(['A1'])]]));
    // Assess: the orphan is rejected as an orphan (its parent is looked at first).
    expect(rejected(acc)).toEqual([
      [2, ['item_too_large']],
      [4, ['orphan:accountId']],
    ]);
    expect([...acc.winners.keys()]).toEqual(['c2']);
  });

  it('the merge refuses a carried item over the limit before it writes anything', () => {
    // Prepare: a row of 200 KB, and a stored item whose not-carried field holds 250 KB.
    const merger = new PartitionMerger();
    merger.add({ k: 'p1', l: 2, v: 'v2', d: false, i: { id: 'p1', a: 'x'.repeat(200 * KiB) } });
    const storedItem = {
      id: 'p1',
      a: 'old',
      b: 'y'.repeat(250 * KiB),
      _v: 'v1',
      _line: 2,
      _run: 'r0',
      _digest: 'd',
    };
    // Act / Assess
    expect(() =>
      merger.finish(
        new Map([['p1', { version: 'v1', line: 2, digest: 'd', run: 'r0' }]]),
        'upsert',
        RUN_ID,
        new Map(),
        { fields: ['b'], items: new Map([['p1', storedItem]]) },
      ),
    ).toThrow(/line 2: .*columns its file lacks \(b\).*over DynamoDB's 409600/);
  });
});
