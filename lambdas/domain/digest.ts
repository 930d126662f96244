import { createHash } from 'node:crypto';
import type { Scalar } from './normalize';

/**
 * Content digest of a target item's business fields: key order does not matter, types do
 * (`1` and `"1"` differ). Used to skip unchanged rows and to verify the target.
 */
export function itemDigest(item: Readonly<Record<string, Scalar>>): string {
  const keys = Object.keys(item).sort();
  const h = createHash('sha1');
  for (const k of keys) {
    const v = item[k];
    h.update(k);
    h.update(typeof v === 'string' ? '\u0001s' : typeof v === 'number' ? '\u0001n' : '\u0001b');
    h.update(String(v));
    h.update('\u0000');
  }
  return h.digest('base64url');
}
