import fc from 'fast-check';
import { ChunkAccumulator, readPartLines } from '../../lambdas/domain/chunk';
import { type EntityConfig, parseConfig } from '../../lambdas/domain/config';
import { itemDigest } from '../../lambdas/domain/digest';
import { ConfigError } from '../../lambdas/domain/errors';
import { bindHeader, mapValues, missingColumnsOf, notCarriedFields } from '../../lambdas/domain/mapping';
import { PartitionMerger, storedVersionOf, withCarried } from '../../lambdas/domain/merge';
import type { Scalar } from '../../lambdas/domain/normalize';

/**
 * Partial exports (a file without some mapped columns) and cells that fail their type in a field
 * that keeps its row (onInvalid): never an invented value, never an erased attribute, never a lost
 * row count.
 */
function entityOf(fields: Record<string, unknown>, extra: Record<string, unknown> = {}): EntityConfig {
  const config = parseConfig({
    entities: {
      person: {
        target: { key: 'id' },
        fields: {
          id: { source: 'Id', required: true },
          updatedAt: { source: 'Modified', type: 'datetime', required: true },
          ...fields,
        },
        updatedAt: 'updatedAt',
        ...extra,
      },
    },
  });
  const entity = config.entities['person'];
  if (!entity) throw new Error('person entity missing');
  return entity;
}

const PERSON = entityOf({
  name: { source: 'Name' },
  phone: { source: 'Phone', type: 'phone', onInvalid: 'drop' },
  email: { source: 'Email', type: 'email', onInvalid: 'keep' },
  score: { source: 'Score', type: 'number' },
  active: { source: 'Active', type: 'boolean', default: false },
});

const T1 = '2024-01-01T00:00:00Z';

describe('missing columns', () => {
  it.each([
    ['every column', ['Id', 'Modified', 'Name', 'Phone', 'Email', 'Score', 'Active'], [], []],
    [
      'no Active, no Phone',
      ['Id', 'Modified', 'Name', 'Email', 'Score'],
      ['phone', 'active'],
      ['Phone', 'Active'],
    ],
    [
      'only the needed ones',
      ['Id', 'Modified'],
      ['name', 'phone', 'email', 'score', 'active'],
      ['Name', 'Phone', 'Email', 'Score', 'Active'],
    ],
  ])('%s', (_name, header, fields, columns) => {
    // Act
    const notCarried = notCarriedFields(header, 'csv', PERSON);
    const missing = missingColumnsOf(header, 'csv', PERSON);

    // Assess
    expect(notCarried).toEqual(fields);
    expect(missing).toEqual(columns);
  });

  it('JSON Lines carries every mapped name', () => {
    expect(notCarriedFields(['Id', 'Modified'], 'jsonl', PERSON)).toEqual([]);
    expect(missingColumnsOf(['Id', 'Modified'], 'jsonl', PERSON)).toEqual([]);
  });

  it('a default fills an empty cell of a column the file has, never a column it lacks (property)', () => {
    const optional = ['Name', 'Phone', 'Email', 'Score', 'Active'];
    fc.assert(
      fc.property(
        fc.subarray(optional),
        fc.array(fc.constantFrom('', ' ', 'x', '1', 'true', 'no'), { minLength: 5, maxLength: 5 }),
        (present, cells) => {
          // Prepare
          const header = ['Id', 'Modified', ...present];
          const binding = bindHeader(header, PERSON);
          const row = ['k1', T1, ...present.map((_, i) => cells[i] ?? '')];
          const out: Array<Scalar | number[] | null> = [];

          // Act
          const result = mapValues(row, binding, PERSON, out);

          // Assess: the fields of absent columns never hold a value, whatever their default.
          if (!result.ok) return;
          const names = [
            ...binding.fieldColumns.map((f) => f.field),
            ...binding.missingFields.map((f) => f.field),
          ];
          binding.missingFields.forEach(({ field }) => {
            expect(out[names.indexOf(field)]).toBeNull();
          });
          if (present.includes('Active')) {
            expect(out[names.indexOf('active')]).not.toBeNull();
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('withCarried', () => {
  it.each([
    [
      'keeps a stored attribute the file does not carry',
      { id: 'k', name: 'B' },
      { id: 'k', name: 'A', phone: '+1' },
      ['phone'],
      { id: 'k', name: 'B', phone: '+1' },
    ],
    [
      'a carried column wins even when empty (absent in the row)',
      { id: 'k' },
      { id: 'k', name: 'A' },
      [],
      { id: 'k' },
    ],
    ['nothing stored for the field: nothing added', { id: 'k' }, { id: 'k' }, ['phone'], { id: 'k' }],
    [
      'never reads crm-sync attributes it was not asked for',
      { id: 'k' },
      { id: 'k', _v: 'x', _run: 'r' },
      ['phone'],
      { id: 'k' },
    ],
    [
      'false and 0 are values',
      { id: 'k' },
      { id: 'k', active: false, score: 0 },
      ['active', 'score'],
      { id: 'k', active: false, score: 0 },
    ],
  ])('%s', (_name, item, stored, fields, expected) => {
    expect(withCarried(item, stored as Record<string, Scalar>, fields)).toEqual(expected);
  });
});

describe('PartitionMerger with carried attributes', () => {
  const part = (item: Record<string, Scalar>, version = '2024-02-01T00:00:00.000Z') => ({
    k: String(item.id),
    l: 2,
    v: version,
    d: false,
    i: item,
  });
  const storedItem = (item: Record<string, Scalar>, version = '2024-01-01T00:00:00.000Z') => ({
    ...item,
    _v: version,
    _line: 2,
    _run: 'run-0',
    _digest: itemDigest(item),
  });

  it('puts the merged item, digested as it will be stored', () => {
    // Prepare
    const stored = storedItem({ id: 'k', name: 'A', phone: '+14155552671' });
    const merger = new PartitionMerger();
    merger.add(part({ id: 'k', name: 'B' }));

    // Act
    const out = merger.finish(new Map([['k', storedVersionOf(stored)]]), 'newer-wins', 'run-1', new Map(), {
      fields: ['phone'],
      items: new Map([['k', stored]]),
    });

    // Assess
    expect(out.puts).toHaveLength(1);
    expect(out.puts[0]?.item).toEqual({ id: 'k', name: 'B', phone: '+14155552671' });
    expect(out.puts[0]?.digest).toBe(itemDigest({ id: 'k', name: 'B', phone: '+14155552671' }));
  });

  it('a partial row equal to the stored item on its columns is unchanged', () => {
    // Prepare
    const stored = storedItem({ id: 'k', name: 'A', phone: '+14155552671' }, '2024-02-01T00:00:00.000Z');
    const merger = new PartitionMerger();
    merger.add(part({ id: 'k', name: 'A' }));

    // Act
    const out = merger.finish(new Map([['k', storedVersionOf(stored)]]), 'newer-wins', 'run-1', new Map(), {
      fields: ['phone'],
      items: new Map([['k', stored]]),
    });

    // Assess
    expect(out.unchanged).toBe(1);
    expect(out.puts).toHaveLength(0);
  });

  it('without carried attributes the row replaces the item (onMissingColumns: remove)', () => {
    // Prepare
    const stored = storedItem({ id: 'k', name: 'A', phone: '+14155552671' });
    const merger = new PartitionMerger();
    merger.add(part({ id: 'k', name: 'B' }));

    // Act
    const out = merger.finish(new Map([['k', storedVersionOf(stored)]]), 'newer-wins', 'run-1');

    // Assess
    expect(out.puts[0]?.item).toEqual({ id: 'k', name: 'B' });
  });
});

describe('onInvalid', () => {
  const HEADER = ['Id', 'Modified', 'Name', 'Phone', 'Email', 'Score', 'Active'];
  const binding = bindHeader(HEADER, PERSON);
  const map = (row: string[]) => {
    const out: Array<Scalar | number[] | null> = [];
    return { result: mapValues(row, binding, PERSON, out), out };
  };

  it.each([
    [
      'valid cells: no warning',
      ['k', T1, 'Ann', '(415) 555-2671', 'a@b.co', '1', 'true'],
      undefined,
      '+14155552671',
      'a@b.co',
    ],
    [
      'drop: the row is stored without the phone',
      ['k', T1, 'Ann', 'call me', 'a@b.co', '1', 'true'],
      [{ reason: 'invalid_phone:Phone', value: 'call me', action: 'drop' }],
      null,
      'a@b.co',
    ],
    [
      'keep: the email is stored as its text, after the transforms',
      ['k', T1, 'Ann', '', '  not an email ', '1', 'true'],
      [{ reason: 'invalid_email:Email', value: '  not an email ', action: 'keep' }],
      null,
      'not an email',
    ],
    [
      'both at once',
      ['k', T1, 'Ann', '12', 'x@', '1', 'true'],
      [
        { reason: 'invalid_phone:Phone', value: '12', action: 'drop' },
        { reason: 'invalid_email:Email', value: 'x@', action: 'keep' },
      ],
      null,
      'x@',
    ],
  ])('%s', (_name, row, warnings, phone, email) => {
    // Act
    const { result, out } = map(row);

    // Assess
    expect(result.ok).toBe(true);
    expect(result.ok ? result.warnings : 'rejected').toEqual(warnings);
    const names = binding.fieldColumns.map((f) => f.field);
    expect(out[names.indexOf('phone')]).toBe(phone);
    expect(out[names.indexOf('email')]).toBe(email);
  });

  it('a field that rejects (the default) still rejects the row', () => {
    const { result } = map(['k', T1, 'Ann', '', '', 'abc', '']);
    expect(result).toEqual({ ok: false, reasons: ['invalid_number:Score'] });
  });

  it.each([
    [
      'the key',
      { id: { source: 'Id', required: true, onInvalid: 'drop' } },
      'entities.person.fields.id.onInvalid',
    ],
    [
      'a required field',
      { name: { source: 'Name', required: true, onInvalid: 'keep' } },
      'entities.person.fields.name.onInvalid',
    ],
    [
      'the updatedAt field',
      { updatedAt: { source: 'Modified', type: 'datetime', required: true, onInvalid: 'drop' } },
      'entities.person.fields.updatedAt.onInvalid',
    ],
    [
      'an unknown action',
      { name: { source: 'Name', onInvalid: 'ignore' } },
      'entities.person.fields.name.onInvalid',
    ],
  ])('config refuses onInvalid on %s', (_name, fields, path) => {
    expect(() => entityOf(fields)).toThrow(ConfigError);
    expect(() => entityOf(fields)).toThrow(path);
  });

  it('config refuses an unknown onMissingColumns', () => {
    expect(() => entityOf({}, { onMissingColumns: 'erase' })).toThrow('entities.person.onMissingColumns');
  });

  it('drop and keep never change the row counts, and each failing cell is one warning (property)', () => {
    const strict = entityOf({
      name: { source: 'Name' },
      phone: { source: 'Phone', type: 'phone' },
      email: { source: 'Email', type: 'email' },
    });
    const tolerant = entityOf({
      name: { source: 'Name' },
      phone: { source: 'Phone', type: 'phone', onInvalid: 'drop' },
      email: { source: 'Email', type: 'email', onInvalid: 'keep' },
    });
    const header = ['Id', 'Modified', 'Name', 'Phone', 'Email'];
    const cell = fc.constantFrom('', 'x', '(415) 555-2671', '12', 'a@b.co', 'a@', 'Ann');
    const rows = fc.array(
      fc.tuple(
        fc.constantFrom('k1', 'k2', 'k3', ''),
        fc.constantFrom(T1, '2024-02-01T00:00:00Z', 'bad'),
        cell,
        cell,
        cell,
      ),
      { minLength: 1, maxLength: 30 },
    );
    fc.assert(
      fc.property(rows, (records) => {
        // Prepare
        const load = (entity: EntityConfig) => {
          const acc = new ChunkAccumulator(entity, bindHeader(header, entity), ',', 1 << 20);
          for (const [i, r] of records.entries())
            acc.add({ line: i + 2, offset: 0, bytes: Buffer.from(r.join(',')) });
          return acc;
        };

        // Act
        const a = load(strict);
        const b = load(tolerant);

        // Assess: tolerant rejects exactly the rows strict rejects for a needed field.
        const neededOnly = a.rejects.filter((r) =>
          r.reasons.some((x) => !x.endsWith(':Phone') && !x.endsWith(':Email')),
        );
        const tolerated = a.rejects
          .flatMap((r) => r.reasons)
          .filter((x) => x.endsWith(':Phone') || x.endsWith(':Email'));
        expect(b.rows).toBe(a.rows);
        expect(b.rejects.map((r) => r.line)).toEqual(neededOnly.map((r) => r.line));
        expect(b.rows).toBe(b.rejects.length + b.winners.size + b.superseded);
        const acceptedLines = new Set(a.rejects.filter((r) => !neededOnly.includes(r)).map((r) => r.line));
        const expectedWarnings = a.rejects
          .filter((r) => acceptedLines.has(r.line))
          .flatMap((r) => r.reasons.filter((x) => x.endsWith(':Phone') || x.endsWith(':Email')));
        expect(b.warnings.map((w) => w.reason).sort()).toEqual(expectedWarnings.sort());
        expect(tolerated.length).toBeGreaterThanOrEqual(b.warnings.length);
        const { warnings: text } = b.serialize(1);
        expect(text.split('\n').filter(Boolean)).toHaveLength(b.warnings.length);
      }),
      { numRuns: 300 },
    );
  });

  it('the part rows carry the kept text and no dropped value', () => {
    // Prepare
    const acc = new ChunkAccumulator(PERSON, binding, ',', 1 << 20);
    acc.add({ line: 2, offset: 0, bytes: Buffer.from(`k,${T1},Ann,call me,not an email,1,true`) });

    // Act
    const { parts, warnings } = acc.serialize(1);
    const [line] = readPartLines(parts[0] ?? '');

    // Assess
    expect(line?.i).toEqual({
      id: 'k',
      updatedAt: '2024-01-01T00:00:00.000Z',
      name: 'Ann',
      email: 'not an email',
      score: 1,
      active: true,
    });
    expect(
      warnings
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual([
      { line: 2, reason: 'invalid_phone:Phone', action: 'drop', value: 'call me' },
      { line: 2, reason: 'invalid_email:Email', action: 'keep', value: 'not an email' },
    ]);
  });
});

describe('rejected rows in mirror mode', () => {
  it.each([
    ['an Excel-mangled id', '1.23457E+17'],
    ['a null word', 'NULL'],
    ['an empty key cell', ''],
  ])('a row whose key is %s names no key: it counts as unkeyed, never as a key to keep', (_name, id) => {
    // Prepare
    const mirror = entityOf({ name: { source: 'Name', required: true } }, { syncMode: 'mirror' });
    const acc = new ChunkAccumulator(mirror, bindHeader(['Id', 'Modified', 'Name'], mirror), ',', 1 << 20);

    // Act
    acc.add({ line: 2, offset: 0, bytes: Buffer.from(`${id},${T1},Ann`) });
    acc.add({ line: 3, offset: 0, bytes: Buffer.from(`k2,${T1},`) });

    // Assess: the second row's key is readable and keeps its stored item.
    expect(acc.rejects.map((r) => r.line)).toEqual([2, 3]);
    expect(acc.keepKeys).toEqual(['k2']);
    expect(acc.unkeyedRejects).toBe(1);
  });
});
