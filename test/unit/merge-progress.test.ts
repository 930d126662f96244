import fc from 'fast-check';
import type { StoredVersion, Tombstone, WriteMode } from '../../lambdas/domain/chunk';
import { itemDigest } from '../../lambdas/domain/digest';
import { MergeStalledError } from '../../lambdas/domain/errors';
import { PartitionMerger } from '../../lambdas/domain/merge';
import {
  decideMergePass,
  formatMergeProgress,
  formatMergeReads,
  isMergeReadsText,
  MAX_STALLED_MERGE_PASSES,
  type MergeProgressHeader,
  type MergeReadHeader,
  type MergeReads,
  mergeDeadline,
  type PartitionLeft,
  type PartitionOutcome,
  parseMergeProgress,
  parseMergeReads,
  readsDone,
  readsEndPass,
  readsLeft,
  type StoredWrite,
} from '../../lambdas/domain/merge-progress';
import type { PartitionResult, PartLine } from '../../lambdas/domain/run';

const RUN = 'contact-run';

const done = (partition: number): PartitionResult => ({
  partition,
  candidates: 3,
  applied: 2,
  unchanged: 1,
  superseded: 0,
  deleted: 0,
  duplicateKeys: 0,
  durationMs: 5,
});
const left = (partition: number, written: number, remaining = 10): PartitionLeft => ({
  partition,
  chunks: 4,
  complete: false,
  left: remaining,
  written,
});

describe('mergeDeadline', () => {
  it.each([
    ['no Lambda context', 1000, undefined, Number.POSITIVE_INFINITY],
    ['60 s left: 20 % kept for the progress', 1000, 60_000, 1000 + 48_000],
    ['5 s left: at least 2 s kept', 1000, 5_000, 1000 + 3_000],
    ['less than the margin left: stop at once', 1000, 1500, 1000],
    ['a remaining time that is not a number', 1000, Number.NaN, Number.POSITIVE_INFINITY],
  ])('%s', (_name, now, remaining, expected) => {
    // Act
    const deadline = mergeDeadline(now, remaining);

    // Assess
    expect(deadline).toBe(expected);
  });
});

describe('readsEndPass', () => {
  const readsOf = (targetLeft: string[], tombstonesLeft: string[] | undefined): MergeReads => ({
    stored: new Map(),
    targetLeft,
    tombstones: new Map(),
    tombstonesLeft,
  });
  const all = readsOf([], []);

  it.each<[string, MergeReads, number | undefined, number, number, boolean]>([
    // name, reads, deadline, now, keys read now, ends the pass (the pass started at 0)
    [
      'no deadline (a direct call or a dry run), reads left',
      readsOf(['K1'], undefined),
      undefined,
      900,
      5,
      false,
    ],
    ['no deadline, every read in', all, undefined, 900, 5, false],
    ['target reads left', readsOf(['K1'], undefined), 1000, 100, 5, true],
    ['tombstone reads not started', readsOf([], undefined), 1000, 100, 5, true],
    ['tombstone reads left', readsOf([], ['K2']), 1000, 100, 0, true],
    ['every read in, early', all, 1000, 100, 5, false],
    ['every read in, exactly half the pass gone', all, 1000, 500, 5, false],
    ['every read in, more than half the pass gone', all, 1000, 501, 5, true],
    ['every read in before this pass, late: nothing read now', all, 1000, 900, 0, false],
  ])('%s', (_name, reads, deadline, now, read, expected) => {
    // Act
    const ends = readsEndPass(reads, { deadline, started: 0, now, read });

    // Assess
    expect(ends).toBe(expected);
  });
});

describe('decideMergePass', () => {
  it.each<
    [
      string,
      number,
      PartitionOutcome[],
      { done: boolean; left: number[]; stalled: number; writesLeft: number },
    ]
  >([
    ['every partition finished', 2, [done(0), done(1)], { done: true, left: [], stalled: 0, writesLeft: 0 }],
    [
      'one left that wrote: progress',
      2,
      [done(0), left(3, 25, 40)],
      { done: false, left: [3], stalled: 0, writesLeft: 40 },
    ],
    [
      'one finished, one left that wrote nothing: progress',
      1,
      [left(1, 0), done(0)],
      { done: false, left: [1], stalled: 0, writesLeft: 10 },
    ],
    [
      'nothing finished, nothing written: one more stalled pass',
      1,
      [left(2, 0), left(0, 0)],
      { done: false, left: [0, 2], stalled: 2, writesLeft: 20 },
    ],
  ])('%s', (_name, stalledBefore, outcomes, expected) => {
    // Act
    const decision = decideMergePass(stalledBefore, outcomes);

    // Assess
    expect({ ...decision, left: decision.left.map((p) => p.partition) }).toEqual(expected);
    for (const p of decision.left) expect(p.chunks).toBe(4);
  });

  it(`fails with MergeStalledError after ${MAX_STALLED_MERGE_PASSES} passes in a row without progress`, () => {
    // Prepare
    const outcomes = [left(0, 0, 7)];

    // Act
    const act = () => decideMergePass(MAX_STALLED_MERGE_PASSES - 1, outcomes);

    // Assess
    expect(act).toThrow(MergeStalledError);
    expect(act).toThrow(/no progress in 3 passes in a row: 1 partitions have 7 writes left/);
  });
});

describe('merge progress objects', () => {
  const header: MergeProgressHeader = {
    version: 1,
    runId: RUN,
    partition: 2,
    lockSince: '2024-05-01T00:00:00.000Z',
    result: done(2),
    passes: 1,
  };
  const writes: StoredWrite[] = [
    { PutRequest: { Item: { id: { S: 'K1' }, n: { N: '1' } } } },
    { DeleteRequest: { Key: { id: { S: 'K2' } } } },
  ];
  const expected = { runId: RUN, partition: 2, lockSince: header.lockSince };

  it('reads back what it wrote', () => {
    // Act
    const parsed = parseMergeProgress(formatMergeProgress(header, writes), expected);

    // Assess
    expect(parsed).toEqual({ header, writes, tombstoneWrites: [] });
  });

  it("reads back the tombstone writes left apart from the target's", () => {
    // Prepare
    const tombstoneWrites: StoredWrite[] = [{ PutRequest: { Item: { pk: { S: 'TOMB#contact#K2' } } } }];

    // Act
    const parsed = parseMergeProgress(formatMergeProgress(header, writes, tombstoneWrites), expected);

    // Assess
    expect(parsed).toEqual({ header, writes, tombstoneWrites });
  });

  it.each([
    ['an empty object', '', 'not JSON Lines'],
    ['a truncated line', `${JSON.stringify(header)}\n{"PutRequest":{"Item"`, 'not JSON Lines'],
    ['no header', `${JSON.stringify(writes[0])}\n`, 'no version 1 header'],
    [
      'a header without counts',
      `${JSON.stringify({ ...header, result: { partition: 2 } })}\n`,
      'the header has no counts',
    ],
    [
      'a line that is no write request',
      `${JSON.stringify(header)}\n{"UpdateRequest":{}}\n`,
      'line 2 is not a write request',
    ],
    [
      'two requests on one line',
      `${JSON.stringify(header)}\n${JSON.stringify({ ...writes[0], ...writes[1] })}\n`,
      'line 2 is not a write request',
    ],
    [
      'another run',
      formatMergeProgress({ ...header, runId: 'contact-other' }, writes),
      'written for run contact-other, partition 2',
    ],
    [
      'another partition',
      formatMergeProgress({ ...header, partition: 3 }, writes),
      'written for run contact-run, partition 3',
    ],
    [
      'another lock (the run lost it in between)',
      formatMergeProgress({ ...header, lockSince: '2024-04-01T00:00:00.000Z' }, writes),
      'written under the lock taken at 2024-04-01T00:00:00.000Z, not 2024-05-01T00:00:00.000Z',
    ],
  ])('is not used: %s', (_name, text, reason) => {
    // Act
    const parsed = parseMergeProgress(text, expected);

    // Assess
    expect(parsed).toEqual({ reason });
  });
});

describe('merge read progress objects', () => {
  const header: MergeReadHeader = {
    version: 1,
    phase: 'read',
    runId: RUN,
    partition: 2,
    lockSince: '2024-05-01T00:00:00.000Z',
    passes: 2,
    durationMs: 41_000,
  };
  const expected = { runId: RUN, partition: 2, lockSince: header.lockSince };
  const tomb: Tombstone = { version: '2024-01-01T00:00:00.000Z', line: 4, run: 'contact-old', removed: true };
  const reads = (over: Partial<MergeReads> = {}): MergeReads => ({
    stored: new Map([['K1', { id: 'K1', n: 1, ok: true, _v: 'v' }]]),
    targetLeft: ['K2', 'K3'],
    tombstones: new Map(),
    tombstonesLeft: undefined,
    ...over,
  });

  it.each<[string, MergeReads]>([
    ['target reads left, tombstones not started', reads()],
    [
      'tombstone reads left',
      reads({ targetLeft: [], tombstones: new Map([['K4', tomb]]), tombstonesLeft: ['K5'] }),
    ],
    ['every read in', reads({ targetLeft: [], tombstonesLeft: [] })],
  ])('reads back what it wrote: %s', (_name, r) => {
    // Act
    const text = formatMergeReads(header, r);
    const parsed = parseMergeReads(text, expected, { partition: 'id' });

    // Assess
    expect(isMergeReadsText(text)).toBe(true);
    expect(parsed).toEqual({ header, reads: r });
  });

  it('keeps every read through a round trip (property)', () => {
    const key = fc.string({ minLength: 1, maxLength: 8 });
    const scalar = fc.oneof(fc.string(), fc.integer(), fc.boolean());
    fc.assert(
      fc.property(
        fc.uniqueArray(key, { maxLength: 20 }),
        fc.array(scalar, { maxLength: 20 }),
        fc.boolean(),
        (keys, values, started) => {
          // Prepare: keys split between stored, left to read and tombstones
          const r: MergeReads = {
            stored: new Map(
              keys.filter((_, i) => i % 3 === 0).map((k, i) => [k, { id: k, a: values[i] ?? 'x' }]),
            ),
            targetLeft: started ? [] : keys.filter((_, i) => i % 3 === 1),
            tombstones: started
              ? new Map(keys.filter((_, i) => i % 3 === 2).map((k) => [k, tomb]))
              : new Map(),
            tombstonesLeft: started ? keys.filter((_, i) => i % 3 === 1) : undefined,
          };

          // Act
          const parsed = parseMergeReads(formatMergeReads(header, r), expected, { partition: 'id' });

          // Assess
          expect(parsed).toEqual({ header, reads: r });
          expect('reads' in parsed && readsLeft(parsed.reads)).toBe(readsLeft(r));
          expect('reads' in parsed && readsDone(parsed.reads)).toBe(readsDone(r));
        },
      ),
    );
  });

  it.each([
    ['an empty object', '', 'not JSON Lines'],
    ['a truncated line', `${formatMergeReads(header, reads())}{"s":{"id"`, 'not JSON Lines'],
    [
      'a write progress header',
      `${JSON.stringify({ ...header, phase: undefined })}\n`,
      'no version 1 read header',
    ],
    [
      'a stored item without its key',
      `${formatMergeReads(header, reads())}{"s":{"n":1}}\n`,
      'line 5 is not a read',
    ],
    [
      'a stored item that is not flat',
      `${formatMergeReads(header, reads())}{"s":{"id":"K9","m":{}}}\n`,
      'line 5 is not a read',
    ],
    [
      'a tombstone without its fields',
      `${formatMergeReads(header, reads())}{"g":["K9",{"line":1}]}\n`,
      'line 5 is not a read',
    ],
    [
      'two reads on one line',
      `${formatMergeReads(header, reads())}{"q":"K8","u":"K9"}\n`,
      'line 5 is not a read',
    ],
    [
      'tombstones before the target reads were done',
      `${formatMergeReads(header, reads())}{"u":"K9"}\n`,
      'tombstone reads before the target reads were done',
    ],
    [
      'another run',
      formatMergeReads({ ...header, runId: 'contact-other' }, reads()),
      'written for run contact-other, partition 2',
    ],
    [
      'another lock (the run lost it in between)',
      formatMergeReads({ ...header, lockSince: '2024-04-01T00:00:00.000Z' }, reads()),
      'written under the lock taken at 2024-04-01T00:00:00.000Z, not 2024-05-01T00:00:00.000Z',
    ],
  ])('is not used: %s', (_name, text, reason) => {
    // Act
    const parsed = parseMergeReads(text, expected, { partition: 'id' });

    // Assess
    expect(parsed).toEqual({ reason });
  });

  it('tells a read progress from a write progress', () => {
    // Assess
    expect(
      isMergeReadsText(
        formatMergeProgress(
          { version: 1, runId: RUN, partition: 2, lockSince: header.lockSince, result: done(2), passes: 1 },
          [],
        ),
      ),
    ).toBe(false);
    expect(isMergeReadsText('not json')).toBe(false);
  });

  it('counts a pass that only read as progress', () => {
    // Act
    const decision = decideMergePass(MAX_STALLED_MERGE_PASSES - 1, [
      { partition: 0, chunks: 1, complete: false, left: 40, written: 0, phase: 'read', read: 60 },
    ]);

    // Assess
    expect(decision).toMatchObject({ done: false, stalled: 0, writesLeft: 40 });
  });
});

/**
 * The invariant a pass relies on when it merges a partition again (a crash, a progress object it
 * cannot use): whatever part of the first pass's writes went out, classifying again gives the same
 * counts (this run's puts read back as applied, its deletes as deleted by their tombstones).
 */
describe('merging again after part of the writes', () => {
  const key = fc.constantFrom('K0', 'K1', 'K2', 'K3', 'K4', 'K5');
  const version = fc.constantFrom(
    '2024-01-01T00:00:00.000Z',
    '2024-02-01T00:00:00.000Z',
    '2024-03-01T00:00:00.000Z',
  );
  const partLine = fc.record({
    k: key,
    l: fc.integer({ min: 2, max: 50 }),
    v: version,
    d: fc.boolean(),
    name: fc.constantFrom('a', 'b'),
  });
  const storedItem = fc.record({
    v: version,
    l: fc.integer({ min: 2, max: 50 }),
    name: fc.constantFrom('a', 'b'),
  });

  it('counts the same whatever subset of the writes was applied', () => {
    fc.assert(
      fc.property(
        fc.array(partLine, { minLength: 1, maxLength: 12 }),
        fc.dictionary(key, storedItem),
        fc.constantFrom<WriteMode>('newer-wins', 'insert-only', 'upsert'),
        fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
        (lines, storedItems, mode, applied) => {
          // Prepare
          const toPart = (p: (typeof lines)[number]): PartLine => {
            const i = { id: p.k, name: p.name, updatedAt: p.v };
            return { k: p.k, l: p.l, v: p.v, d: p.d, h: itemDigest(i), i };
          };
          const merge = (stored: Map<string, StoredVersion>, graves: Map<string, Tombstone>) => {
            const m = new PartitionMerger();
            // Unique (key, line): a line is one row.
            const seen = new Set<string>();
            for (const p of lines) {
              if (seen.has(`${p.k}|${p.l}`)) continue;
              seen.add(`${p.k}|${p.l}`);
              m.add(toPart(p));
            }
            return m.finish(stored, mode, RUN, graves);
          };
          const stored = new Map<string, StoredVersion>(
            Object.entries(storedItems).map(([k, s]) => [
              k,
              {
                version: s.v,
                line: s.l,
                digest: itemDigest({ id: k, name: s.name, updatedAt: s.v }),
                run: 'contact-earlier',
              },
            ]),
          );
          const first = merge(stored, new Map());
          const counts = (o: typeof first) => ({
            applied: o.puts.length + o.alreadyApplied,
            deleted: o.deletes.length + o.alreadyDeleted,
            unchanged: o.unchanged,
            superseded: o.superseded,
          });

          // Act: the tombstones went first (as the worker writes them), then some of the writes.
          const after = new Map(stored);
          const graves = new Map(first.tombstones.map((t) => [t.key, t.tombstone]));
          first.puts.forEach((c, n) => {
            if (applied[n % applied.length])
              after.set(c.key, { version: c.version, line: c.line, digest: c.digest, run: RUN });
          });
          first.deletes.forEach((c, n) => {
            if (applied[(n + 5) % applied.length]) after.delete(c.key);
          });
          const again = merge(after, graves);

          // Assess
          expect(counts(again)).toEqual(counts(first));
        },
      ),
    );
  });
});
