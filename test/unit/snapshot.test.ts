import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { InvalidSnapshotError } from '../../lambdas/domain/errors';
import { combineDigests, EMPTY_DIGEST, SetDigest } from '../../lambdas/domain/hash';
import {
  buildManifest,
  canonicalItem,
  checkBackupId,
  chooseSegments,
  csvRow,
  type DynamoJsonItem,
  deriveBackupId,
  fromDynamoJson,
  gunzipLines,
  itemLine,
  parseBackupLockHolder,
  parseItemLine,
  parseManifest,
  partFile,
  type SegmentResult,
  sha256Hex,
  toDynamoJson,
} from '../../lambdas/domain/snapshot';

/** An item as the SDK returns it, with every kind of attribute value. */
const SDK_ITEM = {
  id: { S: '003A' },
  code: { S: '00123' },
  amount: { N: '12345678901234567890.123' },
  active: { BOOL: false },
  name: { S: 'Zoë Łukaszewski 😀' },
  nothing: { NULL: true },
  blob: { B: new Uint8Array([0, 1, 254, 255]) },
  tags: { SS: ['b', 'a'] },
  nums: { NS: ['2', '10'] },
  list: { L: [{ S: 'x' }, { N: '1' }] },
  map: { M: { z: { S: 'z' }, a: { BOOL: true } } },
  _v: { S: '2024-01-01T00:00:00.000Z' },
  _line: { N: '7' },
};

const digestOf = (items: readonly DynamoJsonItem[]) => {
  const d = new SetDigest();
  for (const item of items) d.add(canonicalItem(item));
  return { digest: d.hex, items: d.count };
};

const item = (id: string, extra: Record<string, unknown> = {}): DynamoJsonItem =>
  toDynamoJson({ id: { S: id }, ...extra });

function segmentResults(items: readonly DynamoJsonItem[], segments: number): SegmentResult[] {
  return Array.from({ length: segments }, (_, segment) => {
    const mine = items.filter((_, i) => i % segments === segment);
    const body = gzipSync(mine.map((x) => itemLine(canonicalItem(x))).join(''));
    const { digest, items: count } = digestOf(mine);
    return {
      part: {
        segment,
        file: partFile(segment, 'jsonl'),
        items: count,
        bytes: body.length,
        sha256: sha256Hex(body),
        digest,
      },
    };
  });
}

const BASE = {
  snapshotId: '20260101T000000Z-abc',
  entity: 'contact',
  table: 'contacts',
  key: 'id',
  configHash: 'h',
  takenAt: '2026-01-01T00:00:00.000Z',
  finishedAt: '2026-01-01T00:00:01.000Z',
  itemFormat: 'DYNAMODB_JSON' as const,
  compression: 'GZIP' as const,
  formats: ['jsonl' as const],
  segments: 3,
};

describe('snapshot items (DynamoDB JSON)', () => {
  it('keeps every type exactly: a numeric-looking string stays a string, numbers keep their digits', () => {
    // Act
    const json = toDynamoJson(SDK_ITEM);
    const line = itemLine(canonicalItem(json));
    const back = fromDynamoJson(parseItemLine(line.trimEnd(), 'line 1'));

    // Assess
    expect(json.code).toEqual({ S: '00123' });
    expect(json.amount).toEqual({ N: '12345678901234567890.123' });
    expect(json.blob).toEqual({ B: 'AAH+/w==' });
    expect(json.tags).toEqual({ SS: ['a', 'b'] });
    expect(line).toMatch(/^\{"Item":\{"_line":/);
    expect(back).toEqual({
      ...SDK_ITEM,
      blob: { B: Buffer.from([0, 1, 254, 255]) },
      tags: { SS: ['a', 'b'] },
      nums: { NS: ['10', '2'] }, // sets hold no order: kept sorted
    });
  });

  it('has one canonical text whatever the attribute and set order', () => {
    // Act
    const a = canonicalItem(
      toDynamoJson({ b: { N: '1' }, a: { SS: ['y', 'x'] }, m: { M: { q: { S: '' }, p: { S: '' } } } }),
    );
    const b = canonicalItem(
      toDynamoJson({ m: { M: { p: { S: '' }, q: { S: '' } } }, a: { SS: ['x', 'y'] }, b: { N: '1' } }),
    );

    // Assess
    expect(a).toBe(b);
  });

  it.each<[string, unknown, string]>([
    ['a type the SDK does not know', { $unknown: ['XS', 'Ottoline Vandersloot'] }, 'types: $unknown'],
    ['no type', {}, 'types: none'],
  ])('refuses an attribute value of %s, naming its types and not its value', (_name, value, named) => {
    // Act
    const convert = () => toDynamoJson({ id: { S: '003PII000000000001' }, note: value });

    // Assess
    expect(convert).toThrow(InvalidSnapshotError);
    expect(convert).toThrow(`unsupported attribute value (${named})`);
    expect(convert).not.toThrow(/Ottoline|003PII/);
  });

  it('keeps an attribute named __proto__', () => {
    // Act
    const json = toDynamoJson(JSON.parse('{"id":{"S":"1"},"__proto__":{"S":"x"}}'));

    // Assess
    expect(Object.keys(json)).toEqual(['__proto__', 'id']);
    expect(canonicalItem(json)).toBe('{"__proto__":{"S":"x"},"id":{"S":"1"}}');
  });

  it('refuses a line that is not {"Item": {…}}', () => {
    // Act / Assess
    expect(() => parseItemLine('{"id":{"S":"1"}}', 'part-00000.jsonl.gz:3')).toThrow(InvalidSnapshotError);
    expect(() => parseItemLine('nope', 'part-00000.jsonl.gz:4')).toThrow(/part-00000.jsonl.gz:4: not JSON/);
  });

  it('writes a CSV row of the entity fields with formula cells escaped', () => {
    // Act
    const row = csvRow(toDynamoJson(SDK_ITEM), ['id', 'code', 'amount', 'active', 'missing', 'nothing']);
    const formula = csvRow(item('=1+1'), ['id']);

    // Assess
    expect(row).toBe('003A,00123,12345678901234567890.123,false,,\r\n');
    expect(formula).toBe("'=1+1\r\n");
  });

  it('writes a dotted field as the member of its map, and a set as its JSON', () => {
    // Prepare
    const shaped = toDynamoJson({
      id: { S: 'a1' },
      address: { M: { street: { S: '1 Main St' }, geo: { M: { zip: { S: '12345' } } } } },
      colors: { SS: ['Red', 'Blue'] },
    });

    // Act
    const row = csvRow(shaped, ['id', 'address.street', 'address.geo.zip', 'address.city', 'colors']);

    // Assess
    expect(row).toBe('a1,1 Main St,12345,,"{""SS"":[""Blue"",""Red""]}"\r\n');
  });

  it('reads the lines of a gzip part across chunk boundaries', async () => {
    // Prepare
    const lines = Array.from({ length: 5000 }, (_, i) => `{"Item":{"id":{"S":"${i} ü"}}}`);
    const body = gzipSync(`${lines.join('\n')}\n`);

    // Act
    const read: string[] = [];
    for await (const l of gunzipLines(body)) read.push(l);

    // Assess
    expect(read).toEqual(lines);
  });
});

describe('table digest', () => {
  const arbItem = fc
    .record({
      id: fc.string({ minLength: 1 }),
      n: fc.option(fc.integer(), { nil: undefined }),
      s: fc.option(fc.string(), { nil: undefined }),
      b: fc.option(fc.boolean(), { nil: undefined }),
    })
    .map(({ id, n, s, b }) =>
      toDynamoJson({
        id: { S: id },
        ...(n === undefined ? {} : { n: { N: String(n) } }),
        ...(s === undefined ? {} : { s: { S: s } }),
        ...(b === undefined ? {} : { b: { BOOL: b } }),
      }),
    );

  it('does not depend on item order nor on how items are split into parts (property)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(arbItem, { selector: (i) => canonicalItem(i), maxLength: 40 }),
        fc.integer({ min: 1, max: 7 }),
        fc.infiniteStream(fc.integer({ min: 0, max: 6 })),
        (items, parts, assignment) => {
          // Prepare
          const whole = digestOf(items);
          const it = assignment[Symbol.iterator]();
          const groups: DynamoJsonItem[][] = Array.from({ length: parts }, () => []);
          for (const x of [...items].reverse()) groups[(it.next().value as number) % parts]?.push(x);

          // Act
          const combined = combineDigests(groups.map(digestOf));

          // Assess
          expect(combined).toEqual(whole);
        },
      ),
      { seed: 42, numRuns: 200 },
    );
  });

  it('tells apart a number from the same digits as a string, a missing item and a doubled one', () => {
    // Prepare
    const items = [item('1', { code: { S: '0012' } }), item('2')];

    // Act
    const base = digestOf(items).digest;
    const asNumber = digestOf([item('1', { code: { N: '12' } }), item('2')]).digest;
    const missing = digestOf(items.slice(0, 1)).digest;
    const doubled = digestOf([...items, items[1] as DynamoJsonItem]).digest;

    // Assess
    expect(new Set([base, asNumber, missing, doubled]).size).toBe(4);
    expect(digestOf([]).digest).toBe(EMPTY_DIGEST);
  });
});

describe('snapshot manifest', () => {
  const items = Array.from({ length: 10 }, (_, i) => item(`k${i}`, { n: { N: String(i) } }));

  it('is built from the segments in any order, and parses back', () => {
    // Prepare
    const results = segmentResults(items, 3).reverse();

    // Act
    const manifest = buildManifest(BASE, results);
    const parsed = parseManifest(JSON.stringify(manifest), 'manifest.json');

    // Assess
    expect(manifest.items).toBe(10);
    expect(manifest.digest).toBe(digestOf(items).digest);
    expect(manifest.parts.map((p) => p.file)).toEqual([
      'part-00000.jsonl.gz',
      'part-00001.jsonl.gz',
      'part-00002.jsonl.gz',
    ]);
    expect(parsed).toEqual(manifest);
  });

  it.each([
    ['a missing segment', (m: Record<string, unknown>) => ({ ...m, parts: (m.parts as unknown[]).slice(1) })],
    ['a wrong total', (m: Record<string, unknown>) => ({ ...m, items: 11 })],
    ['a wrong digest', (m: Record<string, unknown>) => ({ ...m, digest: 'f'.repeat(64) })],
    ['an unknown format version', (m: Record<string, unknown>) => ({ ...m, formatVersion: 2 })],
    [
      'csv in formats without csv parts',
      (m: Record<string, unknown>) => ({ ...m, formats: ['jsonl', 'csv'] }),
    ],
  ])('refuses %s with InvalidSnapshotError', (_, tamper) => {
    // Prepare
    const manifest = buildManifest(BASE, segmentResults(items, 3));

    // Act
    const parse = () => parseManifest(JSON.stringify(tamper(manifest)), 'manifest.json');

    // Assess
    expect(parse).toThrow(InvalidSnapshotError);
  });

  it('refuses text that is not JSON', () => {
    // Act / Assess
    expect(() => parseManifest('{', 's3://b/manifest.json')).toThrow(/s3:\/\/b\/manifest.json: not JSON/);
  });
});

describe('ids, segments and lock holders', () => {
  it('derives a stable id from the execution, and checks given ids', () => {
    // Act
    const id = deriveBackupId('2026-03-04T05:06:07.890Z', 'a1b2c3d4-e5f6-0000');

    // Assess
    expect(id).toBe('20260304T050607Z-a1b2c3d4');
    expect(checkBackupId(id, 'snapshot')).toBe(id);
    expect(() => checkBackupId('../x', 'snapshot')).toThrow(InvalidSnapshotError);
    expect(() => checkBackupId('a/b', 'restore')).toThrow(/invalid restore id/);
  });

  it('uses at least 8 segments, one per 128 MiB of table, at most 1000', () => {
    // Act / Assess
    expect(chooseSegments(0)).toBe(8);
    expect(chooseSegments(20 * 128 * 1024 * 1024)).toBe(20);
    expect(chooseSegments(2 ** 50)).toBe(1000);
    expect(chooseSegments(0, 3)).toBe(3);
  });

  it('names the lock holder of a snapshot or restore, never one of a run', () => {
    // Act / Assess
    expect(parseBackupLockHolder('snapshot:20260101T000000Z-x')).toEqual({
      kind: 'snapshot',
      id: '20260101T000000Z-x',
    });
    expect(parseBackupLockHolder('restore:r1')).toEqual({ kind: 'restore', id: 'r1' });
    expect(parseBackupLockHolder('contact-0123456789abcdef0123')).toBeUndefined();
  });
});
