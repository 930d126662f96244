import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { logger, tracer } from '../adapters/powertools';
import {
  type AbortOutput,
  type RestoreJob,
  type RestoreSummary,
  restoreEventSchema,
  type SegmentsOutput,
} from '../contract/backup';
import { abortBackup } from '../use-cases/backup-abort';
import { checkSegments } from '../use-cases/restore-check-segment';
import { finishRestore } from '../use-cases/restore-finish';
import { loadParts } from '../use-cases/restore-load-part';
import { prepareRestore } from '../use-cases/restore-prepare';
import { verifyParts } from '../use-cases/restore-verify-part';
import { backupContext } from './backup-context';
import { parseEvent } from './env';

export {
  type RestoreInput,
  type RestoreJob,
  type RestoreSummary,
  restoreInputSchema,
} from '../contract/backup';

/** What the restore function returns for each of its Task states. */
export type RestoreOutput = RestoreJob | SegmentsOutput | RestoreSummary | AbortOutput;

/** The Distributed Map workers of a restore, by the batch's `action`. */
const workers = { verify: verifyParts, load: loadParts, check: checkSegments } as const;

/**
 * The Restore state machine's function: PrepareRestore, VerifyPart / LoadPart / CheckSegment (the
 * Distributed Map batches), FinishRestore and AbortRestore, told apart by the event's `action`
 * (lambdas/contract/backup.ts).
 */
export async function restoreHandler(event: unknown): Promise<RestoreOutput> {
  const data = parseEvent(restoreEventSchema, event, 'restore');
  if ('BatchInput' in data) {
    const { action, job } = data.BatchInput;
    return workers[action](job, data.Items, backupContext());
  }
  switch (data.action) {
    case 'prepare':
      return prepareRestore(data.input, data.execution, backupContext());
    case 'finish':
      return finishRestore(data.job, backupContext());
    case 'abort': {
      const { input, execution, error } = data;
      return abortBackup(backupContext(), 'restore', {
        entity: input.entity,
        id: input.restoreId,
        execution,
        error,
      });
    }
  }
}

export const handler = middy(restoreHandler)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(captureLambdaHandler(tracer, { captureResponse: false }));
