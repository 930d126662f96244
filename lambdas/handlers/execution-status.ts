import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { putEvent } from '../adapters/events';
import { Ledger } from '../adapters/ledger';
import { publishMetrics } from '../adapters/metrics';
import { logger, tracer } from '../adapters/powertools';
import { stopExecution } from '../adapters/sfn';
import { executionStatusEventSchema } from '../domain/execution-status';
import { type ExecutionStatusOutcome, recordExecutionStatus } from '../use-cases/record-execution-status';
import { parseEvent, workerEnv } from './env';

/**
 * The target of the "Step Functions Execution Status Change" rule of the sync state machine:
 * records failed, timed-out and aborted runs, and takes redriven runs up again.
 */
export async function executionStatusHandler(event: unknown): Promise<ExecutionStatusOutcome> {
  const parsed = parseEvent(executionStatusEventSchema, event, 'execution-status');
  const env = workerEnv();
  const outcome = await recordExecutionStatus(parsed, {
    ledger: new Ledger(env.ledgerTable),
    bucket: env.bucket,
    publish: putEvent,
    stop: stopExecution,
    publishMetrics,
  });
  logger.info('execution status recorded', {
    executionArn: parsed.detail.executionArn,
    status: parsed.detail.status,
    ...outcome,
  });
  return outcome;
}

export const handler = middy(executionStatusHandler)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(captureLambdaHandler(tracer, { captureResponse: false }));
