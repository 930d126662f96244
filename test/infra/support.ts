import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { App, type CfnElement, type Stack } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { parseConfigText } from '../../lambdas/domain/config';

/** The example config the stack tests synthesize. */
export const configFile = resolve(__dirname, '../../examples/crm-sync.config.json');
export const config = parseConfigText(readFileSync(configFile, 'utf8'), configFile);

/** CRM_SYNC_HANDLER of every function the example stack deploys: the 7 run workers, snapshot and restore. */
export const STACK_HANDLERS = [
  'check-rejects',
  'execution-status',
  'merge',
  'mirror',
  'plan',
  'reconcile',
  'restore',
  'snapshot',
  'transform',
  'verify',
] as const;

type Json = Record<string, unknown>;

/** The parts of an Amazon States Language state that the infra tests read. */
export interface AslState {
  Type: string;
  Next?: string;
  End?: boolean;
  Resource?: string;
  TimeoutSeconds?: number;
  ItemsPath?: string;
  Retry?: Array<{
    ErrorEquals: string[];
    MaxAttempts?: number;
    BackoffRate?: number;
    JitterStrategy?: string;
    IntervalSeconds?: number;
    MaxDelaySeconds?: number;
  }>;
  Catch?: Array<{ ErrorEquals: string[]; Next: string; ResultPath?: string }>;
  ItemProcessor?: { ProcessorConfig?: Json; StartAt: string; States: Record<string, AslState> };
  ItemReader?: { Resource: string; ReaderConfig?: Json; Parameters?: Json };
  ItemBatcher?: { MaxItemsPerBatch?: number; BatchInput?: Json };
  ResultWriter?: { Resource: string; Parameters?: Json };
  ResultPath?: string | null;
  Parameters?: Json;
  MaxConcurrency?: number;
  MaxConcurrencyPath?: string;
  ToleratedFailurePercentage?: number;
  Choices?: Json[];
  Default?: string;
}

/** A value that must be there (noUncheckedIndexedAccess). */
export function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`missing: ${what}`);
  return value;
}

export function asArray<T>(value: T | T[] | undefined): T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** An app that synthesizes without bundling; `outdir` receives validation-report.json. */
export function newApp(outdir?: string): App {
  return new App({
    ...(outdir ? { outdir } : {}),
    context: {
      'aws:cdk:bundling-stacks': [],
      '@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2': true,
      // Validation failures throw from app.synth() with the report in the message, whatever NODE_ENV says.
      '@aws-cdk/core:appMode': 'inmemory',
    },
  });
}

export function logicalId(stack: Stack, construct: IConstruct): string {
  const child = construct.node.defaultChild ?? construct;
  return stack.getLogicalId(child as CfnElement);
}

export interface PolicyStatement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, unknown>;
}

/** Every statement of every AWS::IAM::Policy attached to the role. */
export function statementsOfRole(template: Template, roleId: string): PolicyStatement[] {
  const policies = Object.values(template.findResources('AWS::IAM::Policy'));
  return policies
    .filter((p) => JSON.stringify(p.Properties.Roles ?? []).includes(`"${roleId}"`))
    .flatMap((p) => asArray<PolicyStatement>(p.Properties.PolicyDocument.Statement));
}

interface ValidationReport {
  pluginReports: {
    pluginName: string;
    conclusion: string;
    violations: { ruleName: string; severity: string; violatingConstructs: { constructPath: string }[] }[];
    suppressedViolations?: { ruleName: string; acknowledgedId: string; reason?: string }[];
  }[];
}

type PluginReport = ValidationReport['pluginReports'][number];

/** The AwsSolutions (cdk-nag) report in the validation-report.json that app.synth() wrote into `outdir`. */
export function nagReport(outdir: string): PluginReport {
  const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as ValidationReport;
  return must(
    report.pluginReports.find((r) => r.pluginName === 'AwsSolutions'),
    'AwsSolutions report',
  );
}

/** The report's errors (not acknowledged), each as `<rule> at <construct paths>`. */
export function nagErrors(report: PluginReport): string[] {
  return report.violations
    .filter((v) => v.severity === 'error' || v.severity === 'fatal')
    .map((v) => `${v.ruleName} at ${v.violatingConstructs.map((c) => c.constructPath).join(', ')}`);
}

export { SHARED_TABLE } from '../shared-table';
