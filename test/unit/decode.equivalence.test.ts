import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { decodeUtf8 } from '../../lambdas/domain/csv';
import { MalformedFileError } from '../../lambdas/domain/errors';

/**
 * decodeUtf8 decodes first and validates only when the text holds U+FFFD. It must accept exactly the
 * valid UTF-8 records and return what it returned before (isUtf8, then toString('utf8')); a strict
 * TextDecoder is a second, independent oracle for validity.
 */
function reference(bytes: Buffer): { ok: true; text: string } | { ok: false } {
  return isUtf8(bytes) ? { ok: true, text: bytes.toString('utf8') } : { ok: false };
}

const strict = new TextDecoder('utf-8', { fatal: true });

function strictlyValid(bytes: Buffer): boolean {
  try {
    strict.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

function ours(bytes: Buffer): { ok: true; text: string } | { ok: false; message: string } {
  try {
    return { ok: true, text: decodeUtf8(bytes, 7) };
  } catch (err) {
    expect(err).toBeInstanceOf(MalformedFileError);
    return { ok: false, message: (err as Error).message };
  }
}

/** Pieces of UTF-8, valid and not: ASCII, encoded code points (U+FFFD included), and broken sequences. */
const piece = fc.oneof(
  { weight: 6, arbitrary: fc.string({ maxLength: 6 }).map((s) => Buffer.from(s, 'utf8')) },
  {
    weight: 3,
    arbitrary: fc
      .constantFrom(0x41, 0xe9, 0x4e2d, 0xfffd, 0xfeff, 0x1f600, 0x10ffff, 0x7ff, 0x800, 0xffff, 0x10000)
      .map((cp) => Buffer.from(String.fromCodePoint(cp), 'utf8')),
  },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom(
        [0xef, 0xbf, 0xbd], // U+FFFD itself (valid)
        [0xed, 0xa0, 0x80], // encoded surrogate
        [0xc0, 0xaf], // overlong
        [0xe0, 0x80, 0xaf], // overlong
        [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
        [0xf5],
        [0xff],
        [0x80],
        [0xbf, 0xbf],
        [0xe4, 0xb8], // truncated
        [0xf0, 0x9f, 0x98], // truncated
        [0xc3],
        [0x00],
      )
      .map((b) => Buffer.from(b)),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 4 }).map((b) => Buffer.from(b)) },
);

const record = fc.array(piece, { maxLength: 12 }).map((pieces) => Buffer.concat(pieces));

describe('decodeUtf8 equals validate-then-decode', () => {
  it('for generated records of valid and broken UTF-8', () => {
    let invalid = 0;
    let replacement = 0;
    const runs = 20_000;
    fc.assert(
      fc.property(record, (bytes) => {
        const expected = reference(bytes);
        const got = ours(bytes);
        expect(got.ok).toBe(expected.ok);
        expect(got.ok).toBe(strictlyValid(bytes));
        if (expected.ok && got.ok) expect(got.text).toBe(expected.text);
        if (!got.ok) {
          invalid++;
          expect(got.message).toMatch(/^line 7: byte \d+ of the record is not valid UTF-8$/);
        }
        if (expected.ok && expected.text.includes('\uFFFD')) replacement++;
      }),
      // Seeded: the counts below check that both branches were exercised, so they must not depend on luck.
      { numRuns: runs, seed: 20261125 },
    );
    // Both branches are exercised, including valid text that holds U+FFFD itself.
    expect(invalid).toBeGreaterThan(runs * 0.1);
    expect(replacement).toBeGreaterThan(runs * 0.03);
  });

  it('for arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (array) => {
        const bytes = Buffer.from(array);
        const got = ours(bytes);
        expect(got.ok).toBe(isUtf8(bytes));
        if (got.ok) expect(got.text).toBe(bytes.toString('utf8'));
      }),
      { numRuns: 20_000 },
    );
  });

  it('accepts a Uint8Array view as well as a Buffer', () => {
    const bytes = new Uint8Array([0x61, 0xef, 0xbf, 0xbd, 0x62]);
    expect(decodeUtf8(bytes, 1)).toBe('a\uFFFDb');
    expect(() => decodeUtf8(new Uint8Array([0x61, 0xff]), 3)).toThrow(
      'line 3: byte 2 of the record is not valid UTF-8',
    );
  });
});
