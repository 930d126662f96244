import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { lazyClient } from '../../lambdas/adapters/clients';

/**
 * The SDK clients only the CLI uses against a deployed stack, each made on its first use with the
 * region and credentials of the SDK's usual chain (`useAwsTarget` sets `AWS_REGION` /
 * `AWS_PROFILE` from `--region` / `--profile` first). S3, DynamoDB and Step Functions calls go
 * through the lambdas' adapters and their clients (lambdas/adapters/clients.ts).
 */
export const cloudFormationClient: () => CloudFormationClient = lazyClient(
  () => new CloudFormationClient({ maxAttempts: 5 }),
);

/** CloudWatch Logs: the RunFinished events of a stack (`crm-sync events --stack`). */
export const logsClient: () => CloudWatchLogsClient = lazyClient(
  () => new CloudWatchLogsClient({ maxAttempts: 5 }),
);
