import { readMapOutput } from '../adapters/map-results';
import { logger } from '../adapters/powertools';
import type { CheckWrittenEvent, WrittenCheck } from '../contract/checks';
import { workerOutputSchemas } from '../contract/results';
import { compareWritten } from '../domain/verify';

/**
 * CheckWrittenDigest (after VerifyPartitions): compares the digest of the run's puts with the digest
 * of the items the scan found written by the run. Equal: every put is proven and Reconcile follows.
 * Different: something is missing, extra or changed, and only a read of every decision can name
 * which keys, so `byKey` sends the run through VerifyPartitionsByKey first.
 */
export async function checkWritten(event: CheckWrittenEvent): Promise<WrittenCheck> {
  const verify = await readMapOutput(event.verify, workerOutputSchemas.verify);
  const written = compareWritten(verify.outputs.flatMap((o) => o.partitions));
  if (!written) return { byKey: false };
  // A failed worker is reported by Reconcile (all-verified); a second pass would not help it.
  const byKey = !written.ok && verify.failures.length === 0;
  if (byKey) {
    logger.warn('written items differ from the puts: verifying key by key', {
      runId: event.runId,
      expected: written.expected.items,
      found: written.found.items,
    });
  }
  return { byKey, expected: written.expected, found: written.found };
}
