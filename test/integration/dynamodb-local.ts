import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';

/**
 * Amazon's DynamoDB Local (the DynamoDBLocal.jar the npm package amplify-dynamodb-simulator ships),
 * started on a free loopback port, in memory, with `-sharedDb` (one database whatever the access
 * key: the local stack signs with two) and `-disableTelemetry`. Its banner and logs go to a
 * buffer, shown only on failure.
 */
export interface DynamoDbLocal {
  endpoint: string;
  /** From spawning java to the first answered ListTables. */
  startupMs: number;
  /** What it printed (its banner, its errors). */
  output(): string;
  stop(): Promise<void>;
}

/** Where the jar is, or undefined when the package is not installed. */
export function dynamoDbLocalJar(): string | undefined {
  try {
    return join(
      dirname(require.resolve('amplify-dynamodb-simulator/package.json')),
      'emulator',
      'DynamoDBLocal.jar',
    );
  } catch {
    return undefined;
  }
}

/** Why DynamoDB Local cannot run here (no `java`, no jar), or undefined when it can. */
export function dynamoDbLocalMissing(): string | undefined {
  if (!dynamoDbLocalJar())
    return 'the amplify-dynamodb-simulator package (DynamoDBLocal.jar) is not installed';
  const java = spawnSync('java', ['-version'], { stdio: 'ignore' });
  if (java.error || java.status !== 0) return '`java` is not on the PATH (DynamoDB Local needs Java 17+)';
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Starts DynamoDB Local and waits until it answers ListTables (at most `timeoutMs`). */
export async function startDynamoDbLocal(timeoutMs = 90_000): Promise<DynamoDbLocal> {
  const jar = dynamoDbLocalJar();
  if (!jar) throw new Error('DynamoDBLocal.jar not found');
  const port = await freePort();
  const started = Date.now();
  const cwd = mkdtempSync(join(tmpdir(), 'crm-sync-dynamodb-local-'));
  let out = '';
  const child: ChildProcess = spawn(
    'java',
    [
      `-Djava.library.path=${join(dirname(jar), 'DynamoDBLocal_lib')}`,
      '-jar',
      jar,
      '-inMemory',
      '-sharedDb',
      '-disableTelemetry',
      '-port',
      String(port),
    ],
    // Its own working directory: DynamoDB Local writes dynamodb-local-metadata.json there.
    { stdio: ['ignore', 'pipe', 'pipe'], cwd },
  );
  child.stdout?.setEncoding('utf8').on('data', (s: string) => {
    out += s;
  });
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    out += s;
  });
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = `exited with ${code ?? signal}`;
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        rmSync(cwd, { recursive: true, force: true });
        resolve();
      };
      if (child.exitCode !== null || child.signalCode !== null) return done();
      child.once('exit', done);
      child.kill('SIGTERM');
    });
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  try {
    while (true) {
      if (exited) throw new Error(`DynamoDB Local ${exited} before answering:\n${out}`);
      if (Date.now() - started > timeoutMs)
        throw new Error(`DynamoDB Local did not answer in ${timeoutMs} ms:\n${out}`);
      try {
        await client.send(new ListTablesCommand({}));
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  } catch (err) {
    await stop();
    throw err;
  } finally {
    client.destroy();
  }
  return { endpoint, startupMs: Date.now() - started, output: () => out, stop };
}
