import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LocalRunResult } from '../../local/local-stack';
import type { RunView } from '../../local/runs';
import { cli, lastJson, PERSON_ENTITY, PERSON_HEADER, ROOT } from './support';

/**
 * A crash (SIGKILL) at each stage the progress shows, then the command a person types next: a plain
 * rerun or sync resumes the run, an export does not wait on the dead run's lock, a redrive finishes
 * it — each ends with the table of a clean run. Then two processes on one state dir, and Ctrl-C.
 * One state dir for all (one entity per case), so the definition is synthesized once.
 */
const ROWS = 1200;
const ENTITY = { ...PERSON_ENTITY, partitionRows: 200, source: { chunkBytes: 8000 } };
const CASES = ['clean', 'transform', 'merge', 'verify', 'plan', 'bad', 'busy'] as const;

/** Lines of stderr that are the CLI's own (not Node's deprecation or SDK support warnings). */
const own = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('crm-sync'));
const stackTrace = (stderr: string) => stderr.split('\n').filter((l) => /^\s+at /.test(l));

describe('crashes, a second process and Ctrl-C in local mode', () => {
  const base = mkdtempSync(join(tmpdir(), 'crm-sync-crash-'));
  const stateDir = join(base, 'state');
  const configFile = join(base, 'config.json');
  const file = join(base, 'people.csv');
  const badFile = join(base, 'bad.csv');
  const common = ['--config', configFile, '--state-dir', stateDir];
  let cleanRows: string[];
  const live: ChildProcess[] = [];

  /** The table's rows as `local export` prints them, sorted. */
  const rowsOf = async (entity: string) => {
    const out = await cli(['local', 'export', '--entity', entity, ...common]);
    expect(out.code).toBe(0);
    return out.stdout.trim().split('\n').sort();
  };

  /** Starts `local run` in its own process; resolves once its stderr shows `when`, with its end. */
  const runUntil = (entity: string, when: RegExp, extra: string[] = []) =>
    new Promise<{
      child: ChildProcess;
      ended: Promise<{ code: number | null; signal: string | null; stderr: string }>;
    }>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [join(ROOT, 'bin/crm-sync.js'), 'local', 'run', file, '--entity', entity, ...extra, ...common],
        { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      live.push(child);
      let stderr = '';
      let seen = false;
      const ended = new Promise<{ code: number | null; signal: string | null; stderr: string }>((done) =>
        child.once('exit', (code, signal) => done({ code, signal, stderr })),
      );
      child.stderr?.setEncoding('utf8').on('data', (s: string) => {
        stderr += s;
        if (!seen && when.test(stderr)) {
          seen = true;
          resolve({ child, ended });
        }
      });
      void ended.then((e) => {
        if (!seen) reject(new Error(`the run ended (${e.code}) before ${when}: ${e.stderr.slice(-2000)}`));
      });
    });

  /** SIGKILL once the progress shows `when`: the process ends as in a crash. */
  const crashAt = async (entity: string, when: RegExp) => {
    const { child, ended } = await runUntil(entity, when);
    child.kill('SIGKILL');
    expect((await ended).signal).toBe('SIGKILL');
  };

  const runs = async (): Promise<RunView[]> =>
    lastJson<RunView[]>((await cli(['local', 'runs', '--json', '--state-dir', stateDir])).stdout);

  beforeAll(async () => {
    writeFileSync(
      configFile,
      JSON.stringify({ entities: Object.fromEntries(CASES.map((c) => [c, ENTITY])) }),
    );
    const lines = Array.from(
      { length: ROWS },
      (_, i) => `p${String(i).padStart(5, '0')},Person ${i},2024-01-0${1 + (i % 9)}T00:00:00Z,false`,
    );
    writeFileSync(file, `${PERSON_HEADER}\n${lines.join('\n')}\n`);
    writeFileSync(badFile, 'Foo,Bar\n1,2\n');
    const clean = await cli(['local', 'run', file, '--entity', 'clean', '--json', ...common]);
    expect(lastJson<LocalRunResult>(clean.stdout)).toMatchObject({ status: 'SUCCEEDED', partitions: 6 });
    cleanRows = await rowsOf('clean');
  });

  afterAll(() => {
    for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(base, { recursive: true, force: true });
  });

  it('after a crash in TransformChunks, a plain rerun of the file says so, resumes the run and ends with the clean table', async () => {
    // Prepare
    await crashAt('transform', /TransformChunks: 1\//);

    // Act
    const rerun = await cli(['local', 'run', file, '--entity', 'transform', '--json', ...common]);

    // Assess
    expect(rerun.code).toBe(0);
    expect(rerun.stderr).toMatch(
      /run transform-\w+ of people\.csv did not finish \(process ended at TransformChunks\); resuming it/,
    );
    expect(lastJson<LocalRunResult>(rerun.stdout)).toMatchObject({
      status: 'SUCCEEDED',
      earlier: { outcome: 'resumed' },
      reconciliation: { status: 'MATCHED' },
    });
    expect(await rowsOf('transform')).toEqual(cleanRows);
  });

  it('after a crash in MergePartitions, `local export` does not wait on the dead run, and `local sync` resumes the run', async () => {
    // Prepare
    await crashAt('merge', /MergePartitions: 1\//);

    // Act
    const exported = await cli(['local', 'export', '--entity', 'merge', '--json', ...common]);
    const synced = await cli(['local', 'sync', '--entity', 'merge', '--json', ...common]);

    // Assess
    expect(exported.code).toBe(0);
    expect(synced.code).toBe(0);
    expect(synced.stderr).toContain('did not finish (process ended at MergePartitions); resuming it');
    expect(lastJson<Array<{ action: string; run: LocalRunResult }>>(synced.stdout)).toEqual([
      expect.objectContaining({ action: 'resumed', run: expect.objectContaining({ status: 'SUCCEEDED' }) }),
    ]);
    expect(await rowsOf('merge')).toEqual(cleanRows);
  });

  it('after a crash in VerifyPartitions, the run is listed RUNNING until `local redrive` resumes and ends it', async () => {
    // Prepare
    await crashAt('verify', /VerifyPartitions: 1\//);
    const [run] = (await runs()).filter((r) => r.entity === 'verify');

    // Act
    const redrive = await cli(['local', 'redrive', run?.runId ?? '', '--json', ...common]);

    // Assess
    expect(run?.status).toBe('RUNNING');
    expect(redrive.code).toBe(0);
    expect(lastJson<LocalRunResult>(redrive.stdout)).toMatchObject({ status: 'SUCCEEDED' });
    expect(await rowsOf('verify')).toEqual(cleanRows);
  });

  it('after a crash in PlanChunks of a run with no execution record, a rerun resumes it and the run keeps no error', async () => {
    // Prepare: as a state dir written before executions were recorded (ClaimRun resumes the run)
    await crashAt('plan', /→ PlanChunks/);
    rmSync(join(stateDir, 'executions'), { recursive: true, force: true });

    // Act
    const rerun = await cli(['local', 'run', file, '--entity', 'plan', '--json', ...common]);
    const [after] = (await runs()).filter((r) => r.entity === 'plan');

    // Assess
    expect(rerun.code).toBe(0);
    expect(rerun.stderr).toContain('did not finish (process ended); resuming it');
    expect(await rowsOf('plan')).toEqual(cleanRows);
    expect(after).toMatchObject({ status: 'SUCCEEDED' });
    expect(after?.error).toBeUndefined();
  });

  it('a run that failed for a reason of its own is reported FAILED with its redrive command, never re-run silently; a succeeded one says it already ran', async () => {
    // Prepare
    const failed = await cli(['local', 'run', badFile, '--entity', 'bad', '--json', ...common]);
    const runId = lastJson<LocalRunResult>(failed.stdout).runId ?? '';

    // Act
    const rerun = await cli(['local', 'run', badFile, '--entity', 'bad', ...common]);
    const synced = await cli(['local', 'sync', '--entity', 'bad', ...common]);
    const duplicate = await cli(['local', 'run', file, '--entity', 'clean', ...common]);

    // Assess
    expect(failed.code).toBe(1);
    expect(rerun.code).toBe(1);
    expect(rerun.stdout).toContain(': FAILED');
    expect(rerun.stdout).toContain(`crm-sync local redrive ${runId}`);
    expect(synced.code).toBe(1);
    expect(synced.stdout).not.toContain('up to date');
    expect(synced.stdout).toContain(`crm-sync local redrive ${runId}`);
    expect(duplicate.code).toBe(0);
    expect(duplicate.stdout).toContain('DUPLICATE_TRIGGER');
    expect(duplicate.stdout).toContain('already ran as run clean-');
    expect(duplicate.stdout).toContain('--rerun');
  });

  it('a refused redrive is headlined REFUSED, exits non-zero and leaves the run as it was', async () => {
    // Prepare
    const before = (await runs()).find((r) => r.entity === 'clean');

    // Act
    const refused = await cli(['local', 'redrive', before?.runId ?? '', ...common]);
    const after = (await runs()).find((r) => r.runId === before?.runId);

    // Assess
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain('REFUSED');
    expect(refused.stdout).not.toContain('FAILED');
    expect(after).toEqual(before);
  });

  it('a second process on a busy state dir exits at once with one line; Ctrl-C of the run records it and exits 130', async () => {
    // Prepare
    const { child, ended } = await runUntil('busy', /TransformChunks: 1\//);
    // Held still (alive, holding the state dir) while the other commands try it.
    child.kill('SIGSTOP');

    // Act
    const started = Date.now();
    const second = await Promise.all([
      cli(['local', 'export', '--entity', 'clean', ...common]),
      cli(['local', 'run', badFile, '--entity', 'busy', ...common]),
      cli(['local', 'sync', ...common]),
      cli(['local', 'runs', '--json', '--state-dir', stateDir]),
    ]);
    const waited = Date.now() - started;
    child.kill('SIGCONT');
    child.kill('SIGINT');
    const interrupted = await ended;
    const [run] = (await runs()).filter((r) => r.entity === 'busy');

    // Assess
    for (const r of second) {
      expect(r.code).toBe(1);
      expect(own(r.stderr)).toEqual([expect.stringContaining('is in use by another crm-sync process (pid')]);
      expect(stackTrace(r.stderr)).toEqual([]);
      expect(r.stdout).toBe('');
    }
    expect(waited).toBeLessThan(30_000);
    expect(interrupted.code).toBe(130);
    expect(own(interrupted.stderr)).toEqual([
      expect.stringMatching(
        /^crm-sync: interrupted \(SIGINT\): run busy-\w+ stopped at TransformChunks; resume it with crm-sync local redrive busy-\w+/,
      ),
    ]);
    expect(stackTrace(interrupted.stderr)).toEqual([]);
    expect(run).toMatchObject({ status: 'FAILED', error: { name: 'Interrupted' } });
    expect(existsSync(join(stateDir, 'lock'))).toBe(false);
    // The lock of the entity was freed: the next run resumes the interrupted one.
    const rerun = await cli(['local', 'run', file, '--entity', 'busy', ...common]);
    expect(rerun.code).toBe(0);
    expect(rerun.stderr).toContain('resuming it');
  });
});
