import fc from 'fast-check';
import { type CrmSyncConfig, parseConfig } from '../../lambdas/domain/config';
import { runLocalFile } from '../../local/run';
import { PERSON_ENTITY, PERSON_HEADER, useLocalStack } from './support';

/**
 * Property, end to end on the local stack: for random files with repeated keys, random updatedAt
 * (ties included), deletes and bad rows, run one after another through random chunk and partition
 * sizes, the target equals a plain reference model of the contract (DESIGN.md "Semantics"), and the
 * counts add up and agree with the model.
 */

/** Entities that differ only in how a file is cut: chunk bytes and rows per merge partition. */
const SHAPES = [
  { name: 'p-small', chunkBytes: 1024, partitionRows: 100 },
  { name: 'p-mid', chunkBytes: 2048, partitionRows: 100 },
  { name: 'p-large', chunkBytes: 1 << 20, partitionRows: 1000 },
] as const;
const CONFIG: CrmSyncConfig = parseConfig({
  entities: Object.fromEntries(
    SHAPES.map((s) => [
      s.name,
      { ...PERSON_ENTITY, partitionRows: s.partitionRows, source: { chunkBytes: s.chunkBytes } },
    ]),
  ),
});

interface Row {
  key: number;
  /** Index into DAYS: few values, so ties on updatedAt are common. */
  day: number;
  name: string;
  deleted: boolean;
  /** Missing Name: a reject. */
  bad: boolean;
}
const DAYS = ['2024-01-01', '2024-02-01', '2024-03-01', '2024-04-01'];
const rowArb = fc.record({
  key: fc.integer({ min: 0, max: 14 }),
  day: fc.integer({ min: 0, max: DAYS.length - 1 }),
  name: fc.constantFrom('Ada', 'Grace', 'Linus', 'Zoë', 'O"Brien', 'Smith, J'),
  deleted: fc.integer({ min: 0, max: 5 }).map((n) => n === 0),
  bad: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
});
const filesArb = fc.array(fc.array(rowArb, { minLength: 1, maxLength: 60 }), { minLength: 1, maxLength: 3 });

type State = { live: boolean; version: string; line: number; name: string };
type Counts = {
  rows: number;
  applied: number;
  unchanged: number;
  superseded: number;
  deleted: number;
  rejected: number;
};

/** The contract as a plain model: newer (updatedAt, line) wins, within a file and against the target. */
function applyModel(state: Map<string, State>, keys: string[], rows: Row[]): Counts {
  const counts: Counts = {
    rows: rows.length,
    applied: 0,
    unchanged: 0,
    superseded: 0,
    deleted: 0,
    rejected: 0,
  };
  const winners = new Map<string, { row: Row; line: number; version: string }>();
  rows.forEach((row, i) => {
    const line = i + 2;
    // A delete row needs only its key and updatedAt: a missing Name does not reject it.
    if (row.bad && !row.deleted) {
      counts.rejected++;
      return;
    }
    const key = keys[row.key] as string;
    const version = `${DAYS[row.day]}T00:00:00.000Z`;
    const current = winners.get(key);
    if (current) counts.superseded++;
    if (!current || version > current.version || (version === current.version && line > current.line))
      winners.set(key, { row, line, version });
  });
  for (const [key, w] of winners) {
    const s = state.get(key);
    // An exact tie on (updatedAt, line) with what the target holds goes to the incoming row.
    const newer = !s || w.version > s.version || (w.version === s.version && w.line >= s.line);
    if (w.row.deleted) {
      if (s?.live && newer) {
        counts.deleted++;
        state.set(key, { live: false, version: w.version, line: w.line, name: '' });
      } else if (s?.live) {
        counts.superseded++; // the target holds a newer version: the delete loses
      } else {
        counts.unchanged++;
        if (newer) state.set(key, { live: false, version: w.version, line: w.line, name: '' });
      }
    } else if (s?.live && s.name === w.row.name && s.version === w.version) {
      counts.unchanged++;
    } else if (newer) {
      counts.applied++;
      state.set(key, { live: true, version: w.version, line: w.line, name: w.row.name });
    } else {
      counts.superseded++;
    }
  }
  return counts;
}

function csvOf(keys: string[], rows: Row[]): string {
  const cell = (v: string) => (/[",\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);
  const lines = rows.map((r) =>
    [keys[r.key] as string, r.bad ? '' : r.name, `${DAYS[r.day]}T00:00:00Z`, r.deleted ? 'true' : 'false']
      .map(cell)
      .join(','),
  );
  return `${PERSON_HEADER}\n${lines.join('\n')}\n`;
}

describe('the winner rule end to end (property)', () => {
  const local = useLocalStack('prop', CONFIG);
  let trial = 0;

  it('the table equals the reference model after any sequence of files, cut any way', async () => {
    const { batchGet } =
      require('../../lambdas/adapters/dynamodb') as typeof import('../../lambdas/adapters/dynamodb');
    await fc.assert(
      fc.asyncProperty(filesArb, fc.constantFrom(...SHAPES), async (files, shape) => {
        // Prepare: fresh keys for every trial, so trials do not see each other's items.
        const t = trial++;
        const keys = Array.from({ length: 15 }, (_, i) => `t${t}-k${i}`);
        const model = new Map<string, State>();

        for (const [f, rows] of files.entries()) {
          const file = local.write(`trial-${t}-file-${f}.csv`, csvOf(keys, rows));
          const expected = applyModel(model, keys, rows);

          // Act
          // Forced: a random file may reject most (or all) of its rows, and the property is about
          // the winners of what is loaded, not the reject gate.
          const result = await runLocalFile(local.stack, file, CONFIG, {
            entity: shape.name,
            stateDir: local.stateDir,
            force: true,
          });

          // Assess
          expect(result.status).toBe('SUCCEEDED');
          expect(result.reconciliation?.status).toBe('MATCHED');
          const c = result.counts;
          expect(c && c.applied + c.unchanged + c.superseded + c.deleted + c.rejected).toBe(rows.length);
          expect(c).toEqual(expected);
          const stored = await batchGet(local.stack.tableOf(shape.name), 'id', keys);
          for (const key of keys) {
            const want = model.get(key);
            const got = stored.get(key);
            if (want?.live) expect([key, got?.name, got?.updatedAt]).toEqual([key, want.name, want.version]);
            else expect([key, got]).toEqual([key, undefined]);
          }
        }
      }),
      { numRuns: 6, endOnFailure: true },
    );
  });
});
