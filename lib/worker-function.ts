import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/** Which handler a worker runs; also how the local runner binds a Task state to in-process code. */
export type HandlerName =
  | 'plan'
  | 'transform'
  | 'merge'
  | 'verify'
  | 'mirror'
  | 'check-rejects'
  | 'reconcile'
  | 'scheduled-sync'
  | 'snapshot'
  | 'restore'
  | 'execution-status';

export interface WorkerFunctionProps {
  /** Handler module under `lambdas/handlers/`. */
  readonly handler: HandlerName;
  /** Absolute path of the validated config file bundled next to the handler. */
  readonly configFile: string;
  /**
   * Memory in MB.
   * @default 1024
   */
  readonly memorySize?: number;
  /**
   * Timeout of one invocation.
   * @default Duration.minutes(5)
   */
  readonly timeout?: Duration;
  /**
   * Extra environment variables (merged over the defaults, which they may not replace).
   * @default - none
   */
  readonly environment?: Readonly<Record<string, string>>;
  /**
   * Log retention of the function's log group.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Customer-managed key of the function's log group (its key policy must let CloudWatch Logs use it).
   * @default - CloudWatch Logs' own encryption
   */
  readonly encryptionKey?: kms.IKey;
}

/**
 * The one place that owns the Lambda defaults of crm-sync workers: Node.js 22 on arm64,
 * esbuild bundling with source maps, explicit memory and timeout, X-Ray tracing, a log group
 * with retention, and the config file bundled beside the code.
 */
export class WorkerFunction extends Construct {
  /** The function. */
  readonly function: nodejs.NodejsFunction;
  /** Its log group. */
  readonly logGroup: logs.LogGroup;
  /** Its execution role: logs to its own log group only (no managed policy); grants add the rest. */
  readonly role: iam.Role;
  /** The handler it runs (lambdas/handlers/<handler>.ts). */
  readonly handler: HandlerName;

  constructor(scope: Construct, id: string, props: WorkerFunctionProps) {
    super(scope, id);
    this.handler = props.handler;
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      ...(props.encryptionKey ? { encryptionKey: props.encryptionKey } : {}),
    });
    const reserved: Record<string, string> = {
      CRM_SYNC_HANDLER: props.handler,
      CRM_SYNC_CONFIG_FILE: 'crm-sync.config.json',
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: 'crm-sync',
    };
    for (const k of Object.keys(props.environment ?? {})) {
      if (k in reserved)
        throw new Error(`environment variable ${k} is set by WorkerFunction and cannot be overridden`);
    }
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `crm-sync ${props.handler} worker`,
    });
    this.logGroup.grantWrite(this.role);
    const configFile = props.configFile;
    this.function = new nodejs.NodejsFunction(this, 'Function', {
      entry: require.resolve(`../lambdas/handlers/${props.handler}`),
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 1024,
      timeout: props.timeout ?? Duration.minutes(5),
      tracing: lambda.Tracing.ACTIVE,
      logGroup: this.logGroup,
      role: this.role,
      loggingFormat: lambda.LoggingFormat.JSON,
      environment: { ...props.environment, ...reserved },
      bundling: {
        target: 'node22',
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        // The AWS SDK v3 in the runtime is not pinned; bundle ours so behaviour matches the tests.
        bundleAwsSDK: true,
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (_inputDir: string, outputDir: string) => [
            `cp "${configFile}" "${outputDir}/crm-sync.config.json"`,
          ],
        },
      },
    });
  }
}
