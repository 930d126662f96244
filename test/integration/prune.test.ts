import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { type CrmSyncConfig, parseConfig } from '../../lambdas/domain/config';
import { redriveLocalRun, runLocalFile } from '../../local/run';
import { takeLocalSnapshot } from '../../local/snapshot';
import { PERSON_ENTITY, PERSON_HEADER, useLocalStack } from './support';

/**
 * Integration: the local bucket does not grow without bound. A succeeded run's work objects (and a
 * dry run's file) are deleted once its reports are copied, a failed run keeps them for its redrive,
 * and only the newest `local.keepSnapshots` snapshots of an entity are kept.
 */
const ENTITY = { ...PERSON_ENTITY, partitionRows: 100, source: { chunkBytes: 1024 } };
const CONFIG: CrmSyncConfig = parseConfig({ local: { keepSnapshots: 2 }, entities: { person: ENTITY } });
const T1 = '2024-01-01T00:00:00Z';

describe('pruning the local bucket', () => {
  /** The state the seam fails once (a permanent error: no retry), or none. */
  let failOnce: string | undefined;
  const local = useLocalStack('prune', CONFIG, {
    retryIntervalMs: 1,
    beforeTask: (state) => {
      if (state !== failOnce) return;
      failOnce = undefined;
      throw Object.assign(new Error('the seam failed this step'), { name: 'ConfigError' });
    },
  });
  const stateDir = local.stateDir;
  const csv = (name: string, n: number): string =>
    local.write(
      name,
      `${PERSON_HEADER}\n${Array.from({ length: n }, (_, i) => `${name}-${i},Person ${i},${T1},false`).join('\n')}\n`,
    );
  const keys = async (prefix: string): Promise<string[]> => {
    const out = await local.stack.s3Client.send(
      new ListObjectsV2Command({ Bucket: local.stack.bucket, Prefix: prefix }),
    );
    return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
  };

  it('deletes the work objects of a run that succeeded, and keeps its reports', async () => {
    // Prepare
    const file = csv('ok.csv', 300);

    // Act
    const run = await runLocalFile(local.stack, file, CONFIG, { entity: 'person', stateDir });

    // Assess
    expect(run).toMatchObject({ status: 'SUCCEEDED', chunks: expect.any(Number) });
    expect(run.chunks).toBeGreaterThan(1);
    expect(await keys('work/')).toEqual([]);
    expect(await keys(`reports/${run.runId}/`)).toContain(`reports/${run.runId}/summary.json`);
    expect(existsSync(join(stateDir, 'reports', run.runId ?? '-', 'report.html'))).toBe(true);
  });

  it('keeps the work objects of a failed run for its redrive, and deletes them once the redrive succeeds', async () => {
    // Prepare
    const file = csv('fails.csv', 300);
    failOnce = 'Reconcile';

    // Act
    const failed = await runLocalFile(local.stack, file, CONFIG, { entity: 'person', stateDir });
    const kept = await keys(`work/${failed.runId}/`);
    const redriven = await redriveLocalRun(local.stack, failed.runId ?? '', CONFIG, { stateDir });

    // Assess
    expect(failed.status).toBe('FAILED');
    expect(kept).toContain(`work/${failed.runId}/chunks.json`);
    expect(redriven).toMatchObject({ status: 'SUCCEEDED', counts: { rows: 300, applied: 300 } });
    expect(await keys('work/')).toEqual([]);
  });

  it("deletes a dry run's file and work objects once it succeeded", async () => {
    // Prepare
    const file = csv('dry.csv', 50);

    // Act
    const dry = await runLocalFile(local.stack, file, CONFIG, { entity: 'person', stateDir, dryRun: true });

    // Assess
    expect(dry).toMatchObject({ status: 'SUCCEEDED', dryRun: true });
    expect(await keys('dry-run/')).toEqual([]);
    expect(await keys('work/')).toEqual([]);
    expect(await keys(`reports/${dry.runId}/`)).toContain(`reports/${dry.runId}/diff.csv`);
  });

  it('keeps the newest local.keepSnapshots snapshots of an entity', async () => {
    // Prepare
    const ids = ['snap-1', 'snap-2', 'snap-3'];

    // Act
    const taken = [];
    for (const snapshotId of ids)
      taken.push(await takeLocalSnapshot(local.stack, CONFIG, { entity: 'person', snapshotId }));
    const manifests = (await keys('snapshots/person/')).filter((k) => k.endsWith('/manifest.json'));

    // Assess
    expect(taken.map((t) => [t.result.status, t.result.pruned])).toEqual([
      ['SUCCEEDED', undefined],
      ['SUCCEEDED', undefined],
      ['SUCCEEDED', ['snap-1']],
    ]);
    expect(manifests).toEqual([
      'snapshots/person/snap-2/manifest.json',
      'snapshots/person/snap-3/manifest.json',
    ]);
    expect(await keys('work/snapshots/person/snap-1/')).toEqual([]);
  });
});
