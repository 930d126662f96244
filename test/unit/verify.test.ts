import fc from 'fast-check';
import { parseConfigText } from '../../lambdas/domain/config';
import { itemDigest } from '../../lambdas/domain/digest';
import { ConfigError } from '../../lambdas/domain/errors';
import type { MergedLine } from '../../lambdas/domain/run';
import {
  decisionProblem,
  inSample,
  mergeReferenceChecks,
  provenanceProblem,
  resolveVerify,
  sampleRate,
  verifyMode,
} from '../../lambdas/domain/verify';

const CONTENT = { id: 'K1', lastName: 'Lovelace' };
const H = itemDigest(CONTENT);
const WRITTEN = { ...CONTENT, _v: '2024-01-01T00:00:00.000Z', _line: 2, _run: 'run-1', _digest: H };

function entityConfig(verify?: string): string {
  return JSON.stringify({
    entities: {
      contact: {
        target: { key: 'id' },
        fields: { id: { source: 'Id', type: 'string', required: true } },
        ...(verify === undefined ? {} : { verify }),
      },
    },
  });
}

describe('verifyMode (config `verify`)', () => {
  it.each([
    [undefined, { mode: 'full' }],
    ['full', { mode: 'full' }],
    ['sample:1', { mode: 'sample', keys: 1 }],
    ['sample:100000', { mode: 'sample', keys: 100_000 }],
  ])('%s → %j', (verify, expected) => {
    // Act
    const entity = parseConfigText(entityConfig(verify)).entities.contact;

    // Assess
    expect(entity && verifyMode(entity.verify)).toEqual(expected);
  });

  it.each<[string | undefined, number | undefined, string]>([
    ['full', 50_000_000, 'full'],
    ['sample:10', 0, 'sample:10'],
    [undefined, undefined, 'full'],
    [undefined, 0, 'full'],
    [undefined, 10_000_000, 'full'],
    [undefined, 10_000_001, 'sample:100000'],
  ])(
    'resolveVerify(%s, %s items) → %s: unset is full up to 10M items, a sample above',
    (configured, items, mode) => {
      expect(resolveVerify(configured, items)).toBe(mode);
    },
  );

  it.each(['sample', 'sample:0', 'sample:-3', 'sample:1.5', 'all', 'FULL'])('refuses "%s"', (verify) => {
    // Act & Assess
    expect(() => parseConfigText(entityConfig(verify))).toThrow(ConfigError);
    expect(() => parseConfigText(entityConfig(verify))).toThrow(/verify is "full" or "sample:<n>"/);
  });
});

describe('sampleRate and inSample', () => {
  it.each([
    [{ mode: 'full' as const }, 1_000_000, 1],
    [{ mode: 'sample' as const, keys: 1000 }, 100_000, 0.01],
    [{ mode: 'sample' as const, keys: 1000 }, 500, 1],
    [{ mode: 'sample' as const, keys: 10 }, 0, 1],
  ])('%j of %d rows → rate %d', (mode, rows, rate) => {
    expect(sampleRate(mode, rows)).toBe(rate);
  });

  it('picks about rate × keys, the same keys every time', () => {
    // Prepare
    const keys = Array.from({ length: 100_000 }, (_, i) => `003${String(i).padStart(12, '0')}`);

    // Act
    const picked = keys.filter((k) => inSample(k, 0.05));

    // Assess: within 5 % of 5,000, and deterministic
    expect(picked.length).toBeGreaterThan(4750);
    expect(picked.length).toBeLessThan(5250);
    expect(keys.filter((k) => inSample(k, 0.05))).toEqual(picked);
    expect(keys.every((k) => inSample(k, 1))).toBe(true);
    expect(keys.some((k) => inSample(k, 0))).toBe(false);
  });

  it('is monotone: a key in the sample at one rate is in it at every higher rate', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (key, a, b) => {
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          return !inSample(key, lo) || inSample(key, hi);
        },
      ),
    );
  });
});

describe('decisionProblem', () => {
  const put: MergedLine = { k: 'K1', o: 'put', h: H };
  it.each<[string, MergedLine, Record<string, string | number> | undefined, string | undefined]>([
    ['a put the target holds', put, WRITTEN, undefined],
    ['a put whose item is missing', put, undefined, 'missing'],
    [
      'a put whose item was changed',
      put,
      { ...WRITTEN, lastName: 'Byron' },
      'content differs from the source row',
    ],
    [
      'a put whose item gained an attribute',
      put,
      { ...WRITTEN, x: 1 },
      'content differs from the source row',
    ],
    ['an unchanged item', { k: 'K1', o: 'unchanged', h: H }, WRITTEN, undefined],
    ['a delete that is done', { k: 'K1', o: 'delete', h: null }, undefined, undefined],
    [
      'a delete not done',
      { k: 'K1', o: 'delete', h: null },
      WRITTEN,
      'present: the item should have been deleted',
    ],
    ['a row superseded by a stored item', { k: 'K1', o: 'superseded' }, WRITTEN, undefined],
    [
      'a row superseded by a stored item that is gone',
      { k: 'K1', o: 'superseded' },
      undefined,
      'missing: a newer stored item was expected',
    ],
    ['a row superseded by a newer delete', { k: 'K1', o: 'superseded', h: null }, undefined, undefined],
    [
      'a row superseded by a newer delete, yet present',
      { k: 'K1', o: 'superseded', h: null },
      WRITTEN,
      'present: a newer delete should keep it out',
    ],
  ])('%s', (_name, line, got, problem) => {
    expect(decisionProblem(line, got)).toBe(problem);
  });
});

describe('provenanceProblem', () => {
  it.each<[string, Record<string, string | number>, string | undefined]>([
    ['an item as crm-sync wrote it', WRITTEN, undefined],
    ['an item added by hand', CONTENT, 'not written by crm-sync'],
    ['an item copied with a digest but no run', { ...CONTENT, _digest: H }, 'not written by crm-sync'],
    ['an item changed by hand', { ...WRITTEN, lastName: 'Byron' }, 'changed outside crm-sync'],
    ['an item with an attribute added by hand', { ...WRITTEN, note: 'x' }, 'changed outside crm-sync'],
    [
      'an item with an attribute removed by hand',
      { ...WRITTEN, lastName: undefined as unknown as string },
      'changed outside crm-sync',
    ],
    ['an item copied under another key', { ...WRITTEN, id: 'K2' }, 'changed outside crm-sync'],
  ])('%s', (_name, item, problem) => {
    // JSON round trip: an attribute set to undefined is an attribute the table does not hold.
    expect(provenanceProblem(JSON.parse(JSON.stringify(item)))).toBe(problem);
  });
});

describe('mergeReferenceChecks', () => {
  it('adds up the partitions per field and merges the samples of one missing parent', () => {
    // Act
    const merged = mergeReferenceChecks([
      [
        {
          field: 'accountId',
          entity: 'account',
          checked: 3,
          orphans: 2,
          missingParents: 1,
          sample: [{ value: 'A9', children: 2, keys: ['K1', 'K2'] }],
        },
      ],
      [],
      [
        {
          field: 'accountId',
          entity: 'account',
          checked: 4,
          orphans: 3,
          missingParents: 2,
          sample: [
            { value: 'A9', children: 1, keys: ['K7'] },
            { value: 'A7', children: 2, keys: ['K5', 'K6'] },
          ],
        },
      ],
    ]);

    // Assess
    expect(merged).toEqual([
      {
        field: 'accountId',
        entity: 'account',
        checked: 7,
        orphans: 5,
        missingParents: 3,
        sample: [
          { value: 'A9', children: 3, keys: ['K1', 'K2', 'K7'] },
          { value: 'A7', children: 2, keys: ['K5', 'K6'] },
        ],
      },
    ]);
  });
});
