import { type CrmSyncConfig, parseConfig } from '../../lambdas/domain/config';
import { runLocalFile } from '../../local/run';
import { PERSON_ENTITY, PERSON_HEADER, useLocalStack } from './support';

/**
 * Integration: what several runs of one entity leave in the target, on the local stack: newer-wins
 * across runs, deletes with tombstones (an older export never brings a deleted record back), and
 * reruns that change nothing.
 */
const CONFIG: CrmSyncConfig = parseConfig({ entities: { person: PERSON_ENTITY } });
const HEADER = PERSON_HEADER;
const T1 = '2024-01-01T00:00:00Z';
const T2 = '2024-06-01T00:00:00Z';

describe('runs after runs on the local stack', () => {
  const local = useLocalStack('writes', CONFIG);
  const csv = (name: string, rows: string[]): string => local.write(name, `${HEADER}\n${rows.join('\n')}\n`);
  const exportTable = () => local.items('person');
  const run = (file: string, rerun?: string) =>
    runLocalFile(local.stack, file, CONFIG, { entity: 'person', stateDir: local.stateDir, rerun });

  it('applies newer data, deletes with a tombstone, and never lets an older export undo either', async () => {
    // Prepare
    const january = ['k1', 'k2', 'k3', 'k4'].map((k) => `${k},${k} in January,${T1},false`);
    const initial = csv('january.csv', january);
    const june = csv('june.csv', [`k1,k1 in June,${T1},true`.replace(T1, T2), `k2,k2 in June,${T2},false`]);
    const olderAgain = csv('january-again.csv', january);

    // Act
    const first = await run(initial);
    const second = await run(june);
    const afterJune = await exportTable();
    const third = await run(olderAgain);

    // Assess
    expect(first.counts).toEqual({
      rows: 4,
      applied: 4,
      unchanged: 0,
      superseded: 0,
      deleted: 0,
      rejected: 0,
    });
    expect(second.counts).toEqual({
      rows: 2,
      applied: 1,
      unchanged: 0,
      superseded: 0,
      deleted: 1,
      rejected: 0,
    });
    expect(afterJune.map((i) => [i.id, i.name])).toEqual([
      ['k2', 'k2 in June'],
      ['k3', 'k3 in January'],
      ['k4', 'k4 in January'],
    ]);
    // k1 was deleted in June: the January row is older than its tombstone; k2 is older than stored.
    expect(third.error).toBeUndefined();
    expect(third.status).toBe('SUCCEEDED');
    expect(third.reconciliation?.status).toBe('MATCHED');
    expect(third.counts).toEqual({
      rows: 4,
      applied: 0,
      unchanged: 2,
      superseded: 2,
      deleted: 0,
      rejected: 0,
    });
    expect(await exportTable()).toEqual(afterJune);
  });

  it('changes nothing when the same file runs three times', async () => {
    // Prepare
    const file = csv('thrice.csv', [
      `t1,a,${T1},false`,
      `t2,b,${T1},false`,
      `t2,b2,${T2},false`,
      `t3,gone,${T2},true`,
    ]);

    // Act
    const runs = [await run(file), await run(file, 'again-1'), await run(file, 'again-2')];
    const tables = [await exportTable()];

    // Assess
    expect(runs[0]?.counts).toEqual({
      rows: 4,
      applied: 2,
      unchanged: 1,
      superseded: 1,
      deleted: 0,
      rejected: 0,
    });
    for (const later of runs.slice(1)) {
      expect(later.status).toBe('SUCCEEDED');
      expect(later.counts).toEqual({
        rows: 4,
        applied: 0,
        unchanged: 3,
        superseded: 1,
        deleted: 0,
        rejected: 0,
      });
    }
    expect(tables[0]?.filter((i) => String(i.id).startsWith('t')).map((i) => [i.id, i.name])).toEqual([
      ['t1', 'a'],
      ['t2', 'b2'],
    ]);
  });

  it('ends a duplicate trigger of the same object as a no-op', async () => {
    // Prepare
    const file = csv('dup.csv', [`d1,x,${T1},false`]);
    await run(file);
    const before = await exportTable();

    // Act
    const again = await run(file);

    // Assess
    expect(again.status).toBe('DUPLICATE_TRIGGER');
    expect(await exportTable()).toEqual(before);
  });
});
