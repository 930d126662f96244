import * as crypto from 'node:crypto';
import { digestText, type Value } from './value';

/**
 * sha1 → base64url of a string. `crypto.hash` (Node ≥ 20.12 / 21.7; the workers run Node 22) is the
 * one-shot form: no Hash object per call, about twice as fast for row-sized inputs. Same bytes out.
 */
const sha1: (text: string) => string =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('sha1', text, 'base64url')
    : (text) => crypto.createHash('sha1').update(text).digest('base64url');

/**
 * Content digest of a target item's business fields: key order does not matter, types do
 * (`1` and `"1"` differ). Used to skip unchanged rows and to verify the target.
 *
 * The hashed text is, per key in sorted order: key, the value's tagged text (value.ts digestText:
 * a scalar's type tag and String(value), as it always was), NUL.
 */
export function itemDigest(item: Readonly<Record<string, Value>>): string {
  // One string, one hash call: hashing is per call, and a row has a few dozen pieces (measured 2× faster).
  let text = '';
  for (const k of Object.keys(item).sort()) text += `${k}${digestText(item[k] as Value)}\u0000`;
  return sha1(text);
}
