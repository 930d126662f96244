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
