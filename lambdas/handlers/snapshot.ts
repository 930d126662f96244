import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { logger, tracer } from '../adapters/powertools';
import {
  type AbortOutput,
  type SegmentsOutput,
  type SnapshotJob,
  type SnapshotSummary,
  snapshotEventSchema,
} from '../contract/backup';
import { abortBackup } from '../use-cases/backup-abort';
import { exportSegments } from '../use-cases/snapshot-export-segment';
import { finishSnapshot } from '../use-cases/snapshot-finish';
import { prepareSnapshot } from '../use-cases/snapshot-prepare';
import { backupContext } from './backup-context';
import { parseEvent } from './env';

export {
  type SnapshotInput,
  type SnapshotJob,
  type SnapshotSummary,
  snapshotInputSchema,
} from '../contract/backup';

/** What the snapshot function returns for each of its Task states. */
export type SnapshotOutput = SnapshotJob | SegmentsOutput | SnapshotSummary | AbortOutput;

/**
 * The Snapshot state machine's function: PrepareSnapshot, ExportSegment (a Distributed Map batch),
 * FinishSnapshot and AbortSnapshot, told apart by the event's `action` (lambdas/contract/backup.ts).
 */
export async function snapshotHandler(event: unknown): Promise<SnapshotOutput> {
  const data = parseEvent(snapshotEventSchema, event, 'snapshot');
  if ('BatchInput' in data) return exportSegments(data.BatchInput.job, data.Items, backupContext());
  switch (data.action) {
    case 'prepare':
      return prepareSnapshot(data.input, data.execution, backupContext());
    case 'finish':
      return finishSnapshot(data.job, backupContext());
    case 'abort': {
      const { input, execution, error } = data;
      return abortBackup(backupContext(), 'snapshot', {
        entity: input.entity,
        id: input.snapshotId,
        execution,
        error,
      });
    }
  }
}

export const handler = middy(snapshotHandler)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(captureLambdaHandler(tracer, { captureResponse: false }));
