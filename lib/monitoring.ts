import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { METRIC, METRIC_DIMENSIONS, METRICS_NAMESPACE } from '../lambdas/domain/run-metrics';
import { allowLogsEncryption, allowServiceToSend } from './grants';
import { acknowledge } from './nag';
import type { WorkerFunction } from './worker-function';

/** The source of crm-sync's events on the default bus (lambdas/adapters/events.ts). */
const EVENT_SOURCE = 'crm-sync';
/** The detail type of the event a run sends when it ends (the state machine, or the failure recorder). */
export const RUN_FINISHED = 'RunFinished';

export interface MonitoringProps {
  /** The run state machine: its executions are the runs. */
  readonly runStateMachine: sfn.IStateMachine;
  /**
   * Other state machines whose failed, timed-out and aborted executions raise alarms, by a name
   * (`Snapshot`, `Restore`) used in the alarms' ids and descriptions.
   * @default - none
   */
  readonly stateMachines?: Readonly<Record<string, sfn.IStateMachine>>;
  /** The configured entities: one mismatch alarm and one dashboard row each. */
  readonly entities: readonly string[];
  /** The `service` dimension of the run metrics (lambdas/domain/run-metrics.ts): the stack's name. */
  readonly service: string;
  /** The worker functions: errors and throttles alarms, and their dashboard widgets. */
  readonly workers: readonly WorkerFunction[];
  /** The stack's dead-letter queues, by name: an alarm when one holds a message. */
  readonly deadLetterQueues: Readonly<Record<string, sqs.IQueue>>;
  /**
   * Email addresses subscribed to the alarm topic (each confirms from the mail AWS sends).
   * @default - none
   */
  readonly emails?: readonly string[];
  /**
   * A customer-managed key for the alarm topic and the events log group. CloudWatch alarms and
   * EventBridge are granted its use to publish (and CloudWatch Logs to write the log group) in the
   * key policy of a key of this stack; an imported key keeps its policy, which must allow them.
   * @default - no key: the topic is not encrypted at rest (its messages carry run ids, entities
   * and statuses, never row values), the log group has CloudWatch Logs' own encryption
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * Retention of the events log group (every RunFinished event, what `crm-sync events` reads).
   * @default logs.RetentionDays.SIX_MONTHS
   */
  readonly eventsRetention?: logs.RetentionDays;
  /**
   * The period every alarm evaluates (one period, at least one occurrence).
   * @default Duration.minutes(5)
   */
  readonly period?: Duration;
}

/**
 * What tells a person that something went wrong in a deployed stack: CloudWatch alarms on the
 * executions of the state machines, the reconciliation of each entity's runs, the dead-letter
 * queues and the workers' errors and throttles, all notifying one SNS topic (TLS only), which also
 * receives a one-line message for every RunFinished event; one dashboard; and a log group that keeps
 * every RunFinished event.
 */
export class Monitoring extends Construct {
  /** The topic every alarm and every RunFinished event notifies. */
  readonly topic: sns.Topic;
  /** Every alarm, by its construct id. */
  readonly alarms: Readonly<Record<string, cloudwatch.Alarm>>;
  readonly dashboard: cloudwatch.Dashboard;
  /** Every RunFinished event, as JSON (`crm-sync events --stack` filters it). */
  readonly eventsLogGroup: logs.LogGroup;

  private readonly period: Duration;
  private readonly alarmsById: Record<string, cloudwatch.Alarm> = {};

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    this.period = props.period ?? Duration.minutes(5);
    const key = props.encryptionKey;

    this.topic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'crm-sync alarms and run notifications',
      enforceSSL: true,
      ...(key ? { masterKey: key } : {}),
    });
    if (key) {
      // Alarms and the RunFinished rules publish to the encrypted topic (the same statements as
      // the stack's other senders: identical statements are merged into one).
      for (const service of ['cloudwatch.amazonaws.com', 'events.amazonaws.com'])
        allowServiceToSend(key, service);
    } else {
      acknowledge(
        this.topic,
        'SNS2',
        'No customer-managed key was given (encryptionKey): the AWS-managed SNS key cannot be used by CloudWatch alarms or EventBridge, and the messages carry run ids, entities and statuses, never row values.',
      );
    }
    // The topic has a policy (TLS only, EventBridge's publish): CloudWatch alarms of this account are
    // allowed to publish by name, as the default policy would have.
    const stack = Stack.of(this);
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        actions: ['sns:Publish'],
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    for (const email of props.emails ?? []) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(email));
    }

    this.addExecutionAlarms('Run', props.runStateMachine);
    for (const [name, machine] of Object.entries(props.stateMachines ?? {})) {
      this.addExecutionAlarms(name, machine);
    }
    for (const entity of props.entities) {
      this.addAlarm(`Mismatches-${entity}`, {
        metric: this.runMetric(props.service, entity, METRIC.mismatches, 'Sum'),
        description: `A run of ${entity} did not reconcile (MISMATCHED): its summary.json and mismatches.csv under reports/<runId>/ name the failed checks and keys; fix the cause and run the file again.`,
      });
    }
    for (const [name, queue] of Object.entries(props.deadLetterQueues)) {
      this.addAlarm(`DeadLetters-${name}`, {
        metric: queue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: this.period }),
        description: `The dead-letter queue ${name} holds messages: an inbox event, a schedule or an execution status change was not delivered. Read the messages (the event and its error), start or record what they name, then purge the queue.`,
      });
    }
    for (const worker of props.workers) {
      const fn = worker.function;
      this.addAlarm(`Errors-${worker.handler}`, {
        metric: fn.metricErrors({ statistic: 'Sum', period: this.period }),
        description: `The ${worker.handler} worker failed (Lambda Errors): its log group names the error. Step Functions retries transient errors; a run that still failed is in the ledger and can be redriven.`,
      });
      this.addAlarm(`Throttles-${worker.handler}`, {
        metric: fn.metricThrottles({ statistic: 'Sum', period: this.period }),
        description: `The ${worker.handler} worker was throttled (Lambda Throttles): the account's concurrency is shared with other functions. Lower lambdaConcurrency in the config or raise the Lambda quota.`,
      });
    }
    this.alarms = this.alarmsById;

    this.eventsLogGroup = new logs.LogGroup(this, 'EventsLogs', {
      // EventBridge writes only to log groups named /aws/events/…
      logGroupName: `/aws/events/${Stack.of(this).stackName}/run-finished`,
      retention: props.eventsRetention ?? logs.RetentionDays.SIX_MONTHS,
      ...(key ? { encryptionKey: key } : {}),
    });
    if (key) allowLogsEncryption(key);
    this.addRunFinishedRules();
    this.dashboard = this.addDashboard(props);
  }

  /** One alarm per way an execution of the state machine ends badly. */
  private addExecutionAlarms(name: string, machine: sfn.IStateMachine): void {
    const what = name === 'Run' ? 'A run' : `A ${name.toLowerCase()}`;
    const redrive = 'aws stepfunctions redrive-execution --execution-arn <arn>';
    this.addAlarm(`${name}ExecutionsFailed`, {
      metric: machine.metricFailed({ statistic: 'Sum', period: this.period }),
      description: `${what} execution failed: its report (reports/<runId>/) and the execution's history name the failed state and error. Fix the cause, then resume it (${redrive}).`,
    });
    this.addAlarm(`${name}ExecutionsTimedOut`, {
      metric: machine.metricTimedOut({ statistic: 'Sum', period: this.period }),
      description: `${what} execution ran past its time limit: see which state ran long in its history, then resume it (${redrive}).`,
    });
    this.addAlarm(`${name}ExecutionsAborted`, {
      metric: machine.metricAborted({ statistic: 'Sum', period: this.period }),
      description: `${what} execution was stopped (by a person, or by the recorder when a redrive found the entity busy): its history says by whom and why.`,
    });
  }

  /** An alarm at one occurrence in one period; no data (nothing happened) is no alarm. */
  private addAlarm(id: string, spec: { metric: cloudwatch.IMetric; description: string }): void {
    const alarm = new cloudwatch.Alarm(this, id, {
      alarmName: `${Stack.of(this).stackName}-${id}`,
      metric: spec.metric,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: spec.description,
    });
    alarm.addAlarmAction(new actions.SnsAction(this.topic));
    this.alarmsById[id] = alarm;
  }

  /** A run metric of one entity (lambdas/domain/run-metrics.ts). */
  private runMetric(service: string, entity: string, name: string, statistic: string): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: name,
      dimensionsMap: { [METRIC_DIMENSIONS.service]: service, [METRIC_DIMENSIONS.entity]: entity },
      statistic,
      period: this.period,
    });
  }

  /**
   * RunFinished → the topic, as one line a person reads (a finished run says its reconciliation, a
   * failed one its error), and → the events log group, whole.
   */
  private addRunFinishedRules(): void {
    const field = (name: string) => events.EventField.fromPath(`$.detail.${name}`);
    const runFinished = { source: [EVENT_SOURCE], detailType: [RUN_FINISHED] };
    new events.Rule(this, 'RunFinishedNotify', {
      description: 'Notifies the alarm topic of every reconciled crm-sync run',
      eventPattern: { ...runFinished, detail: { reconciliation: [{ exists: true }] } },
      targets: [
        new targets.SnsTopic(this.topic, {
          message: events.RuleTargetInput.fromText(
            `crm-sync: ${field('entity')} run ${field('runId')} ${field('status')}, reconciliation ${field('reconciliation')} (dry run: ${field('dryRun')}); summary: ${field('summary')}`,
          ),
        }),
      ],
    });
    new events.Rule(this, 'RunFailedNotify', {
      description: 'Notifies the alarm topic of every crm-sync run that failed before Reconcile',
      eventPattern: { ...runFinished, detail: { reconciliation: [{ exists: false }] } },
      targets: [
        new targets.SnsTopic(this.topic, {
          message: events.RuleTargetInput.fromText(
            `crm-sync: ${field('entity')} run ${field('runId')} ${field('status')}, error ${field('error')} (dry run: ${field('dryRun')}); summary: ${field('summary')}; execution: ${field('executionArn')}`,
          ),
        }),
      ],
    });
    // EventBridge writes the log group under its resource policy. Set here, as CloudFormation's own
    // AWS::Logs::ResourcePolicy: targets.CloudWatchLogGroup would set it with a custom resource (a
    // Lambda function run at deploy time).
    const logGroup = this.eventsLogGroup;
    logGroup.addToResourcePolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        resources: [logGroup.logGroupArn],
      }),
    );
    new events.Rule(this, 'RunFinishedLog', {
      description: 'Keeps every crm-sync RunFinished event in the events log group',
      eventPattern: runFinished,
      targets: [
        {
          bind: () => ({
            arn: Stack.of(this).formatArn({
              service: 'logs',
              resource: 'log-group',
              resourceName: logGroup.logGroupName,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          }),
        },
      ],
    });
  }

  /** Runs, each entity's run metrics, the workers and the dead-letter queues, top to bottom. */
  private addDashboard(props: MonitoringProps): cloudwatch.Dashboard {
    const stack = Stack.of(this).stackName;
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `crm-sync-${stack}`,
      defaultInterval: Duration.days(7),
    });
    const opts = { statistic: 'Sum', period: this.period };
    const run = props.runStateMachine;
    dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown: `# crm-sync ${stack}\nRuns (executions of the run state machine), each entity's run metrics (namespace ${METRICS_NAMESPACE}), the workers and the dead-letter queues.`,
        width: 24,
        height: 2,
      }),
      new cloudwatch.GraphWidget({
        title: 'Run executions',
        width: 24,
        left: [
          run.metricStarted({ ...opts, label: 'started' }),
          run.metricSucceeded({ ...opts, label: 'succeeded' }),
          run.metricFailed({ ...opts, label: 'failed' }),
          run.metricTimedOut({ ...opts, label: 'timed out' }),
          run.metricAborted({ ...opts, label: 'aborted' }),
        ],
      }),
    );
    for (const entity of props.entities) {
      const m = (name: string, statistic: string, label: string) => {
        const metric = this.runMetric(props.service, entity, name, statistic);
        return metric.with({ label });
      };
      dashboard.addWidgets(
        new cloudwatch.GraphWidget({
          title: `${entity}: rows, applied, rejected`,
          width: 6,
          left: [
            m(METRIC.rows, 'Sum', 'rows'),
            m(METRIC.applied, 'Sum', 'applied'),
            m(METRIC.rejected, 'Sum', 'rejected'),
          ],
        }),
        new cloudwatch.GraphWidget({
          title: `${entity}: reject ratio`,
          width: 6,
          left: [m(METRIC.rejectRatio, 'Maximum', 'reject ratio')],
          leftYAxis: { min: 0, max: 1 },
        }),
        new cloudwatch.GraphWidget({
          title: `${entity}: run duration`,
          width: 6,
          left: [m(METRIC.duration, 'Maximum', 'duration (ms)')],
        }),
        new cloudwatch.GraphWidget({
          title: `${entity}: mismatches and failed runs`,
          width: 6,
          left: [
            m(METRIC.mismatches, 'Sum', 'failed checks'),
            m(METRIC.mismatchedKeys, 'Sum', 'mismatched keys'),
            m(METRIC.failedRuns, 'Sum', 'failed runs'),
          ],
        }),
      );
    }
    const perWorker = (metric: (fn: WorkerFunction) => cloudwatch.IMetric) => props.workers.map(metric);
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Worker errors',
        width: 8,
        left: perWorker((w) => w.function.metricErrors({ ...opts, label: w.handler })),
      }),
      new cloudwatch.GraphWidget({
        title: 'Worker throttles',
        width: 8,
        left: perWorker((w) => w.function.metricThrottles({ ...opts, label: w.handler })),
      }),
      new cloudwatch.GraphWidget({
        title: 'Worker duration (p99)',
        width: 8,
        left: perWorker((w) =>
          w.function.metricDuration({ statistic: 'p99', period: this.period, label: w.handler }),
        ),
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Dead-letter queue depth',
        width: 24,
        left: Object.entries(props.deadLetterQueues).map(([name, queue]) =>
          queue.metricApproximateNumberOfMessagesVisible({
            statistic: 'Maximum',
            period: this.period,
            label: name,
          }),
        ),
      }),
    );
    return dashboard;
  }
}
