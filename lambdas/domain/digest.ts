import * as crypto from 'node:crypto';
import type { Scalar } from './normalize';

/**
 * sha1 → base64url of a string. `crypto.hash` (Node ≥ 20.12 / 21.7; the workers run Node 22) is the
 * one-shot form: no Hash object per call, about twice as fast for row-sized inputs. Same bytes out.
 */
const sha1: (text: string) => string =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('sha1', text, 'base64url')
    : (text) => crypto.createHash('sha1').update(text).digest('base64url');

/** Type tags of the digest text: `1` and `"1"` differ. */
const STRING_TAG = '\u0001s';
const NUMBER_TAG = '\u0001n';
const BOOLEAN_TAG = '\u0001b';

/**
 * Content digest of a target item's business fields: key order does not matter, types do
 * (`1` and `"1"` differ). Used to skip unchanged rows and to verify the target.
 *
 * The hashed text is, per key in sorted order: key, type tag, String(value), NUL.
 */
export function itemDigest(item: Readonly<Record<string, Scalar>>): string {
  // One string, one hash call: hashing is per call, and a row has a few dozen pieces (measured 2× faster).
  let text = '';
  for (const k of Object.keys(item).sort()) {
    const v = item[k] as Scalar;
    const tag = typeof v === 'string' ? STRING_TAG : typeof v === 'number' ? NUMBER_TAG : BOOLEAN_TAG;
    text += `${k}${tag}${String(v)}\u0000`;
  }
  return sha1(text);
}
