import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type { CrmSyncConfig } from '../lambdas/domain/config';
import type { HandlerName } from '../lib/worker-function';
import { LOCAL, localTableName } from './emulators';
import type { LocalIam, LocalIamRole, PolicyDocument } from './iam';

/** The state machine definition of the synthesized stack, with its tokens resolved to local names. */
export interface LocalDefinition {
  definition: Record<string, unknown>;
  /** Local Lambda ARN → handler module. */
  functions: Record<string, HandlerName>;
  /** Each handler's function timeout in the template, in seconds (Lambda's getRemainingTimeInMillis counts down from it). */
  timeouts?: Partial<Record<HandlerName, number>>;
  /** The backup state machines' definitions (lib/snapshot-state-machine.ts), resolved the same way. */
  machines?: { snapshot: Record<string, unknown>; restore: Record<string, unknown> };
  /** The roles of the functions and state machines, their policies resolved the same way (local/iam.ts). */
  iam?: LocalIam;
}

const ROOT = join(__dirname, '..');

export function localFunctionArn(handler: string): string {
  return `arn:aws:lambda:${LOCAL.region}:${LOCAL.account}:function:crm-sync-${handler}`;
}

function sourceHash(configFile: string): string {
  const h = createHash('sha256');
  // The stack's code and what it imports of the workers' (its constants, error names, state paths).
  for (const dir of ['lib', 'lambdas/contract', 'lambdas/domain']) {
    for (const f of readdirSync(join(ROOT, dir)).sort()) h.update(f).update(readFileSync(join(ROOT, dir, f)));
  }
  // What is cached is this file's: a change here is a new cache entry.
  h.update(readFileSync(__filename));
  h.update(readFileSync(join(ROOT, 'node_modules', 'aws-cdk-lib', 'package.json')));
  h.update(readFileSync(configFile));
  return h.digest('hex').slice(0, 16);
}

/**
 * Synthesizes the CDK app's stack in this process (asset bundling skipped: only the template is
 * needed) and resolves the definition's `Fn::Join` tokens: bucket and table refs become the local
 * names, Lambda ARNs become local ARNs bound to the in-process handlers. Cached under the state dir
 * by a hash of `lib/` (and the lambdas' contract and domain modules it imports), the aws-cdk-lib
 * version and the config, so most runs pay no synth.
 *
 * With `CRM_SYNC_DEFINITION_CACHE` set to a folder (the test suites set it), the same hash-keyed
 * entry is also kept there, shared by every state dir and process: a definition is synthesized
 * once per hash, by the first process that needs it, while the others wait for its file.
 */
export function loadLocalDefinition(
  config: CrmSyncConfig,
  configFile: string,
  stateDir: string,
): LocalDefinition {
  const name = `asl-${sourceHash(configFile)}.json`;
  const cacheFile = join(stateDir, 'cache', name);
  if (existsSync(cacheFile)) return JSON.parse(readFileSync(cacheFile, 'utf8')) as LocalDefinition;
  const shared = process.env.CRM_SYNC_DEFINITION_CACHE;
  const text = shared
    ? sharedDefinitionText(join(shared, name), () => JSON.stringify(synthLocalDefinition(config, configFile)))
    : JSON.stringify(synthLocalDefinition(config, configFile));
  writeAtomically(cacheFile, text);
  return JSON.parse(text) as LocalDefinition;
}

/** Writes through a temp file and a rename, so a reader in another process never sees half a file. */
function writeAtomically(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temp, text);
  renameSync(temp, file);
}

/** How long a process waits for another one's synth of the same hash before doing it itself. */
const SHARED_SYNTH_WAIT_MS = 180_000;

/**
 * The shared entry's text: read if there, else synthesized under a lock file (`<entry>.lock`, made
 * with O_EXCL) so concurrent processes synthesize a hash once. A process that finds the lock waits
 * for the entry; a lock older than the wait (its process died) is taken over.
 */
export function sharedDefinitionText(file: string, synth: () => string): string {
  mkdirSync(dirname(file), { recursive: true });
  const lock = `${file}.lock`;
  const deadline = Date.now() + SHARED_SYNTH_WAIT_MS;
  for (;;) {
    if (existsSync(file)) return readFileSync(file, 'utf8');
    let fd: number | undefined;
    try {
      fd = openSync(lock, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (fd !== undefined) {
      try {
        if (existsSync(file)) return readFileSync(file, 'utf8');
        const text = synth();
        writeAtomically(file, text);
        return text;
      } finally {
        closeSync(fd);
        rmSync(lock, { force: true });
      }
    }
    const lockAge = lockAgeMs(lock);
    if (Date.now() > deadline || (lockAge !== undefined && lockAge > SHARED_SYNTH_WAIT_MS)) {
      rmSync(lock, { force: true });
      continue;
    }
    // A synchronous sleep: loadLocalDefinition is synchronous, and the synth it waits for runs elsewhere.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  }
}

function lockAgeMs(lock: string): number | undefined {
  try {
    return Date.now() - statSync(lock).mtimeMs;
  } catch {
    return undefined;
  }
}

export function synthLocalDefinition(config: CrmSyncConfig, configFile: string): LocalDefinition {
  // Loaded lazily: aws-cdk-lib is large and only needed on a cache miss.
  const { App, Stack } = require('aws-cdk-lib') as typeof import('aws-cdk-lib');
  const { Template } = require('aws-cdk-lib/assertions') as typeof import('aws-cdk-lib/assertions');
  const { CrmSyncStack } = require('../lib/crm-sync-stack') as typeof import('../lib/crm-sync-stack');
  const app = new App({
    context: {
      'aws:cdk:bundling-stacks': [],
      '@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2': true,
    },
  });
  // A configured key (`encryption.kmsKey`) is granted as in AWS, and its use checked (local/iam.ts,
  // keyRequestsOf); the emulators themselves encrypt nothing.
  const stack = new CrmSyncStack(app, 'CrmSync', { config, configFile });
  const template = Template.fromStack(stack).toJSON() as {
    Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
  };
  const logicalId = (c: { node: { defaultChild?: unknown } }) =>
    Stack.of(stack).getLogicalId(c.node.defaultChild as import('aws-cdk-lib').CfnElement);

  const refs: Record<string, string> = {
    'AWS::Partition': 'aws',
    'AWS::Region': LOCAL.region,
    'AWS::AccountId': LOCAL.account,
    'AWS::URLSuffix': 'amazonaws.com',
    [logicalId(stack.bucket)]: LOCAL.bucket,
    [logicalId(stack.ledger)]: LOCAL.ledgerTable,
  };
  const arns: Record<string, string> = {
    [logicalId(stack.bucket)]: `arn:aws:s3:::${LOCAL.bucket}`,
    [logicalId(stack.ledger)]: `arn:aws:dynamodb:${LOCAL.region}:${LOCAL.account}:table/${LOCAL.ledgerTable}`,
  };
  let encryptionKey: string | undefined;
  if (stack.encryptionKey?.node.defaultChild) {
    // A key the stack creates: its ARN, as a deployed stack's would look.
    encryptionKey = `arn:aws:kms:${LOCAL.region}:${LOCAL.account}:key/00000000-0000-4000-8000-000000000000`;
    arns[logicalId(stack.encryptionKey)] = encryptionKey;
  } else if (stack.encryptionKey) {
    encryptionKey = stack.encryptionKey.keyArn;
  }
  for (const [name, table] of Object.entries(stack.targetTables)) {
    const local = localTableName(name, config.entities[name]?.target);
    refs[logicalId(table)] = local;
    arns[logicalId(table)] = `arn:aws:dynamodb:${LOCAL.region}:${LOCAL.account}:table/${local}`;
  }
  const functions: Record<string, HandlerName> = {};
  const timeouts: Partial<Record<HandlerName, number>> = {};
  // Every crm-sync function of the stack, found by the handler name WorkerFunction sets.
  for (const [id, resource] of Object.entries(template.Resources)) {
    if (resource?.Type !== 'AWS::Lambda::Function') continue;
    const env = resource.Properties?.Environment as { Variables?: Record<string, string> } | undefined;
    const handler = env?.Variables?.CRM_SYNC_HANDLER as HandlerName | undefined;
    if (!handler) continue;
    arns[id] = localFunctionArn(handler);
    refs[id] = `crm-sync-${handler}`;
    functions[arns[id]] = handler;
    const timeout = resource.Properties?.Timeout;
    if (typeof timeout === 'number') timeouts[handler] = timeout;
  }
  if (Object.keys(functions).length === 0)
    throw new Error('local definition: the stack has no crm-sync function');

  const resolve = (part: unknown): string => {
    if (typeof part === 'string') return part;
    const p = part as Record<string, unknown>;
    if (typeof p.Ref === 'string') {
      const v = refs[p.Ref];
      if (v === undefined) throw new Error(`local definition: no local value for Ref ${p.Ref}`);
      return v;
    }
    const getAtt = p['Fn::GetAtt'] as [string, string] | undefined;
    if (getAtt) {
      const v = getAtt[1] === 'Arn' ? arns[getAtt[0]] : undefined;
      if (v === undefined) throw new Error(`local definition: no local value for GetAtt ${getAtt.join('.')}`);
      return v;
    }
    throw new Error(`local definition: unsupported token ${JSON.stringify(part)}`);
  };
  // Policies name more than the definition (log groups, the state machines themselves, Fn::Select of
  // an ARN): resolved leniently, a token with no local value becomes an ARN that matches nothing local.
  const machineArns: Record<string, string> = {
    [logicalId(stack.workflow.stateMachine)]:
      `arn:aws:states:${LOCAL.region}:${LOCAL.account}:stateMachine:crm-sync`,
    [logicalId(stack.backup.snapshotMachine)]:
      `arn:aws:states:${LOCAL.region}:${LOCAL.account}:stateMachine:crm-sync-snapshot`,
    [logicalId(stack.backup.restoreMachine)]:
      `arn:aws:states:${LOCAL.region}:${LOCAL.account}:stateMachine:crm-sync-restore`,
  };
  const unresolved = (id: string) => `arn:aws:unresolved:${LOCAL.region}:${LOCAL.account}:${id}`;
  const resolveLenient = (v: unknown): unknown => {
    if (typeof v !== 'object' || v === null) return v;
    if (Array.isArray(v)) return v.map(resolveLenient);
    const o = v as Record<string, unknown>;
    if (typeof o.Ref === 'string') return refs[o.Ref] ?? machineArns[o.Ref] ?? unresolved(o.Ref);
    const getAtt = o['Fn::GetAtt'] as [string, string] | undefined;
    if (getAtt) return (getAtt[1] === 'Arn' ? arns[getAtt[0]] : undefined) ?? unresolved(getAtt.join('.'));
    const join = o['Fn::Join'] as [string, unknown[]] | undefined;
    if (join) return join[1].map((p) => String(resolveLenient(p))).join(join[0]);
    const split = o['Fn::Split'] as [string, unknown] | undefined;
    if (split) return String(resolveLenient(split[1])).split(split[0]);
    const select = o['Fn::Select'] as [number, unknown] | undefined;
    if (select) return (resolveLenient(select[1]) as unknown[])[select[0]] ?? '';
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, resolveLenient(x)]));
  };
  const roleOf = (arn: unknown) =>
    (arn as { 'Fn::GetAtt'?: [string, string] } | undefined)?.['Fn::GetAtt']?.[0];
  const roles: Record<string, LocalIamRole> = {};
  for (const [id, resource] of Object.entries(template.Resources)) {
    if (resource?.Type !== 'AWS::IAM::Role') continue;
    const name = `${stack.stackName}-${id}`;
    const inline = (resource.Properties?.Policies ?? []) as Array<{
      PolicyName: string;
      PolicyDocument: unknown;
    }>;
    roles[id] = {
      name,
      arn: `arn:aws:iam::${LOCAL.account}:role/${name}`,
      policies: inline.map((p) => ({
        name: p.PolicyName,
        policy: resolveLenient(p.PolicyDocument) as PolicyDocument,
      })),
    };
  }
  for (const [id, resource] of Object.entries(template.Resources)) {
    if (resource?.Type !== 'AWS::IAM::Policy') continue;
    const attached = (resource.Properties?.Roles ?? []) as Array<{ Ref?: string }>;
    for (const ref of attached) {
      const role = ref.Ref === undefined ? undefined : roles[ref.Ref];
      role?.policies.push({
        name: id,
        policy: resolveLenient(resource.Properties?.PolicyDocument) as PolicyDocument,
      });
    }
  }
  const iam: LocalIam = { roles, functions: {}, machines: {} };
  if (encryptionKey) {
    const created = stack.encryptionKey?.node.defaultChild
      ? template.Resources[logicalId(stack.encryptionKey)]?.Properties?.KeyPolicy
      : undefined;
    // An imported key: the default key policy, which leaves the key's use to the account's IAM policies.
    const defaultPolicy = {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { AWS: `arn:aws:iam::${LOCAL.account}:root` },
          Action: 'kms:*',
          Resource: '*',
        },
      ],
    };
    iam.encryptionKey = encryptionKey;
    iam.keyPolicy = (created ? resolveLenient(created) : defaultPolicy) as PolicyDocument;
  }
  for (const [id, resource] of Object.entries(template.Resources)) {
    const role = roleOf(resource?.Properties?.Role);
    const handler = arns[id] === undefined ? undefined : functions[arns[id]];
    if (resource?.Type === 'AWS::Lambda::Function' && handler && role) iam.functions[handler] = role;
  }
  const machineRole = (machine: import('aws-cdk-lib/aws-stepfunctions').StateMachine) =>
    roleOf(template.Resources[logicalId(machine)]?.Properties?.RoleArn);
  iam.machines = {
    sync: machineRole(stack.workflow.stateMachine),
    snapshot: machineRole(stack.backup.snapshotMachine),
    restore: machineRole(stack.backup.restoreMachine),
  };
  const definitionOf = (machine: import('aws-cdk-lib/aws-stepfunctions').StateMachine) => {
    const body = template.Resources[logicalId(machine)]?.Properties?.DefinitionString;
    let text: string;
    if (typeof body === 'string') text = body;
    else {
      const join = (body as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
      text = join[1].map(resolve).join(join[0]);
    }
    return JSON.parse(text) as Record<string, unknown>;
  };
  return {
    definition: definitionOf(stack.workflow.stateMachine),
    functions,
    timeouts,
    machines: {
      snapshot: definitionOf(stack.backup.snapshotMachine),
      restore: definitionOf(stack.backup.restoreMachine),
    },
    iam,
  };
}
