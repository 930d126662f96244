import { readFileSync } from 'node:fs';
import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { configHash, getEntity, parseConfigText } from '../../../lambdas/domain/config';
import { EmptyExportError, InvalidEventError, RejectLimitError } from '../../../lambdas/domain/errors';
import type { ChunkResult, WorkerJob } from '../../../lambdas/domain/run';
import { BUCKET, COLUMNS, CONFIG_FILE, FakeBucket, PREFIX, RUN_ID, row } from './support';

let checkRejectsHandler: typeof import('../../../lambdas/handlers/check-rejects')['checkRejectsHandler'];

const JOB: WorkerJob = {
  runId: RUN_ID,
  entity: 'contact',
  configHash: configHash(getEntity(parseConfigText(readFileSync(CONFIG_FILE, 'utf8')), 'contact')),
  data: { bucket: BUCKET, key: 'inbox/contact/contacts.csv', etag: 'abc' },
  workPrefix: PREFIX,
  partitions: 2,
  format: 'csv',
  delimiter: ',',
  columns: COLUMNS,
};
const MANIFEST = 'work/map-results/transform/manifest.json';
const event = (job: Partial<WorkerJob> = {}, chunks = 2) => ({
  runId: RUN_ID,
  plan: { job: { ...JOB, ...job }, chunks, rows: 0, partitions: 2 },
  transform: { ResultWriterDetails: { Bucket: BUCKET, Key: MANIFEST } },
});

const s3Mock = mockClient(S3Client);
const ddbMock = mockClient(DynamoDBClient);
const fakeS3 = new FakeBucket();

/** The transform map's results: one child per chunk, as ResultWriter writes them. */
function writeChunks(chunks: ChunkResult[]): void {
  fakeS3.store(
    'work/map-results/transform/SUCCEEDED_0.json',
    JSON.stringify(chunks.map((c) => ({ Status: 'SUCCEEDED', Output: JSON.stringify({ chunks: [c] }) }))),
  );
  fakeS3.store(
    MANIFEST,
    JSON.stringify({ ResultFiles: { SUCCEEDED: [{ Key: 'work/map-results/transform/SUCCEEDED_0.json' }] } }),
  );
}

function chunk(index: number, rows: number, rejected: number, lines: number[] = []): ChunkResult {
  return {
    index,
    rows,
    rejected,
    superseded: 0,
    candidates: rows - rejected,
    topReasons: rejected > 0 ? { invalid_email: rejected } : {},
    ...(lines.length > 0 ? { reasonLines: { invalid_email: lines } } : {}),
    durationMs: 1,
  };
}

/** The reject objects the transform workers wrote: one invalid email per line. */
function writeRejects(index: number, lines: number[]): void {
  const text = lines
    .map((line) =>
      JSON.stringify({
        line,
        reasons: ['invalid_email:Email'],
        raw: row({ Id: `003${line}`, Email: 'secret-cell' }),
      }),
    )
    .join('\n');
  fakeS3.store(`${PREFIX}rejects/c${String(index).padStart(6, '0')}.jsonl`, `${text}\n`);
}

/** The attributes the handler set on the run's ledger record, by name. */
function ledgerUpdates(): Array<Record<string, unknown>> {
  return ddbMock.commandCalls(UpdateItemCommand).map((c) => {
    const { ExpressionAttributeNames: names = {}, ExpressionAttributeValues: values = {} } = c.args[0].input;
    const plain = unmarshall(values);
    return Object.fromEntries(Object.entries(names).map(([n, name]) => [name, plain[n.replace('#f', ':v')]]));
  });
}

describe('Handler: check-rejects', () => {
  beforeAll(async () => {
    ({ checkRejectsHandler } = await import('../../../lambdas/handlers/check-rejects'));
  });

  beforeEach(() => {
    s3Mock.reset();
    ddbMock.reset();
    fakeS3.install(s3Mock);
    ddbMock.on(UpdateItemCommand).resolves({});
  });

  it('lets a file under maxRejectRatio through without writing anything (the demo: 4.2 %)', async () => {
    // Prepare
    writeChunks([chunk(0, 1500, 60, [2, 9, 14]), chunk(1, 1500, 66, [1502])]);

    // Act
    const decision = await checkRejectsHandler(event());

    // Assess
    expect(decision).toMatchObject({ rows: 3000, rejected: 126, allowed: true, forced: false });
    expect(decision.ratio).toBeCloseTo(0.042);
    expect(fakeS3.find(`reports/${RUN_ID}/rejects.csv`)).toBeUndefined();
    expect(ddbMock).not.toHaveReceivedCommand(UpdateItemCommand);
  });

  it('refuses a file whose every row is rejected (RejectLimitError): rejects.csv, the decision in the ledger, no cell in the message', async () => {
    // Prepare
    writeChunks([chunk(0, 12, 12, [2, 3, 4]), chunk(1, 10, 10, [14, 15, 16])]);
    writeRejects(0, [2, 3, 4]);
    writeRejects(1, [14, 15, 16]);

    // Act
    const run = checkRejectsHandler(event());

    // Assess
    await expect(run).rejects.toThrow(RejectLimitError);
    await expect(run).rejects.toThrow(
      '22 of 22 rows rejected (100%), every row: nothing was written; top reasons: invalid_email ×22 (lines 2, 3, 4)',
    );
    await expect(run).rejects.not.toThrow('secret-cell');
    const csv = fakeS3.read(`reports/${RUN_ID}/rejects.csv`).split('\r\n').filter(Boolean);
    expect(csv).toHaveLength(1 + 6);
    expect(csv[1]).toMatch(/^2,invalid_email:Email,/);
    const [update] = ledgerUpdates();
    expect(update).toMatchObject({
      rejects: { rows: 22, rejected: 22, allowed: false, error: 'RejectLimitError', maxRejectRatio: 0.1 },
    });
  });

  it('refuses a file above maxRejectRatio, and lets the same file through when forced', async () => {
    // Prepare: 3 of 20 rejected (15 %), the example's limit is 10 %
    writeChunks([chunk(0, 10, 3, [5, 6, 7]), chunk(1, 10, 0)]);
    writeRejects(0, [5, 6, 7]);

    // Act
    const refused = checkRejectsHandler(event());
    await expect(refused).rejects.toThrow('3 of 20 rows rejected (15%), above maxRejectRatio 10%');
    ddbMock.resetHistory();
    const forced = await checkRejectsHandler(event({ force: true }));

    // Assess
    expect(forced).toMatchObject({ allowed: true, forced: true, rejected: 3 });
    expect(ddbMock).not.toHaveReceivedCommand(UpdateItemCommand);
  });

  it('refuses a file with no data row (EmptyExportError) and writes no rejects.csv', async () => {
    // Prepare
    writeChunks([]);

    // Act
    const run = checkRejectsHandler(event({}, 0));

    // Assess
    await expect(run).rejects.toThrow(EmptyExportError);
    await expect(run).rejects.toThrow('allowEmptyExport');
    expect(fakeS3.find(`reports/${RUN_ID}/rejects.csv`)).toBeUndefined();
    expect(ledgerUpdates()[0]).toMatchObject({ rejects: { rows: 0, error: 'EmptyExportError' } });
  });

  it('never refuses a dry run: it returns what a run would meet, writing nothing', async () => {
    // Prepare
    writeChunks([chunk(0, 5, 5, [2, 3, 4])]);
    writeRejects(0, [2, 3, 4, 5, 6]);

    // Act
    const decision = await checkRejectsHandler(event({ dryRun: true }, 1));

    // Assess
    expect(decision).toMatchObject({ allowed: false, error: 'RejectLimitError' });
    expect(fakeS3.find(`reports/${RUN_ID}/rejects.csv`)).toBeUndefined();
    expect(ddbMock).not.toHaveReceivedCommand(UpdateItemCommand);
  });

  it.each([
    ['no transform result', { runId: RUN_ID, plan: event().plan }],
    ['no run id', { plan: event().plan, transform: event().transform }],
    ['a plan without chunks', { ...event(), plan: { job: JOB, rows: 1 } }],
  ])('rejects an event with %s (InvalidEventError)', async (_name, bad) => {
    // Act
    const run = checkRejectsHandler(bad);

    // Assess
    await expect(run).rejects.toThrow(InvalidEventError);
    expect(s3Mock.calls()).toHaveLength(0);
  });
});
