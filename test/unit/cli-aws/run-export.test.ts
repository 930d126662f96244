import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  ListMapRunsCommand,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { NoExecutionStartedError } from '../../../cli/aws/executions';
import { diffExportOnStack, runExportOnStack } from '../../../cli/aws/run';
import {
  body,
  cli,
  EXEC,
  fakeWaiting,
  MACHINE,
  RUN_ID,
  resetMocks,
  STACK,
  s3,
  sfn,
  stackOutputs,
} from './support';

const dir = mkdtempSync(join(tmpdir(), 'crm-sync-aws-export-'));
const exportDir = join(dir, 'export-7');
const parts = ['part-1.csv', 'part-2.csv'].map((name) => join(dir, name));
for (const p of parts) writeFileSync(p, 'Id,Email\n003A,a@example.com\n');
const MARKER = 'inbox/contact/export-7/_SUCCESS';

const SUMMARY = {
  runId: RUN_ID,
  entity: 'contact',
  status: 'SUCCEEDED',
  counts: { rows: 2, applied: 1, unchanged: 0, superseded: 1, deleted: 0, rejected: 0, reasons: {} },
  duplicateKeys: 1,
  chunks: 2,
  partitions: 1,
  reconciliation: { status: 'MATCHED', verifiedKeys: 1, checks: [] },
  topReasons: [],
  reports: { summary: `reports/${RUN_ID}/summary.json` },
};

const execution = (arn: string, input: unknown) => ({
  executionArn: arn,
  input: JSON.stringify(input),
  status: 'RUNNING' as const,
  stateMachineArn: MACHINE,
  startDate: new Date(),
});

/**
 * The parts' uploads (each part starts an execution that ClaimRun ignores) and the marker's, whose
 * version is v-marker: the marker's execution is the run.
 */
function exportStack(): void {
  s3.on(PutObjectCommand).resolves({ ETag: '"part"', VersionId: 'v-part' });
  s3.on(PutObjectCommand, { Key: MARKER }).resolves({ ETag: '"marker"', VersionId: 'v-marker' });
  s3.on(GetObjectCommand, { Key: `reports/${RUN_ID}/summary.json` }).resolves({
    Body: body(JSON.stringify(SUMMARY)),
  });
  const list = ['part-1', 'part-2', 'old-marker', 'marker'].map((n) => ({
    executionArn: `${EXEC}-${n}`,
    stateMachineArn: MACHINE,
    name: n,
    status: 'RUNNING' as const,
    startDate: new Date(),
  }));
  sfn.on(ListExecutionsCommand).resolves({ executions: list });
  sfn
    .on(DescribeExecutionCommand, { executionArn: `${EXEC}-part-1` })
    .resolves(execution(`${EXEC}-part-1`, { key: 'inbox/contact/export-7/part-1.csv', versionId: 'v-part' }));
  sfn
    .on(DescribeExecutionCommand, { executionArn: `${EXEC}-part-2` })
    .resolves(execution(`${EXEC}-part-2`, { key: 'inbox/contact/export-7/part-2.csv', versionId: 'v-part' }));
  // The same marker key, an earlier version: another drop of the marker, not this one.
  sfn
    .on(DescribeExecutionCommand, { executionArn: `${EXEC}-old-marker` })
    .resolves(execution(`${EXEC}-old-marker`, { key: MARKER, versionId: 'v-old' }));
  sfn
    .on(DescribeExecutionCommand, { executionArn: `${EXEC}-marker` })
    .resolvesOnce(execution(`${EXEC}-marker`, { key: MARKER, versionId: 'v-marker' }))
    .resolves({
      ...execution(`${EXEC}-marker`, {}),
      status: 'SUCCEEDED',
      output: JSON.stringify(SUMMARY),
    });
  sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
  sfn.on(ListMapRunsCommand).resolves({ mapRuns: [] });
}

beforeEach(resetMocks);

describe('runExportOnStack: a multi-file export on a deployed stack', () => {
  it('uploads the parts to the export folder, then _SUCCESS, and follows the marker’s execution', async () => {
    // Prepare
    exportStack();
    const lines: string[] = [];

    // Act
    const result = await runExportOnStack(
      STACK,
      parts,
      'export-7',
      exportDir,
      { entity: 'contact' },
      {
        onProgress: (l) => lines.push(l),
        waiting: fakeWaiting(),
      },
    );

    // Assess: the parts first, in order, the marker last and empty.
    const puts = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(puts.map((p) => p.Key)).toEqual([
      'inbox/contact/export-7/part-1.csv',
      'inbox/contact/export-7/part-2.csv',
      MARKER,
    ]);
    expect(puts[2]).toMatchObject({ Bucket: 'crm-data', ContentLength: 0 });
    expect(result).toMatchObject({ runId: RUN_ID, status: 'SUCCEEDED', counts: { superseded: 1 } });
    expect('reports' in result && result.reports?.execution).toContain(`${EXEC}-marker`);
    expect(lines).toContain(
      `uploading part 2 of 2: ${parts[1]} to s3://crm-data/inbox/contact/export-7/part-2.csv`,
    );
  });

  it('--no-wait returns the marker’s execution', async () => {
    exportStack();
    const result = await runExportOnStack(
      STACK,
      parts,
      'export-7',
      exportDir,
      { entity: 'contact', noWait: true },
      {
        waiting: fakeWaiting(),
      },
    );
    expect(result).toEqual({ entity: 'contact', executionArn: `${EXEC}-marker`, key: MARKER });
  });

  it('no execution for the marker: one line naming the marker and the rule', async () => {
    s3.on(PutObjectCommand).resolves({ ETag: '"x"', VersionId: 'v1' });
    sfn.on(ListExecutionsCommand).resolves({ executions: [] });
    await expect(
      runExportOnStack(
        STACK,
        parts,
        'export-7',
        exportDir,
        { entity: 'contact' },
        {
          waiting: fakeWaiting(),
          triggerTimeoutMs: 5_000,
        },
      ),
    ).rejects.toThrow(
      new NoExecutionStartedError(
        `no execution of the run state machine started for ${MARKER} within 5 s: check the stack's Inbox-contact EventBridge rule and its dead-letter queue (TriggerDlq)`,
      ),
    );
  });

  it('an entity the stack does not have is refused before any upload', async () => {
    await expect(
      runExportOnStack(STACK, parts, 'export-7', exportDir, { entity: 'lead' }, { waiting: fakeWaiting() }),
    ).rejects.toThrow('stack CrmSync has no entity "lead"');
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it('--force runs the folder the inbox holds from its marker, without an upload', async () => {
    // Prepare
    s3.on(HeadObjectCommand, { Key: MARKER }).resolves({
      ETag: '"m"',
      VersionId: 'v-marker',
      ContentLength: 0,
    });
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC, startDate: new Date() });

    // Act
    const result = await runExportOnStack(
      STACK,
      parts,
      'export-7',
      exportDir,
      { entity: 'contact', force: true, noWait: true },
      {
        waiting: fakeWaiting(),
      },
    );

    // Assess
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
    expect(JSON.parse(sfn.commandCalls(StartExecutionCommand)[0]?.args[0].input.input ?? '{}')).toMatchObject(
      {
        key: MARKER,
        versionId: 'v-marker',
        size: 0,
        force: true,
        label: exportDir,
      },
    );
    expect(result).toEqual({ entity: 'contact', executionArn: EXEC, key: MARKER });
  });

  it('`crm-sync run <files...> --stack`: the files as one export, in a timestamped folder', async () => {
    // Act
    const out = await cli(
      ['run', ...parts, '--entity', 'contact', '--stack', 'CrmSync', '--no-wait', '--quiet'],
      () => {
        stackOutputs();
        s3.on(PutObjectCommand).resolves({ ETag: '"x"', VersionId: 'v1' });
        sfn.on(ListExecutionsCommand).resolves({
          executions: [
            {
              executionArn: EXEC,
              stateMachineArn: MACHINE,
              name: 'e',
              status: 'RUNNING',
              startDate: new Date(),
            },
          ],
        });
        sfn.on(DescribeExecutionCommand).callsFake((input: { executionArn: string }) => {
          const keys = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input.Key);
          return execution(input.executionArn, { key: keys[keys.length - 1], versionId: 'v1' });
        });
      },
    );

    // Assess
    const keys = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input.Key ?? '');
    expect(keys).toHaveLength(3);
    expect(keys[2]).toMatch(/^inbox\/contact\/files-\d{8}T\d{6}Z\/_SUCCESS$/);
    expect(keys[0]).toBe(keys[2]?.replace('_SUCCESS', 'part-1.csv'));
    expect(out.exitCode).toBe(0);
    expect(out.stdout).toContain(`started ${EXEC}`);
  });

  it('`crm-sync run <missing> --stack`: one line naming the path, nothing uploaded', async () => {
    const out = await cli(
      ['run', join(dir, 'nope.csv'), '--entity', 'contact', '--stack', 'CrmSync'],
      stackOutputs,
    );
    expect(out.exitCode).not.toBe(0);
    expect(out.stderr.trim()).toBe(`crm-sync: file not found: ${join(dir, 'nope.csv')}`);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
  });
});

describe('diffExportOnStack: a dry run of a multi-file export on a deployed stack', () => {
  // fakeWaiting's clock: 1 000 000 ms after the epoch.
  const FOLDER = 'dry-run/contact/export-7-19700101T001640Z/';

  it('uploads the parts to a dry-run folder of its own, then _SUCCESS, and starts a dryRun execution on it', async () => {
    // Prepare
    s3.on(PutObjectCommand).resolves({ ETag: '"part"', VersionId: 'v-part' });
    s3.on(PutObjectCommand, { Key: `${FOLDER}_SUCCESS` }).resolves({ ETag: '"m"', VersionId: 'v-marker' });
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC, startDate: new Date() });

    // Act
    const result = await diffExportOnStack(
      STACK,
      parts,
      'export-7',
      { entity: 'contact', noWait: true },
      { waiting: fakeWaiting() },
    );

    // Assess: nothing under inbox/ (no rule starts a run), the marker last and empty.
    const puts = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(puts.map((p) => p.Key)).toEqual([
      `${FOLDER}part-1.csv`,
      `${FOLDER}part-2.csv`,
      `${FOLDER}_SUCCESS`,
    ]);
    expect(puts[2]).toMatchObject({ ContentLength: 0 });
    expect(JSON.parse(sfn.commandCalls(StartExecutionCommand)[0]?.args[0].input.input ?? '{}')).toEqual({
      bucket: 'crm-data',
      key: `${FOLDER}_SUCCESS`,
      versionId: 'v-marker',
      etag: 'm',
      entity: 'contact',
      dryRun: true,
    });
    expect(result).toEqual({ entity: 'contact', executionArn: EXEC, key: `${FOLDER}_SUCCESS` });
  });

  it('an entity the stack does not have is refused before any upload', async () => {
    await expect(
      diffExportOnStack(STACK, parts, 'export-7', { entity: 'lead' }, { waiting: fakeWaiting() }),
    ).rejects.toThrow('stack CrmSync has no entity "lead"');
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it('`crm-sync diff <files...> --stack`: the files as one dry run, in a timestamped folder under dry-run/', async () => {
    // Act
    const out = await cli(
      ['diff', ...parts, '--entity', 'contact', '--stack', 'CrmSync', '--no-wait', '--quiet'],
      () => {
        stackOutputs();
        s3.on(PutObjectCommand).resolves({ ETag: '"x"', VersionId: 'v1' });
        sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC, startDate: new Date() });
      },
    );

    // Assess
    const keys = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input.Key ?? '');
    expect(keys).toHaveLength(3);
    expect(keys[2]).toMatch(/^dry-run\/contact\/files-\d{8}T\d{6}Z-\d{8}T\d{6}Z\/_SUCCESS$/);
    expect(keys[1]).toBe(keys[2]?.replace('_SUCCESS', 'part-2.csv'));
    expect(out.exitCode).toBe(0);
    expect(out.stdout).toContain(`started ${EXEC}`);
  });

  it.each<[string, () => string[], (d: string) => string]>([
    ['a missing path', () => [join(dir, 'nope.csv')], () => `file not found: ${join(dir, 'nope.csv')}`],
    [
      'a directory with no file',
      () => [mkdtempSync(join(tmpdir(), 'crm-sync-empty-'))],
      (d) => `${d}: the directory holds no file to run (an export's parts are its files)`,
    ],
    [
      'a directory among several paths',
      () => [dir, parts[0] ?? ''],
      () => `${dir} is a directory: run one directory, or a list of files`,
    ],
  ])(
    '`crm-sync diff --stack` of %s: one line naming the path, nothing uploaded',
    async (_, paths, message) => {
      // Prepare
      const args = paths();

      // Act
      const out = await cli(['diff', ...args, '--entity', 'contact', '--stack', 'CrmSync'], stackOutputs);

      // Assess
      expect(out.exitCode).not.toBe(0);
      expect(out.stderr.trim()).toBe(`crm-sync: ${message(args[0] ?? '')}`);
      expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
    },
  );
});
