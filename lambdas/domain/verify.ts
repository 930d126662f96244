/**
 * Verification of a run against the target: the final decisions of the run are checked against what
 * the table holds now (by content digest: key by key, or in `full` mode the run's puts all at once
 * by the set digest of the items the run wrote), and in `full` mode every item of the table is
 * checked for provenance (written by crm-sync, unchanged since). Pure: the verify handler feeds it items.
 */

import type { VerifyResult } from '../contract/results';
import { csvCell, META } from './chunk';
import { combineDigests, fmix32, fnv1a32, SetDigest } from './hash';
import { keyOfItem, type TableKey } from './keys';
import { storedContentDigest } from './merge';
import {
  largestFirst,
  type MissingParent,
  type ReferenceCheck,
  type ReferenceCollector,
  SAMPLE_KEYS,
} from './references';
import type { MergedLine } from './run';
import type { Value } from './value';

/** How much of a run Reconcile verifies (config `verify`). */
export type VerifyMode = { mode: 'full' } | { mode: 'sample'; keys: number };

/** Problems listed per verify worker in its result (all of them go to the worker's S3 file). */
export const PROBLEMS_RETURNED = 20;

/**
 * Above this many items in the target, an entity without a `verify` setting is sampled: a full
 * verification scans the whole table every run (strongly consistent, 1 read unit per 4 KB: 10M
 * items of 1 KB ≈ 2.5M read units ≈ $0.31 on demand and ~3.5 minutes at a new on-demand table's
 * 12,000 reads/s), which past this size costs more than a typical delta run itself and grows with
 * the table, not the run.
 */
export const FULL_VERIFY_MAX_ITEMS = 10_000_000;
/** The sample an unset `verify` gets above FULL_VERIFY_MAX_ITEMS. */
export const DEFAULT_SAMPLE = 'sample:100000';

/**
 * The mode a run uses: the entity's `verify` when set, else `full` up to FULL_VERIFY_MAX_ITEMS
 * items in the target (DynamoDB's item count, refreshed about every six hours; unknown counts as
 * small) and DEFAULT_SAMPLE above. Plan resolves it once and hands it to every worker.
 */
export function resolveVerify(configured: string | undefined, targetItems: number | undefined): string {
  if (configured !== undefined) return configured;
  return (targetItems ?? 0) > FULL_VERIFY_MAX_ITEMS ? DEFAULT_SAMPLE : 'full';
}

/**
 * `full`: the table is scanned for items nobody's source explains; the run's puts are proven by the
 * digest of the items the scan finds written by the run (read back by key only when it differs) and
 * the run's other keys are read back (one strongly consistent read per key).
 * `sample:<n>`: about n of the run's keys are read back, and no scan.
 */
export function verifyMode(verify: string | undefined): VerifyMode {
  const m = /^sample:(\d+)$/.exec(verify ?? 'full');
  return m ? { mode: 'sample', keys: Number(m[1]) } : { mode: 'full' };
}

/**
 * Share of a run's keys that a sample reads: n keys out of the run's rows (rows ≥ distinct keys,
 * so the sample holds at most about n keys).
 */
export function sampleRate(mode: VerifyMode, rows: number): number {
  if (mode.mode === 'full' || rows <= 0) return 1;
  return Math.min(1, mode.keys / rows);
}

/** The sample's FNV-1a offset (not partitionOf's). */
const SAMPLE_SEED = 0x6c62272e;

/**
 * Whether a key is in the sample: a hash of the key (FNV-1a with another offset than partitioning,
 * so the choice does not follow partitions, then murmur3's fmix32) below rate × 2³². Deterministic:
 * a rerun samples the same keys.
 */
export function inSample(key: string, rate: number): boolean {
  if (rate >= 1) return true;
  return fmix32(fnv1a32(key, SAMPLE_SEED)) < rate * 0x1_0000_0000;
}

/**
 * What is wrong with the target for one decision of the run, or undefined when it holds what the
 * decision says: the winner's content, nothing (deleted), or a newer item (superseded).
 */
export function decisionProblem(
  line: MergedLine,
  got: Readonly<Record<string, Value>> | undefined,
): string | undefined {
  if (line.o === 'superseded') {
    if (line.h === null) return got ? 'present: a newer delete should keep it out' : undefined;
    return got ? undefined : 'missing: a newer stored item was expected';
  }
  if (line.h === null) return got ? 'present: the item should have been deleted' : undefined;
  if (!got) return 'missing';
  return storedContentDigest(got) === line.h ? undefined : 'content differs from the source row';
}

/**
 * Provenance of a stored item: crm-sync writes every item with its run and the digest of its
 * content. An item without them was added behind crm-sync's back; an item whose content no longer
 * has its digest was changed behind its back. Either way no source row explains it.
 */
export function provenanceProblem(
  item: Readonly<Record<string, Value>>,
  content: string = storedContentDigest(item),
): string | undefined {
  const digest = item[META.digest];
  if (digest === undefined || item[META.run] === undefined) return 'not written by crm-sync';
  return content === digest ? undefined : 'changed outside crm-sync';
}

/**
 * What the set digest of a run's writes holds per item: its key and content digest. Verification
 * adds one per put decision of the run (expected) and one per item the scan finds written by the
 * run, with the digest of the content it holds now (found): equal sums and counts mean the table
 * holds exactly the run's puts, each with the winner's content.
 */
export function writtenEntry(key: string, contentDigest: string): string {
  return `${key}\u0000${contentDigest}`;
}

/** A set digest and the number of items in it. */
export interface DigestCount {
  digest: string;
  items: number;
}

/**
 * Whether the items the scan found written by the run are exactly the run's puts: the sums of the
 * partitions' expected and the segments' found digests. Undefined when no worker digested (sample
 * mode, or the second pass, which reads every key).
 */
export function compareWritten(
  results: ReadonlyArray<Pick<VerifyResult, 'written'>>,
): { ok: boolean; expected: DigestCount; found: DigestCount } | undefined {
  const digested = results.flatMap((r) => (r.written ? [r.written] : []));
  if (digested.length === 0) return undefined;
  const expected = combineDigests(digested.map((w) => w.expected));
  const found = combineDigests(digested.map((w) => w.found));
  return {
    ok:
      digested.length === results.length &&
      expected.items === found.items &&
      expected.digest === found.digest,
    expected,
    found,
  };
}

/** One problem found by verification, as listed in mismatches.csv. */
export interface Mismatch {
  key: string;
  problem: string;
  /** `run`: a decision of this run; `table`: an item of the table (full scan); `mirror`: a mirror delete. */
  scope: 'run' | 'table' | 'mirror';
}

/** What one verify invocation returns per worker (never items): typed by its schema. */
export type { VerifyResult } from '../contract/results';

/** Adds up the reference checks of the partitions (missing parents summed per partition). */
export function mergeReferenceChecks(
  perPartition: ReadonlyArray<readonly ReferenceCheck[]>,
): ReferenceCheck[] {
  const byField = new Map<string, ReferenceCheck>();
  for (const checks of perPartition) {
    for (const c of checks) {
      const acc = byField.get(c.field);
      if (!acc) {
        byField.set(c.field, { ...c, sample: [...c.sample] });
        continue;
      }
      acc.checked += c.checked;
      acc.orphans += c.orphans;
      acc.missingParents += c.missingParents;
      for (const s of c.sample) {
        const same = acc.sample.find((x) => x.value === s.value);
        if (same) {
          same.children += s.children;
          same.keys = [...same.keys, ...s.keys].slice(0, SAMPLE_KEYS);
        } else acc.sample.push({ ...s });
      }
    }
  }
  return [...byField.values()].map((c) => ({
    ...c,
    sample: largestFirst(c.sample),
  }));
}

/** A partition's decisions (its `merged/p<n>.jsonl`) as one verification pass checks them. */
export interface PartitionDecisions {
  /** Decisions of the partition. */
  decisions: number;
  /** Full mode's first pass: the set digest of the run's puts (key and the winner's digest). */
  expected: SetDigest;
  /** The decisions read back by key: the sample, or every one the digest does not prove. */
  byKey: MergedLine[];
}

/**
 * Sorts a partition's merged lines: with `byDigest` the puts go into the expected set digest, and
 * the other decisions in the sample (`rate`, see sampleRate) are read back by key.
 */
export function readDecisions(text: string, byDigest: boolean, rate: number): PartitionDecisions {
  const expected = new SetDigest();
  const byKey: MergedLine[] = [];
  let decisions = 0;
  for (const l of text.split('\n')) {
    if (!l) continue;
    decisions++;
    const m = JSON.parse(l) as MergedLine;
    if (byDigest && m.o === 'put' && typeof m.h === 'string') expected.add(writtenEntry(m.k, m.h));
    else if (inSample(m.k, rate)) byKey.push(m);
  }
  return { decisions, expected, byKey };
}

/**
 * The problems of the decisions read back by key, given what the table holds for their keys; each
 * item found goes to the reference check.
 */
export function decisionProblems(
  lines: readonly MergedLine[],
  stored: ReadonlyMap<string, Readonly<Record<string, Value>>>,
  references: ReferenceCollector,
): Mismatch[] {
  const problems: Mismatch[] = [];
  for (const l of lines) {
    const got = stored.get(l.k);
    if (got) references.add(l.k, got);
    const problem = decisionProblem(l, got);
    if (problem) problems.push({ key: l.k, problem, scope: l.o === 'mirror' ? 'mirror' : 'run' });
  }
  return problems;
}

/**
 * Full mode's check of one table segment, item by item: every item's provenance and, in the first
 * pass (`byDigest`), the set digest of the items the run wrote, whose references are checked.
 */
export class SegmentCheck {
  scanned = 0;
  readonly problems: Mismatch[] = [];
  readonly found = new SetDigest();

  constructor(
    private readonly table: TableKey,
    private readonly runId: string,
    private readonly byDigest: boolean,
    private readonly references: ReferenceCollector,
  ) {}

  add(item: Readonly<Record<string, Value>>): void {
    this.scanned++;
    const key = keyOfItem(this.table, item) ?? '';
    const content = storedContentDigest(item);
    const problem = provenanceProblem(item, content);
    if (problem) this.problems.push({ key, problem, scope: 'table' });
    if (this.byDigest && item[META.run] === this.runId) {
      this.found.add(writtenEntry(key, content));
      this.references.add(key, item);
    }
  }
}

/** The orphans.csv rows of one reference field's missing parents (field, entity, value, children, keys). */
export function orphanRows(field: string, parent: string, missing: readonly MissingParent[]): string[] {
  return missing.map(
    (m) => `${[field, parent, m.value, String(m.children), m.keys.join(' ')].map(csvCell).join(',')}\r\n`,
  );
}

/** One verify worker's result: counts, the first PROBLEMS_RETURNED problems, and the set digests of a first full pass. */
export function verifyResultOf(pass: {
  partition: number;
  byDigest: boolean;
  decisions: PartitionDecisions;
  segment: Pick<SegmentCheck, 'scanned' | 'found'>;
  problems: readonly Mismatch[];
  references: ReferenceCheck[];
  durationMs: number;
}): VerifyResult {
  const { decisions, segment } = pass;
  return {
    partition: pass.partition,
    verified: decisions.byKey.length + decisions.expected.count,
    decisions: decisions.decisions,
    scanned: segment.scanned,
    ...(pass.byDigest
      ? {
          written: {
            expected: { digest: decisions.expected.hex, items: decisions.expected.count },
            found: { digest: segment.found.hex, items: segment.found.count },
          },
        }
      : {}),
    mirrorDeleted: 0,
    problems: pass.problems.length,
    sample: pass.problems.slice(0, PROBLEMS_RETURNED),
    references: pass.references,
    durationMs: pass.durationMs,
  };
}
