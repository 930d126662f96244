import { checkMergeEventSchema, type MergeLoopState } from '../contract/merge-loop';
import { checkMerge } from '../use-cases/check-merge';
import { parseEvent, workerEnv } from './env';

export type { MergeLoopState } from '../contract/merge-loop';

/** CheckMerge, one of the reconcile function's Task states (its router calls this). */
export async function checkMergeHandler(event: unknown): Promise<MergeLoopState> {
  const data = parseEvent(checkMergeEventSchema, event, 'check-merge');
  return checkMerge({ bucket: workerEnv().bucket }, data);
}
