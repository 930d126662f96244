import { CrmSyncError } from '../../lambdas/domain/errors';
import type { AwsTarget } from './target';

/** An AWS call of the CLI failed in a way the user can act on: one line that says what to do. */
export class AwsCommandError extends CrmSyncError {
  override readonly name = 'AwsCommandError';
}

/** What an SDK error carries that says what went wrong (name, message, network code, HTTP status). */
interface SdkErrorLike {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  $metadata?: { httpStatusCode?: number };
}

const text = (v: unknown) => (typeof v === 'string' ? v : '');

/** A `<service>:<Action>` a denial names (`... not authorized to perform: states:StartExecution on ...`). */
function deniedAction(message: string): string | undefined {
  return /perform: ([a-z0-9-]+:[A-Za-z0-9*]+)/.exec(message)?.[1];
}

/**
 * An SDK error of a command against `target` as one plain line that says what to do, with the
 * error as `cause` (`--debug` prints its stack). Errors that are not the SDK's pass unchanged.
 * `region` is the region the calls went to, when known.
 */
export function explainAwsError(err: unknown, target: AwsTarget, region?: string): unknown {
  if (err instanceof CrmSyncError || typeof err !== 'object' || err === null) return err;
  const e = err as SdkErrorLike;
  const name = text(e.name);
  const message = text(e.message);
  const code = text(e.code);
  const where = region ?? target.region;
  const inRegion = where ? ` in ${where}` : '';
  const fail = (line: string) => new AwsCommandError(line, { cause: err });

  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(message)) {
    if (/profile/i.test(message) && target.profile !== undefined) {
      return fail(`AWS profile "${target.profile}" not found: check ~/.aws/config or pass another --profile`);
    }
    return fail(
      'no AWS credentials found: run `aws configure` or `aws sso login`, or set AWS_PROFILE (or pass --profile)',
    );
  }
  if (/ExpiredToken|token.*expired|session.*expired/i.test(`${name} ${message}`)) {
    return fail('your AWS session has expired: sign in again (`aws sso login`) and retry');
  }
  if (
    name === 'InvalidClientTokenId' ||
    name === 'UnrecognizedClientException' ||
    name === 'InvalidSignatureException'
  ) {
    return fail(
      `AWS rejected your credentials${inRegion}: check the region (--region) is one your account uses and the keys are current`,
    );
  }
  if (/Region is missing/i.test(message)) {
    return fail('no AWS region: pass --region (e.g. --region eu-west-1) or set AWS_REGION');
  }
  if (/Invalid region/i.test(message) || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return fail(
      `cannot reach AWS${inRegion}: check --region (or AWS_REGION) names a real region and the network is up`,
    );
  }
  if (name === 'ValidationError' && /does not exist/.test(message)) {
    return fail(
      `stack ${target.stackName} not found${inRegion}: deploy it (\`npx cdk deploy\`) or pass --stack / --region`,
    );
  }
  if (
    /AccessDenied|UnauthorizedOperation|AuthorizationError/.test(name) ||
    e.$metadata?.httpStatusCode === 403
  ) {
    const action = deniedAction(message);
    return fail(
      `access denied${action ? ` to ${action}` : ''}${inRegion}: your AWS identity needs that permission on stack ${target.stackName}'s resources`,
    );
  }
  if (name === 'ExecutionDoesNotExist') {
    return fail(
      `execution not found${inRegion}: check the run id (\`crm-sync runs --stack ${target.stackName}\`)`,
    );
  }
  if (
    name === 'NoSuchBucket' ||
    name === 'ResourceNotFoundException' ||
    name === 'StateMachineDoesNotExist'
  ) {
    return fail(
      `a resource of stack ${target.stackName} is gone (${name}: ${message}): deploy the stack again (\`npx cdk deploy\`)`,
    );
  }
  return err;
}
