import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type { z } from 'zod';
import { InvalidEventError } from '../domain/errors';
import type {
  ChunkStep,
  LedgerStep,
  PartitionStep,
  RunRecord,
  RunStatus,
  SourceRef,
  StepRecord,
  StepRef,
} from '../domain/run';
import { backupLedgerKey, parseBackupLockHolder } from '../domain/snapshot';
import { dynamodbClient } from './clients';
import { queryPages, scanPages } from './dynamodb';
import { logger } from './powertools';

export type {
  ChunkStep,
  LedgerStep,
  PartitionStep,
  StepOutcome,
  StepRecord,
  StepRef,
  StepStatus,
} from '../domain/run';

export interface ListRunsOptions {
  /** Only the runs of this entity. */
  entity?: string | undefined;
  /** At most this many runs (the newest). */
  limit?: number | undefined;
}

/** Sort-key prefixes of the step items; the numbers are zero-padded so keys sort by number. */
const STEP_PREFIX = { chunk: 'CHUNK#', partition: 'PART#' } as const;

function stepKey(step: StepRef): string {
  return step.kind === 'chunk'
    ? `${STEP_PREFIX.chunk}${String(step.index).padStart(6, '0')}`
    : `${STEP_PREFIX.partition}${String(step.partition).padStart(4, '0')}`;
}

/**
 * The run ledger: one item per run (`RUN#<runId>` / `RUN`) and one per chunk
 * (`RUN#<runId>` / `CHUNK#<index>`) and merge partition (`RUN#<runId>` / `PART#<partition>`).
 * The run item is claimed with a conditional put, so a duplicate trigger of the same object and
 * config finds the claim and does nothing.
 */
export class Ledger {
  constructor(private readonly table: string) {}

  /** Claims the run; returns the existing record when it was already claimed. */
  async claim(run: RunRecord): Promise<{ claimed: true } | { claimed: false; existing: RunRecord }> {
    try {
      await dynamodbClient().send(
        new PutItemCommand({
          TableName: this.table,
          Item: marshall({ pk: `RUN#${run.runId}`, sk: 'RUN', ...run }, { removeUndefinedValues: true }),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return { claimed: true };
    } catch (err) {
      if (
        err instanceof ConditionalCheckFailedException ||
        (err as Error).name === 'ConditionalCheckFailedException'
      ) {
        const existing = await this.getRun(run.runId);
        if (existing) return { claimed: false, existing };
      }
      throw err;
    }
  }

  /**
   * Takes the entity's run lock (`LOCK#<entity>` / `LOCK`) for a run: free, already this run's,
   * expired, or held by a run that is no longer RUNNING (failed, finished or never claimed after
   * `leaseMs`). Returns the holder when another run is still running.
   */
  async acquireLock(
    entity: string,
    runId: string,
    leaseMs: number,
    now = Date.now(),
  ): Promise<{ acquired: true } | { acquired: false; holder: string; since: string }> {
    const key = { pk: { S: `LOCK#${entity}` }, sk: { S: 'LOCK' } };
    const item = {
      ...key,
      runId: { S: runId },
      acquiredAt: { S: new Date(now).toISOString() },
      expiresAt: { N: String(Math.floor((now + leaseMs) / 1000)) },
    };
    const put = async (condition: string, values: Record<string, AttributeValue>): Promise<boolean> => {
      try {
        await dynamodbClient().send(
          new PutItemCommand({
            TableName: this.table,
            Item: item,
            ConditionExpression: condition,
            ExpressionAttributeValues: values,
          }),
        );
        return true;
      } catch (err) {
        if (isConditionFailure(err)) return false;
        throw err;
      }
    };
    const nowSeconds = { N: String(Math.floor(now / 1000)) };
    if (
      await put('attribute_not_exists(pk) OR runId = :run OR expiresAt < :now', {
        ':run': { S: runId },
        ':now': nowSeconds,
      })
    ) {
      return { acquired: true };
    }
    const held = await dynamodbClient().send(
      new GetItemCommand({ TableName: this.table, Key: key, ConsistentRead: true }),
    );
    const holder = held.Item?.runId?.S ?? '';
    const since = held.Item?.acquiredAt?.S ?? '';
    const holderStatus = holder ? await this.holderStatus(entity, holder) : undefined;
    const stale = holderStatus
      ? holderStatus !== 'RUNNING'
      : now - Date.parse(since || new Date(0).toISOString()) > leaseMs / 24;
    // Take it over only from the holder just seen (another claimer may be doing the same).
    if (stale && (await put('runId = :holder', { ':holder': { S: holder } }))) return { acquired: true };
    return { acquired: false, holder, since };
  }

  /**
   * Status of a lock holder: a run, or a snapshot or restore (`snapshot:<id>`, `restore:<id>`) whose
   * record is under `BACKUP#<entity>`; undefined when there is no record.
   */
  private async holderStatus(entity: string, holder: string): Promise<string | undefined> {
    const backup = parseBackupLockHolder(holder);
    if (!backup) return (await this.getRun(holder))?.status;
    const out = await dynamodbClient().send(
      new GetItemCommand({
        TableName: this.table,
        Key: marshall(backupLedgerKey(entity, backup.kind, backup.id)),
        ConsistentRead: true,
      }),
    );
    return out.Item?.status?.S;
  }

  /** The run that holds the entity's lock now (strongly consistent), or undefined. */
  async lockHolder(entity: string): Promise<string | undefined> {
    return (await this.lockOf(entity))?.runId;
  }

  /** Who holds the entity's lock and since when (its `acquiredAt`), or undefined when it is free. */
  async lockOf(entity: string): Promise<{ runId: string; since: string } | undefined> {
    const out = await dynamodbClient().send(
      new GetItemCommand({
        TableName: this.table,
        Key: { pk: { S: `LOCK#${entity}` }, sk: { S: 'LOCK' } },
        ConsistentRead: true,
      }),
    );
    const runId = out?.Item?.runId?.S;
    return runId === undefined ? undefined : { runId, since: out?.Item?.acquiredAt?.S ?? '' };
  }

  /** Gives the lock back if this run holds it (a duplicate trigger, the end of a run). */
  async releaseLock(entity: string, runId: string): Promise<void> {
    try {
      await dynamodbClient().send(
        new DeleteItemCommand({
          TableName: this.table,
          Key: { pk: { S: `LOCK#${entity}` }, sk: { S: 'LOCK' } },
          ConditionExpression: 'runId = :run',
          ExpressionAttributeValues: { ':run': { S: runId } },
        }),
      );
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
    }
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const out = await dynamodbClient().send(
      new GetItemCommand({
        TableName: this.table,
        Key: marshall({ pk: `RUN#${runId}`, sk: 'RUN' }),
        ConsistentRead: true,
      }),
    );
    if (!out.Item) return undefined;
    return withoutKey<RunRecord>(out.Item);
  }

  /** Sets fields of the run item, and removes those named in `clear` (e.g. the error of a resumed run). */
  async updateRun(
    runId: string,
    fields: Partial<RunRecord> & { status?: RunStatus },
    clear: ReadonlyArray<keyof RunRecord> = [],
  ): Promise<void> {
    const set = setFields(fields);
    if (!set) return;
    const removed = clear.map((name, i) => {
      set.names[`#x${i}`] = name;
      return `#x${i}`;
    });
    await dynamodbClient().send(
      new UpdateItemCommand({
        TableName: this.table,
        Key: marshall({ pk: `RUN#${runId}`, sk: 'RUN' }),
        UpdateExpression:
          removed.length > 0 ? `${set.expression} REMOVE ${removed.join(', ')}` : set.expression,
        ExpressionAttributeNames: set.names,
        ExpressionAttributeValues: marshall(set.values, {
          removeUndefinedValues: true,
          convertClassInstanceToMap: true,
        }),
        ConditionExpression: 'attribute_exists(pk)',
      }),
    );
  }

  /**
   * Remembers which run an execution claimed (`EXEC#<executionArn>` / `EXEC`), so the recorder of
   * the execution's status changes finds the run from the event alone.
   */
  async recordExecution(executionArn: string, runId: string): Promise<void> {
    await dynamodbClient().send(
      new PutItemCommand({
        TableName: this.table,
        Item: marshall({
          pk: `EXEC#${executionArn}`,
          sk: 'EXEC',
          runId,
          recordedAt: new Date().toISOString(),
        }),
      }),
    );
  }

  /** The run an execution claimed, or undefined (it ended before ClaimRun did). */
  async runOfExecution(executionArn: string): Promise<string | undefined> {
    const out = await dynamodbClient().send(
      new GetItemCommand({
        TableName: this.table,
        Key: marshall({ pk: `EXEC#${executionArn}`, sk: 'EXEC' }),
        ConsistentRead: true,
      }),
    );
    return out.Item?.runId?.S;
  }

  /**
   * Records that a RUNNING run failed; false when the run is no longer RUNNING (Reconcile recorded
   * its end, or this failure was recorded already: EventBridge delivers at least once).
   */
  async failRun(
    runId: string,
    failure: { error: string; cause: string; finishedAt: string },
  ): Promise<boolean> {
    try {
      await dynamodbClient().send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: marshall({ pk: `RUN#${runId}`, sk: 'RUN' }),
          UpdateExpression: 'SET #s = :failed, #e = :e, #c = :c, #f = :f',
          ConditionExpression: '#s = :running',
          ExpressionAttributeNames: { '#s': 'status', '#e': 'error', '#c': 'cause', '#f': 'finishedAt' },
          ExpressionAttributeValues: marshall({
            ':failed': 'FAILED',
            ':running': 'RUNNING',
            ':e': failure.error,
            ':c': failure.cause,
            ':f': failure.finishedAt,
          }),
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  /**
   * A failed run taken up again by a redrive of its execution: RUNNING, its error cleared, one
   * more resume. False when the run is not FAILED (a duplicate event, or it ended otherwise).
   */
  async reopenRun(runId: string, executionArn: string, redrivenAt: string): Promise<boolean> {
    try {
      await dynamodbClient().send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: marshall({ pk: `RUN#${runId}`, sk: 'RUN' }),
          UpdateExpression:
            'SET #s = :running, #x = :x, #d = :d, #r = if_not_exists(#r, :zero) + :one REMOVE #e, #c, #f',
          ConditionExpression: '#s = :failed',
          ExpressionAttributeNames: {
            '#s': 'status',
            '#x': 'executionId',
            '#r': 'resumes',
            '#d': 'redrivenAt',
            '#e': 'error',
            '#c': 'cause',
            '#f': 'finishedAt',
          },
          ExpressionAttributeValues: marshall({
            ':running': 'RUNNING',
            ':failed': 'FAILED',
            ':x': executionArn,
            ':d': redrivenAt,
            ':zero': 0,
            ':one': 1,
          }),
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  /** Records one chunk's or partition's outcome (idempotent: a retry overwrites its own record). */
  /**
   * Runs one chunk or partition as a resumable step: a step whose success the ledger already holds
   * (a resumed run) returns its recorded result without running; a failure is recorded with its
   * error and rethrown (the state machine's Retry and Catch match the error's name).
   */
  async runStep<T extends z.ZodType>(
    runId: string,
    step: StepRef,
    result: T,
    work: () => Promise<z.output<T>>,
  ): Promise<z.output<T>> {
    const done = await this.succeededStep(runId, step);
    if (done) {
      const recorded = result.safeParse(done);
      if (recorded.success) return recorded.data;
      throw new InvalidEventError(
        `the ledger's record of ${stepKey(step)} of run ${runId} is not a step result: ${recorded.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
      );
    }
    const started = Date.now();
    try {
      return await work();
    } catch (err) {
      await this.recordStepFailure(runId, step, err, Date.now() - started);
      throw err;
    }
  }

  /**
   * The result a chunk or partition recorded when it succeeded, or undefined. A resumed run uses it
   * to skip the work a failed attempt already finished (the step is recorded after its output).
   */
  async succeededStep(runId: string, step: StepRef): Promise<Record<string, unknown> | undefined> {
    const out = await dynamodbClient().send(
      new GetItemCommand({
        TableName: this.table,
        Key: marshall({ pk: `RUN#${runId}`, sk: stepKey(step) }),
        ConsistentRead: true,
      }),
    );
    if (!out.Item) return undefined;
    const { pk: _pk, sk: _sk, kind: _kind, status, recordedAt: _at, ...result } = unmarshall(out.Item);
    return status === 'FAILED' ? undefined : result;
  }

  async recordStep(runId: string, step: StepRecord): Promise<void> {
    await this.putStep(runId, step, { ...step, status: 'SUCCEEDED' });
  }

  /**
   * Records that a chunk or partition failed, with the error's name and message (a later
   * successful retry overwrites it). Never throws: the worker rethrows its own error, whose name
   * the state machine's Retry and Catch match on, so a ledger problem is only logged.
   */
  async recordStepFailure(runId: string, step: StepRef, error: unknown, durationMs?: number): Promise<void> {
    const e = error instanceof Error ? error : new Error(String(error));
    try {
      await this.putStep(runId, step, {
        ...step,
        status: 'FAILED',
        error: e.name,
        cause: e.message,
        durationMs,
      });
    } catch (err) {
      logger.warn('could not record the step failure in the ledger', {
        runId,
        step: stepKey(step),
        error: (err as Error).message,
      });
    }
  }

  private async putStep(runId: string, step: StepRef, fields: Record<string, unknown>): Promise<void> {
    await dynamodbClient().send(
      new PutItemCommand({
        TableName: this.table,
        Item: marshall(
          { pk: `RUN#${runId}`, sk: stepKey(step), ...fields, recordedAt: new Date().toISOString() },
          { removeUndefinedValues: true },
        ),
      }),
    );
  }

  /**
   * Runs, newest first (by `startedAt`). A Scan filtered on the run items: it reads every item of
   * the table (runs, chunks, partitions, and tombstones where deletes keep them here), which is
   * fine for a local or modest ledger; a large one wants an index of runs by entity and time.
   */
  async listRuns(options: ListRunsOptions = {}): Promise<RunRecord[]> {
    const names: Record<string, string> = { '#sk': 'sk' };
    const values: Record<string, string> = { ':run': 'RUN' };
    let filter = '#sk = :run';
    if (options.entity !== undefined) {
      names['#entity'] = 'entity';
      values[':entity'] = options.entity;
      filter += ' AND #entity = :entity';
    }
    const runs: RunRecord[] = [];
    for await (const page of scanPages({
      TableName: this.table,
      FilterExpression: filter,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: marshall(values),
    })) {
      for (const raw of page) runs.push(withoutKey<RunRecord>(raw));
    }
    runs.sort(
      (a, b) => (b.startedAt ?? '').localeCompare(a.startedAt ?? '') || b.runId.localeCompare(a.runId),
    );
    return options.limit === undefined ? runs : runs.slice(0, options.limit);
  }

  /** The chunk and partition records of a run: chunks by index, then partitions by number. */
  async listSteps(runId: string): Promise<LedgerStep[]> {
    const [chunks, partitions] = await Promise.all([
      this.queryPrefix(runId, STEP_PREFIX.chunk),
      this.queryPrefix(runId, STEP_PREFIX.partition),
    ]);
    // Records written before steps had a status were written on success only.
    const withStatus = (s: Record<string, unknown>) => ({ status: 'SUCCEEDED', ...s });
    return [
      ...(chunks.map(withStatus) as ChunkStep[]).sort((a, b) => a.index - b.index),
      ...(partitions.map(withStatus) as PartitionStep[]).sort((a, b) => a.partition - b.partition),
    ];
  }

  private async queryPrefix(runId: string, prefix: string): Promise<Array<Record<string, unknown>>> {
    const items: Array<Record<string, unknown>> = [];
    for await (const page of queryPages({
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: marshall({ ':pk': `RUN#${runId}`, ':prefix': prefix }),
      ConsistentRead: true,
    })) {
      for (const raw of page) items.push(withoutKey(raw));
    }
    return items;
  }
}

export type { SourceRef };

/**
 * `SET #f0 = :v0, …` of the fields that are defined, with its names and (plain) values; undefined
 * when no field is.
 */
export function setFields(
  fields: object,
): { expression: string; names: Record<string, string>; values: Record<string, unknown> } | undefined {
  const entries = Object.entries(fields).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return undefined;
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const sets = entries.map(([k, v], i) => {
    names[`#f${i}`] = k;
    values[`:v${i}`] = v;
    return `#f${i} = :v${i}`;
  });
  return { expression: `SET ${sets.join(', ')}`, names, values };
}

/** A ledger item's attributes without its key (pk, sk). */
export function withoutKey<T extends object = Record<string, unknown>>(
  raw: Record<string, AttributeValue>,
): T {
  const { pk: _pk, sk: _sk, ...rest } = unmarshall(raw);
  return rest as T;
}

function isConditionFailure(err: unknown): boolean {
  return (
    err instanceof ConditionalCheckFailedException ||
    (err as Error).name === 'ConditionalCheckFailedException'
  );
}
