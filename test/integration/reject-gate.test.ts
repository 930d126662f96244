import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { describeRun } from '../../cli/format';
import { type CrmSyncConfig, parseConfig } from '../../lambdas/domain/config';
import { readEvents } from '../../local/events';
import type { LocalRunResult } from '../../local/local-stack';
import { runLocalFile } from '../../local/run';
import { cli, lastJson, PERSON_ENTITY, PERSON_HEADER, useLocalStack } from './support';

/**
 * Integration: the reject gate on the local stack. A file whose rows are all, or more than
 * maxRejectRatio, rejected fails at CheckRejects before anything is written (the table stays as it
 * was), with its report; a forced run loads the valid rows; a file with a few dirty rows passes;
 * a header-only file fails unless the entity allows empty exports.
 */
const CONFIG: CrmSyncConfig = parseConfig({
  entities: {
    person: { ...PERSON_ENTITY, maxRejectRatio: 0.2 },
    delta: { ...PERSON_ENTITY, allowEmptyExport: true },
  },
});
const T1 = '2024-01-01T00:00:00Z';
const key = (i: number) => `k${String(i).padStart(2, '0')}`;
/** `n` rows of which those in `bad` have no name (a required field): rejected. */
const rows = (n: number, bad: ReadonlySet<number>, from = 1) =>
  Array.from({ length: n }, (_, i) => {
    const k = key(from + i);
    return bad.has(from + i) ? `${k},,${T1},false` : `${k},${k} v1,${T1},false`;
  });
const range = (from: number, to: number) =>
  new Set(Array.from({ length: to - from + 1 }, (_, i) => from + i));

describe('the reject gate on the local stack', () => {
  const local = useLocalStack('reject-gate', CONFIG);
  const csv = (name: string, lines: string[]): string =>
    local.write(name, `${PERSON_HEADER}\n${lines.map((l) => `${l}\n`).join('')}`);
  const run = (
    file: string,
    options: { force?: boolean; dryRun?: boolean; entity?: string } = {},
  ): Promise<LocalRunResult> =>
    runLocalFile(local.stack, file, CONFIG, { entity: 'person', stateDir: local.stateDir, ...options });
  const report = async (key: string): Promise<string> => {
    const out = await local.stack.s3Client.send(
      new GetObjectCommand({ Bucket: local.stack.bucket, Key: key }),
    );
    return (await out.Body?.transformToString('utf8')) ?? '';
  };

  it('fails a file whose every row is rejected at CheckRejects: FAILED, nothing written, its report names reasons and lines', async () => {
    // Prepare: 22 rows, none with a name
    const file = csv('all-bad.csv', rows(22, range(1, 22)));

    // Act
    const result = await run(file);
    const items = await local.items('person');

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error?.name).toBe('RejectLimitError');
    expect(result.error?.message).toMatch(/^22 of 22 rows rejected \(100%\), every row: nothing was written/);
    expect(result.error?.message).toMatch(/top reasons: \w+ ×22 \(lines 2, 3, 4\)/);
    expect(result.error?.message).toContain('--force');
    expect(items).toEqual([]);
    expect(result.rejects).toMatchObject({ rows: 22, rejected: 22, allowed: false, maxRejectRatio: 0.2 });
    const summary = JSON.parse(await report(`reports/${result.runId}/summary.json`)) as Record<
      string,
      unknown
    >;
    expect(summary).toMatchObject({
      status: 'FAILED',
      counts: null,
      error: { name: 'RejectLimitError' },
      rejects: { rows: 22, rejected: 22, ratio: 1, error: 'RejectLimitError' },
      reports: { rejects: `reports/${result.runId}/rejects.csv` },
    });
    const html = await report(`reports/${result.runId}/report.html`);
    expect(html).toContain('Reject gate: 22 of 22 rows rejected');
    expect(html).toContain('--force');
    // rejects.csv (every rejected line) is copied beside the local reports
    expect(
      readFileSync(result.reports.rejects ?? '', 'utf8')
        .split('\r\n')
        .filter(Boolean),
    ).toHaveLength(23);
    expect(describeRun(result, 'all-bad.csv')).toContain(
      'reject gate    22 of 22 rows rejected (100%, limit 20%)',
    );
    expect(readEvents(local.stateDir).map((e) => e.detail)).toContainEqual(
      expect.objectContaining({ runId: result.runId, status: 'FAILED', error: 'RejectLimitError' }),
    );
  });

  it('fails a file over maxRejectRatio without writing, and the same file forced loads its valid rows (a new run id)', async () => {
    // Prepare: 10 rows, 3 rejected (30 %, limit 20 %)
    const file = csv('dirty.csv', rows(10, new Set([2, 5, 9])));

    // Act
    const refused = await run(file);
    const afterRefusal = await local.items('person');
    const forced = await run(file, { force: true });

    // Assess
    expect(refused.status).toBe('FAILED');
    expect(refused.error?.name).toBe('RejectLimitError');
    expect(refused.error?.message).toMatch(
      /^3 of 10 rows rejected \(30%\), above maxRejectRatio 20%: nothing was written; top reasons: \w+ ×3 \(lines 3, 6, 10\)/,
    );
    expect(afterRefusal).toEqual([]);
    // The lock was released: the forced run claimed the entity and ran
    expect(forced.error).toBeUndefined();
    expect(forced.status).toBe('SUCCEEDED');
    expect(forced.runId).not.toBe(refused.runId);
    expect(forced.counts).toMatchObject({ rows: 10, applied: 7, rejected: 3 });
    expect(forced.reconciliation?.status).toBe('MATCHED');
    expect(forced.reconciliation?.checks).toContainEqual({
      name: 'reject-gate',
      ok: true,
      detail: '3 of 10 rows rejected (30%, limit 20%), forced: the valid rows were loaded',
    });
    expect(forced.rejects).toMatchObject({ forced: true, allowed: true });
    expect((await local.items('person')).map((i) => i.id)).toEqual([1, 3, 4, 6, 7, 8, 10].map(key));
  });

  it('loads a file with a few dirty rows under the limit (like the demo’s 4.2 %)', async () => {
    // Prepare: 50 new rows, 2 rejected (4 %)
    const file = csv('mostly-clean.csv', rows(50, new Set([20, 40]), 11));

    // Act
    const result = await run(file);

    // Assess
    expect(result.error).toBeUndefined();
    expect(result.status).toBe('SUCCEEDED');
    expect(result.counts).toMatchObject({ rows: 50, applied: 48, rejected: 2 });
    expect(result.reconciliation?.checks.map((c) => c.name)).not.toContain('reject-gate');
    expect(result.rejects).toBeUndefined();
    expect(await local.items('person')).toHaveLength(7 + 48);
  });

  it('never refuses a dry run: it says a run would be refused, and writes nothing', async () => {
    // Prepare
    const before = await local.items('person');
    const file = csv('dry-all-bad.csv', rows(5, range(70, 74), 70));

    // Act
    const dry = await run(file, { dryRun: true });

    // Assess
    expect(dry.status).toBe('SUCCEEDED');
    expect(dry.rejects).toMatchObject({ allowed: false, error: 'RejectLimitError', rows: 5, rejected: 5 });
    expect(dry.reconciliation?.checks).toContainEqual(
      expect.objectContaining({
        name: 'reject-gate',
        ok: true,
        detail: expect.stringContaining('a run would be refused'),
      }),
    );
    expect(await local.items('person')).toEqual(before);
  });

  it('fails a header-only file (EmptyExportError) unless the entity allows empty exports', async () => {
    // Prepare
    const file = local.write('header-only.csv', `${PERSON_HEADER}\n`);

    // Act
    const refused = await run(file);
    const delta = await run(file, { entity: 'delta' });

    // Assess
    expect(refused.status).toBe('FAILED');
    expect(refused.error?.name).toBe('EmptyExportError');
    expect(refused.error?.message).toContain('allowEmptyExport');
    expect(delta.error).toBeUndefined();
    expect(delta.status).toBe('SUCCEEDED');
    expect(delta.counts).toMatchObject({ rows: 0, applied: 0, rejected: 0 });
    expect(await local.items('delta')).toEqual([]);
  });

  it('crm-sync local run exits 1 on a refused file and 0 with --force (processes of their own)', async () => {
    // Prepare: a state dir of its own (the CLI starts its own stack)
    const stateDir = mkdtempSync(join(tmpdir(), 'crm-sync-reject-gate-cli-'));
    const file = csv('cli-bad.csv', rows(4, new Set([1, 2, 3])));
    const args = ['local', 'run', file, '--entity', 'person', '--json', '--state-dir', stateDir];
    const config = ['--config', join(local.dataDir, 'crm-sync.config.json')];

    // Act
    const refused = await cli([...args, ...config]);
    const forced = await cli([...args, ...config, '--force']);

    // Assess
    expect(refused.code).toBe(1);
    expect(lastJson<LocalRunResult>(refused.stdout)).toMatchObject({
      status: 'FAILED',
      error: { name: 'RejectLimitError' },
    });
    expect(forced.code).toBe(0);
    expect(lastJson<LocalRunResult>(forced.stdout)).toMatchObject({
      status: 'SUCCEEDED',
      counts: { rows: 4, applied: 1, rejected: 3 },
    });
  });
});
