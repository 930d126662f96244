import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FailedRunSummary, RunSummary } from '../../lambdas/domain/report';
import type { LocalRunResult } from '../../local/local-stack';
import { CONTACTS, cli, lastJson } from './support';

/** `crm-sync report <runId>`: the summary of a local run and where its report.html is. */
describe('crm-sync report', () => {
  const base = mkdtempSync(join(tmpdir(), 'crm-sync-report-cli-'));
  const stateDir = join(base, 'state');
  let good: LocalRunResult;
  let bad: LocalRunResult;

  beforeAll(async () => {
    const badFile = join(base, 'no-header.csv');
    writeFileSync(badFile, 'Foo,Bar\r\n1,2\r\n');
    const common = ['--entity', 'contact', '--json', '--state-dir', stateDir];
    good = lastJson((await cli(['local', 'run', CONTACTS, ...common])).stdout);
    bad = lastJson((await cli(['local', 'run', badFile, ...common])).stdout);
  });

  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('prints the summary of a run and the path of its report.html (text and --json)', async () => {
    // Act
    const text = await cli(['report', good.runId ?? '', '--state-dir', stateDir]);
    const json = await cli(['report', good.runId ?? '', '--state-dir', stateDir, '--json']);

    // Assess
    const html = join(stateDir, 'reports', good.runId ?? '', 'report.html');
    expect(good.reports.html).toBe(html);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`run ${good.runId} → contact: SUCCEEDED, reconciliation MATCHED`);
    expect(text.stdout).toContain(
      'rows           3,000 = applied 2,765 + unchanged 18 + superseded 91 + deleted 0 + rejected 126',
    );
    expect(text.stdout).toContain(`report.html    ${html}`);
    expect(json.code).toBe(0);
    const out = lastJson<{ summary: RunSummary; html: string }>(json.stdout);
    expect(out.html).toBe(html);
    expect(out.summary).toEqual(JSON.parse(readFileSync(good.reports.summary ?? '', 'utf8')));
    expect(out.summary.counts).toEqual(good.counts);
  });

  it('has the report of a run that failed at Plan, and writes it again from the ledger when it is gone', async () => {
    // Prepare: `local run` wrote the failure report; remove it
    const dir = join(stateDir, 'reports', bad.runId ?? '');
    expect(bad).toMatchObject({
      status: 'FAILED',
      error: { name: 'HeaderMismatchError' },
      reports: { summary: join(dir, 'summary.json'), html: join(dir, 'report.html') },
    });
    const written = readFileSync(join(dir, 'summary.json'), 'utf8');
    rmSync(dir, { recursive: true });

    // Act
    const text = await cli(['report', bad.runId ?? '', '--state-dir', stateDir]);

    // Assess
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`run ${bad.runId} → contact: FAILED before reconciliation`);
    expect(text.stdout).toContain('error          HeaderMismatchError: ');
    expect(existsSync(join(dir, 'report.html'))).toBe(true);
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as FailedRunSummary;
    expect(summary).toEqual(JSON.parse(written));
    expect(summary).toMatchObject({ status: 'FAILED', counts: null, reconciliation: null, chunks: null });
  });

  it.each([
    ['an unknown run', 'contact-00000000000000000000', /^crm-sync: no run contact-0{20} in .+\n$/],
    ['a path', '../../etc', /^crm-sync: not a run id: \.\.\/\.\.\/etc\n$/],
  ])('refuses %s with one plain line, exit 1', async (_name, runId, message) => {
    // Act
    const out = await cli(['report', runId, '--state-dir', stateDir]);

    // Assess
    expect(out.code).toBe(1);
    expect(out.stdout).toBe('');
    expect(out.stderr).toMatch(message);
  });
});
