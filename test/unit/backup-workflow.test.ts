import fc from 'fast-check';
import {
  backupId,
  checkPartBytes,
  checkPartItems,
  checkRestorable,
  checkRestoredTable,
  checkSnapshotPrefix,
  eachSegment,
  idForAbort,
  manifestPart,
  segmentList,
  snapshotFormats,
} from '../../lambdas/domain/backup';
import {
  InvalidSnapshotError,
  RestoreMismatchError,
  SnapshotCorruptError,
} from '../../lambdas/domain/errors';
import { EMPTY_DIGEST } from '../../lambdas/domain/hash';
import { type SnapshotManifest, type SnapshotPart, sha256Hex } from '../../lambdas/domain/snapshot';

const EXECUTION = { name: 'exec-0001', startTime: '2026-01-02T03:04:05.000Z' };
const DERIVED = '20260102T030405Z-exec0001';
const HEX_A = 'a'.repeat(64);
const HEX_B = 'b'.repeat(64);

const BYTES = new Uint8Array([1, 2, 3, 4]);
const PART: SnapshotPart = {
  segment: 0,
  file: 'part-00000.jsonl.gz',
  items: 2,
  bytes: BYTES.length,
  sha256: sha256Hex(BYTES),
  digest: HEX_A,
};

function manifest(overrides: Partial<SnapshotManifest> = {}): SnapshotManifest {
  return {
    kind: 'crm-sync-snapshot',
    formatVersion: 1,
    snapshotId: 'snap-1',
    entity: 'contact',
    table: 'contacts',
    key: 'id',
    configHash: 'h',
    takenAt: EXECUTION.startTime,
    finishedAt: EXECUTION.startTime,
    itemFormat: 'DYNAMODB_JSON',
    compression: 'GZIP',
    formats: ['jsonl'],
    segments: 1,
    items: 2,
    digest: HEX_A,
    parts: [PART],
    ...overrides,
  };
}

describe('backup ids', () => {
  it.each([
    ['no id given: the execution’s', undefined, DERIVED],
    ['a valid id: kept', 'nightly-2026.01.02', 'nightly-2026.01.02'],
  ])('%s', (_what, given, expected) => {
    // Act
    const id = backupId(given, EXECUTION, 'snapshot');

    // Assess
    expect(id).toBe(expected);
  });

  it.each([['../escape'], [''], ['.hidden'], ['a/b']])(
    'refuses the id %p (InvalidSnapshotError)',
    (given) => {
      // Act
      const act = () => backupId(given, EXECUTION, 'restore');

      // Assess
      expect(act).toThrow(InvalidSnapshotError);
      expect(act).toThrow(/^invalid restore id/);
    },
  );

  it.each([
    ['a string id', 'snap-1', 'snap-1'],
    ['no id', undefined, DERIVED],
    ['an id of the wrong type (the input that failed validation)', 42, DERIVED],
    ['an object', { id: 'x' }, DERIVED],
  ])('abort takes %s as %p', (_what, given, expected) => {
    // Act
    const id = idForAbort(given, EXECUTION);

    // Assess
    expect(id).toBe(expected);
  });
});

describe('snapshot formats and segments', () => {
  it.each([
    [undefined, ['jsonl']],
    [[], ['jsonl']],
    [['csv'], ['jsonl', 'csv']],
    [
      ['csv', 'jsonl', 'csv'],
      ['jsonl', 'csv'],
    ],
  ] as const)('formats %p are written as %p', (requested, expected) => {
    // Act
    const formats = snapshotFormats(requested);

    // Assess
    expect(formats).toEqual(expected);
  });

  it('lists the segments 0 … n-1 (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), (n) => {
        // Act
        const list = segmentList(n);

        // Assess
        expect(list).toHaveLength(n);
        expect(list.every((s, i) => s === i)).toBe(true);
      }),
    );
  });

  it('runs a batch of segments one after the other, in order', async () => {
    // Prepare
    const seen: number[] = [];

    // Act
    const out = await eachSegment([3, 1, 2], async (segment) => {
      seen.push(segment);
      return segment * 10;
    });

    // Assess
    expect(seen).toEqual([3, 1, 2]);
    expect(out).toEqual({
      segments: [
        { segment: 3, items: 30 },
        { segment: 1, items: 10 },
        { segment: 2, items: 20 },
      ],
    });
  });
});

describe('restore sources', () => {
  it.each([
    ['snapshots/contact/snap-1/', 'snapshots/contact/snap-1/'],
    ['snapshots/contact/snap-1', 'snapshots/contact/snap-1/'],
  ])('takes the prefix %p as %p', (given, expected) => {
    // Act
    const prefix = checkSnapshotPrefix(given);

    // Assess
    expect(prefix).toBe(expected);
  });

  it.each([['work/run-1/'], ['snapshots/../work/'], ['/snapshots/contact/x'], ['']])(
    'refuses the prefix %p (InvalidSnapshotError)',
    (given) => {
      // Act
      const act = () => checkSnapshotPrefix(given);

      // Assess
      expect(act).toThrow(InvalidSnapshotError);
      expect(act).toThrow(`a snapshot is restored from under snapshots/ (not ${given})`);
    },
  );

  const et = { name: '_et', value: 'account' };
  it.each([
    ['a JSONL snapshot of a table with the same key', manifest(), { table: { partition: 'id' } }, undefined],
    [
      'a CSV-only snapshot',
      manifest({ formats: ['csv'] }),
      { table: { partition: 'id' } },
      'snapshot snap-1 has no JSONL parts: it cannot be restored',
    ],
    [
      'a snapshot of a table with another key',
      manifest(),
      { table: { partition: 'email' } },
      'snapshot snap-1 is of a table keyed by "id"; "account" is keyed by "email"',
    ],
    [
      'a snapshot of a table without the sort key',
      manifest(),
      { table: { partition: 'id', sort: 'sk' } },
      'snapshot snap-1 is of a table keyed by "id"; "account" is keyed by "id", "sk"',
    ],
    [
      "a shared table's snapshot of the same entity type",
      manifest({ key: 'pk', sortKey: 'sk', entityType: et }),
      { table: { partition: 'pk', sort: 'sk' }, entityType: et },
      undefined,
    ],
    [
      'a snapshot of another entity type',
      manifest({ key: 'pk', sortKey: 'sk', entityType: { name: '_et', value: 'contact' } }),
      { table: { partition: 'pk', sort: 'sk' }, entityType: et },
      'snapshot snap-1 holds items marked _et = "contact"; "account" marks its items _et = "account"',
    ],
    [
      'a snapshot of an own table into a shared one',
      manifest({ key: 'pk', sortKey: 'sk' }),
      { table: { partition: 'pk', sort: 'sk' }, entityType: et },
      'snapshot snap-1 holds items marked no entity type; "account" marks its items _et = "account"',
    ],
  ])('%s: %p', (_what, m, keys, message) => {
    // Act
    const act = () => checkRestorable(m, 'account', keys);

    // Assess
    if (message === undefined) expect(act).not.toThrow();
    else expect(act).toThrow(new InvalidSnapshotError(message));
  });

  it.each([
    ['the manifest as it was, part 0', manifest(), 0, undefined],
    [
      'a manifest with another digest',
      manifest({ digest: HEX_B }),
      0,
      'the manifest of snapshots/contact/snap-1/ changed during the restore',
    ],
    [
      'a manifest with another count',
      manifest({ items: 3 }),
      0,
      'the manifest of snapshots/contact/snap-1/ changed during the restore',
    ],
    ['a segment without a part', manifest(), 1, 'the manifest of snapshots/contact/snap-1/ has no part 1'],
  ])('the part of a segment in %s', (_what, m, segment, message) => {
    // Prepare
    const source = { prefix: 'snapshots/contact/snap-1/', items: 2, digest: HEX_A };

    // Act
    const act = () => manifestPart(m, source, segment);

    // Assess
    if (message === undefined) expect(act()).toBe(PART);
    else expect(act).toThrow(new InvalidSnapshotError(message));
  });
});

describe('part and table checks', () => {
  it.each([
    ['the manifest’s bytes', BYTES, false],
    ['one byte changed', new Uint8Array([1, 2, 3, 5]), true],
    ['one byte more', new Uint8Array([1, 2, 3, 4, 5]), true],
    ['no bytes', new Uint8Array(), true],
  ])('a part with %s: corrupt = %p', (_what, data, corrupt) => {
    // Act
    const act = () => checkPartBytes('snapshots/c/s/part-00000.jsonl.gz', data, PART);

    // Assess
    if (corrupt) expect(act).toThrow(SnapshotCorruptError);
    else expect(act).not.toThrow();
  });

  it('names the size and SHA-256 found and expected', () => {
    // Prepare
    const data = new Uint8Array([9]);

    // Act
    const act = () => checkPartBytes('k', data, PART);

    // Assess
    expect(act).toThrow(
      `k does not match the manifest: 1 bytes, sha256 ${sha256Hex(data)} (manifest: 4 bytes, sha256 ${PART.sha256})`,
    );
  });

  it.each([
    ['the manifest’s count and digest', { count: 2, hex: HEX_A }, undefined],
    ['one item less', { count: 1, hex: HEX_B }, 'k holds 1 items with another digest (manifest: 2)'],
    [
      'the count with another digest',
      { count: 2, hex: HEX_B },
      'k holds 2 items with another digest (manifest: 2)',
    ],
    ['the digest with another count', { count: 3, hex: HEX_A }, 'k holds 3 items (manifest: 2)'],
  ])('a part holding %s', (_what, found, message) => {
    // Act
    const act = () => checkPartItems('k', found, PART);

    // Assess
    if (message === undefined) expect(act).not.toThrow();
    else expect(act).toThrow(new SnapshotCorruptError(message));
  });

  it.each([
    ['the snapshot’s items', { items: 2, digest: HEX_A }, undefined],
    [
      'an item missing',
      { items: 1, digest: HEX_B },
      'table accounts holds 1 items after the restore with another digest; snapshot snap-1 has 2',
    ],
    [
      'an empty table',
      { items: 0, digest: EMPTY_DIGEST },
      expect.stringMatching(/holds 0 items after the restore/),
    ],
    [
      'another item in place of one',
      { items: 2, digest: HEX_B },
      'table accounts holds 2 items after the restore with another digest; snapshot snap-1 has 2',
    ],
  ])('a restored table with %s', (_what, found, message) => {
    // Prepare
    const expected = { table: 'accounts', snapshotId: 'snap-1', items: 2, digest: HEX_A };

    // Act
    let error: unknown;
    try {
      checkRestoredTable(expected, found);
    } catch (err) {
      error = err;
    }

    // Assess
    if (message === undefined) expect(error).toBeUndefined();
    else {
      expect(error).toBeInstanceOf(RestoreMismatchError);
      expect((error as Error).message).toEqual(message);
    }
  });
});
