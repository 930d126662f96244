import { type CrmSyncConfig, parseConfig } from '../../lambdas/domain/config';
import { runLocalFile } from '../../local/run';
import { PERSON_ENTITY, PERSON_HEADER, useLocalStack } from './support';

/**
 * Integration: in mirror mode a rejected row keeps its stored item. Stored keys are normalized
 * (transforms and type), so the rejected row's key cell must be normalized the same way: with a key
 * transform (`lower`) the item of a rejected `K05` row is `k05`, and it must not be deleted.
 */
const ENTITY = {
  ...PERSON_ENTITY,
  fields: { ...PERSON_ENTITY.fields, id: { source: 'Id', required: true, transforms: ['trim', 'lower'] } },
  syncMode: 'mirror',
  maxDeleteRatio: 0.5,
};
const CONFIG: CrmSyncConfig = parseConfig({ entities: { person: ENTITY } });
const T1 = '2024-01-01T00:00:00Z';
const T2 = '2024-06-01T00:00:00Z';

describe('mirror mode: the keys of rejected rows are normalized like stored keys', () => {
  const local = useLocalStack('mirror-rejected-keys', CONFIG);
  const csv = (name: string, rows: string[]) => local.write(name, `${PERSON_HEADER}\n${rows.join('\n')}\n`);
  const run = (file: string) =>
    runLocalFile(local.stack, file, CONFIG, { entity: 'person', stateDir: local.stateDir });

  it('does not delete the item of a rejected row whose key the export names', async () => {
    const keys = Array.from({ length: 10 }, (_, i) => `K${String(i).padStart(2, '0')}`);
    const first = await run(
      csv(
        'one.csv',
        keys.map((k) => `${k},${k} v1,${T1},false`),
      ),
    );
    expect(first.status).toBe('SUCCEEDED');
    // Same export, upper-case ids as the CRM writes them; K05 has no name (rejected: required).
    const second = await run(
      csv(
        'two.csv',
        keys.map((k) => (k === 'K05' ? `${k},,${T2},false` : `${k},${k} v2,${T2},false`)),
      ),
    );
    expect(second.counts?.rejected).toBe(1);
    // The export names K05 (its row was rejected): its stored item must be kept, nothing deleted.
    expect((await local.items('person')).map((i) => i.id)).toContain('k05');
    expect(second.mirror?.candidates).toBe(0);
  });
});
