import { S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import type { MergeLoopState } from '../../../lambdas/contract/merge-loop';
import type { PartitionOutcome } from '../../../lambdas/contract/results';
import { InvalidEventError, MergeStalledError } from '../../../lambdas/domain/errors';
import { workKeys } from '../../../lambdas/domain/run';
import { BUCKET, FakeBucket, PREFIX, RUN_ID } from './support';

let checkMergeHandler: typeof import('../../../lambdas/handlers/check-merge')['checkMergeHandler'];

const s3Mock = mockClient(S3Client);
const fakeS3 = new FakeBucket();

const FINISHED: PartitionOutcome = {
  partition: 0,
  candidates: 3,
  applied: 2,
  unchanged: 1,
  superseded: 0,
  deleted: 0,
  duplicateKeys: 0,
  durationMs: 5,
};
const leftOf = (written: number): PartitionOutcome => ({
  partition: 1,
  chunks: 4,
  complete: false,
  left: 7,
  written,
});

/** A Map run's ResultWriter output: one result file holding these children's outputs. */
function storePass(
  name: string,
  outcomes: PartitionOutcome[],
): { ResultWriterDetails: { Bucket: string; Key: string } } {
  const file = `${PREFIX}map/${name}/SUCCEEDED_0.json`;
  const manifest = `${PREFIX}map/${name}/manifest.json`;
  fakeS3.store(
    file,
    JSON.stringify([{ Status: 'SUCCEEDED', Output: JSON.stringify({ partitions: outcomes }) }]),
  );
  fakeS3.store(
    manifest,
    JSON.stringify({ ResultFiles: { SUCCEEDED: [{ Key: file, Size: 10 }], FAILED: [] } }),
  );
  return { ResultWriterDetails: { Bucket: BUCKET, Key: manifest } };
}

const eventOf = (pass: number, stalled: number, current: unknown, results?: unknown) => ({
  action: 'check-merge',
  runId: RUN_ID,
  workPrefix: PREFIX,
  pass: current,
  loop: { manifestKey: `${PREFIX}partitions.json`, pass, stalled, ...(results ? { results } : {}) },
});

describe('Handler: check-merge', () => {
  beforeAll(async () => {
    ({ checkMergeHandler } = await import('../../../lambdas/handlers/check-merge'));
  });

  beforeEach(() => {
    s3Mock.reset();
    fakeS3.install(s3Mock);
  });

  it.each<[string, number, PartitionOutcome[], boolean, Partial<MergeLoopState>, string[]]>([
    // name, pass, this pass's outcomes, a pass before, loop state expected, result files expected
    [
      'ends the loop when the first pass finished every partition',
      1,
      [FINISHED],
      false,
      {
        done: true,
        manifestKey: `${PREFIX}partitions.json`,
        pass: 1,
        stalled: 0,
        partitionsLeft: 0,
        writesLeft: 0,
      },
      ['first'],
    ],
    [
      'leaves the partitions left for the next pass, with the result files of every pass',
      2,
      [FINISHED, leftOf(3)],
      true,
      {
        done: false,
        manifestKey: workKeys.mergeLeft(PREFIX, 3),
        pass: 3,
        stalled: 0,
        partitionsLeft: 1,
        writesLeft: 7,
      },
      ['before', 'first'],
    ],
  ])('%s', async (_name, pass, outcomes, withBefore, expected, files) => {
    // Prepare
    const before = withBefore ? storePass('before', [FINISHED]) : undefined;
    const event = eventOf(pass, 0, storePass('first', outcomes), before);

    // Act
    const state = await checkMergeHandler(event);

    // Assess
    const resultsKey = workKeys.mergeResults(PREFIX, pass);
    expect(state).toEqual({
      ...expected,
      results: { ResultWriterDetails: { Bucket: BUCKET, Key: resultsKey } },
    });
    expect(JSON.parse(fakeS3.read(resultsKey))).toEqual({
      ResultFiles: {
        SUCCEEDED: files.map((f) => ({ Key: `${PREFIX}map/${f}/SUCCEEDED_0.json`, Size: 10 })),
        FAILED: [],
      },
    });
    if (!expected.done) {
      expect(JSON.parse(fakeS3.read(workKeys.mergeLeft(PREFIX, pass + 1)))).toEqual([
        { partition: 1, chunks: 4 },
      ]);
    }
  });

  it.each([
    ['no action', { runId: RUN_ID }],
    ['a pass number of 0', { ...eventOf(0, 0, { ResultWriterDetails: { Bucket: BUCKET, Key: 'k' } }) }],
    ['no pass output', { ...eventOf(1, 0, undefined) }],
    [
      'an empty work prefix',
      { ...eventOf(1, 0, { ResultWriterDetails: { Bucket: BUCKET, Key: 'k' } }), workPrefix: '' },
    ],
  ])('refuses an event with %s', async (_name, event) => {
    // Act
    const run = checkMergeHandler(event);

    // Assess
    await expect(run).rejects.toThrow(InvalidEventError);
  });

  it('fails the merge after passes in a row that wrote nothing (MergeStalledError)', async () => {
    // Prepare
    const event = eventOf(3, 2, storePass('first', [leftOf(0)]));

    // Act
    const run = checkMergeHandler(event);

    // Assess
    await expect(run).rejects.toThrow(MergeStalledError);
  });
});
