import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { z } from 'zod';
import { type CrmSyncConfig, parseConfigText } from '../domain/config';
import { ConfigError, InvalidEventError } from '../domain/errors';
import type { WorkerContext } from '../use-cases/worker-context';

export interface WorkerEnv {
  bucket: string;
  ledgerTable: string;
  targetTables: Record<string, string>;
  config: CrmSyncConfig;
}

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new ConfigError(`environment variable ${name} is not set`);
  return v;
}

let cached: WorkerEnv | undefined;

/** Environment and config, read and validated once per process (on first use). */
export function workerEnv(): WorkerEnv {
  if (cached) return cached;
  const file = required('CRM_SYNC_CONFIG_FILE');
  const path = isAbsolute(file) ? file : resolve(process.env.LAMBDA_TASK_ROOT ?? process.cwd(), file);
  const tablesText = required('CRM_SYNC_TARGET_TABLES');
  let tables: unknown;
  try {
    tables = JSON.parse(tablesText);
  } catch (err) {
    throw new ConfigError('CRM_SYNC_TARGET_TABLES is not valid JSON', [], { cause: err });
  }
  if (!tables || typeof tables !== 'object' || Object.values(tables).some((t) => typeof t !== 'string')) {
    throw new ConfigError('CRM_SYNC_TARGET_TABLES must map entity names to table names');
  }
  cached = {
    bucket: required('CRM_SYNC_BUCKET'),
    ledgerTable: required('CRM_SYNC_LEDGER_TABLE'),
    targetTables: tables as Record<string, string>,
    config: parseConfigText(readFileSync(path, 'utf8'), path),
  };
  return cached;
}

export function targetTable(env: WorkerEnv, entity: string): string {
  const t = env.targetTables[entity];
  if (!t) throw new ConfigError(`no target table for entity "${entity}"`);
  return t;
}

/** Validates a handler's event; a wrong shape is an InvalidEventError (not retried). */
export function parseEvent<T extends z.ZodType>(schema: T, event: unknown, handler: string): z.output<T> {
  const parsed = schema.safeParse(event);
  if (!parsed.success) {
    throw new InvalidEventError(
      `${handler}: unexpected event: ${parsed.error.issues.map((i) => i.message).join('; ')}`,
    );
  }
  return parsed.data;
}

/** The environment as the workers' use cases take it (lambdas/use-cases/worker-context.ts). */
export function workerContext(env: WorkerEnv = workerEnv()): WorkerContext {
  return { bucket: env.bucket, config: env.config, tableOf: (entity) => targetTable(env, entity) };
}
