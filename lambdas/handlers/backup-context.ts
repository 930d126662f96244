import type { BackupContext } from '../use-cases/backup-lock';
import { workerContext, workerEnv } from './env';

/** The environment as the snapshot's and restore's use cases take it. */
export function backupContext(): BackupContext {
  const env = workerEnv();
  return { ...workerContext(env), ledgerTable: env.ledgerTable };
}
