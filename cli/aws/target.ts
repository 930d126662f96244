import type { Command } from 'commander';
import { resetClients } from '../../lambdas/adapters/clients';
import { UsageError } from '../options';

/** The stack `--target aws` means when no `--stack` is given: bin/app.ts deploys `CrmSync`. */
export const DEFAULT_STACK_NAME = 'CrmSync';

/** A deployed stack to operate: its name, and the region and profile if not the SDK chain's. */
export interface AwsTarget {
  readonly stackName: string;
  readonly region?: string | undefined;
  readonly profile?: string | undefined;
}

/** The options that choose the backend of a command that runs locally or against a deployed stack. */
export interface TargetOptions {
  stack?: string;
  target?: string;
  region?: string;
  profile?: string;
}

/** Adds `--stack`, `--target`, `--region` and `--profile` (`TargetOptions`) to a command. */
export function withTargetOptions(c: Command): Command {
  return c
    .option('--stack <name>', 'operate this deployed CloudFormation stack instead of the local stack')
    .option('--target <local|aws>', `local (default) or aws (the stack ${DEFAULT_STACK_NAME} unless --stack)`)
    .option('--region <region>', 'AWS region of the stack (default: the AWS SDK chain, e.g. AWS_REGION)')
    .option('--profile <name>', 'AWS profile for credentials (default: the AWS SDK chain)');
}

/**
 * The deployed stack a command operates, or undefined for the local stack. `--stack` alone selects
 * AWS; `--target aws` without `--stack` is `$CRM_SYNC_STACK` or `CrmSync`. `--region` / `--profile`
 * need AWS.
 */
export function awsTargetOf(opts: TargetOptions): AwsTarget | undefined {
  const target = opts.target ?? (opts.stack === undefined ? 'local' : 'aws');
  if (target !== 'local' && target !== 'aws') {
    throw new UsageError(`--target must be local or aws, not "${target}"`);
  }
  if (target === 'local') {
    if (opts.stack !== undefined)
      throw new UsageError('--stack operates a deployed stack: drop --target local');
    for (const flag of ['region', 'profile'] as const) {
      if (opts[flag] !== undefined)
        throw new UsageError(`--${flag} only applies with --stack or --target aws`);
    }
    return undefined;
  }
  const stackName = opts.stack ?? process.env.CRM_SYNC_STACK ?? DEFAULT_STACK_NAME;
  if (!/^[A-Za-z][A-Za-z0-9-]{0,127}$/.test(stackName)) {
    throw new UsageError(`not a CloudFormation stack name: "${stackName}"`);
  }
  return { stackName, region: opts.region, profile: opts.profile };
}

/**
 * Points the SDK clients at AWS for `target`: its region and profile (else the SDK chain's), no
 * endpoint overrides of the local emulators, no tracing or logs of the adapters in the CLI. The
 * clients are made anew on their next use.
 */
export function useAwsTarget(target: AwsTarget): void {
  if (target.region !== undefined) process.env.AWS_REGION = target.region;
  if (target.profile !== undefined) process.env.AWS_PROFILE = target.profile;
  for (const name of ['AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL_DYNAMODB', 'AWS_ENDPOINT_URL_SFN']) {
    delete process.env[name];
  }
  Object.assign(process.env, {
    // The SDK's multi-line notice that it will need Node 22 from 2027 would break the CLI's one-line
    // errors; `npx crm-sync` runs the project's Node 22 anyway (the `node` devDependency).
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_TRACE_ENABLED: 'false',
    AWS_XRAY_CONTEXT_MISSING: 'IGNORE_ERROR',
  });
  resetClients();
}
