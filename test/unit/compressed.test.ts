import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import {
  compressionOf,
  DEFAULT_DECOMPRESSION_RATIO,
  decompressedLimit,
  gunzip,
  gunzippedName,
  MIN_DECOMPRESSED_LIMIT,
} from '../../lambdas/domain/compressed';
import { MalformedFileError } from '../../lambdas/domain/errors';

/** Unit: compressed exports found by their first bytes, and gzip read streaming with its guards. */

const CSV = 'Id,Name\n1,Ada\n2,Grace\n';

async function* pieces(bytes: Buffer, size = 7): AsyncGenerator<Buffer> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function text(source: AsyncIterable<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const p of source) parts.push(p);
  return Buffer.concat(parts).toString('utf8');
}

describe('compressionOf', () => {
  const gzip = gzipSync(CSV);
  it.each<[string, Uint8Array, 'gzip' | 'zip' | undefined]>([
    ['a gzip file', gzip, 'gzip'],
    ['the first 3 bytes of a gzip file (a truncated one)', gzip.subarray(0, 3), 'gzip'],
    ['2 bytes of a gzip file (too short to tell)', gzip.subarray(0, 2), undefined],
    ['a zip archive (a local file header)', Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00]), 'zip'],
    ['an empty zip archive (its end record)', Buffer.from([0x50, 0x4b, 0x05, 0x06, 0, 0]), 'zip'],
    ['a plain CSV', Buffer.from(CSV), undefined],
    ['a CSV whose first cell starts with PK', Buffer.from('PK,Name\n'), undefined],
    ['an empty file', Buffer.alloc(0), undefined],
    ['a UTF-16LE CSV with a BOM', Buffer.from(`\ufeff${CSV}`, 'utf16le'), undefined],
  ])('%s', (_name, head, expected) => {
    // Act
    const found = compressionOf(head);

    // Assess
    expect(found).toBe(expected);
  });
});

describe('gunzippedName', () => {
  it.each([
    ['inbox/contact/export.csv.gz', 'inbox/contact/export.csv'],
    ['inbox/contact/export.jsonl.GZ', 'inbox/contact/export.jsonl'],
    ['inbox/contact/export.json.gzip', 'inbox/contact/export.json'],
    ['inbox/contact/export.csv', 'inbox/contact/export.csv'],
    ['inbox/contact/gz', 'inbox/contact/gz'],
  ])('%s is read as %s', (key, expected) => {
    expect(gunzippedName(key)).toBe(expected);
  });
});

describe('decompressedLimit', () => {
  it('is the ratio times the compressed size, never below the floor', () => {
    expect(decompressedLimit(1000)).toBe(MIN_DECOMPRESSED_LIMIT);
    expect(decompressedLimit(10 * 1024 * 1024)).toBe(10 * 1024 * 1024 * DEFAULT_DECOMPRESSION_RATIO);
    expect(decompressedLimit(5 * 1024 * 1024, 7)).toBe(MIN_DECOMPRESSED_LIMIT);
    expect(decompressedLimit(20 * 1024 * 1024, 7)).toBe(140 * 1024 * 1024);
  });
});

describe('gunzip', () => {
  it('reads any bytes back, whatever the pieces they arrive in', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 4000 }),
        fc.integer({ min: 1, max: 500 }),
        async (bytes, size) => {
          // Prepare
          const original = Buffer.from(bytes);

          // Act
          const parts: Buffer[] = [];
          for await (const p of gunzip(pieces(gzipSync(original), size), 1e9)) parts.push(p);

          // Assess
          expect(Buffer.concat(parts).equals(original)).toBe(true);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('reads every member of a concatenation (cat a.gz b.gz)', async () => {
    // Prepare
    const joined = Buffer.concat([gzipSync('Id,Name\n1,Ada\n'), gzipSync('2,Grace\n'), gzipSync('3,Emmy\n')]);

    // Act
    const out = await text(gunzip(pieces(joined), 1e9));

    // Assess
    expect(out).toBe('Id,Name\n1,Ada\n2,Grace\n3,Emmy\n');
  });

  it('ignores zero padding after the last member', async () => {
    // Prepare
    const padded = Buffer.concat([gzipSync(CSV), Buffer.alloc(512)]);

    // Act
    const out = await text(gunzip(pieces(padded), 1e9));

    // Assess
    expect(out).toBe(CSV);
  });

  const big = gzipSync(Buffer.from(CSV.repeat(2000)));
  const corrupt = Buffer.from(big);
  corrupt[40] = (corrupt[40] ?? 0) ^ 0xff;
  it.each<[string, Buffer, number, string]>([
    [
      'a cut-off file',
      big.subarray(0, big.length - 20),
      1e9,
      'the gzip file is cut off: it ends before its compressed data does',
    ],
    [
      'a file cut in its header',
      big.subarray(0, 5),
      1e9,
      'the gzip file is cut off: it ends before its compressed data does',
    ],
    ['corrupt deflate data', corrupt, 1e9, 'the gzip file is not valid: '],
    [
      'text after the last member',
      Buffer.concat([gzipSync(CSV), Buffer.from('trailing')]),
      1e9,
      'the gzip file is not valid: incorrect header check',
    ],
    ['a member past the limit (a zip bomb)', big, 1000, 'the gzip file decompresses to more than 1000 bytes'],
  ])('fails %s with one line', async (_name, bytes, limit, message) => {
    // Act
    const err = await text(gunzip(pieces(bytes, 4096), limit)).catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(MalformedFileError);
    expect((err as Error).message).toContain(message);
    expect((err as Error).message).not.toContain('\n');
  });

  it('passes on a failed read as it is (not a file error)', async () => {
    // Prepare
    const broken = async function* (): AsyncGenerator<Buffer> {
      yield gzipSync(CSV).subarray(0, 10);
      throw new Error('socket hang up');
    };

    // Act
    const err = await text(gunzip(broken(), 1e9)).catch((e: unknown) => e);

    // Assess
    expect(err).not.toBeInstanceOf(MalformedFileError);
    expect((err as Error).message).toBe('socket hang up');
  });
});
