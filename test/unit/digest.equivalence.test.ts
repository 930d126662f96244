import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { DigestLayout, itemDigest } from '../../lambdas/domain/digest';

type Scalar = string | number | boolean;

/** itemDigest as it was before: one Hash object per item (createHash → update → digest). */
function referenceItemDigest(item: Readonly<Record<string, Scalar>>): string {
  const keys = Object.keys(item).sort();
  let text = '';
  for (const k of keys) {
    const v = item[k];
    text += `${k}${typeof v === 'string' ? '\u0001s' : typeof v === 'number' ? '\u0001n' : '\u0001b'}${String(v)}\u0000`;
  }
  return createHash('sha1').update(text).digest('base64url');
}

const KEYS = [
  'id',
  'accountId',
  'firstName',
  'lastName',
  'email',
  'Zeta',
  'zeta',
  'é',
  '10',
  '2',
  'a\u0000b',
  '',
  'hasOptedOutOfEmail',
  'updatedAt',
  '王',
];
const value: fc.Arbitrary<Scalar> = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: 'binary' }), // lone surrogates included
  fc.constantFrom('', '\u0000', '\u0001s', '\ud800', 'a\udc00b', '😀'),
  fc.double(),
  fc.integer(),
  fc.constantFrom(0, -0, 1e21, Number.NaN, Number.POSITIVE_INFINITY),
  fc.boolean(),
);
const item = fc.dictionary(fc.constantFrom(...KEYS), value, { maxKeys: KEYS.length });

describe('digests equal the createHash implementation', () => {
  const layout = new DigestLayout([...KEYS, 'id', 'email']);

  it('itemDigest and DigestLayout.digest, for generated items (unicode, lone surrogates, numbers, booleans)', () => {
    fc.assert(
      fc.property(item, (it) => {
        const expected = referenceItemDigest(it);
        expect(itemDigest(it)).toBe(expected);
        expect(layout.digest(it)).toBe(expected);
      }),
      { numRuns: 20_000 },
    );
  });

  it('a layout skips keys that hold undefined, like an item without them', () => {
    const it = { id: 'K1', email: undefined, lastName: 'Lovelace' } as unknown as Record<string, Scalar>;
    expect(layout.digest(it)).toBe(referenceItemDigest({ id: 'K1', lastName: 'Lovelace' }));
  });

  it('key order of the item does not matter, types do', () => {
    const ab = new DigestLayout(['b', 'a']);
    expect(ab.digest({ b: 1, a: '1' })).toBe(ab.digest({ a: '1', b: 1 }));
    expect(ab.digest({ b: 1, a: '1' })).toBe(referenceItemDigest({ a: '1', b: 1 }));
    expect(ab.digest({ a: 1 })).not.toBe(ab.digest({ a: '1' }));
    expect(ab.digest({ a: true })).not.toBe(ab.digest({ a: 'true' }));
  });
});
