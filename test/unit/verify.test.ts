import fc from 'fast-check';
import { parseConfigText } from '../../lambdas/domain/config';
import { itemDigest } from '../../lambdas/domain/digest';
import { ConfigError } from '../../lambdas/domain/errors';
import { SetDigest } from '../../lambdas/domain/hash';
import type { MergedLine } from '../../lambdas/domain/run';
import {
  compareWritten,
  decisionProblem,
  inSample,
  mergeReferenceChecks,
  provenanceProblem,
  resolveVerify,
  sampleRate,
  type VerifyResult,
  verifyMode,
  writtenEntry,
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

describe('compareWritten (puts proven by the digest of the items the run wrote)', () => {
  type Entry = readonly [key: string, digest: string];
  /** One worker's result: the puts of its partition (expected), the run's items of its segment (found). */
  const worker = (expected: Entry[], found: Entry[]): Pick<VerifyResult, 'written'> => {
    const digest = (entries: Entry[]) => {
      const d = new SetDigest();
      for (const [k, h] of entries) d.add(writtenEntry(k, h));
      return { digest: d.hex, items: d.count };
    };
    return { written: { expected: digest(expected), found: digest(found) } };
  };
  const A: Entry = ['K1', 'h1'];
  const B: Entry = ['K2', 'h2'];
  const C: Entry = ['K3', 'h3'];

  it.each<[string, Array<Pick<VerifyResult, 'written'>>, boolean]>([
    [
      'the same items, partitioned otherwise than the scan segments',
      [worker([A, B], [C]), worker([C], [B, A])],
      true,
    ],
    ['nothing written, nothing found', [worker([], []), worker([], [])], true],
    ['a put missing from the table', [worker([A, B], [A]), worker([C], [C])], false],
    ['a put whose content changed', [worker([A], [['K1', 'h9']])], false],
    ['an item written by the run that is no put of it', [worker([A], [A, B])], false],
    ['an item found twice (not cancelled out as XOR would)', [worker([A, B], [A, A, B])], false],
    ['an item found twice in place of another (same count)', [worker([A, B], [A, A])], false],
    [
      'a key and a digest swapped between two items',
      [
        worker(
          [A, B],
          [
            ['K1', 'h2'],
            ['K2', 'h1'],
          ],
        ),
      ],
      false,
    ],
    ['a worker that did not digest (mixed passes)', [worker([A], [A]), {}], false],
  ])('%s → ok: %s', (_name, results, ok) => {
    // Act
    const compared = compareWritten(results);

    // Assess
    expect(compared?.ok).toBe(ok);
  });

  it('is undefined when no worker digested (sample mode, or the key-by-key pass)', () => {
    expect(compareWritten([{}, {}])).toBeUndefined();
    expect(compareWritten([])).toBeUndefined();
  });

  it('holds for any split of the same puts into partitions and segments, and fails for any one item dropped or changed', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(
          fc.tuple(
            fc.string({ minLength: 1 }),
            fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 1 }),
          ),
          {
            selector: ([k]) => k,
            minLength: 1,
            maxLength: 40,
          },
        ),
        fc.integer({ min: 1, max: 5 }),
        fc.nat(),
        fc.nat(),
        (entries, workers, seed, dropAt) => {
          // Prepare: the puts dealt to partitions one way and to scan segments another.
          const deal = (slot: (i: number) => number) => {
            const out: Entry[][] = Array.from({ length: workers }, () => []);
            entries.forEach((e, i) => {
              out[slot(i) % workers]?.push(e);
            });
            return out;
          };
          const partitions = deal((i) => i * 7 + seed);
          const segments = deal((i) => i * 3 + seed * 5 + 1);
          const altered = (change: (s: Entry[], at: number) => void) => {
            const copy = segments.map((s) => [...s]);
            const from = copy.find((s) => s.length > 0) as Entry[];
            change(from, dropAt % from.length);
            return compareWritten(partitions.map((p, i) => worker(p, copy[i] ?? [])));
          };

          // Act
          const same = compareWritten(partitions.map((p, i) => worker(p, segments[i] ?? [])));
          const short = altered((s, at) => s.splice(at, 1));
          const changed = altered((s, at) => {
            const [k, h] = s[at] as Entry;
            s[at] = [k, `${h}0`];
          });

          // Assess
          expect(same?.ok).toBe(true);
          expect(same?.expected).toEqual(same?.found);
          expect(short?.ok).toBe(false);
          expect(short?.found.items).toBe(entries.length - 1);
          // Same count, other content: only the digest tells.
          expect(changed?.ok).toBe(false);
          expect(changed?.found.items).toBe(entries.length);
        },
      ),
    );
  });
});
