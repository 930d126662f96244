import {
  type Candidate,
  classify,
  type DuplicateKey,
  META,
  META_ATTRIBUTES,
  newer,
  type StoredVersion,
  type Tombstone,
  type WriteMode,
  writeLimits,
  writtenItemSize,
} from './chunk';
import { itemDigest } from './digest';
import { ItemTooLargeError } from './errors';
import { MAX_ITEM_BYTES } from './item-size';
import type { MergedLine, PartLine } from './run';
import { memberOf, setMember, type Value } from './value';

export interface MergeOutcome {
  puts: Candidate[];
  deletes: Candidate[];
  /** Tombstones to write before the deletes (and for deletes of absent keys, to block older rows). */
  tombstones: Array<{ key: string; tombstone: Tombstone }>;
  /** Winners the target already holds because this same run wrote them before a retry. */
  alreadyApplied: number;
  /** Deletes this same run already carried out before a retry (its tombstone says so). */
  alreadyDeleted: number;
  merged: MergedLine[];
  duplicates: DuplicateKey[];
  unchanged: number;
  /** Rows that lost: to another chunk's row of the same key, or to a newer stored item. */
  superseded: number;
}

/** Picks the winner per key over every chunk's candidates of one partition (exact, order-free). */
export class PartitionMerger {
  private readonly winners = new Map<string, Candidate>();
  private readonly lines = new Map<string, number[]>();
  superseded = 0;
  candidates = 0;

  add(p: PartLine): void {
    this.candidates++;
    // The digest is computed in finish, for winners only ('' until then).
    const c: Candidate = { key: p.k, line: p.l, version: p.v, deleted: p.d, digest: p.h ?? '', item: p.i };
    const seen = p.x && p.x.length > 0 ? [p.l, ...p.x] : undefined;
    const current = this.winners.get(c.key);
    if (current) {
      this.superseded++;
      const all = this.lines.get(c.key) ?? [current.line];
      all.push(...(seen ?? [c.line]));
      this.lines.set(c.key, all);
      if (newer(c, current)) this.winners.set(c.key, c);
    } else {
      this.winners.set(c.key, c);
      if (seen) this.lines.set(c.key, seen);
    }
  }

  keys(): string[] {
    return [...this.winners.keys()];
  }

  /**
   * Classifies every winner against the stored versions and the tombstones of deleted keys:
   * - a key the target holds: `classify` (a delete also leaves a tombstone, written first);
   * - an absent key with a tombstone newer than the row (newer-wins, insert-only): `superseded`,
   *   so an older export never brings a deleted record back;
   * - an absent key deleted by this same run before a retry: `deleted` again, no write;
   * - a delete of an absent key: `unchanged`, and a tombstone when it is the newest word on the key.
   */
  finish(
    stored: ReadonlyMap<string, StoredVersion>,
    mode: WriteMode,
    runId: string,
    tombstones: ReadonlyMap<string, Tombstone> = new Map(),
    carry?: CarriedAttributes,
  ): MergeOutcome {
    const out: MergeOutcome = {
      puts: [],
      deletes: [],
      tombstones: [],
      alreadyApplied: 0,
      alreadyDeleted: 0,
      merged: [],
      duplicates: [],
      unchanged: 0,
      superseded: this.superseded,
    };
    const tombstoneOf = (c: Candidate, removed: boolean): { key: string; tombstone: Tombstone } => ({
      key: c.key,
      tombstone: { version: c.version, line: c.line, run: runId, removed },
    });
    const limits = writeLimits({ runId });
    for (const [key, c] of this.winners) {
      const s = stored.get(key);
      if (!c.deleted && s && carry && carry.fields.length > 0) {
        const storedItem = carry.items.get(key);
        if (storedItem) {
          c.item = withCarried(c.item, storedItem, carry.fields);
          c.digest = '';
          // The transform measured the row alone: the stored values it carries can make it too large.
          const size = writtenItemSize(c.item, c.version, limits);
          if (size > MAX_ITEM_BYTES) {
            throw new ItemTooLargeError(
              `line ${c.line}: the row with the stored values of the columns its file lacks (${carry.fields.join(', ')}) would be an item of ${size} bytes, over DynamoDB's ${MAX_ITEM_BYTES}; nothing of this partition was written: export those columns too (their values then replace the stored ones) or set onMissingColumns: "remove"`,
            );
          }
        }
      }
      if (!c.deleted && c.digest === '') c.digest = itemDigest(c.item);
      const t = s ? undefined : tombstones.get(key);
      if (!s && c.deleted) {
        if (t && t.run === runId && t.removed) {
          out.alreadyDeleted++;
          out.merged.push({ k: key, o: 'delete', h: null, l: c.line });
          continue;
        }
        if (!t || newer(c, t)) out.tombstones.push(tombstoneOf(c, false));
        out.unchanged++;
        out.merged.push({ k: key, o: 'unchanged', h: null, l: c.line });
        continue;
      }
      if (!s && t && mode !== 'upsert' && newer(t, c)) {
        out.superseded++;
        out.merged.push({ k: key, o: 'superseded', h: null, l: c.line });
        continue;
      }
      const decision = classify(c, s, mode);
      if (s?.run === runId && !c.deleted && s.digest === c.digest) {
        // Written by this run before a crash and retry: it counts as applied, and is not written
        // again (checked before the mode's rule: insert-only would call the run's own item superseded).
        out.alreadyApplied++;
        out.merged.push({ k: key, o: 'put', h: c.digest, l: c.line });
      } else if (decision === 'put') {
        out.puts.push(c);
        out.merged.push({ k: key, o: 'put', h: c.digest, l: c.line, ...(s ? {} : { n: true }) });
      } else if (decision === 'delete') {
        out.deletes.push(c);
        out.tombstones.push(tombstoneOf(c, true));
        out.merged.push({ k: key, o: 'delete', h: null, l: c.line });
      } else if (decision === 'unchanged') {
        out.unchanged++;
        out.merged.push({ k: key, o: 'unchanged', h: c.deleted ? null : c.digest, l: c.line });
      } else {
        out.superseded++;
        out.merged.push({ k: key, o: 'superseded', l: c.line });
      }
    }
    for (const [key, lines] of this.lines) {
      out.duplicates.push({
        key,
        lines: [...lines].sort((a, b) => a - b),
        winner: this.winners.get(key)?.line ?? 0,
      });
    }
    out.duplicates.sort((a, b) => (a.lines[0] ?? 0) - (b.lines[0] ?? 0));
    return out;
  }
}

/**
 * The attributes a partial export does not carry (mapped fields whose column its file lacks), kept
 * from the stored items: a winner that updates a stored item takes their stored values, so its
 * put erases nothing the file did not say, and its digest is that of the item as it will be
 * stored (verification and the next run's `unchanged` compare that).
 */
export interface CarriedAttributes {
  fields: readonly string[];
  /** The stored items, by key (business attributes and crm-sync's own: only `fields` are read). */
  items: ReadonlyMap<string, Readonly<Record<string, Value>>>;
}

/**
 * `item` with the stored values of `fields` it does not hold (it holds none of them: not carried).
 * A dotted field is a map member: the stored member is kept inside the item's map, so a file that
 * carries `address.street` but not `address.city` updates the street and keeps the stored city.
 */
export function withCarried(
  item: Readonly<Record<string, Value>>,
  stored: Readonly<Record<string, Value>>,
  fields: readonly string[],
): Record<string, Value> {
  // A member is set inside the item's maps: copy them first (the item is the candidate's).
  const out: Record<string, Value> = fields.some((f) => f.includes('.'))
    ? structuredClone(item)
    : { ...item };
  for (const f of fields) {
    if (!f.includes('.')) {
      const v = stored[f];
      if (v !== undefined && !(f in out)) out[f] = v;
      continue;
    }
    const path = f.split('.');
    const v = memberOf(stored, path);
    if (v === undefined || memberOf(out, path) !== undefined) continue;
    setMember(out, path, v);
  }
  return out;
}

/**
 * What a stored item says of the row that wrote it: `_v`, `_line` and `_run` as crm-sync wrote
 * them, and the digest of what it holds now. The version is `_v`, never the item's own updatedAt
 * attribute: that is content, which an edit by hand may have changed (a rerun must still see the
 * item as written by its row, and repair it); an item crm-sync did not write has version ''.
 */
export function storedVersionOf(item: Readonly<Record<string, Value>>): StoredVersion {
  return {
    version: String(item[META.version] ?? ''),
    line: Number(item[META.line] ?? 0),
    digest: storedContentDigest(item),
    run: item[META.run] === undefined ? undefined : String(item[META.run]),
  };
}

/**
 * The digest of what a stored item holds now: its business attributes, without crm-sync's own.
 * Merge and reconciliation compare this, not the `_digest` written with the item, so an attribute
 * changed in the table behind crm-sync's back shows as a difference (and a rerun repairs it).
 */
export function storedContentDigest(item: Readonly<Record<string, Value>>): string {
  const content: Record<string, Value> = {};
  for (const [k, v] of Object.entries(item)) if (!META_ATTRIBUTES.includes(k)) content[k] = v;
  return itemDigest(content);
}
