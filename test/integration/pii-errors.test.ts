import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, lastJson } from './support';

/**
 * A file that fails at Plan leaves none of its cells in any output: a headerless CSV (its first line
 * a person's name, email, phone and address) run through the CLI on the local stack; its stdout and
 * stderr, `local runs`, `report --json`, the run's reports (summary.json, report.html) and the events
 * file are scanned for each planted value.
 */
const PLANTED = [
  'Jane Doe',
  'jane.doe@example.com',
  '415 555 0199',
  'Mulberry Lane',
  'John Roe',
  'Elm Street',
];

/** Every file under `dir` (or `dir` itself when it is a file), as text. */
function filesUnder(dir: string): Array<{ path: string; text: string }> {
  if (!existsSync(dir)) return [];
  if (!statSync(dir).isDirectory()) return [{ path: dir, text: readFileSync(dir, 'utf8') }];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [{ path, text: readFileSync(path, 'utf8') }];
  });
}

describe('Plan errors carry no cell values', () => {
  const base = mkdtempSync(join(tmpdir(), 'crm-sync-pii-'));
  const stateDir = join(base, 'state');
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('a headerless CSV fails with HeaderMismatchError and no output holds its first row', async () => {
    // Prepare
    const file = join(base, 'contacts.csv');
    copyFileSync(join(__dirname, '..', 'fixtures', 'fuzz', 'headerless-pii.csv'), file);
    const common = ['--state-dir', stateDir];

    // Act
    const run = await cli(['local', 'run', file, '--entity', 'contact', '--json', ...common]);
    const result = lastJson<{ runId: string; status: string; error?: { name: string } }>(run.stdout);
    const runs = await cli(['local', 'runs', '--json', ...common]);
    const report = await cli(['report', result.runId, '--json', ...common]);
    const outputs = [
      { path: 'local run stdout', text: run.stdout },
      { path: 'local run stderr', text: run.stderr },
      { path: 'local runs', text: runs.stdout + runs.stderr },
      { path: 'report', text: report.stdout + report.stderr },
      ...filesUnder(join(stateDir, 'reports')),
      ...filesUnder(join(stateDir, 'events.jsonl')),
    ];

    // Assess
    expect({ status: result.status, error: result.error?.name }).toEqual({
      status: 'FAILED',
      error: 'HeaderMismatchError',
    });
    expect(outputs.map((o) => o.path)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/summary\.json$/),
        expect.stringMatching(/report\.html$/),
      ]),
    );
    expect(run.stdout + run.stderr).toContain('none of which is a mapped column');
    const leaks = outputs.flatMap((o) =>
      PLANTED.filter((p) => o.text.includes(p)).map((p) => `${o.path}: ${p}`),
    );
    expect(leaks).toEqual([]);
  });
});
