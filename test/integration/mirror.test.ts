import { readFileSync } from 'node:fs';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { describeRun } from '../../cli/format';
import { type CrmSyncConfig, parseConfig } from '../../lambdas/domain/config';
import { readEvents } from '../../local/events';
import { runLocalFile } from '../../local/run';
import { cli, PERSON_ENTITY, PERSON_HEADER, useLocalStack } from './support';

/**
 * Integration: mirror mode on the local stack. A full export replaces the target: items it leaves
 * out are deleted when they are few enough (maxDeleteRatio), the run is refused before writing
 * anything when they are not, and a forced run deletes them anyway. Rejected rows keep their items.
 */
// maxRejectRatio 0.5: the small files here reject 1 row of 6 on purpose, for the mirror checks
// (the reject gate has tests of its own, reject-gate.test.ts).
const CONFIG: CrmSyncConfig = parseConfig({
  entities: { person: { ...PERSON_ENTITY, syncMode: 'mirror', maxDeleteRatio: 0.25, maxRejectRatio: 0.5 } },
});
const T1 = '2024-01-01T00:00:00Z';
const T2 = '2024-06-01T00:00:00Z';
const keys = (n: number, from = 1) =>
  Array.from({ length: n }, (_, i) => `k${String(from + i).padStart(2, '0')}`);

describe('mirror mode on the local stack', () => {
  const local = useLocalStack('mirror', CONFIG);
  const csv = (name: string, rows: string[]): string =>
    local.write(name, `${PERSON_HEADER}\n${rows.join('\n')}\n`);
  const ids = async () => (await local.items('person')).map((i) => i.id);
  const run = (file: string, options: { forceDeletes?: boolean; dryRun?: boolean } = {}) =>
    runLocalFile(local.stack, file, CONFIG, { entity: 'person', stateDir: local.stateDir, ...options });
  const report = async (key: string): Promise<string> => {
    const out = await local.stack.s3Client.send(
      new GetObjectCommand({ Bucket: local.stack.bucket, Key: key }),
    );
    return (await out.Body?.transformToString('utf8')) ?? '';
  };

  it('deletes the items a full export leaves out, under the limit, and proves they are gone', async () => {
    // Prepare: 20 items; the next export leaves out k19 and k20 (10 %, limit 25 %) and rejects k05
    // (its row has no name), which must keep its item.
    const first = await run(
      csv(
        'full-1.csv',
        keys(20).map((k) => `${k},${k} v1,${T1},false`),
      ),
    );
    const rows = keys(18).map((k) => (k === 'k05' ? `${k},,${T2},false` : `${k},${k} v2,${T2},false`));

    // Act
    const second = await run(csv('full-2.csv', rows));

    // Assess
    expect(first.status).toBe('SUCCEEDED');
    expect(first.mirror).toMatchObject({ targetItems: 0, candidates: 0, deleted: 0 });
    expect(second.error).toBeUndefined();
    expect(second.status).toBe('SUCCEEDED');
    expect(second.reconciliation?.status).toBe('MATCHED');
    expect(second.counts).toEqual({
      rows: 18,
      applied: 17,
      unchanged: 0,
      superseded: 0,
      deleted: 0,
      rejected: 1,
    });
    expect(second.mirror).toEqual({
      targetItems: 20,
      candidates: 2,
      unkeyedRejects: 0,
      ratio: 0.1,
      maxDeleteRatio: 0.25,
      forced: false,
      allowed: true,
      deleted: 2,
    });
    expect(second.reconciliation?.checks).toContainEqual({
      name: 'mirror-deletes',
      ok: true,
      detail: '2 of 20 target items absent from the export (10%, limit 25%), 2 deleted',
    });
    expect(await ids()).toEqual(keys(18));
    expect(readFileSync(second.reports.mirrorDeletes ?? '', 'utf8')).toBe('key\r\nk19\r\nk20\r\n');
    // The run's RunFinished event, as an EventBridge rule target receives it
    const event = readEvents(local.stateDir).find(
      (e) => (e.detail as { runId?: string }).runId === second.runId,
    );
    expect(event).toMatchObject({
      source: 'crm-sync',
      'detail-type': 'RunFinished',
      detail: {
        runId: second.runId,
        entity: 'person',
        status: 'SUCCEEDED',
        reconciliation: 'MATCHED',
        counts: second.counts,
        summary: `reports/${second.runId}/summary.json`,
      },
    });
  });

  it('refuses a run above maxDeleteRatio before writing anything, and a forced run deletes', async () => {
    // Prepare: 18 items now; an export of 6 of them with new names leaves out 12 (67 %)
    const partial = csv(
      'partial.csv',
      keys(6).map((k) => `${k},${k} v3,${T2.replace('06', '07')},false`),
    );
    const before = await local.items('person');

    // Act
    const refused = await run(partial);
    const afterRefusal = await local.items('person');
    const forced = await run(partial, { forceDeletes: true });

    // Assess
    expect(refused.status).toBe('FAILED');
    expect(refused.error?.name).toBe('MirrorDeleteLimitError');
    expect(refused.error?.message).toContain(
      '12 of 18 items (66.7%) are absent from the export, above maxDeleteRatio 25%',
    );
    expect(refused.error?.message).toContain('--force-deletes');
    // Nothing written: not the updates of the 6 rows either
    expect(afterRefusal).toEqual(before);
    // The failed run has its report (written by the state machine's ReportFailure step) and event
    const summary = JSON.parse(await report(`reports/${refused.runId}/summary.json`)) as Record<
      string,
      unknown
    >;
    expect(summary).toMatchObject({
      status: 'FAILED',
      counts: null,
      error: { name: 'MirrorDeleteLimitError' },
      mirror: { targetItems: 18, candidates: 12, allowed: false },
    });
    const html = await report(`reports/${refused.runId}/report.html`);
    expect(html).toContain('--force-deletes');
    expect(html).toContain('Mirror deletes: 12 of 18 items');
    expect(html).toContain('<strong>Refused</strong>');
    // ... and copied beside the local reports, with the keys it would have deleted
    expect(
      readFileSync(refused.reports.mirrorDeletes ?? '', 'utf8')
        .split('\r\n')
        .filter(Boolean),
    ).toEqual(['key', ...keys(12, 7)]);
    expect(readEvents(local.stateDir).map((e) => e.detail)).toContainEqual({
      runId: refused.runId,
      entity: 'person',
      status: 'FAILED',
      error: 'MirrorDeleteLimitError',
      dryRun: false,
      // The execution a redrive would continue.
      executionArn: expect.stringContaining(':execution:'),
      summary: `reports/${refused.runId}/summary.json`,
    });
    // `local events` prints both runs' events (a process of its own, as a user runs it)
    const listed = await cli(['local', 'events', '--state-dir', local.stateDir]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(`RunFinished  person  ${refused.runId}  FAILED (MirrorDeleteLimitError)`);
    expect(listed.stdout).toMatch(/RunFinished {2}person {2}\S+ {2}SUCCEEDED, MATCHED/);
    // The candidates are listed even though the run failed
    expect(
      (await report(`reports/${refused.runId}/mirror-deletes.csv`)).split('\r\n').filter(Boolean),
    ).toHaveLength(13);

    // What the CLI prints for both
    expect(describeRun(refused, 'partial.csv')).toContain(
      'mirror         12 of 18 items absent from the export (66.7%, limit 25%): refused, nothing deleted, see mirror-deletes.csv',
    );
    expect(describeRun(forced, 'partial.csv')).toContain(': 12 deleted (forced), see mirror-deletes.csv');

    expect(forced.error).toBeUndefined();
    expect(forced.runId).not.toBe(refused.runId);
    expect(forced.status).toBe('SUCCEEDED');
    expect(forced.mirror).toMatchObject({
      targetItems: 18,
      candidates: 12,
      forced: true,
      allowed: true,
      deleted: 12,
    });
    expect(forced.counts?.applied).toBe(6);
    expect(await ids()).toEqual(keys(6));
  });

  it('a dry run lists the mirror deletes in diff.csv and deletes nothing', async () => {
    // Prepare
    const before = await local.items('person');
    const file = csv(
      'dry.csv',
      keys(5).map((k) => `${k},${k} v3,${T2.replace('06', '07')},false`),
    );

    // Act
    const dry = await run(file, { dryRun: true });

    // Assess
    expect(dry.status).toBe('SUCCEEDED');
    expect(dry.mirror).toMatchObject({ targetItems: 6, candidates: 1, deleted: 1 });
    expect(readFileSync(dry.reports.diff ?? '', 'utf8')).toContain('k06,mirror-delete,');
    expect(await local.items('person')).toEqual(before);

    // A dry run of an export a real run would refuse says so, and is not refused itself
    const tooFew = await run(csv('dry-too-few.csv', [`k01,k01 v3,${T2.replace('06', '07')},false`]), {
      dryRun: true,
    });
    expect(tooFew.status).toBe('SUCCEEDED');
    expect(tooFew.mirror).toMatchObject({ targetItems: 6, candidates: 5, allowed: false, deleted: 0 });
    expect(tooFew.reconciliation?.checks.find((c) => c.name === 'mirror-deletes')?.detail).toContain(
      'a run would be refused: 5 of 6 items (83.3%) are absent from the export',
    );
    expect(await local.items('person')).toEqual(before);
  });

  it('refuses deletes when a rejected row has no readable key, since its item cannot be told apart', async () => {
    // Prepare: 6 items; the export leaves k06 out, and has a row with an empty key cell: it may
    // well be k06's row, so k06 cannot be deleted on this export's word
    const file = csv('unkeyed.csv', [
      ...keys(5).map((k) => `${k},${k} v4,2024-08-01T00:00:00Z,false`),
      `,k06 v4,2024-08-01T00:00:00Z,false`,
    ]);

    // Act
    const refused = await run(file);

    // Assess
    expect(refused.status).toBe('FAILED');
    expect(refused.error?.name).toBe('MirrorDeleteLimitError');
    expect(refused.error?.message).toContain('1 rejected rows have no readable key');
    expect(await ids()).toEqual(keys(6));
  });
});
