import { checkWrittenEventSchema, type WrittenCheck } from '../contract/checks';
import { checkWritten } from '../use-cases/check-written';
import { parseEvent } from './env';

/**
 * CheckWrittenDigest: whether verification must read every decision by key
 * (use-cases/check-written.ts). Hosted by the reconcile function (handlers/reconcile.ts).
 */
export async function checkWrittenHandler(event: unknown): Promise<WrittenCheck> {
  return checkWritten(parseEvent(checkWrittenEventSchema, event, 'check-written'));
}
