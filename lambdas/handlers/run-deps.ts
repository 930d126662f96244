import { Ledger } from '../adapters/ledger';
import type { CrmSyncConfig } from '../domain/config';
import { workerEnv } from './env';

/** What the steps that add up a run's results use: the data bucket, the config and the ledger. */
export function runDeps(): { bucket: string; config: CrmSyncConfig; ledger: Ledger } {
  const env = workerEnv();
  return { bucket: env.bucket, config: env.config, ledger: new Ledger(env.ledgerTable) };
}
