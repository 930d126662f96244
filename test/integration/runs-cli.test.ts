import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Counts } from '../../lambdas/domain/run';
import type { LocalRunResult } from '../../local/local-stack';
import type { RunStatusView, RunView } from '../../local/runs';
import { CONTACTS, cli, lastJson, ROOT } from './support';

const sum = <T>(items: T[], f: (t: T) => number | undefined) => items.reduce((n, t) => n + (f(t) ?? 0), 0);

/**
 * `local runs` and `local status` read, in their own processes, the ledger that `local run` wrote
 * to the state dir. The commands run one after the other: one process at a time opens a state dir.
 */
describe('crm-sync local runs / local status', () => {
  const base = mkdtempSync(join(tmpdir(), 'crm-sync-runs-'));
  const stateDir = join(base, 'state');
  const configFile = join(base, 'config.json');
  let good: LocalRunResult;
  let bad: LocalRunResult;

  beforeAll(async () => {
    // A few chunks and partitions, so the status has several of each to list.
    const config = JSON.parse(readFileSync(join(ROOT, 'examples/crm-sync.config.json'), 'utf8'));
    config.entities.contact.source = { chunkBytes: 200_000 };
    config.entities.contact.partitionRows = 1000;
    writeFileSync(configFile, JSON.stringify(config));
    const badFile = join(base, 'no-header.csv');
    writeFileSync(badFile, 'Foo,Bar\r\n1,2\r\n');
    const common = ['--entity', 'contact', '--json', '--config', configFile, '--state-dir', stateDir];
    const goodRun = await cli(['local', 'run', CONTACTS, ...common]);
    const badRun = await cli(['local', 'run', badFile, ...common]);
    good = lastJson(goodRun.stdout);
    bad = lastJson(badRun.stdout);
    expect(good).toMatchObject({ status: 'SUCCEEDED', reconciliation: { status: 'MATCHED' } });
    expect(good.chunks).toBeGreaterThan(1);
    expect(good.partitions).toBeGreaterThan(1);
    expect(bad).toMatchObject({ status: 'FAILED', error: { name: 'HeaderMismatchError' } });
  });

  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('lists every run newest first, with the counts of its summary and the error of a failed run', async () => {
    // Act
    const out = await cli(['local', 'runs', '--json', '--state-dir', stateDir]);
    const table = await cli(['local', 'runs', '--state-dir', stateDir]);

    // Assess
    expect(out.code).toBe(0);
    const runs = lastJson<RunView[]>(out.stdout);
    expect(runs.map((r) => [r.runId, r.status])).toEqual([
      [bad.runId, 'FAILED'],
      [good.runId, 'SUCCEEDED'],
    ]);
    const [failed, succeeded] = runs;
    expect(succeeded).toMatchObject({
      entity: 'contact',
      counts: good.counts,
      chunks: good.chunks,
      source: { key: 'inbox/contact/contacts.csv' },
    });
    expect(succeeded?.durationMs).toBeGreaterThanOrEqual(0);
    expect(succeeded?.error).toBeUndefined();
    expect(failed).toMatchObject({ counts: null, error: bad.error });
    expect(Date.parse(failed?.finishedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(failed?.startedAt ?? ''));
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^RUN ID\s+ENTITY\s+STATUS\s+STARTED\s+DURATION\s+ROWS\s+APPLIED/);
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 3))).toEqual([
      [bad.runId, 'contact', 'FAILED'],
      [good.runId, 'contact', 'SUCCEEDED'],
    ]);
  });

  it('shows a run with one entry per chunk and per partition, adding up to its counts', async () => {
    // Act
    const out = await cli(['local', 'status', good.runId ?? '', '--json', '--state-dir', stateDir]);

    // Assess
    expect(out.code).toBe(0);
    const view = lastJson<RunStatusView>(out.stdout);
    const counts = good.counts as Counts;
    expect(view).toMatchObject({
      runId: good.runId,
      status: 'SUCCEEDED',
      counts,
      chunks: good.chunks,
      partitions: good.partitions,
      duplicateKeys: good.duplicateKeys,
    });
    const { chunks, partitions } = view.steps;
    expect(chunks.map((c) => [c.index, c.status])).toEqual(
      Array.from({ length: good.chunks }, (_, i) => [i, 'SUCCEEDED']),
    );
    expect(sum(chunks, (c) => c.rows)).toBe(counts.rows);
    expect(sum(chunks, (c) => c.rejected)).toBe(counts.rejected);
    expect(partitions.map((p) => [p.partition, p.status])).toEqual(
      Array.from({ length: good.partitions }, (_, i) => [i, 'SUCCEEDED']),
    );
    expect(sum(partitions, (p) => p.applied)).toBe(counts.applied);
    expect(sum(partitions, (p) => p.deleted)).toBe(counts.deleted);
    expect(sum(chunks, (c) => c.superseded) + sum(partitions, (p) => p.superseded)).toBe(counts.superseded);
  });

  it('shows a failed run with its error and no chunks', async () => {
    // Act
    const out = await cli(['local', 'status', bad.runId ?? '', '--json', '--state-dir', stateDir]);

    // Assess
    expect(out.code).toBe(0);
    expect(lastJson<RunStatusView>(out.stdout)).toMatchObject({
      runId: bad.runId,
      status: 'FAILED',
      error: bad.error,
      chunks: null,
      steps: { chunks: [], partitions: [] },
    });
  });

  it('prints a plain error and exits non-zero for an unknown run id', async () => {
    // Act
    const out = await cli(['local', 'status', 'contact-00000000000000000000', '--state-dir', stateDir]);

    // Assess
    expect(out.code).toBe(1);
    expect(out.stdout).toBe('');
    expect(out.stderr).toBe(
      `crm-sync: no run contact-00000000000000000000 in ${stateDir} (see crm-sync local runs)\n`,
    );
  });
});
