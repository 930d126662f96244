import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { type CrmSyncConfig, parseConfigText } from '../lambdas/domain/config';
import { CrmSyncError } from '../lambdas/domain/errors';
import { parseFaultSeed, parseFaultSpec } from '../local/faults';
import type { LocalStackOptions } from '../local/local-stack';

/** The project's root: the bundled examples and package.json live here. */
export const ROOT = resolve(__dirname, '..');

/** The config a command uses when none is given or found: the bundled demo config. */
export const DEFAULT_CONFIG = join(ROOT, 'examples', 'crm-sync.config.json');

/** An error the user can act on: printed as one plain line, exit code 1. */
export class UsageError extends CrmSyncError {
  override readonly name = 'UsageError';
}

export const STATE_DIR_HELP = 'where local data lives (default $CRM_SYNC_HOME or ./.crm-sync)';
export const FAULTS_HELP =
  'inject transient faults (local only), e.g. "worker-crash=0.2,throttle=0.1,unprocessed=0.3,s3-error=0.1,duplicate-trigger=1"';
export const SEED_HELP = 'seed of the fault injection (default 1): the same seed injects the same faults';

/** `--state-dir`, else `$CRM_SYNC_HOME`, else `./.crm-sync`, as an absolute path. */
export function stateDirOf(opt: string | undefined): string {
  return resolve(opt ?? process.env.CRM_SYNC_HOME ?? '.crm-sync');
}

/**
 * The config file a command uses: `--config`, else `$CRM_SYNC_CONFIG`, else `./crm-sync.config.json`
 * or `.yaml`, else the bundled demo config. A file named by `--config` or `$CRM_SYNC_CONFIG` must exist.
 */
export function configFileOf(opt: string | undefined): string {
  const candidates = [opt, process.env.CRM_SYNC_CONFIG, 'crm-sync.config.json', 'crm-sync.config.yaml'];
  for (const c of candidates) {
    if (!c) continue;
    if (existsSync(c)) return resolve(c);
    if (c === opt || c === process.env.CRM_SYNC_CONFIG) throw new UsageError(`config file not found: ${c}`);
  }
  return DEFAULT_CONFIG;
}

/** Reads and validates a config file (JSON or YAML). */
export function loadConfig(file: string): CrmSyncConfig {
  if (statSync(file, { throwIfNoEntry: false })?.isDirectory()) {
    throw new UsageError(`${file} is a directory, not a config file (give the path of crm-sync.config.json)`);
  }
  return parseConfigText(readFileSync(file, 'utf8'), file);
}

/** The config a command runs with, resolved as `configFileOf` does, and its file. */
export function resolveConfig(opt: string | undefined): { file: string; config: CrmSyncConfig } {
  const file = configFileOf(opt);
  return { file, config: loadConfig(file) };
}

/** `--faults` / `--seed` → the stack's fault plan (errors are plain FaultSpecErrors). */
export function faultsOf(opts: { faults?: string; seed?: string }): LocalStackOptions['faults'] {
  if (opts.faults === undefined) {
    if (opts.seed !== undefined) throw new UsageError('--seed only applies with --faults');
    return undefined;
  }
  return {
    rates: parseFaultSpec(opts.faults),
    seed: opts.seed === undefined ? undefined : parseFaultSeed(opts.seed),
  };
}

/** A commander argument parser: a whole number of 1 or more. */
export function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('not a positive integer');
  return n;
}

/** A commander argument parser: a finite number above 0. */
export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('not a positive number');
  return n;
}

/** The options of every command that runs the local stack. */
export interface StackCommandOptions {
  config?: string;
  stateDir?: string;
  verbose?: boolean;
  quiet?: boolean;
}

/** Adds the options of a command that runs the local stack (`StackCommandOptions`). */
export function withStackOptions(c: Command): Command {
  return c
    .option('--config <file>', 'config file (JSON or YAML)')
    .option('--state-dir <dir>', STATE_DIR_HELP)
    .option('--verbose', 'show worker logs')
    .option('--quiet', 'no progress lines on stderr');
}
