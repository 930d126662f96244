/**
 * Referential integrity (config `references`: Contact.accountId → account): collects the values a
 * run's target items hold in reference fields, and turns the parents found missing into an orphan
 * report. Bounded memory: one entry per distinct referenced value, with a few child keys each.
 */
import type { Value } from './value';

/** DynamoDB's limit on a partition key value, in UTF-8 bytes. */
const MAX_KEY_BYTES = 2048;

/**
 * Whether a value can name an item at all (1 to 2,048 UTF-8 bytes, DynamoDB's limit on a partition
 * key): one that cannot is a missing parent without a lookup (a lookup would fail the whole batch).
 */
export function canBeKey(value: string): boolean {
  return (
    value !== '' && (value.length * 3 <= MAX_KEY_BYTES || Buffer.byteLength(value, 'utf8') <= MAX_KEY_BYTES)
  );
}

/** A parent value no item of the parent entity has, and the children pointing at it. */
export interface MissingParent {
  value: string;
  /** Items pointing at it (exact). */
  children: number;
  /** A few of their keys. */
  keys: string[];
}

/** Missing parents a check lists (the counts are always exact). */
const SAMPLE_PARENTS = 20;

/** Child keys kept per orphan value (the count is always exact). */
export const SAMPLE_KEYS = 5;

export interface ReferenceCheck {
  /** The reference field of this entity, and the entity it points at. */
  field: string;
  entity: string;
  /** Items that hold a value in the field. */
  checked: number;
  /** Items whose value names no item of the parent entity. */
  orphans: number;
  /** Distinct missing parent values. */
  missingParents: number;
  /** Up to 20 missing parents, each with a few of the child keys pointing at it. */
  sample: MissingParent[];
}

/** The SAMPLE_PARENTS missing parents with the most children (ties by value): a check's sample. */
export function largestFirst(missing: ReadonlyArray<MissingParent>): MissingParent[] {
  return [...missing]
    .sort((a, b) => b.children - a.children || a.value.localeCompare(b.value))
    .slice(0, SAMPLE_PARENTS);
}

export class ReferenceCollector {
  private readonly byField = new Map<string, Map<string, { children: number; keys: string[] }>>();
  private readonly checked = new Map<string, number>();

  constructor(private readonly references: Readonly<Record<string, { entity: string }>>) {
    for (const field of Object.keys(references)) this.byField.set(field, new Map());
  }

  /** One target item (key and attributes) of the run. */
  add(key: string, item: Readonly<Record<string, Value>>): void {
    for (const [field, values] of this.byField) {
      const v = item[field];
      if (v === undefined || v === '') continue;
      this.checked.set(field, (this.checked.get(field) ?? 0) + 1);
      const value = String(v);
      let entry = values.get(value);
      if (!entry) {
        entry = { children: 0, keys: [] };
        values.set(value, entry);
      }
      entry.children++;
      if (entry.keys.length < SAMPLE_KEYS) entry.keys.push(key);
    }
  }

  fields(): Array<{ field: string; entity: string; values: string[] }> {
    return [...this.byField].map(([field, values]) => ({
      field,
      entity: this.references[field]?.entity ?? '',
      values: [...values.keys()],
    }));
  }

  /**
   * The check of one field, given the parent values that exist, and every missing parent with the
   * children pointing at it (for orphans.csv), in the order they were met.
   */
  result(field: string, existing: ReadonlySet<string>): { check: ReferenceCheck; missing: MissingParent[] } {
    const values = this.byField.get(field) ?? new Map<string, { children: number; keys: string[] }>();
    const missing = [...values]
      .filter(([value]) => !existing.has(value))
      .map(([value, e]) => ({ value, children: e.children, keys: e.keys }));
    const check: ReferenceCheck = {
      field,
      entity: this.references[field]?.entity ?? '',
      checked: this.checked.get(field) ?? 0,
      orphans: missing.reduce((n, m) => n + m.children, 0),
      missingParents: missing.length,
      sample: largestFirst(missing),
    };
    return { check, missing };
  }
}
