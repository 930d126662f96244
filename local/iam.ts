import { AsyncLocalStorage } from 'node:async_hooks';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBServiceException } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { S3ServiceException } from '@aws-sdk/client-s3';
import { runSimulation, runUnsafeSimulation } from '@cloud-copilot/iam-simulate';
import { CrmSyncError } from '../lambdas/domain/errors';
import type { HandlerName } from '../lib/worker-function';

/**
 * IAM in local mode: every SDK call a worker or a state machine makes in a local run is evaluated
 * against the policies its role has in the synthesized template, and denied as AWS would deny it.
 *
 * The roles come from the template (local/asl.ts, cached with the definition): a function's `Role`,
 * the `AWS::IAM::Policy` resources attached to that role, with their tokens resolved to the local
 * names. The caller is carried in an AsyncLocalStorage set around each handler invocation and
 * around each of a state machine's own service integrations; calls made outside one (the CLI's
 * uploads, a test's setup) are the user's and are not checked.
 */

/** An IAM policy document as the template holds it, tokens resolved. */
export type PolicyDocument = { Version?: string; Statement: unknown };

export interface LocalIamRole {
  /** The role's name as a deployed stack names it (`<stack>-<logical id>`). */
  name: string;
  arn: string;
  policies: Array<{ name: string; policy: PolicyDocument }>;
}

/** The roles of the synthesized stack, and which runs as which. */
export interface LocalIam {
  /** Role logical id → role. */
  roles: Record<string, LocalIamRole>;
  /** Handler → its function's role (logical id). */
  functions: Partial<Record<HandlerName, string>>;
  /** State machine → its role (logical id). */
  machines: Partial<Record<'sync' | 'snapshot' | 'restore', string>>;
  /**
   * The ARN of the customer-managed KMS key the data bucket and the tables are encrypted with
   * (config `encryption.kmsKey`); unset: AWS-managed encryption, no KMS authorization.
   */
  encryptionKey?: string;
  /**
   * The key's policy (KMS authorizes a key's use only if its key policy allows it, or lets the
   * account's IAM policies do so): the template's for a key the stack creates, the default key
   * policy (the account's IAM policies decide) for an imported one.
   */
  keyPolicy?: PolicyDocument;
}

/** One IAM authorization a request needs. */
export interface IamRequest {
  action: string;
  resource: string;
  /** Condition keys of the request (e.g. `s3:prefix` of a ListBucket). */
  context?: Record<string, string>;
}

/** The env setting that turns enforcement off (`off`) or on (`on`, the default). */
export const LOCAL_IAM_ENV = 'CRM_SYNC_LOCAL_IAM';

/** `CRM_SYNC_LOCAL_IAM` is neither `on` nor `off`. */
export class LocalIamSettingError extends CrmSyncError {
  override readonly name = 'LocalIamSettingError';
}

/** A command the mapping does not know: the list of mapped commands is incomplete. */
export class UnmappedCommandError extends CrmSyncError {
  override readonly name = 'UnmappedCommandError';
}

/** Whether local runs enforce IAM: `CRM_SYNC_LOCAL_IAM` is `on` (default, also when empty) or `off`. */
export function localIamEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = (env[LOCAL_IAM_ENV] ?? '').trim().toLowerCase();
  if (value === '' || value === 'on') return true;
  if (value === 'off') return false;
  throw new LocalIamSettingError(`${LOCAL_IAM_ENV} must be "on" or "off", not "${env[LOCAL_IAM_ENV]}"`);
}

// ------------------------------------------------------------------------------------------------
// Command → IAM requests

type Input = Record<string, unknown>;
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

const s3Object = (input: Input) => `arn:aws:s3:::${str(input.Bucket)}/${str(input.Key)}`;
const s3Bucket = (input: Input) => `arn:aws:s3:::${str(input.Bucket)}`;
const prefixContext = (input: Input): Record<string, string> | undefined =>
  typeof input.Prefix === 'string' ? { 's3:prefix': input.Prefix } : undefined;
const withContext = (r: IamRequest, context: Record<string, string> | undefined): IamRequest =>
  context ? { ...r, context } : r;

/** Reads of an object: s3:GetObjectVersion when a version is named. */
const s3Read = (input: Input): IamRequest[] => [
  { action: input.VersionId ? 's3:GetObjectVersion' : 's3:GetObject', resource: s3Object(input) },
];
const s3Write = (input: Input): IamRequest[] => [{ action: 's3:PutObject', resource: s3Object(input) }];

const S3_COMMANDS: Record<string, (input: Input) => IamRequest[]> = {
  GetObjectCommand: s3Read,
  HeadObjectCommand: s3Read,
  PutObjectCommand: s3Write,
  CreateMultipartUploadCommand: s3Write,
  UploadPartCommand: s3Write,
  CompleteMultipartUploadCommand: s3Write,
  AbortMultipartUploadCommand: (input) => [{ action: 's3:AbortMultipartUpload', resource: s3Object(input) }],
  DeleteObjectCommand: (input) => [
    { action: input.VersionId ? 's3:DeleteObjectVersion' : 's3:DeleteObject', resource: s3Object(input) },
  ],
  DeleteObjectsCommand: (input) =>
    (
      ((input.Delete as { Objects?: Array<{ Key?: string; VersionId?: string }> } | undefined)?.Objects ??
        []) as Array<{ Key?: string; VersionId?: string }>
    ).map((o) => ({
      action: o.VersionId ? 's3:DeleteObjectVersion' : 's3:DeleteObject',
      resource: s3Object({ Bucket: input.Bucket, Key: o.Key }),
    })),
  ListObjectsCommand: (input) => [
    withContext({ action: 's3:ListBucket', resource: s3Bucket(input) }, prefixContext(input)),
  ],
  ListObjectsV2Command: (input) => [
    withContext({ action: 's3:ListBucket', resource: s3Bucket(input) }, prefixContext(input)),
  ],
  ListObjectVersionsCommand: (input) => [
    withContext({ action: 's3:ListBucketVersions', resource: s3Bucket(input) }, prefixContext(input)),
  ],
  CopyObjectCommand: (input) => {
    // CopySource: "bucket/key" (URL-encoded), optionally "?versionId=…".
    const [source = '', query] = decodeURIComponent(str(input.CopySource).replace(/^\//, '')).split('?');
    return [
      {
        action: query?.startsWith('versionId=') ? 's3:GetObjectVersion' : 's3:GetObject',
        resource: `arn:aws:s3:::${source}`,
      },
      ...s3Write(input),
    ];
  },
};

/** The DynamoDB commands the mapping knows, each with the tables (and index) it names. */
const DYNAMODB_COMMANDS: Record<string, (input: Input) => Array<{ table: string; index?: string }>> = {
  GetItemCommand: (input) => [{ table: str(input.TableName) }],
  PutItemCommand: (input) => [{ table: str(input.TableName) }],
  UpdateItemCommand: (input) => [{ table: str(input.TableName) }],
  DeleteItemCommand: (input) => [{ table: str(input.TableName) }],
  DescribeTableCommand: (input) => [{ table: str(input.TableName) }],
  QueryCommand: (input) => [{ table: str(input.TableName), index: str(input.IndexName) }],
  ScanCommand: (input) => [{ table: str(input.TableName), index: str(input.IndexName) }],
  BatchWriteItemCommand: (input) =>
    Object.keys((input.RequestItems ?? {}) as object).map((table) => ({ table })),
  BatchGetItemCommand: (input) =>
    Object.keys((input.RequestItems ?? {}) as object).map((table) => ({ table })),
  TransactWriteItemsCommand: (input) => {
    const items = (input.TransactItems ?? []) as Array<Record<string, { TableName?: string } | undefined>>;
    const tables = new Set(items.flatMap((i) => Object.values(i).map((op) => str(op?.TableName))));
    return [...tables].map((table) => ({ table }));
  },
  TransactGetItemsCommand: (input) => {
    const items = (input.TransactItems ?? []) as Array<{ Get?: { TableName?: string } }>;
    return [...new Set(items.map((i) => str(i.Get?.TableName)))].map((table) => ({ table }));
  },
};

/** The IAM action of a DynamoDB transaction per table (TransactWriteItems is authorized per item kind). */
const TRANSACT_ACTIONS: Record<string, string> = {
  Put: 'dynamodb:PutItem',
  Update: 'dynamodb:UpdateItem',
  Delete: 'dynamodb:DeleteItem',
  ConditionCheck: 'dynamodb:ConditionCheckItem',
};

/**
 * The IAM authorizations an SDK command needs: action, resource ARN and condition keys. An unknown
 * command is an error, so that every command the adapters send is mapped.
 */
export function iamRequestsOf(
  service: 's3' | 'dynamodb',
  commandName: string,
  input: Input,
  where: { region: string; account: string },
): IamRequest[] {
  if (service === 's3') {
    const map = S3_COMMANDS[commandName];
    if (!map) throw new UnmappedCommandError(`local IAM: no IAM mapping for the S3 command ${commandName}`);
    return map(input);
  }
  const map = DYNAMODB_COMMANDS[commandName];
  if (!map)
    throw new UnmappedCommandError(`local IAM: no IAM mapping for the DynamoDB command ${commandName}`);
  const arn = (table: string, index?: string) =>
    `arn:aws:dynamodb:${where.region}:${where.account}:table/${table}${index ? `/index/${index}` : ''}`;
  if (commandName === 'TransactWriteItemsCommand') {
    const items = (input.TransactItems ?? []) as Array<Record<string, { TableName?: string } | undefined>>;
    const seen = new Set<string>();
    const out: IamRequest[] = [];
    for (const item of items) {
      for (const [kind, op] of Object.entries(item)) {
        const action = TRANSACT_ACTIONS[kind];
        if (!action || !op) continue;
        const r = { action, resource: arn(str(op.TableName)) };
        const k = `${r.action} ${r.resource}`;
        if (!seen.has(k)) out.push(r);
        seen.add(k);
      }
    }
    return out;
  }
  const action =
    commandName === 'TransactGetItemsCommand'
      ? 'dynamodb:GetItem'
      : `dynamodb:${commandName.replace(/Command$/, '')}`;
  return map(input).map(({ table, index }) => ({ action, resource: arn(table, index) }));
}

/**
 * The KMS use of an S3 or DynamoDB command on data encrypted with a customer-managed key, as the
 * services require it of the caller: reading an object or items decrypts a data key; writing has
 * one generated, and decrypts too (the parts of a multipart upload, a copy's source). A HEAD, a
 * listing, a delete or DescribeTable reads no encrypted data. Written from the services' rules, not
 * from the stack's grants (lib/grants.ts), so that a missing grant is found.
 */
const KEY_USE: Record<string, 'decrypt' | 'encrypt'> = {
  GetObjectCommand: 'decrypt',
  PutObjectCommand: 'encrypt',
  CreateMultipartUploadCommand: 'encrypt',
  UploadPartCommand: 'encrypt',
  CompleteMultipartUploadCommand: 'encrypt',
  CopyObjectCommand: 'encrypt',
  GetItemCommand: 'decrypt',
  QueryCommand: 'decrypt',
  ScanCommand: 'decrypt',
  BatchGetItemCommand: 'decrypt',
  TransactGetItemsCommand: 'decrypt',
  PutItemCommand: 'encrypt',
  UpdateItemCommand: 'encrypt',
  DeleteItemCommand: 'encrypt',
  BatchWriteItemCommand: 'encrypt',
  TransactWriteItemsCommand: 'encrypt',
};

/** The KMS actions of KEY_USE. */
const KEY_USE_ACTIONS = {
  decrypt: ['kms:Decrypt'],
  encrypt: ['kms:Decrypt', 'kms:GenerateDataKey'],
} as const;

/** The KMS authorizations a command needs on the key its data is encrypted with (KEY_USE). */
export function keyRequestsOf(commandName: string, keyArn: string): IamRequest[] {
  const use = KEY_USE[commandName];
  if (!use) return [];
  return KEY_USE_ACTIONS[use].map((action) => ({ action, resource: keyArn }));
}

// ------------------------------------------------------------------------------------------------
// Evaluation

/** Who makes a call: a role and the session name (the function name, the execution name). */
export interface IamCaller {
  role: string;
  session: string;
}

/** The error a denied call fails with, shaped as the service answers it. */
export function accessDenied(
  service: 's3' | 'dynamodb' | 'lambda' | 'events',
  principal: string,
  request: IamRequest,
): Error {
  const message = `User: ${principal} is not authorized to perform: ${request.action} on resource: ${request.resource} because no identity-based policy allows the ${request.action} action`;
  const $metadata = { httpStatusCode: service === 's3' ? 403 : 400, requestId: 'LOCAL-IAM' };
  if (service === 's3') {
    return new S3ServiceException({ name: 'AccessDenied', $fault: 'client', message, $metadata });
  }
  if (service === 'dynamodb') {
    return new DynamoDBServiceException({
      name: 'AccessDeniedException',
      $fault: 'client',
      message,
      $metadata,
    });
  }
  // A state machine's own integrations: Step Functions names the error by its service.
  return Object.assign(new Error(message), {
    name: service === 'lambda' ? 'Lambda.AccessDeniedException' : 'EventBridge.AccessDeniedException',
    $fault: 'client',
    $metadata,
  });
}

type Handler = (args: { input: Record<string, unknown> }) => Promise<unknown>;
type Middleware = (next: Handler, context: { commandName?: string }) => Handler;
type Stack = { add(mw: never, options: never): void; remove(name: string): boolean };

const MIDDLEWARE = 'crmSyncLocalIam';

/** Evaluates the calls of the roles of one synthesized stack; one per local stack. */
export class LocalIamEnforcer {
  private readonly caller = new AsyncLocalStorage<IamCaller>();
  /** Decisions per (role, action, resource, condition context). */
  private readonly decisions = new Map<string, boolean>();
  private readonly installed: Stack[] = [];
  /** For measurements: requests checked, evaluations run (not found in the cache), time checking. */
  checks = 0;
  evaluations = 0;
  checkNs = 0n;

  private constructor(
    private readonly iam: LocalIam,
    private readonly where: { region: string; account: string },
  ) {}

  /** Validates every role's policies once (iam-simulate's checks), then evaluates without them. */
  static async create(iam: LocalIam, where: { region: string; account: string }): Promise<LocalIamEnforcer> {
    for (const role of Object.values(iam.roles)) {
      const result = await runSimulation(
        {
          request: {
            principal: `arn:aws:sts::${where.account}:assumed-role/${role.name}/validate`,
            action: 's3:GetObject',
            resource: { resource: 'arn:aws:s3:::validate/validate', accountId: where.account },
            contextVariables: {},
          },
          identityPolicies: role.policies,
          serviceControlPolicies: [],
          resourceControlPolicies: [],
        },
        {},
      );
      if (result.resultType === 'error') {
        throw new CrmSyncError(
          `local IAM: the policies of ${role.name} are not valid: ${result.errors.message}`,
        );
      }
    }
    const enforcer = new LocalIamEnforcer(iam, where);
    await enforcer.decideKeyUse();
    return enforcer;
  }

  /**
   * Decides, once per role, the KMS requests keyRequestsOf makes, with the key policy as the
   * resource policy (KMS needs it to allow, or to leave the decision to IAM). Evaluated by the full
   * simulation: the unchecked one does not take a resource policy.
   */
  private async decideKeyUse(): Promise<void> {
    const { encryptionKey: key, keyPolicy } = this.iam;
    if (!key || !keyPolicy) return;
    for (const [id, role] of Object.entries(this.iam.roles)) {
      for (const action of KEY_USE_ACTIONS.encrypt) {
        const result = await runSimulation(
          {
            request: {
              principal: `arn:aws:sts::${this.where.account}:assumed-role/${role.name}/local`,
              action,
              resource: { resource: key, accountId: this.where.account },
              contextVariables: {},
            },
            identityPolicies: role.policies,
            serviceControlPolicies: [],
            resourceControlPolicies: [],
            resourcePolicy: keyPolicy,
          },
          {},
        );
        if (result.resultType === 'error') {
          throw new CrmSyncError(
            `local IAM: the key policy of ${key} is not valid: ${result.errors.message}`,
          );
        }
        const allowed = result.resultType === 'single' && result.overallResult === 'Allowed';
        this.decisions.set(`${id}\n${action}\n${key}\n{}`, allowed);
      }
    }
  }

  /** The role of a handler's function (logical id), or an error naming the handler. */
  functionRole(handler: HandlerName): string {
    const role = this.iam.functions[handler];
    if (!role) throw new CrmSyncError(`local IAM: the template has no role for the ${handler} function`);
    return role;
  }

  machineRole(machine: 'sync' | 'snapshot' | 'restore'): string {
    const role = this.iam.machines[machine];
    if (!role) throw new CrmSyncError(`local IAM: the template has no role for the ${machine} state machine`);
    return role;
  }

  /** Runs `fn` as `caller`: the SDK calls it makes are checked against that role. */
  runAs<T>(caller: IamCaller, fn: () => T): T {
    return this.caller.run(caller, fn);
  }

  /** The principal ARN of a caller, as STS names an assumed role's session. */
  principal(caller: IamCaller): string {
    const name = this.iam.roles[caller.role]?.name ?? caller.role;
    return `arn:aws:sts::${this.where.account}:assumed-role/${name}/${caller.session}`;
  }

  /** Whether the role's policies allow the request. */
  allows(role: string, request: IamRequest): boolean {
    const context = request.context ?? {};
    const key = `${role}\n${request.action}\n${request.resource}\n${JSON.stringify(context)}`;
    const cached = this.decisions.get(key);
    if (cached !== undefined) return cached;
    const r = this.iam.roles[role];
    if (!r) throw new CrmSyncError(`local IAM: no role ${role} in the template`);
    this.evaluations++;
    const result = runUnsafeSimulation(
      {
        request: {
          principal: `arn:aws:sts::${this.where.account}:assumed-role/${r.name}/local`,
          action: request.action,
          resource: { resource: request.resource, accountId: this.where.account },
          contextVariables: context,
        },
        identityPolicies: r.policies,
        serviceControlPolicies: [],
        resourceControlPolicies: [],
      },
      {},
    );
    const allowed = result === 'Allowed';
    this.decisions.set(key, allowed);
    return allowed;
  }

  /** Throws the service's AccessDenied error unless the current caller may make every request. */
  check(
    service: 's3' | 'dynamodb' | 'lambda' | 'events',
    requests: readonly IamRequest[],
    caller?: IamCaller,
  ): void {
    const who = caller ?? this.caller.getStore();
    if (!who) return;
    const started = process.hrtime.bigint();
    try {
      for (const request of requests) {
        this.checks++;
        if (!this.allows(who.role, request)) throw accessDenied(service, this.principal(who), request);
      }
    } finally {
      this.checkNs += process.hrtime.bigint() - started;
    }
  }

  /**
   * Adds the check to SDK clients (initialize step: before the request is built, signed or retried).
   * Only calls made inside `runAs` are checked.
   */
  install(clients: { s3: S3Client; dynamodb: DynamoDBClient }): void {
    const add = (stack: Stack, service: 's3' | 'dynamodb') => {
      stack.remove(MIDDLEWARE);
      stack.add(
        this.middleware(service) as never,
        { step: 'initialize', priority: 'high', name: MIDDLEWARE } as never,
      );
      this.installed.push(stack);
    };
    add(clients.s3.middlewareStack as never, 's3');
    add(clients.dynamodb.middlewareStack as never, 'dynamodb');
  }

  uninstall(): void {
    for (const stack of this.installed.splice(0)) stack.remove(MIDDLEWARE);
  }

  private middleware(service: 's3' | 'dynamodb'): Middleware {
    return (next, context) => async (args) => {
      const who = this.caller.getStore();
      if (!who) return next(args);
      const command = context.commandName ?? '';
      const key = this.iam.encryptionKey;
      this.check(
        service,
        [
          ...iamRequestsOf(service, command, args.input, this.where),
          ...(key ? keyRequestsOf(command, key) : []),
        ],
        who,
      );
      if (service !== 's3' || (command !== 'GetObjectCommand' && command !== 'HeadObjectCommand')) {
        return next(args);
      }
      try {
        return await next(args);
      } catch (err) {
        // S3 answers a missing object with 404 only to a caller that may list the bucket, else 403.
        // A ListBucket allowed under a prefix (`s3:prefix` condition) is evaluated with the key as
        // the prefix: a role that may list `work/` learns of a missing `work/…` object.
        const name = (err as { name?: string }).name;
        if (name === 'NoSuchKey' || name === 'NotFound') {
          const key = (args.input as { Key?: unknown }).Key;
          const listing = { action: 's3:ListBucket', resource: s3Bucket(args.input) };
          this.check(
            's3',
            [withContext(listing, typeof key === 'string' ? { 's3:prefix': key } : undefined)],
            who,
          );
        }
        throw err;
      }
    };
  }
}
