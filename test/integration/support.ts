import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { CrmSyncConfig } from '../../lambdas/domain/config';
import { LocalStack, type LocalStackOptions } from '../../local/local-stack';

export interface LocalStackFixture {
  /** The running stack (after beforeAll). */
  readonly stack: LocalStack;
  readonly stateDir: string;
  /** A temp folder for the test's input files. */
  readonly dataDir: string;
  /** Writes a file into dataDir; returns its path. */
  write(name: string, content: string | Buffer): string;
  /** Every item of an entity's table, sorted by `key`, without the attributes named in `omit`. */
  items(
    entity: string,
    options?: { key?: string; omit?: readonly string[] },
  ): Promise<Record<string, unknown>[]>;
}

/**
 * Starts the embedded stack for one test file on its own temp state dir, with `config` written to a
 * file as the workers read it, and stops it after the file's tests (beforeAll / afterAll).
 */
export function useLocalStack(
  name: string,
  config: CrmSyncConfig,
  options: Pick<LocalStackOptions, 'retryIntervalMs' | 'beforeTask' | 'iam'> = {},
): LocalStackFixture {
  const stateDir = mkdtempSync(join(tmpdir(), `crm-sync-${name}-`));
  const dataDir = mkdtempSync(join(tmpdir(), `crm-sync-${name}-data-`));
  const configFile = join(dataDir, 'crm-sync.config.json');
  let stack: LocalStack | undefined;

  beforeAll(async () => {
    writeFileSync(configFile, JSON.stringify(config));
    stack = await LocalStack.start({ stateDir, config, configFile, ...options });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  return {
    get stack(): LocalStack {
      if (!stack) throw new Error('the local stack is not started (use it inside a test)');
      return stack;
    },
    stateDir,
    dataDir,
    write(file, content) {
      const path = join(dataDir, file);
      writeFileSync(path, content);
      return path;
    },
    async items(entity, { key = 'id', omit = [] } = {}) {
      // Required here: the adapters' SDK clients read the local endpoints set by LocalStack.start.
      const { scanTable } =
        require('../../lambdas/adapters/dynamodb') as typeof import('../../lambdas/adapters/dynamodb');
      const out: Record<string, unknown>[] = [];
      for await (const page of scanTable(this.stack.tableOf(entity))) {
        for (const item of page) {
          const kept = { ...item } as Record<string, unknown>;
          for (const name of omit) delete kept[name];
          out.push(kept);
        }
      }
      return out.sort((a, b) => String(a[key]).localeCompare(String(b[key])));
    },
  };
}

/**
 * The small entity the write-semantics tests use: a key, a required name, a datetime that orders
 * versions, and a delete flag. Files for it start with PERSON_HEADER.
 */
export const PERSON_ENTITY = {
  target: { key: 'id' },
  fields: {
    id: { source: 'Id', required: true },
    name: { source: 'Name', required: true },
    updatedAt: { source: 'Modified', type: 'datetime', required: true },
  },
  updatedAt: 'updatedAt',
  deleteFlag: { source: 'IsDeleted' },
} as const;
export const PERSON_HEADER = 'Id,Name,Modified,IsDeleted';

/** An entity of four free-text fields (A–D): rows whose cells add up past DynamoDB's item limit. */
export const NOTE_ENTITY = {
  target: { key: 'id' },
  fields: {
    id: { source: 'Id', required: true },
    a: { source: 'A' },
    b: { source: 'B' },
    c: { source: 'C' },
    d: { source: 'D' },
    updatedAt: { source: 'Modified', type: 'datetime', required: true },
  },
  updatedAt: 'updatedAt',
} as const;

export const ROOT = resolve(__dirname, '../..');
export const CONTACTS = join(ROOT, 'examples/data/contacts.csv');
const CLI = join(ROOT, 'bin/crm-sync.js');
const execFileAsync = promisify(execFile);

/** Runs the CLI in its own process, as a user would; never throws (the exit code is returned). */
export async function cli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const out = await execFileAsync(process.execPath, [CLI, ...args], {
      cwd: ROOT,
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, ...env },
    });
    return { ...out, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

/** The JSON document on the last line of a command's stdout (`--json`). */
export const lastJson = <T>(stdout: string): T => JSON.parse(stdout.trim().split('\n').pop() ?? '') as T;
