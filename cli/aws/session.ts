import { type DeployedStack, describeDeployedStack } from './deployed-stack';
import { explainAwsError } from './errors';
import { type AwsTarget, useAwsTarget } from './target';

/**
 * Runs `fn` against the deployed stack `target` names: the SDK clients pointed at AWS, the stack's
 * resources read from its outputs, and every SDK error turned into one line that says what to do.
 */
export async function withAwsStack<T>(
  target: AwsTarget,
  fn: (stack: DeployedStack) => Promise<T>,
): Promise<T> {
  useAwsTarget(target);
  let region: string | undefined;
  try {
    const stack = await describeDeployedStack(target);
    region = stack.region;
    return await fn(stack);
  } catch (err) {
    throw explainAwsError(err, target, region);
  }
}
