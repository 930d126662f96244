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
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { StateMachine } from 'aws-local-stepfunctions';
import type { CrmSyncConfig } from '../lambdas/domain/config';
import type { RejectDecision } from '../lambdas/domain/rejects';
import type { RunSummary } from '../lambdas/domain/report';
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
import { type Emulators, LOCAL, startEmulators } from './emulators';
import { appendEvents } from './events';
import { FaultInjector, type FaultRates, type FaultTask, formatFaultSpec } from './faults';

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
  /** Show the workers' logs (Powertools) on stdout. */
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
   * The time limit of an EXPRESS child of a Distributed Map, in ms; unset: `$CRM_SYNC_LOCAL_EXPRESS_LIMIT_MS`,
   * else 300000 (the 5 minutes of Step Functions). A child past it fails with States.Timeout.
   */
  expressTimeLimitMs?: number | undefined;
}

export type LocalRunStatus = 'SUCCEEDED' | 'FAILED' | 'DUPLICATE_TRIGGER';

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
}

type LambdaHandler = (event: unknown, context: unknown) => Promise<unknown>;

/**
 * The embedded stack: dynalite + s3rver in this process, and the synthesized state machine
 * definition run by aws-local-stepfunctions with its Task states bound to the real handlers, which
 * use the real AWS SDK clients pointed at the local endpoints.
 */
export class LocalStack {
  private emulators: Emulators | undefined;
  private handlers = new Map<HandlerName, LambdaHandler>();
  private s3!: S3Client;
  private dynamodb!: DynamoDBClient;
  private injector: FaultInjector | undefined;

  private constructor(private readonly options: LocalStackOptions) {}

  static async start(options: LocalStackOptions): Promise<LocalStack> {
    const stack = new LocalStack(options);
    await stack.boot();
    return stack;
  }

  get bucket(): string {
    return LOCAL.bucket;
  }

  tableOf(entity: string): string {
    return this.options.config.entities[entity]?.target.tableName ?? LOCAL.targetTable(entity);
  }

  get s3Client(): S3Client {
    return this.s3;
  }

  get dynamodbClient(): DynamoDBClient {
    return this.dynamodb;
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
      // Plan's layout (lambdas/domain/sizing.ts): one process runs every worker, and dynalite has no
      // throughput limit to share out.
      CRM_SYNC_MAX_CONCURRENCY: '10',
      CRM_SYNC_UNMETERED_TABLES: '1',
      POWERTOOLS_LOG_LEVEL: this.options.verbose ? 'INFO' : 'SILENT',
      POWERTOOLS_TRACE_ENABLED: 'false',
      AWS_XRAY_CONTEXT_MISSING: 'IGNORE_ERROR',
      // Tracing is off: without manual mode the X-Ray SDK installs an async hook (cls-hooked) that
      // tracks every promise, measured at a quarter of a local run's CPU.
      AWS_XRAY_MANUAL_MODE: 'true',
    });
    delete process.env.AWS_PROFILE;
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
    const faults = this.options.faults;
    if (faults && Object.values(faults.rates).some((r) => r !== undefined)) {
      this.injector = new FaultInjector({ ...faults, onProgress: this.options.onProgress });
      this.options.onProgress?.(
        `fault injection on: ${formatFaultSpec(faults.rates)} (seed ${this.injector.seed})`,
      );
      // The handlers' own clients (created on first require, with the endpoints set above).
      await this.injector.install(
        require('../lambdas/adapters/clients') as typeof import('../lambdas/adapters/clients'),
        Object.fromEntries(this.tableKeys().map((t) => [t.name, t.keys.map((k) => k.name)])),
      );
    }
  }

  /** The tables of the stack and their key attributes. */
  private tableKeys(): Array<{ name: string; keys: Array<{ name: string; type: 'HASH' | 'RANGE' }> }> {
    return [
      {
        name: LOCAL.ledgerTable,
        keys: [
          { name: 'pk', type: 'HASH' },
          { name: 'sk', type: 'RANGE' },
        ],
      },
      ...Object.entries(this.options.config.entities).map(([e, cfg]) => ({
        name: this.tableOf(e),
        keys: [{ name: cfg.target.key, type: 'HASH' as const }],
      })),
    ];
  }

  private async ensureTables(): Promise<void> {
    const existing = new Set((await this.dynamodb.send(new ListTablesCommand({}))).TableNames ?? []);
    const created: string[] = [];
    for (const t of this.tableKeys()) {
      if (existing.has(t.name)) continue;
      await this.dynamodb.send(
        new CreateTableCommand({
          TableName: t.name,
          BillingMode: 'PAY_PER_REQUEST',
          KeySchema: t.keys.map((k) => ({ AttributeName: k.name, KeyType: k.type })),
          AttributeDefinitions: t.keys.map((k) => ({ AttributeName: k.name, AttributeType: 'S' })),
        }),
      );
      created.push(t.name);
    }
    // The emulator answers CREATING and activates the table a moment later: wait, as on AWS.
    const waiter = { client: this.dynamodb, minDelay: 0.05, maxDelay: 0.5, maxWaitTime: 60 };
    await Promise.all(created.map((TableName) => waitUntilTableExists(waiter, { TableName })));
  }

  private handler(name: HandlerName): LambdaHandler {
    let h = this.handlers.get(name);
    if (!h) {
      // Required only now: the handlers' SDK clients read the local endpoints set in boot().
      const mod = require(`../lambdas/handlers/${name}`) as { handler: LambdaHandler };
      h = mod.handler;
      this.handlers.set(name, h);
    }
    return h;
  }

  /** Invokes a handler the way Lambda does: JSON in, JSON out, errors as {errorType, errorMessage}. */
  async invoke(name: HandlerName, payload: unknown, task?: FaultTask): Promise<unknown> {
    const event = JSON.parse(JSON.stringify(payload ?? null)) as unknown;
    const deadline = Date.now() + 15 * 60_000;
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
      const run = () => this.handler(name)(event, context);
      const out = await (this.injector && task ? this.injector.invoke(task, event, run) : run());
      return JSON.parse(JSON.stringify(out ?? null)) as unknown;
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      // Step Functions sees a Lambda error as Error = errorType, Cause = the JSON error object.
      const wrapped = new Error(JSON.stringify({ errorType: e.name, errorMessage: e.message }));
      wrapped.name = e.name;
      throw wrapped;
    }
  }

  private store(): ObjectStore {
    return {
      getText: async (bucket, key) => {
        const out = await this.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return (await out.Body?.transformToString('utf8')) ?? '';
      },
      putText: async (bucket, key, text) => {
        await this.s3.send(
          new PutObjectCommand({ Bucket: bucket, Key: key, Body: text, ContentType: 'application/json' }),
        );
      },
    };
  }

  /** Uploads a local file to the inbox of an entity; returns its key and ETag. */
  async upload(file: string, entity: string): Promise<{ key: string; etag: string; size: number }> {
    const key = `inbox/${entity}/${basename(file)}`;
    const size = statSync(file).size;
    const out = await new Upload({
      client: this.s3,
      params: { Bucket: LOCAL.bucket, Key: key, Body: createReadStream(file), ContentType: 'text/csv' },
      queueSize: 2,
    }).done();
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
  ): Promise<{
    status: 'SUCCEEDED' | 'FAILED';
    output: unknown;
    error?: { name: string; message: string };
  }> {
    const loaded = loadLocalDefinition(this.options.config, this.options.configFile, this.options.stateDir);
    const { functions } = loaded;
    const definition = which === 'sync' ? loaded.definition : loaded.machines?.[which];
    if (!definition) throw new Error(`local runner: no ${which} state machine in the cached definition`);
    const executionName = randomUUID();
    const executionArn = `arn:aws:states:${LOCAL.region}:${LOCAL.account}:execution:crm-sync:${executionName}`;
    const context = {
      Execution: { Id: executionArn, Name: executionName, Input: input, StartTime: new Date().toISOString() },
      StateMachine: {
        Id: `arn:aws:states:${LOCAL.region}:${LOCAL.account}:stateMachine:crm-sync`,
        Name: 'crm-sync',
      },
      State: {
        get EnteredTime() {
          return new Date().toISOString();
        },
        Name: '',
        RetryCount: 0,
      },
    };
    const handlers: Record<string, (input: unknown) => Promise<unknown>> = {};
    const stateNames: string[] = [];
    const progress = this.options.onProgress;
    const bind = (states: Record<string, Record<string, unknown>>, inDistributedMap = false) => {
      for (const [name, state] of Object.entries(states)) {
        stateNames.push(name);
        const processor = state.ItemProcessor as
          | { ProcessorConfig?: { Mode?: string }; States: Record<string, Record<string, unknown>> }
          | undefined;
        if (state.Type === 'Map' && processor?.ProcessorConfig?.Mode === 'DISTRIBUTED') {
          bind(processor.States, true);
          const original = { ...state };
          // aws-local-stepfunctions does not run Distributed Map features: run it here instead.
          for (const k of Object.keys(state)) {
            if (
              // InputPath, ResultSelector, ResultPath and OutputPath are applied by runDistributedMapState,
              // which holds the state's output to the payload quota.
              !['Type', 'Next', 'End', 'Retry', 'Catch', 'Comment'].includes(k)
            ) {
              delete state[k];
            }
          }
          state.Type = 'Task';
          state.Resource = `arn:aws:states:::local:distributedMap`;
          state.TimeoutSeconds = 12 * 3600;
          handlers[name] = (rawInput) =>
            runDistributedMapState({
              stateName: name,
              state: original,
              rawInput,
              context,
              store: this.store(),
              executionArn,
              processConcurrency: localProcessConcurrency(),
              expressTimeLimitMs,
              onProgress: progress
                ? (p: DistributedMapProgress) =>
                    progress(`${p.state}: ${p.done}/${p.total} done${p.failed ? `, ${p.failed} failed` : ''}`)
                : undefined,
              runChild: async (def, childInput, signal) => {
                const child = new StateMachine(def as never, { validationOptions: { noValidate: true } });
                const run = child.run(childInput as never, {
                  overrides: { taskResourceLocalHandlers: handlers as never, ...retryOverrides() },
                  context: context as never,
                });
                // Past its time limit the child is stopped: no further state of it runs.
                signal.addEventListener('abort', () => run.abort(), { once: true });
                return run.result;
              },
            });
        } else if (state.Type === 'Task') {
          const resource = String(state.Resource);
          const fn = functions[resource];
          const task: FaultTask = { state: name, worker: inDistributedMap, retry: state.Retry };
          if (fn) {
            handlers[name] = async (payload) => {
              await this.options.beforeTask?.(name);
              return this.invoke(fn, payload, task);
            };
          } else if (resource === 'arn:aws:states:::dynamodb:updateItem') {
            handlers[name] = async (params) => {
              return JSON.parse(
                JSON.stringify(await this.dynamodb.send(new UpdateItemCommand(params as never))),
              );
            };
          } else if (resource === 'arn:aws:states:::events:putEvents') {
            // The local event bus is a file: one JSON line per event, as EventBridge would deliver it.
            handlers[name] = async (params) => appendEvents(this.options.stateDir, params);
          } else throw new Error(`local runner: no local binding for Task ${name} (${resource})`);
          // Step Functions' payload quota on the task's input (after Parameters) and its result.
          const run = handlers[name];
          handlers[name] = async (payload) => {
            checkPayload(payload, `the input of ${name}`, state);
            const result = await run(payload);
            checkPayload(result, `the result of ${name}`, state);
            return result;
          };
        } else if (state.Type === 'Parallel') {
          for (const b of state.Branches as Array<{ States: Record<string, Record<string, unknown>> }>)
            bind(b.States, inDistributedMap);
        } else if (state.Type === 'Map') {
          bind(
            (state.ItemProcessor ?? state.Iterator) as Record<string, Record<string, unknown>>,
            inDistributedMap,
          );
        }
      }
    };
    const retryIntervalMs = this.options.retryIntervalMs;
    const expressTimeLimitMs = this.options.expressTimeLimitMs ?? localExpressTimeLimitMs();
    const retryOverrides = () =>
      retryIntervalMs === undefined
        ? {}
        : { retryIntervalOverrides: Object.fromEntries(stateNames.map((n) => [n, retryIntervalMs])) };
    const def = JSON.parse(JSON.stringify(definition)) as { States: Record<string, Record<string, unknown>> };
    bind(def.States);
    try {
      checkPayload(input, 'the execution input');
    } catch (err) {
      const e = err as Error;
      return { status: 'FAILED', output: null, error: { name: e.name, message: e.message } };
    }
    const machine = new StateMachine(def as never, {
      validationOptions: { checkArn: false, checkPaths: false },
    });
    const execution = machine.run(input as never, {
      overrides: { taskResourceLocalHandlers: handlers as never, ...retryOverrides() },
      context: context as never,
    });
    if (progress) {
      void (async () => {
        for await (const e of execution.eventLogs) {
          if (e.type === 'StateEntered' && e.index === undefined) progress(`→ ${e.state.name}`);
          if (e.type === 'StateRetried' && e.index === undefined) progress(`↻ ${e.state.name} retried`);
        }
      })().catch(() => {});
    }
    try {
      const output = await execution.result;
      checkPayload(output, 'the execution output');
      return { status: 'SUCCEEDED', output };
    } catch (err) {
      const e = err as Error & { cause?: unknown };
      const inner = e.cause instanceof Error ? e.cause : e;
      return { status: 'FAILED', output: null, error: { name: inner.name, message: inner.message } };
    }
  }

  /** Runs the Snapshot or Restore state machine (lib/snapshot-state-machine.ts) on an input. */
  async executeBackup(
    machine: 'snapshot' | 'restore',
    input: Record<string, unknown>,
  ): ReturnType<LocalStack['execute']> {
    return this.execute(input as unknown as Parameters<LocalStack['execute']>[0], machine);
  }

  async stop(): Promise<void> {
    this.injector?.uninstall();
    this.s3?.destroy();
    this.dynamodb?.destroy();
    await this.emulators?.stop();
  }
}
