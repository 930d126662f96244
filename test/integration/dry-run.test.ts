import { readFileSync } from 'node:fs';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { type CrmSyncConfig, parseConfig } from '../../lambdas/domain/config';
import { runStatusView, runView } from '../../lambdas/domain/run-status';
import { readEvents } from '../../local/events';
import { runLocalFile, runLocalObject } from '../../local/run';
import { formatRunStatus, formatRuns, localLedger } from '../../local/runs';
import { syncLocal } from '../../local/sync';
import { PERSON_ENTITY, PERSON_HEADER, useLocalStack } from './support';

/**
 * Integration on the local stack (IAM enforced): a dry run (`local diff`) leaves nothing a later
 * run or sync could load, and says it is a dry run wherever it is listed.
 */
const CONFIG: CrmSyncConfig = parseConfig({ entities: { person: PERSON_ENTITY } });
const T1 = '2024-01-01T00:00:00Z';

describe('dry runs on the local stack', () => {
  const local = useLocalStack('dry-run', CONFIG);
  const stateDir = local.stateDir;
  const csv = (name: string, rows: string[]): string =>
    local.write(name, `${PERSON_HEADER}\n${rows.join('\n')}\n`);

  it('puts its file under dry-run/, which a later sync never loads and a real run refuses', async () => {
    // Prepare
    const file = csv('persons.csv', [`k1,k1 one,${T1},false`, `k2,k2 two,${T1},false`]);

    // Act
    const dry = await runLocalFile(local.stack, file, CONFIG, { entity: 'person', stateDir, dryRun: true });
    const kept = await local.stack.objectEtag('dry-run/person/persons.csv');
    const synced = await syncLocal(local.stack, CONFIG, { stateDir });
    // A dry-run object that is still there (in AWS, until it expires): a real run must refuse it.
    await local.stack.s3Client.send(
      new PutObjectCommand({
        Bucket: local.stack.bucket,
        Key: 'dry-run/person/persons.csv',
        Body: readFileSync(file),
      }),
    );
    const etag = await local.stack.objectEtag('dry-run/person/persons.csv');
    const real = await runLocalObject(
      local.stack,
      { key: 'dry-run/person/persons.csv', etag: etag ?? '' },
      CONFIG,
      { entity: 'person', stateDir },
    );

    // Assess
    expect(dry).toMatchObject({ status: 'SUCCEEDED', dryRun: true, counts: { applied: 2 } });
    expect(kept).toBeUndefined(); // the succeeded dry run's file is pruned
    expect(etag).toBeDefined();
    expect(await local.stack.objectEtag('inbox/person/persons.csv')).toBeUndefined();
    expect(synced.map((r) => [r.entity, r.action, r.key])).toEqual([['person', 'empty', null]]);
    expect(real.status).toBe('FAILED');
    expect(real.error).toMatchObject({
      name: 'InvalidEventError',
      message: expect.stringContaining('only a dry run may read it'),
    });
    expect(await local.items('person')).toEqual([]);
  });

  it('is marked a dry run in the ledger, `local runs`, `local status` and its RunFinished event', async () => {
    // Prepare
    const file = csv('marked.csv', [`m1,m1 one,${T1},false`]);

    // Act
    const dry = await runLocalFile(local.stack, file, CONFIG, { entity: 'person', stateDir, dryRun: true });
    const ledger = localLedger();
    const record = await ledger.getRun(dry.runId ?? '');
    const listed = formatRuns((await ledger.listRuns({ entity: 'person' })).map(runView));
    const status = formatRunStatus(runStatusView(record ?? never(), await ledger.listSteps(dry.runId ?? '')));
    const event = readEvents(stateDir).find(
      (e) => e['detail-type'] === 'RunFinished' && (e.detail as { runId?: string }).runId === dry.runId,
    );

    // Assess
    expect(record).toMatchObject({ status: 'SUCCEEDED', dryRun: true });
    const line = listed.split('\n').find((l) => l.startsWith(dry.runId ?? '-')) ?? '';
    expect(line).toMatch(/ SUCCEEDED \(DRY RUN\) /);
    expect(listed).toContain('(DRY RUN): a dry run (local diff) wrote nothing');
    expect(status).toContain(`run ${dry.runId} → person: SUCCEEDED (DRY RUN): nothing was written`);
    expect(status).toMatch(/ {4}would apply {2}1\n/);
    expect(event?.detail).toMatchObject({ runId: dry.runId, status: 'SUCCEEDED', dryRun: true });
  });

  it("a real run's RunFinished event says dryRun: false", async () => {
    // Prepare
    const file = csv('real.csv', [`r1,r1 one,${T1},false`]);

    // Act
    const run = await runLocalFile(local.stack, file, CONFIG, { entity: 'person', stateDir });
    const event = readEvents(stateDir).find(
      (e) => e['detail-type'] === 'RunFinished' && (e.detail as { runId?: string }).runId === run.runId,
    );

    // Assess
    expect(run.status).toBe('SUCCEEDED');
    expect(event?.detail).toMatchObject({ runId: run.runId, status: 'SUCCEEDED', dryRun: false });
  });
});

function never(): never {
  throw new Error('the dry run has no ledger record');
}
