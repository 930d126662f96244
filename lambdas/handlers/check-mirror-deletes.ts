import { checkDeletesEventSchema } from '../contract/checks';
import type { MirrorDecision } from '../domain/mirror';
import { checkMirrorDeletes } from '../use-cases/check-mirror-deletes';
import { parseEvent } from './env';
import { runDeps } from './run-deps';

/**
 * CheckMirrorDeletes (mirror mode): refuses a run that would delete too large a share of the target
 * (use-cases/check-mirror-deletes.ts). Hosted by the reconcile function (handlers/reconcile.ts).
 */
export async function checkDeletesHandler(event: unknown): Promise<MirrorDecision> {
  return checkMirrorDeletes(parseEvent(checkDeletesEventSchema, event, 'check-deletes'), runDeps());
}
