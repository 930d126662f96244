import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONTACTS, cli } from './support';

/** Progress lines as `local run` prints them on stderr: `[m:ss] …`. */
const progressLines = (stderr: string) =>
  stderr.split('\n').filter((l) => / → |^\[\d+:\d\d\] |^\S+: \d+\/\d+ done|^→ /.test(l));

describe('crm-sync local run: progress on stderr', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'crm-sync-progress-'));
  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

  it('starts every progress line with the elapsed time, shows the merge work, and --quiet silences it', async () => {
    // Act
    const run = await cli([
      'local',
      'run',
      CONTACTS,
      '--entity',
      'contact',
      '--json',
      '--state-dir',
      stateDir,
    ]);
    const quiet = await cli([
      'local',
      'run',
      CONTACTS,
      '--entity',
      'contact',
      '--json',
      '--rerun',
      '--quiet',
      '--state-dir',
      stateDir,
    ]);

    // Assess
    expect(run.code).toBe(0);
    const lines = progressLines(run.stderr);
    expect(lines.length).toBeGreaterThan(10);
    for (const line of lines) expect(line).toMatch(/^\[\d+:\d\d\] /);
    expect(lines).toContainEqual(expect.stringMatching(/^\[\d+:\d\d\] → MergePartitions$/));
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^\[\d+:\d\d\] MergePartitions: 1\/1 done; .*[\d,]+ items written.* in \d+:\d\d$/,
      ),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(/^\[\d+:\d\d\] TransformChunks: 4\/4 done in \d+:\d\d$/),
    );
    expect(quiet.code).toBe(0);
    expect(progressLines(quiet.stderr)).toEqual([]);
  });
});
