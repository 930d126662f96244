import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Counts } from '../../lambdas/domain/run';
import { CONTACTS, cli, ROOT } from './support';

const lastJson = (stdout: string) =>
  JSON.parse(stdout.trim().split('\n').pop() ?? '') as Record<string, unknown>;
const sortedLines = (stdout: string) => stdout.trim().split('\n').sort();

/** The CLI as a user runs it: separate processes sharing only the state dir on disk. */
describe('crm-sync CLI, local mode', () => {
  const base = mkdtempSync(join(tmpdir(), 'crm-sync-cli-'));

  it('prints a JSON summary whose counts add up, and `local export` in another process shows the rows', async () => {
    // Prepare
    const stateDir = join(base, 'default');

    // Act
    const result = await cli([
      'local',
      'run',
      CONTACTS,
      '--entity',
      'contact',
      '--json',
      '--state-dir',
      stateDir,
    ]);
    const exported = await cli(['local', 'export', '--entity', 'contact', '--state-dir', stateDir]);

    // Assess
    expect(result.code).toBe(0);
    const summary = lastJson(result.stdout);
    expect(summary).toMatchObject({
      entity: 'contact',
      status: 'SUCCEEDED',
      reconciliation: { status: 'MATCHED' },
    });
    const c = summary.counts as Counts;
    expect(c.rows).toBe(c.applied + c.unchanged + c.superseded + c.deleted + c.rejected);
    expect(result.stderr).toContain('TransformChunks');
    // The run metrics are for CloudWatch: locally no EMF record reaches the output.
    expect(`${result.stdout}${result.stderr}`).not.toContain('CloudWatchMetrics');
    const rows = sortedLines(exported.stdout);
    expect(rows).toHaveLength(c.applied);
    expect(JSON.parse(rows[0] ?? '{}')).not.toHaveProperty('_digest');
  });

  it('top-level run, diff, runs, status, events and report without --stack are the local commands', async () => {
    // Prepare
    const accounts = join(ROOT, 'examples/data/accounts.csv');
    const essence = (stdout: string) => {
      // A dry run's id includes its execution's: it differs from one dry run to the next.
      const { durationMs, reports, runId, ...rest } = lastJson(stdout);
      return {
        ...rest,
        runId: rest.dryRun ? 'dry run' : runId,
        reports: Object.keys(reports as object).sort(),
      };
    };
    const twice = async (args: string[]) => {
      const viaLocal = await cli(['local', ...args, '--state-dir', join(base, `local-${args[0]}`)]);
      const topLevel = await cli([...args, '--state-dir', join(base, `top-${args[0]}`)]);
      return { viaLocal, topLevel };
    };

    // Act
    const run = await twice(['run', accounts, '--entity', 'account', '--json']);
    const diff = await twice(['diff', accounts, '--entity', 'account', '--json']);

    // Assess
    for (const { viaLocal, topLevel } of [run, diff]) {
      expect([viaLocal.code, topLevel.code]).toEqual([0, 0]);
      expect(essence(topLevel.stdout)).toEqual(essence(viaLocal.stdout));
    }
    expect(essence(run.topLevel.stdout)).toMatchObject({ status: 'SUCCEEDED', counts: { applied: 150 } });
    expect(essence(diff.topLevel.stdout)).toMatchObject({ status: 'SUCCEEDED', dryRun: true });

    // The read commands: top-level without --stack print what the local forms print.
    const runId = String(lastJson(run.topLevel.stdout).runId);
    const stateDir = join(base, 'top-run');
    for (const [top, viaLocal] of [
      [['runs'], ['local', 'runs']],
      [
        ['status', runId],
        ['local', 'status', runId],
      ],
      [
        ['events', '--json'],
        ['local', 'events', '--json'],
      ],
    ]) {
      // One after the other: a state dir is open in one process at a time.
      const a = await cli([...(top ?? []), '--state-dir', stateDir]);
      const b = await cli([...(viaLocal ?? []), '--state-dir', stateDir]);
      expect([a.code, a.stdout]).toEqual([0, b.stdout]);
    }
    const report = await cli(['report', runId, '--state-dir', stateDir]);
    expect(report.code).toBe(0);
    expect(report.stdout).toContain(`run ${runId} → account: SUCCEEDED`);
  });

  it('gives the same table whatever the chunk size and partition count', async () => {
    // Prepare
    const config = JSON.parse(readFileSync(join(ROOT, 'examples/crm-sync.config.json'), 'utf8'));
    config.entities.contact.source = { chunkBytes: 4096 };
    config.entities.contact.partitionRows = 300;
    const configFile = join(base, 'small-chunks.json');
    writeFileSync(configFile, JSON.stringify(config));
    const stateDir = join(base, 'small');

    // Act
    const result = await cli([
      'local',
      'run',
      CONTACTS,
      '--entity',
      'contact',
      '--json',
      '--config',
      configFile,
      '--state-dir',
      stateDir,
    ]);
    const small = await cli([
      'local',
      'export',
      '--entity',
      'contact',
      '--config',
      configFile,
      '--state-dir',
      stateDir,
    ]);
    const reference = await cli([
      'local',
      'export',
      '--entity',
      'contact',
      '--state-dir',
      join(base, 'default'),
    ]);

    // Assess
    const summary = lastJson(result.stdout);
    expect(summary.chunks as number).toBeGreaterThan(100);
    expect(summary.partitions as number).toBeGreaterThan(5);
    expect(summary.reconciliation).toMatchObject({ status: 'MATCHED' });
    expect(sortedLines(small.stdout)).toEqual(sortedLines(reference.stdout));
  });

  it('prints a plain error and exits non-zero for a missing file or an unknown entity', async () => {
    // Act
    const missing = await cli([
      'local',
      'run',
      join(base, 'nope.csv'),
      '--entity',
      'contact',
      '--state-dir',
      base,
    ]);
    const unknown = await cli(['local', 'run', CONTACTS, '--entity', 'lead', '--state-dir', base]);

    // Assess
    expect(missing.code).not.toBe(0);
    expect(missing.stderr.trim()).toBe(`crm-sync: file not found: ${join(base, 'nope.csv')}`);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('entity "lead" is not configured');
    expect(unknown.stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses a heap growing setting that is not a whole number, before doing anything', async () => {
    // Act
    const bad = await cli(['config', 'validate', 'examples/crm-sync.config.json'], {
      CRM_SYNC_HEAP_GROWING_PERCENT: '1.5x',
    });
    const off = await cli(['config', 'validate', 'examples/crm-sync.config.json'], {
      CRM_SYNC_HEAP_GROWING_PERCENT: '0',
    });
    const empty = await cli(['config', 'validate', 'examples/crm-sync.config.json'], {
      CRM_SYNC_HEAP_GROWING_PERCENT: '',
    });

    // Assess
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe(
      'crm-sync: CRM_SYNC_HEAP_GROWING_PERCENT must be a whole number, got "1.5x"',
    );
    expect(bad.stdout).toBe('');
    expect(off.code).toBe(0);
    expect(empty.code).toBe(0);
  });

  it('validates config files and lists every problem by path', async () => {
    // Prepare
    const bad = join(base, 'bad.yaml');
    writeFileSync(
      bad,
      'entities:\n  contact:\n    target: { key: id }\n    fields:\n      id: { source: Id, required: true }\n      email: { source: Email, type: mail }\n    writeMode: sometimes\n',
    );

    // Act
    const good = await cli(['config', 'validate', join(ROOT, 'examples/crm-sync.config.json')]);
    const result = await cli(['config', 'validate', bad]);

    // Assess
    expect(good.code).toBe(0);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('entities.contact.fields.email.type: unknown type "mail"');
    expect(result.stderr).toContain('entities.contact.writeMode');
  });

  it('refuses a config path that is a folder with one plain line', async () => {
    // Prepare
    const folder = join(base, 'config-folder');
    mkdirSync(folder, { recursive: true });

    // Act
    const validate = await cli(['config', 'validate', folder]);
    const run = await cli([
      'local',
      'run',
      CONTACTS,
      '--entity',
      'contact',
      '--config',
      folder,
      '--state-dir',
      join(base, 'unused-state'),
    ]);

    // Assess
    for (const r of [validate, run]) {
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim()).toBe(
        `crm-sync: ${folder} is a directory, not a config file (give the path of crm-sync.config.json)`,
      );
      expect(r.stderr).not.toContain('EISDIR');
    }
  });
});
