import { createHash } from 'node:crypto';

/** FNV-1a's 32-bit offset basis. */
export const FNV_OFFSET_BASIS = 0x811c9dc5;

/**
 * FNV-1a 32-bit over UTF-16 code units, unsigned. `seed` replaces the offset basis, so that one hash
 * does not follow another over the same keys. Stable across processes.
 */
export function fnv1a32(text: string, seed: number = FNV_OFFSET_BASIS): number {
  let h = seed;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** murmur3's final avalanche (fmix32), unsigned: FNV's low bits alone are poorly mixed for short keys. */
export function fmix32(hash: number): number {
  let h = hash;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Set digest

const MOD = 1n << 256n;
const ZERO = '0'.repeat(64);

/**
 * Order-independent digest of a set of items: the sum modulo 2^256 of the SHA-256 of each item's
 * canonical text (a multiset hash). Any scan order, segmentation or part split gives the same digest;
 * unlike XOR, an item counted twice does not cancel out. Snapshots digest their items with it, and
 * verification the items a run wrote.
 */
export class SetDigest {
  private sum = 0n;
  count = 0;

  /** Adds one item (its canonical text). */
  add(canonical: string): void {
    this.sum = (this.sum + BigInt(`0x${createHash('sha256').update(canonical).digest('hex')}`)) % MOD;
    this.count++;
  }

  /** Adds another digest (of disjoint items). */
  merge(digest: string, count: number): void {
    this.sum = (this.sum + BigInt(`0x${digest}`)) % MOD;
    this.count += count;
  }

  get hex(): string {
    return this.sum.toString(16).padStart(64, '0');
  }
}

/** The digest of the union of disjoint item sets. */
export function combineDigests(digests: ReadonlyArray<{ digest: string; items: number }>): {
  digest: string;
  items: number;
} {
  const d = new SetDigest();
  for (const x of digests) d.merge(x.digest, x.items);
  return { digest: d.hex, items: d.count };
}

export const EMPTY_DIGEST = ZERO;
