import { randomUUID } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import {
  CreateTableCommand,
  DynamoDBClient,
  ListTablesCommand,
  UpdateItemCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { ExecutionAbortedError, StateMachine } from 'aws-local-stepfunctions';
import { dataClients, eventBridgeClient, resetClients, sfnClient } from '../lambdas/adapters/clients';
import { setTableWorkMeter } from '../lambdas/adapters/dynamodb';
import { setRuntimeSettings } from '../lambdas/adapters/runtime-settings';
import type { CrmSyncConfig } from '../lambdas/domain/config';
import { EXECUTION_STATUS_CHANGE } from '../lambdas/domain/execution-status';
import type { RejectDecision } from '../lambdas/domain/rejects';
import type { RunSummary } from '../lambdas/domain/report';
import { DRY_RUN_PREFIX } from '../lambdas/domain/run';
import { type TableDefinition, tableDefinitions } from '../lambdas/domain/tables';
import type { HandlerName } from '../lib/worker-function';
import { loadLocalDefinition } from './asl';
import {
  checkPayload,
  type DistributedMapProgress,
  localExpressTimeLimitMs,
  localProcessConcurrency,
  type ObjectStore,
  runDistributedMapState,
} from './distributed-map';
import {
  clearStagedUploads,
  type Emulators,
  LOCAL,
  localTableName,
  moveLocalObject,
  STAGING_PREFIX,
  startEmulators,
  UploadIncompleteError,
} from './emulators';
import { appendEvents } from './events';
import { type ExecutionRecord, saveExecution } from './executions';
import { FaultInjector, type FaultRates, type FaultTask, formatFaultSpec } from './faults';
import { HANDLERS } from './handlers';
import { type IamCaller, type LocalIam, LocalIamEnforcer, localIamEnabled } from './iam';
import { MapProgress, type TableWork } from './progress';
import { rebindDefinition } from './rebind';
import { createTableInput } from './tables';

// aws-local-stepfunctions 3 targets Node 22; Node 20 lacks Promise.withResolvers.
if (!('withResolvers' in Promise)) {
  Object.defineProperty(Promise, 'withResolvers', {
    value<T>() {
      let resolve!: (v: T) => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
  });
}

export interface LocalStackOptions {
  stateDir: string;
  config: CrmSyncConfig;
  configFile: string;
  /** Show the workers' logs (Powertools) on stdout: at INFO, or at `$POWERTOOLS_LOG_LEVEL` when set. */
  verbose?: boolean;
  onProgress?: (message: string) => void;
  /** Fault injection (`--faults`, `--seed`): see local/faults.ts. */
  faults?: { rates: FaultRates; seed?: number | undefined; crashStates?: readonly string[] } | undefined;
  /**
   * Wait this many ms before every Retry of every state instead of the definition's intervals
   * (tests with faults: the retries happen as defined, only sooner).
   */
  retryIntervalMs?: number | undefined;
  /**
   * Called before every Lambda task of the state machine runs (inside a Distributed Map: before
   * every child), with the state's name. A seam for tests that change the target between two
   * steps, as anyone with access to the table could in AWS.
   */
  beforeTask?: ((state: string) => Promise<void> | void) | undefined;
  /**
   * IAM enforcement (local/iam.ts): every SDK call of a worker or of a state machine is checked
   * against its role's policies in the synthesized template. `enforce` defaults to
   * `CRM_SYNC_LOCAL_IAM` (on unless `off`); `policies` changes the roles before they are enforced
   * (a seam for tests of a defective stack).
   */
  iam?: { enforce?: boolean; policies?: (iam: LocalIam) => LocalIam } | undefined;
  /**
   * The time limit of an EXPRESS child of a Distributed Map, in ms; unset: `$CRM_SYNC_LOCAL_EXPRESS_LIMIT_MS`,
   * else 300000 (the 5 minutes of Step Functions). A child past it fails with States.Timeout.
   */
  expressTimeLimitMs?: number | undefined;
  /**
   * Function timeouts in ms, by handler, instead of the template's (a seam for tests: a merge worker
   * with a short timeout hands back partitions sooner). What the handlers' Lambda context
   * (getRemainingTimeInMillis) counts down from, from the invocation's start. A function given a
   * timeout here also fails at it as Lambda fails it (Lambda.Unknown, "Task timed out"), though its
   * handler, in this process, runs on; the template's timeouts are reported, not enforced.
   */
  functionTimeoutsMs?: Partial<Record<HandlerName, number>> | undefined;
}

/** `REFUSED`: a redrive that was not started (the run cannot be resumed); nothing changed. */
export type LocalRunStatus = 'SUCCEEDED' | 'FAILED' | 'DUPLICATE_TRIGGER' | 'REFUSED';

/** `invocation`, or Lambda's timeout error once `ms` have passed (the handler is not stopped). */
async function timedOut<T>(invocation: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(
        Object.assign(new Error(`Task timed out after ${(ms / 1000).toFixed(2)} seconds`), {
          name: 'Lambda.Unknown',
        }),
      );
    }, ms);
  });
  try {
    return await Promise.race([invocation, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The name of the middleware that binds a handler's client to the local stack. */
const LOCAL_BINDING = 'crmSyncLocalBinding';

/** The ARN of the local sync state machine. */
export const STATE_MACHINE_ARN = `arn:aws:states:${LOCAL.region}:${LOCAL.account}:stateMachine:crm-sync`;

/** How an execution of a local state machine ended. */
export interface ExecutionResult {
  status: 'SUCCEEDED' | 'FAILED';
  output: unknown;
  error?: { name: string; message: string };
}

/** The run summary that `crm-sync local run --json` prints (DESIGN.md, "Local mode"). */
export interface LocalRunResult {
  runId: string | null;
  entity: string;
  status: LocalRunStatus;
  counts: RunSummary['counts'] | null;
  duplicateKeys: number;
  chunks: number;
  partitions: number;
  reconciliation: RunSummary['reconciliation'] | null;
  topReasons: RunSummary['topReasons'];
  /** Cells dropped or kept as text by their field's onInvalid (warnings.csv). */
  warnings?: number;
  topWarnings?: RunSummary['topWarnings'];
  /** Source columns of mapped fields the file does not carry (their stored values were kept). */
  missingColumns?: string[];
  /** Plan's day/month order per date column, and the zone local times were read in. */
  dateOrder?: RunSummary['dateOrder'];
  reports: Record<string, string>;
  durationMs: number;
  /** A dry run: the counts say what the run would do; `reports.diff` lists it per key. */
  dryRun?: boolean;
  /** Referential integrity of the run's items (entities with `references`). */
  references?: RunSummary['references'];
  /** Mirror mode: target items absent from the export, the limit, and how many were deleted. */
  mirror?: RunSummary['mirror'];
  /** The reject gate's decision (CheckRejects): rows, rejects, the share and the limit, top reasons. */
  rejects?: RejectDecision;
  error?: { name: string; message: string };
  /** Faults injected during this run, per kind of `--faults` (only when faults are on). */
  faults?: Record<string, number>;
  /**
   * What became of the run this export already had: `resumed` (it had been interrupted: redriven
   * now), `failed-before` (it failed: not run again), `already-ran` (it succeeded: nothing to do).
   */
  earlier?: { outcome: 'resumed' | 'failed-before' | 'already-ran'; message: string };
}

/**
 * The embedded stack: dynalite + s3rver in this process, and the synthesized state machine
 * definition run by aws-local-stepfunctions with its Task states bound to the real handlers, which
 * use the real AWS SDK clients pointed at the local endpoints.
 */
export class LocalStack {
  private emulators: Emulators | undefined;
  private s3!: S3Client;
  private dynamodb!: DynamoDBClient;
  private injector: FaultInjector | undefined;
  /** Executions running now, by ARN: their records, and how StopExecution aborts them. */
  private readonly running = new Map<string, { abort: () => void; record: ExecutionRecord }>();
  /** The error and cause a StopExecution gave, until its execution ends. */
  private readonly stopped = new Map<string, { name: string; message: string }>();
  private iam: { key: string; enforcer: LocalIamEnforcer } | undefined;
  /** The functions' timeouts in the synthesized template, in seconds (set when a definition is loaded). */
  private functionTimeouts: Partial<Record<HandlerName, number>> = {};

  /** Keys read and items written by the workers of this stack (counted when there is progress to show). */
  private readonly tableWork: TableWork = { reads: 0, writes: 0 };

  private constructor(private readonly options: LocalStackOptions) {}

  static async start(options: LocalStackOptions): Promise<LocalStack> {
    const stack = new LocalStack(options);
    try {
      await stack.boot();
    } catch (err) {
      await stack.stop();
      throw err;
    }
    return stack;
  }

  get bucket(): string {
    return LOCAL.bucket;
  }

  tableOf(entity: string): string {
    return localTableName(entity, this.options.config.entities[entity]?.target);
  }

  /** The state dir the stack keeps its data, reports and execution records in. */
  get stateDir(): string {
    return this.options.stateDir;
  }

  /** The ETag of an object of the local bucket (quotes removed), or undefined when there is none. */
  async objectEtag(key: string): Promise<string | undefined> {
    try {
      const out = await this.s3.send(new HeadObjectCommand({ Bucket: LOCAL.bucket, Key: key }));
      return (out.ETag ?? '').replaceAll('"', '');
    } catch (err) {
      if ((err as Error).name === 'NotFound' || (err as Error).name === 'NoSuchKey') return undefined;
      throw err;
    }
  }

  get s3Client(): S3Client {
    return this.s3;
  }

  get dynamodbClient(): DynamoDBClient {
    return this.dynamodb;
  }

  /** Shows a line of progress (stderr in the CLI), unless the stack is quiet. */
  progress(message: string): void {
    this.options.onProgress?.(message);
  }

  /** The executions running now, with the state each last entered. */
  runningExecutions(): ExecutionRecord[] {
    return [...this.running.values()].map((e) => e.record);
  }

  /** The fault injector when the stack runs with `--faults`. */
  get faults(): FaultInjector | undefined {
    return this.injector;
  }

  private async boot(): Promise<void> {
    const { config, stateDir } = this.options;
    this.emulators = await startEmulators(stateDir);
    const tables = Object.fromEntries(Object.keys(config.entities).map((e) => [e, this.tableOf(e)]));
    Object.assign(process.env, {
      AWS_REGION: LOCAL.region,
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_ENDPOINT_URL_S3: this.emulators.s3Endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: this.emulators.dynamodbEndpoint,
      CRM_SYNC_BUCKET: LOCAL.bucket,
      CRM_SYNC_LEDGER_TABLE: LOCAL.ledgerTable,
      CRM_SYNC_TARGET_TABLES: JSON.stringify(tables),
      CRM_SYNC_CONFIG_FILE: resolve(this.options.configFile),
      // `--verbose`: INFO, or the level POWERTOOLS_LOG_LEVEL names (DEBUG shows everything).
      POWERTOOLS_LOG_LEVEL: this.options.verbose ? (process.env.POWERTOOLS_LOG_LEVEL ?? 'INFO') : 'SILENT',
      POWERTOOLS_TRACE_ENABLED: 'false',
      // The run metrics' EMF records are for CloudWatch: locally they would only print JSON.
      POWERTOOLS_METRICS_DISABLED: 'true',
      AWS_XRAY_CONTEXT_MISSING: 'IGNORE_ERROR',
      // Tracing is off: without manual mode the X-Ray SDK installs an async hook (cls-hooked) that
      // tracks every promise, measured at a quarter of a local run's CPU.
      AWS_XRAY_MANUAL_MODE: 'true',
    });
    delete process.env.AWS_PROFILE;
    // Plan's layout (lambdas/domain/sizing.ts): one process runs every worker, and dynalite has no
    // throughput limit to share out.
    setRuntimeSettings({ maxConcurrency: 10, unmeteredTables: true });
    // The handlers' clients of an earlier stack talk to its emulators: this stack's are made anew.
    resetClients();
    this.s3 = new S3Client({
      endpoint: this.emulators.s3Endpoint,
      forcePathStyle: true,
      region: LOCAL.region,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    this.dynamodb = new DynamoDBClient({
      endpoint: this.emulators.dynamodbEndpoint,
      region: LOCAL.region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    await this.ensureTables();
    this.installServiceBindings();
    if (this.options.onProgress) {
      // The Maps' progress lines show the table work inside a partition (local only).
      setTableWorkMeter((kind, n) => {
        if (kind === 'read') this.tableWork.reads += n;
        else this.tableWork.writes += n;
      });
    }
    const faults = this.options.faults;
    if (faults && Object.values(faults.rates).some((r) => r !== undefined)) {
      this.injector = new FaultInjector({ ...faults, onProgress: this.options.onProgress });
      this.options.onProgress?.(
        `fault injection on: ${formatFaultSpec(faults.rates)} (seed ${this.injector.seed})`,
      );
      // The handlers' own clients (made on their first use: with the endpoints set above).
      await this.injector.install(
        dataClients(),
        Object.fromEntries(
          this.tables().map((t) => [
            t.name,
            [t.definition.partition.name, ...(t.definition.sort ? [t.definition.sort.name] : [])],
          ]),
        ),
      );
    }
  }

  /**
   * The services the handlers call that have no emulator: EventBridge PutEvents goes to the local
   * event bus (events.jsonl), Step Functions StopExecution stops a local execution. Installed on the
   * handlers' own clients (created once per process), replaced by the latest stack.
   */
  private installServiceBindings(): void {
    const eventBridge = eventBridgeClient();
    const sfn = sfnClient();
    const stateDir = this.options.stateDir;
    eventBridge.middlewareStack.add(
      (_next, context) => async (args) => {
        if (context.commandName !== 'PutEventsCommand') {
          throw new Error(`local stack: EventBridge ${context.commandName} has no local binding`);
        }
        return { output: { ...appendEvents(stateDir, args.input), $metadata: {} }, response: {} } as never;
      },
      { step: 'initialize', name: LOCAL_BINDING, override: true },
    );
    sfn.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== 'StopExecutionCommand') return next(args);
        const input = args.input as { executionArn?: string; error?: string; cause?: string };
        if (
          !this.stopExecution(input.executionArn ?? '', input.error ?? 'ExecutionAborted', input.cause ?? '')
        ) {
          throw Object.assign(new Error(`execution ${input.executionArn} is not running`), {
            name: 'ExecutionDoesNotExist',
          });
        }
        return { output: { stopDate: new Date(), $metadata: {} }, response: {} } as never;
      },
      { step: 'initialize', name: LOCAL_BINDING, override: true },
    );
  }

  /** The tables of the stack: the ledger and the target tables (lambdas/domain/tables.ts). */
  private tables(): Array<{
    name: string;
    definition: Omit<TableDefinition, 'id' | 'shared' | 'entities' | 'tableName'>;
  }> {
    return [
      {
        name: LOCAL.ledgerTable,
        definition: { partition: { name: 'pk', type: 'S' }, sort: { name: 'sk', type: 'S' }, indexes: [] },
      },
      ...tableDefinitions(this.options.config).map((t) => ({
        name: this.tableOf(t.entities[0] ?? ''),
        definition: t,
      })),
    ];
  }

  private async ensureTables(): Promise<void> {
    const existing = new Set((await this.dynamodb.send(new ListTablesCommand({}))).TableNames ?? []);
    const created: string[] = [];
    for (const t of this.tables()) {
      if (existing.has(t.name)) continue;
      await this.dynamodb.send(new CreateTableCommand(createTableInput(t.name, t.definition)));
      created.push(t.name);
    }
    // The emulator answers CREATING and activates the table a moment later: wait, as on AWS.
    const waiter = { client: this.dynamodb, minDelay: 0.05, maxDelay: 0.5, maxWaitTime: 60 };
    await Promise.all(created.map((TableName) => waitUntilTableExists(waiter, { TableName })));
  }

  /**
   * The IAM enforcer of this stack's roles, undefined when it is off. Made on the first run and kept
   * (with its decisions) while the roles stay the same.
   */
  private async enforcer(
    loaded: ReturnType<typeof loadLocalDefinition>,
  ): Promise<LocalIamEnforcer | undefined> {
    if (!(this.options.iam?.enforce ?? localIamEnabled())) return undefined;
    if (!loaded.iam) throw new Error('local runner: the cached definition has no IAM roles');
    const roles = this.options.iam?.policies ? this.options.iam.policies(loaded.iam) : loaded.iam;
    const key = JSON.stringify(roles);
    if (this.iam?.key === key) return this.iam.enforcer;
    this.iam?.enforcer.uninstall();
    this.iam = undefined;
    const enforcer = await LocalIamEnforcer.create(roles, LOCAL);
    // The handlers' shared clients, and this stack's own for the state machines' integrations:
    // only calls made as a role (LocalIamEnforcer.runAs) are checked, not the CLI's own.
    enforcer.install(dataClients());
    enforcer.install({ s3: this.s3, dynamodb: this.dynamodb });
    this.iam = { key, enforcer };
    return enforcer;
  }

  /** Invokes a handler the way Lambda does: JSON in, JSON out, errors as {errorType, errorMessage}. */
  async invoke(name: HandlerName, payload: unknown, task?: FaultTask): Promise<unknown> {
    const event = JSON.parse(JSON.stringify(payload ?? null)) as unknown;
    // As in Lambda: the function's timeout, counted from the invocation's start (15 minutes, the
    // most Lambda allows, for a function the template does not name).
    const templateSeconds = this.functionTimeouts[name];
    const timeoutMs =
      this.options.functionTimeoutsMs?.[name] ??
      (templateSeconds === undefined ? 15 * 60_000 : templateSeconds * 1000);
    const deadline = Date.now() + timeoutMs;
    const context = {
      functionName: `crm-sync-${name}`,
      functionVersion: '$LATEST',
      invokedFunctionArn: `arn:aws:lambda:${LOCAL.region}:${LOCAL.account}:function:crm-sync-${name}`,
      memoryLimitInMB: '1024',
      awsRequestId: randomUUID(),
      logGroupName: `/aws/lambda/crm-sync-${name}`,
      logStreamName: 'local',
      callbackWaitsForEmptyEventLoop: false,
      getRemainingTimeInMillis: () => deadline - Date.now(),
      done() {},
      fail() {},
      succeed() {},
    };
    try {
      const iam = this.iam?.enforcer;
      const handle = () => HANDLERS[name](event, context);
      const run = iam
        ? () => iam.runAs({ role: iam.functionRole(name), session: context.functionName }, handle)
        : handle;
      const invocation = this.injector && task ? this.injector.invoke(task, event, run) : run();
      const out = await (this.options.functionTimeoutsMs?.[name] === undefined
        ? invocation
        : timedOut(invocation, timeoutMs));
      return JSON.parse(JSON.stringify(out ?? null)) as unknown;
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      // Step Functions sees a Lambda error as Error = errorType, Cause = the JSON error object.
      const wrapped = new Error(JSON.stringify({ errorType: e.name, errorMessage: e.message }));
      wrapped.name = e.name;
      throw wrapped;
    }
  }

  /** A Distributed Map's ItemReader and ResultWriter: S3 calls of the state machine's role. */
  private store(asMachine: <T>(fn: () => Promise<T>) => Promise<T>): ObjectStore {
    return {
      getText: (bucket, key) =>
        asMachine(async () => {
          const out = await this.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
          return (await out.Body?.transformToString('utf8')) ?? '';
        }),
      putText: (bucket, key, text) =>
        asMachine(async () => {
          await this.s3.send(
            new PutObjectCommand({ Bucket: bucket, Key: key, Body: text, ContentType: 'application/json' }),
          );
        }),
    };
  }

  /**
   * Uploads a local file to the inbox of an entity (a dry run's file: under `dry-run/<entity>/`,
   * which no sync takes); returns its key and ETag. Atomic: the file is uploaded under a staging
   * key, checked to be whole, then moved into place (moveLocalObject), so a process killed during
   * the upload leaves no part of the file under the key.
   */
  async upload(
    file: string,
    entity: string,
    options: { dryRun?: boolean; folder?: string } = {},
  ): Promise<{ key: string; etag: string; size: number }> {
    const folder = options.folder === undefined ? '' : `${options.folder}/`;
    const key = `${options.dryRun ? DRY_RUN_PREFIX : 'inbox/'}${entity}/${folder}${basename(file)}`;
    const { stateDir } = this.options;
    const size = statSync(file).size;
    clearStagedUploads(stateDir, LOCAL.bucket);
    const staged = `${STAGING_PREFIX}${randomUUID()}/${basename(file)}`;
    const out = await new Upload({
      client: this.s3,
      params: { Bucket: LOCAL.bucket, Key: staged, Body: createReadStream(file), ContentType: 'text/csv' },
      queueSize: 2,
    }).done();
    const head = await this.s3.send(new HeadObjectCommand({ Bucket: LOCAL.bucket, Key: staged }));
    if (head.ContentLength !== size) {
      clearStagedUploads(stateDir, LOCAL.bucket);
      throw new UploadIncompleteError(
        `${file}: ${head.ContentLength ?? 0} of its ${size} bytes were uploaded (did it change meanwhile?); nothing was put in ${key}`,
      );
    }
    moveLocalObject(stateDir, LOCAL.bucket, staged, key);
    return { key, etag: (out.ETag ?? '').replaceAll('"', ''), size };
  }

  /** Runs the state machine for an object in the local bucket, as the S3 trigger would. */
  async execute(
    input: {
      bucket: string;
      key: string;
      entity: string;
      etag?: string;
      rerun?: string;
      /** Resume this failed run (redrive). */
      resume?: string;
      /** Classify and report only; write nothing to the target. */
      dryRun?: boolean;
      /** Mirror mode: delete the items the export leaves out even above maxDeleteRatio. */
      forceDeletes?: boolean;
      /** The file as the person named it (messages and reports name it). */
      label?: string;
      /** Load the valid rows even above maxRejectRatio, or a file with no data row. */
      force?: boolean;
    },
    which: 'sync' | 'snapshot' | 'restore' = 'sync',
    /** Redrive this execution: continue it from the state it failed in, as Step Functions does. */
    redrive?: ExecutionRecord,
  ): Promise<ExecutionResult> {
    const loaded = loadLocalDefinition(this.options.config, this.options.configFile, this.options.stateDir);
    const { functions } = loaded;
    this.functionTimeouts = loaded.timeouts ?? {};
    const definition = which === 'sync' ? loaded.definition : loaded.machines?.[which];
    if (!definition) throw new Error(`local runner: no ${which} state machine in the cached definition`);
    const iam = await this.enforcer(loaded);
    const name = redrive?.name ?? randomUUID();
    const executionArn =
      redrive?.executionArn ?? `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${name}`;
    const record: ExecutionRecord = redrive
      ? { ...redrive, status: 'RUNNING', redriveCount: redrive.redriveCount + 1 }
      : {
          executionArn,
          name,
          machine: which,
          input,
          startedAt: new Date().toISOString(),
          status: 'RUNNING',
          redriveCount: 0,
          mapRuns: {},
        };
    const { stateDir } = this.options;
    saveExecution(stateDir, record);
    const executionName = name;
    const machineCaller: IamCaller | undefined = iam && {
      role: iam.machineRole(which),
      session: executionName,
    };
    const asMachine = <T>(fn: () => Promise<T>): Promise<T> =>
      iam && machineCaller ? iam.runAs(machineCaller, fn) : fn();
    const context = {
      Execution: {
        Id: executionArn,
        Name: executionName,
        Input: record.input,
        StartTime: record.startedAt,
        RedriveCount: record.redriveCount,
      },
      StateMachine: { Id: STATE_MACHINE_ARN, Name: 'crm-sync' },
      State: {
        get EnteredTime() {
          return new Date().toISOString();
        },
        Name: '',
        RetryCount: 0,
      },
    };
    const handlers: Record<string, (input: unknown) => Promise<unknown>> = {};
    // A stopped execution stops its Distributed Maps' children too, and starts no more of them.
    const children = new Set<() => void>();
    let halted = false;
    const progress = this.options.onProgress;
    const retryIntervalMs = this.options.retryIntervalMs;
    const expressTimeLimitMs = this.options.expressTimeLimitMs ?? localExpressTimeLimitMs();
    const retryOverrides = () =>
      retryIntervalMs === undefined
        ? {}
        : { retryIntervalOverrides: Object.fromEntries(stateNames.map((n) => [n, retryIntervalMs])) };
    const { definition: def, bindings, stateNames } = rebindDefinition(definition, functions);
    for (const binding of bindings) {
      const { name } = binding;
      if (binding.kind === 'distributedMap') {
        handlers[name] = (rawInput) => {
          const shown =
            progress && new MapProgress({ state: name, write: progress, work: () => this.tableWork });
          const heartbeat = shown && setInterval(() => shown.tick(), 1_000).unref();
          return runDistributedMapState({
            stateName: name,
            // A redrive of this Map: its Map Run again, where the children that succeeded stay done.
            mapRunId: redrive?.state?.name === name ? record.mapRuns[name] : undefined,
            onMapRun: (id: string) => {
              record.mapRuns[name] = id;
              saveExecution(stateDir, record);
            },
            state: binding.original,
            rawInput,
            context,
            store: this.store(asMachine),
            executionArn,
            processConcurrency: localProcessConcurrency(),
            expressTimeLimitMs,
            onProgress: shown ? (p: DistributedMapProgress) => shown.update(p) : undefined,
            runChild: async (def, childInput, signal) => {
              if (halted) {
                throw Object.assign(new Error('the execution was stopped'), { name: 'ExecutionAborted' });
              }
              const child = new StateMachine(def as never, { validationOptions: { noValidate: true } });
              const run = child.run(childInput as never, {
                overrides: { taskResourceLocalHandlers: handlers as never, ...retryOverrides() },
                context: context as never,
              });
              // Past its time limit the child is stopped: no further state of it runs.
              signal.addEventListener('abort', () => run.abort(), { once: true });
              const abort = () => run.abort();
              children.add(abort);
              try {
                return await run.result;
              } finally {
                children.delete(abort);
              }
            },
          }).finally(() => clearInterval(heartbeat));
        };
        continue;
      }
      let run: (payload: unknown) => Promise<unknown>;
      if (binding.kind === 'lambda') {
        const { resource, handler, state } = binding;
        const task: FaultTask = { state: name, worker: binding.inDistributedMap, retry: state.Retry };
        run = async (payload) => {
          await this.options.beforeTask?.(name);
          iam?.check('lambda', [{ action: 'lambda:InvokeFunction', resource }], machineCaller);
          return this.invoke(handler, payload, task);
        };
      } else if (binding.kind === 'dynamodb:updateItem') {
        run = async (params) => {
          const out = await asMachine(() => this.dynamodb.send(new UpdateItemCommand(params as never)));
          return JSON.parse(JSON.stringify(out));
        };
      } else {
        // The local event bus is a file: one JSON line per event, as EventBridge would deliver it.
        run = async (params) => {
          const entries = ((params as { Entries?: Array<{ EventBusName?: string }> }).Entries ?? []).map(
            (e) => e.EventBusName ?? 'default',
          );
          iam?.check(
            'events',
            [...new Set(entries)].map((bus) => ({
              action: 'events:PutEvents',
              resource: bus.startsWith('arn:')
                ? bus
                : `arn:aws:events:${LOCAL.region}:${LOCAL.account}:event-bus/${bus}`,
            })),
            machineCaller,
          );
          return appendEvents(this.options.stateDir, params);
        };
      }
      // Step Functions' payload quota on the task's input (after Parameters) and its result.
      const { state } = binding;
      handlers[name] = async (payload) => {
        checkPayload(payload, `the input of ${name}`, state);
        const result = await run(payload);
        checkPayload(result, `the result of ${name}`, state);
        return result;
      };
    }
    try {
      checkPayload(input, 'the execution input');
    } catch (err) {
      const e = err as Error;
      const error = { name: e.name, message: e.message };
      Object.assign(record, { status: 'FAILED', error, stoppedAt: new Date().toISOString() });
      saveExecution(stateDir, record);
      return { status: 'FAILED', output: null, error };
    }
    // A redrive continues from the state the execution failed in, with that state's input.
    const start = redrive?.state;
    if (redrive && !start)
      throw new Error(`local runner: execution ${executionArn} entered no state to redrive`);
    if (start) def.StartAt = start.name;
    // A redrive starts past states that are then unreachable: the definition was validated when it ran.
    const machine = new StateMachine(def as never, {
      validationOptions: start ? { noValidate: true } : { checkArn: false, checkPaths: false },
    });
    if (redrive && which === 'sync') {
      // The redrive's RUNNING event first: the recorder takes the entity's lock again, or stops the
      // execution while another run holds it (here: before its first state runs).
      const taken = (await this.recordStatus(record, 'RUNNING')) as { outcome?: string; holder?: string };
      if (taken.outcome === 'busy') {
        const error = {
          name: 'EntityBusyError',
          message: `run ${taken.holder} of the entity is running: redrive after it ends`,
        };
        await this.recordAborted(record, error);
        return { status: 'FAILED', output: null, error };
      }
    }
    const execution = machine.run((start ? start.input : input) as never, {
      overrides: { taskResourceLocalHandlers: handlers as never, ...retryOverrides() },
      context: context as never,
    });
    this.running.set(executionArn, {
      abort: () => {
        halted = true;
        for (const abort of children) abort();
        execution.abort();
      },
      record,
    });
    void (async () => {
      for await (const e of execution.eventLogs) {
        if ('index' in e && e.index !== undefined) continue;
        if (e.type === 'StateEntered') {
          record.state = { name: e.state.name, input: e.state.input };
          saveExecution(stateDir, record);
          progress?.(`→ ${e.state.name}`);
        }
        if (e.type === 'StateRetried') progress?.(`↻ ${e.state.name} retried`);
      }
    })().catch(() => {});
    let result: ExecutionResult;
    try {
      const output = await execution.result;
      checkPayload(output, 'the execution output');
      result = { status: 'SUCCEEDED', output };
      record.status = 'SUCCEEDED';
    } catch (err) {
      const e = err as Error & { cause?: unknown };
      const inner = e.cause instanceof Error ? e.cause : e;
      const aborted = e instanceof ExecutionAbortedError;
      const error = aborted
        ? (this.stopped.get(executionArn) ?? {
            name: 'ExecutionAborted',
            message: 'the execution was stopped',
          })
        : { name: inner.name, message: inner.message };
      result = { status: 'FAILED', output: null, error };
      record.status = aborted ? 'ABORTED' : 'FAILED';
      record.error = error;
    } finally {
      this.running.delete(executionArn);
      this.stopped.delete(executionArn);
    }
    record.stoppedAt = new Date().toISOString();
    saveExecution(stateDir, record);
    // EventBridge's "Execution Status Change" rule: the recorder records the failed run.
    if (which === 'sync' && record.status !== 'SUCCEEDED') await this.recordStatus(record, record.status);
    return result;
  }

  /**
   * Delivers an "Execution Status Change" event of the sync state machine to the execution-status
   * recorder, as the stack's EventBridge rule does: a failed, timed-out or aborted execution, or a
   * redriven one (RUNNING with its redrive count).
   */
  async recordStatus(record: ExecutionRecord, status: ExecutionRecord['status']): Promise<unknown> {
    const now = Date.now();
    const event = {
      version: '0',
      id: randomUUID(),
      'detail-type': EXECUTION_STATUS_CHANGE,
      source: 'aws.states',
      account: LOCAL.account,
      time: new Date(now).toISOString().replace(/\.\d+Z$/, 'Z'),
      region: LOCAL.region,
      resources: [record.executionArn],
      detail: {
        executionArn: record.executionArn,
        stateMachineArn: STATE_MACHINE_ARN,
        name: record.name,
        status,
        startDate: Date.parse(record.startedAt),
        stopDate: status === 'RUNNING' ? null : now,
        input: JSON.stringify(record.input),
        error: status === 'RUNNING' ? null : (record.error?.name ?? null),
        cause: status === 'RUNNING' ? null : (record.error?.message ?? null),
        redriveCount: record.redriveCount,
        ...(status === 'RUNNING' && record.redriveCount > 0 ? { redriveDate: now } : {}),
      },
    };
    return this.invoke('execution-status', event);
  }

  /**
   * An execution that ended without running to its end (stopped, or its process gone): its record
   * says ABORTED with the error, and the recorder gets the ABORTED event.
   */
  async recordAborted(record: ExecutionRecord, error: { name: string; message: string }): Promise<void> {
    Object.assign(record, { status: 'ABORTED', error, stoppedAt: new Date().toISOString() });
    saveExecution(this.options.stateDir, record);
    await this.recordStatus(record, 'ABORTED');
  }

  /** Stops a running execution (StopExecution): it ends ABORTED with this error and cause. */
  stopExecution(executionArn: string, error: string, cause: string): boolean {
    const execution = this.running.get(executionArn);
    if (!execution) return false;
    this.stopped.set(executionArn, { name: error, message: cause });
    execution.abort();
    return true;
  }

  /** Runs the Snapshot or Restore state machine (lib/snapshot-state-machine.ts) on an input. */
  async executeBackup(
    machine: 'snapshot' | 'restore',
    input: Record<string, unknown>,
  ): ReturnType<LocalStack['execute']> {
    return this.execute(input as unknown as Parameters<LocalStack['execute']>[0], machine);
  }

  async stop(): Promise<void> {
    if (this.options.onProgress) setTableWorkMeter(undefined);
    this.injector?.uninstall();
    this.iam?.enforcer.uninstall();
    this.s3?.destroy();
    this.dynamodb?.destroy();
    await this.emulators?.stop();
  }
}
