import { ChunkAccumulator } from '../../lambdas/domain/chunk';
import { getEntity, parseConfig } from '../../lambdas/domain/config';
import { bindHeader } from '../../lambdas/domain/mapping';

/**
 * `references.<field>.reject`: rows whose reference names a missing parent are rejected
 * (`orphan:<field>`) before the winner per key is chosen, so an older row of the key with a valid
 * parent wins over a newer orphan, and the counts still add up.
 */
function accumulator(reject: boolean) {
  const config = parseConfig({
    entities: {
      account: { target: { key: 'id' }, fields: { id: { source: 'Id', required: true } } },
      contact: {
        target: { key: 'id' },
        fields: {
          id: { source: 'Id', required: true },
          accountId: { source: 'AccountId' },
          ownerId: { source: 'OwnerId' },
          modified: { source: 'Modified', type: 'datetime', required: true },
        },
        updatedAt: 'modified',
        deleteFlag: { source: 'IsDeleted' },
        references: { accountId: { entity: 'account', reject }, ownerId: { entity: 'account' } },
      },
    },
  });
  const entity = getEntity(config, 'contact');
  const columns = ['Id', 'AccountId', 'OwnerId', 'Modified', 'IsDeleted'];
  const acc = new ChunkAccumulator(entity, bindHeader(columns, entity), ',', 1 << 20);
  let line = 1;
  const add = (cells: string) => {
    line++;
    acc.add({ line, offset: 0, bytes: Buffer.from(cells) });
  };
  return { acc, add };
}

describe('rejecting orphans (references.<field>.reject)', () => {
  it('rejects rows whose parent is missing, and the older valid row of the key wins', () => {
    // Prepare
    const { acc, add } = accumulator(true);
    add('c1,A1,X,2024-01-01T00:00:00Z,false'); // line 2: valid parent
    add('c1,A9,X,2024-06-01T00:00:00Z,false'); // line 3: newer, but A9 does not exist
    add('c2,A9,X,2024-01-01T00:00:00Z,false'); // line 4: orphan
    add('c3,,X,2024-01-01T00:00:00Z,false'); // line 5: no reference value: not an orphan
    add('c4,A9,X,2024-01-01T00:00:00Z,true'); // line 6: a delete needs no parent
    add('c5,A1'); // line 7: ragged, rejected by the parser already

    // Act
    const wanted = acc.referenceValues();
    acc.settleReferences(new Map([['accountId', new Set(['A1'])]]));

    // Assess: ownerId is only reported (reject false), so its values are not asked for
    expect(wanted).toEqual(new Map([['accountId', new Set(['A1', 'A9'])]]));
    expect(acc.rows).toBe(6);
    expect(acc.rejects.map((r) => [r.line, r.reasons])).toEqual([
      [3, ['orphan:accountId']],
      [4, ['orphan:accountId']],
      [7, [expect.stringMatching(/^column_count/)]],
    ]);
    expect(acc.reasonCounts).toMatchObject({ orphan: 2 });
    expect([...acc.winners.values()].map((c) => [c.key, c.line])).toEqual([
      ['c1', 2],
      ['c3', 5],
      ['c4', 6],
    ]);
    // rows = winners + superseded in the chunk + rejected: nothing lost, nothing counted twice
    expect(acc.winners.size + acc.superseded + acc.rejects.length).toBe(acc.rows);
    // The orphan keeps its original cells for rejects.csv
    expect(acc.rejects[0]?.raw).toBe('c1,A9,X,2024-06-01T00:00:00Z,false');
  });

  it('without reject, rows do not wait: winners are chosen as rows arrive and nothing is asked for', () => {
    // Prepare
    const { acc, add } = accumulator(false);

    // Act
    add('c1,A9,X,2024-01-01T00:00:00Z,false');

    // Assess
    expect(acc.referenceValues()).toEqual(new Map());
    expect(acc.winners.get('c1')?.line).toBe(2);
    expect(acc.rejects).toEqual([]);
  });
});
