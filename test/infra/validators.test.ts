import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { parseConfig } from '../../lambdas/domain/config';
import { CrmSyncStack } from '../../lib/crm-sync-stack';
import { configFile, newApp, SHARED_TABLE } from './support';

/**
 * Independent validators on what a deploy would send to AWS: cfn-lint (AWS's CloudFormation linter,
 * with the resource specifications of the service) on every synthesized template, and asl-validator
 * (the Amazon States Language schema) on every state machine definition in them.
 */

jest.setTimeout(120_000);

type Json = Record<string, unknown>;
interface CfnResource {
  Type: string;
  Properties?: Json;
}
interface CfnTemplate {
  Resources: Record<string, CfnResource>;
}

const example = JSON.parse(readFileSync(configFile, 'utf8')) as {
  encryption?: { kmsKey: string };
  entities: Record<string, Record<string, unknown> & { references?: Record<string, Json> }>;
};

/**
 * The configurations whose stacks differ: the example, mirror mode, schedules, rejecting references,
 * and all of them encrypted with a customer-managed key.
 */
const VARIANTS: Record<string, (raw: typeof example) => void> = {
  example: () => {},
  mirror: (raw) => {
    for (const e of Object.values(raw.entities)) e.syncMode = 'mirror';
  },
  schedules: (raw) => {
    Object.assign(raw.entities.contact ?? {}, {
      schedule: 'cron(0 2 * * ? *)',
      scheduleTimezone: 'Europe/Berlin',
    });
    Object.assign(raw.entities.account ?? {}, { schedule: 'rate(1 hour)' });
  },
  'rejecting references': (raw) => {
    for (const e of Object.values(raw.entities))
      for (const r of Object.values(e.references ?? {})) r.reject = true;
  },
  'single table': (raw) => {
    Object.assign(raw.entities.account ?? {}, { target: SHARED_TABLE.account });
    Object.assign(raw.entities.contact ?? {}, { target: SHARED_TABLE.contact });
    const fields = raw.entities.contact?.fields as Record<string, Json> | undefined;
    if (fields?.accountId) fields.accountId.required = true;
  },
  'customer-managed key': (raw) => {
    VARIANTS.schedules?.(raw);
    VARIANTS['rejecting references']?.(raw);
    raw.encryption = { kmsKey: 'create' };
  },
};

function synth(variant: string): CfnTemplate {
  const raw = structuredClone(example);
  VARIANTS[variant]?.(raw);
  const config = parseConfig(raw);
  const stack = new CrmSyncStack(newApp(), 'CrmSync', {
    config,
    configFile,
  });
  return Template.fromStack(stack).toJSON() as CfnTemplate;
}

const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';

/**
 * A definition's text with its tokens replaced by values of the kind CloudFormation would put there:
 * Lambda ARNs, the bucket's and table's names, the partition.
 */
function definitionOf(template: CfnTemplate, definition: unknown): Json {
  if (typeof definition === 'string') return JSON.parse(definition) as Json;
  const joined = (definition as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (!joined) throw new Error(`unexpected DefinitionString: ${JSON.stringify(definition)}`);
  const value = (token: unknown): string => {
    if (typeof token === 'string') return token;
    const t = token as { Ref?: string; 'Fn::GetAtt'?: [string, string] };
    const pseudo: Record<string, string> = {
      'AWS::Partition': 'aws',
      'AWS::Region': REGION,
      'AWS::AccountId': ACCOUNT,
      'AWS::URLSuffix': 'amazonaws.com',
    };
    if (t.Ref && pseudo[t.Ref]) return pseudo[t.Ref] as string;
    const id = t.Ref ?? t['Fn::GetAtt']?.[0] ?? '';
    const type = template.Resources[id]?.Type;
    const name = id.toLowerCase();
    if (t['Fn::GetAtt']?.[1] === 'Arn') {
      if (type === 'AWS::Lambda::Function') return `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${id}`;
      if (type === 'AWS::DynamoDB::Table') return `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${id}`;
      if (type === 'AWS::S3::Bucket') return `arn:aws:s3:::${name}`;
    }
    if (t.Ref && type === 'AWS::S3::Bucket') return name;
    if (t.Ref) return id;
    throw new Error(`no plausible value for the token ${JSON.stringify(token)} (${type})`);
  };
  return JSON.parse(joined[1].map(value).join(joined[0])) as Json;
}

interface CfnLintMatch {
  Level: 'Error' | 'Warning' | 'Informational';
  Rule: { Id: string };
  Message: string;
  Filename: string;
  Location: { Path?: unknown[] };
}

/**
 * cfn-lint warnings that are no fault of the stack:
 * - W3005: CDK adds an explicit DependsOn on a function's (or state machine's) role and default
 *   policy, the role being also referenced by GetAtt: redundant, and needed for the policy, whose
 *   only link to the function is that DependsOn (the function must not start before it may act).
 * - W3045 on the access-logs bucket: S3 server access logging is granted to the log delivery group
 *   by the LogDeliveryWrite ACL (ObjectOwnership BucketOwnerPreferred keeps ACLs on for that bucket
 *   only). A legacy way, still supported; the bucket-policy way needs the CDK feature flag
 *   `@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy` and a bucket replacement on update.
 */
const KNOWN_WARNINGS: Array<(m: CfnLintMatch) => boolean> = [
  (m) => m.Rule.Id === 'W3005' && m.Location.Path?.[2] === 'DependsOn',
  (m) => m.Rule.Id === 'W3045' && String(m.Location.Path?.[1]).startsWith('AccessLogs'),
];

const cfnLint = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' });
const hasCfnLint = cfnLint.status === 0;
const inCi = process.env.CI === 'true';

describe('independent validators of the synthesized stacks', () => {
  let dir: string;
  const templates: Record<string, CfnTemplate> = {};

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'crm-sync-validate-'));
    for (const variant of Object.keys(VARIANTS)) templates[variant] = synth(variant);
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each(Object.keys(VARIANTS))(
    'asl-validator finds every state machine definition valid (%s)',
    (variant) => {
      // Prepare
      const validate = require('asl-validator') as (
        definition: Json,
        options?: { checkPaths?: boolean; checkArn?: boolean },
      ) => { isValid: boolean; errorsText: (separator?: string) => string };
      const template = templates[variant] as CfnTemplate;
      const machines = Object.entries(template.Resources).filter(
        ([, r]) => r.Type === 'AWS::StepFunctions::StateMachine',
      );

      // Act
      const invalid = machines
        .map(([id, r]) => ({ id, result: validate(definitionOf(template, r.Properties?.DefinitionString)) }))
        .filter(({ result }) => !result.isValid)
        .map(({ id, result }) => `${id}: ${result.errorsText('; ')}`);

      // Assess: the sync state machine and the two backup ones.
      expect(machines.length).toBeGreaterThanOrEqual(3);
      expect(invalid).toEqual([]);
    },
  );

  const lintTitle = hasCfnLint
    ? 'cfn-lint finds no error in any synthesized template'
    : inCi
      ? 'cfn-lint finds no error in any synthesized template (cfn-lint must be on PATH in CI)'
      : 'cfn-lint finds no error in any synthesized template (skipped: cfn-lint is not on PATH; pip install cfn-lint)';
  (hasCfnLint || inCi ? it : it.skip)(lintTitle, () => {
    if (!hasCfnLint) throw new Error('cfn-lint is not on PATH: install it in CI (pip install cfn-lint)');
    // Prepare
    const files = Object.entries(templates).map(([variant, t]) => {
      const file = join(dir, `${variant.replaceAll(' ', '-')}.template.json`);
      writeFileSync(file, JSON.stringify(t, null, 1));
      return file;
    });

    // Act: one process for every template (cfn-lint takes seconds to start).
    const run = spawnSync('cfn-lint', ['--format', 'json', '--', ...files], {
      encoding: 'utf8',
      timeout: 100_000,
    });

    // Assess
    if (run.error) throw run.error;
    const matches = JSON.parse(run.stdout || '[]') as CfnLintMatch[];
    const format = (m: CfnLintMatch) =>
      `${m.Rule.Id} ${m.Filename.split('/').pop()} ${JSON.stringify(m.Location.Path ?? [])}: ${m.Message}`;
    expect(matches.filter((m) => m.Level === 'Error').map(format)).toEqual([]);
    // Warnings: only the two kinds explained at KNOWN_WARNINGS; any other is to be fixed or explained.
    const warnings = matches.filter((m) => m.Level === 'Warning');
    expect(warnings.filter((m) => !KNOWN_WARNINGS.some((k) => k(m))).map(format)).toEqual([]);
  });
});
