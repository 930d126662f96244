import type { CrmSyncConfig } from '../domain/config';

/** What a worker's use case reads of its environment: the work bucket, the config, the target tables. */
export interface WorkerContext {
  /** The bucket of the run's work objects (`work/<runId>/`) and reports. */
  bucket: string;
  config: CrmSyncConfig;
  /** The target table of an entity; a ConfigError when the environment names none. */
  tableOf: (entity: string) => string;
}
