/**
 * Mirror mode (`syncMode: mirror`): the file is a full export, so an item of the target whose key is
 * not in it was deleted in the CRM. Such items are delete candidates; they are deleted only when
 * they are a small enough share of the target (`maxDeleteRatio`), or when the run is forced.
 * Pure: the mirror handler feeds it keys.
 */
import { partitionOf } from './run';

/** A share as people read it: one decimal at most (`0.1` → `10%`, `2/3` → `66.7%`). */
export function percent(ratio: number): string {
  return `${Math.round(ratio * 1000) / 10}%`;
}

/** Keys of the target that the export does not name: the delete candidates, sorted. */
export function deleteCandidates(targetKeys: Iterable<string>, exportKeys: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const k of targetKeys) if (!exportKeys.has(k)) out.push(k);
  return out.sort();
}

export interface MirrorCounts {
  /** Items the target held before the run (a scan of every segment). */
  targetItems: number;
  /** Of those, the items the export does not name. */
  candidates: number;
  /**
   * Rejected rows whose key could not be read (a ragged row, invalid JSON): an item such a row
   * would keep cannot be told apart from a deleted one.
   */
  unkeyedRejects: number;
}

export interface MirrorDecision extends MirrorCounts {
  /** candidates / targetItems (0 for an empty target). */
  ratio: number;
  maxDeleteRatio: number;
  forced: boolean;
  /** Whether the candidates may be deleted. */
  allowed: boolean;
  /** Why not, in words a person acts on. */
  reason?: string | undefined;
}

/**
 * Decides whether a mirror run may delete its candidates. Refused above `maxDeleteRatio` (a partial
 * or filtered export would otherwise wipe the table), and when rejected rows have no readable key;
 * `force` overrides both.
 */
export function decideMirrorDeletes(
  counts: MirrorCounts,
  options: { maxDeleteRatio: number; force: boolean },
): MirrorDecision {
  const ratio = counts.targetItems === 0 ? 0 : counts.candidates / counts.targetItems;
  const base = { ...counts, ratio, maxDeleteRatio: options.maxDeleteRatio, forced: options.force };
  if (counts.candidates === 0 || options.force) return { ...base, allowed: true };
  if (ratio > options.maxDeleteRatio) {
    return {
      ...base,
      allowed: false,
      reason: `${counts.candidates} of ${counts.targetItems} items (${percent(ratio)}) are absent from the export, above maxDeleteRatio ${percent(options.maxDeleteRatio)}: nothing was written; check that the export is complete, or run again with --force-deletes`,
    };
  }
  if (counts.unkeyedRejects > 0) {
    return {
      ...base,
      allowed: false,
      reason: `${counts.unkeyedRejects} rejected rows have no readable key, so ${counts.candidates} delete candidates cannot be told apart from items those rows would keep: nothing was written; fix the rows, or run again with --force-deletes`,
    };
  }
  return { ...base, allowed: true };
}

/** Keys grouped by the merge partition they belong to (partitionOf), each group in arrival order. */
export function keysByPartition(keys: Iterable<string>, partitions: number): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const k of keys) {
    const p = partitionOf(k, partitions);
    const group = out.get(p);
    if (group) group.push(k);
    else out.set(p, [k]);
  }
  return out;
}

/** One line per key in the mirror objects (`target/…`, `keep/…`, `mirror/…`). */
export function keyLines(keys: Iterable<string>): string {
  let out = '';
  for (const k of keys) out += `${JSON.stringify(k)}\n`;
  return out;
}

export function parseKeyLines(text: string): string[] {
  const out: string[] = [];
  for (const l of text.split('\n')) if (l) out.push(JSON.parse(l) as string);
  return out;
}
