import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../lambdas/domain/config';
import { LocalStack } from '../../local/local-stack';
import { syncLocal } from '../../local/sync';
import { PERSON_ENTITY, PERSON_HEADER, ROOT } from './support';

/**
 * Integration: a local upload is atomic. `crm-sync local run` is killed (SIGKILL) while s3rver
 * writes the file's object; the inbox then holds the whole file or nothing, and a later `local sync`
 * never loads a part of it.
 */
const CONFIG = { entities: { person: PERSON_ENTITY } };
const ROWS = 360_000;

/** The first object file of the local bucket that is being written: more than 0, fewer than `size` bytes. */
function partialObject(bucketDir: string, size: number): { key: string; bytes: number } | undefined {
  if (!existsSync(bucketDir)) return undefined;
  for (const name of readdirSync(bucketDir, { recursive: true, encoding: 'utf8' })) {
    if (!name.endsWith('._S3rver_object')) continue;
    let bytes: number;
    try {
      bytes = statSync(join(bucketDir, name)).size;
    } catch {
      continue; // moved meanwhile
    }
    if (bytes > 0 && bytes < size) return { key: name.replace(/\._S3rver_object$/, ''), bytes };
  }
  return undefined;
}

describe('a local upload killed half-way', () => {
  const dir = mkdtempSync(join(tmpdir(), 'crm-sync-upload-kill-'));
  const stateDir = join(dir, 'state');
  const configFile = join(dir, 'crm-sync.config.json');
  const file = join(dir, 'persons.csv');
  const bucketDir = join(stateDir, 's3', 'crm-sync-local');

  it('leaves no truncated inbox object: a later sync loads the whole file or nothing', async () => {
    // Prepare: a file of several upload parts, so that s3rver takes a while to write its object.
    writeFileSync(configFile, JSON.stringify(CONFIG));
    const rows = Array.from(
      { length: ROWS },
      (_, i) => `p${i},Person number ${i},2024-01-01T00:00:00Z,false`,
    );
    writeFileSync(file, `${PERSON_HEADER}\n${rows.join('\n')}\n`);
    const size = statSync(file).size;

    // Act: kill the CLI (and its dynalite) the moment an object of the file is part-written.
    const child = spawn(
      process.execPath,
      [
        join(ROOT, 'bin/crm-sync.js'),
        'local',
        'run',
        file,
        '--entity',
        'person',
        '--config',
        configFile,
        '--state-dir',
        stateDir,
      ],
      { cwd: ROOT, stdio: 'ignore', detached: true },
    );
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let caught: { key: string; bytes: number } | undefined;
    const deadline = Date.now() + 120_000;
    while (!caught && child.exitCode === null && Date.now() < deadline) {
      caught = partialObject(bucketDir, size);
      if (!caught) await new Promise((r) => setImmediate(r));
    }
    process.kill(-(child.pid ?? 0), 'SIGKILL');
    await exited;
    const stack = await LocalStack.start({ stateDir, config: parseConfig(CONFIG), configFile });
    let inbox: number | undefined;
    let synced: Awaited<ReturnType<typeof syncLocal>>;
    let staged: boolean;
    try {
      const head = await stack.objectEtag('inbox/person/persons.csv');
      inbox =
        head === undefined
          ? undefined
          : statSync(join(bucketDir, 'inbox/person/persons.csv._S3rver_object')).size;
      synced = await syncLocal(stack, parseConfig(CONFIG), { stateDir });
      // The next upload clears what the killed one left under staging/.
      writeFileSync(join(dir, 'small.csv'), `${PERSON_HEADER}\nq1,Q,2024-01-01T00:00:00Z,false\n`);
      await stack.upload(join(dir, 'small.csv'), 'person');
      staged = existsSync(join(bucketDir, 'staging'));
    } finally {
      await stack.stop();
    }

    // Assess
    expect(caught).toBeDefined();
    if (inbox !== undefined) expect(inbox).toBe(size);
    const run = synced[0]?.run;
    if (run) expect(run.counts?.rows).toBe(ROWS);
    else expect(synced[0]?.action).toBe('empty');
    expect(staged).toBe(false);
  }, 300_000);
});
