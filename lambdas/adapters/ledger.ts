import {
  ConditionalCheckFailedException,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type { ChunkResult, PartitionResult, RunRecord, RunStatus, SourceRef } from '../domain/run';

export type StepRecord = (ChunkResult & { kind: 'chunk' }) | (PartitionResult & { kind: 'partition' });

import { dynamodb } from './clients';

/**
 * The run ledger: one item per run (`RUN#<runId>` / `RUN`) and one per chunk
 * (`RUN#<runId>` / `CHUNK#<index>`). The run item is claimed with a conditional put, so a
 * duplicate trigger of the same object and config finds the claim and does nothing.
 */
export class Ledger {
  constructor(private readonly table: string) {}

  /** Claims the run; returns the existing record when it was already claimed. */
  async claim(run: RunRecord): Promise<{ claimed: true } | { claimed: false; existing: RunRecord }> {
    try {
      await dynamodb.send(
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

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const out = await dynamodb.send(
      new GetItemCommand({
        TableName: this.table,
        Key: marshall({ pk: `RUN#${runId}`, sk: 'RUN' }),
        ConsistentRead: true,
      }),
    );
    if (!out.Item) return undefined;
    const { pk: _pk, sk: _sk, ...rest } = unmarshall(out.Item);
    return rest as RunRecord;
  }

  /** Sets fields of the run item. */
  async updateRun(runId: string, fields: Partial<RunRecord> & { status?: RunStatus }): Promise<void> {
    const entries = Object.entries(fields).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return;
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const sets = entries.map(([k, v], i) => {
      names[`#f${i}`] = k;
      values[`:v${i}`] = v;
      return `#f${i} = :v${i}`;
    });
    await dynamodb.send(
      new UpdateItemCommand({
        TableName: this.table,
        Key: marshall({ pk: `RUN#${runId}`, sk: 'RUN' }),
        UpdateExpression: `SET ${sets.join(', ')}`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: marshall(values, {
          removeUndefinedValues: true,
          convertClassInstanceToMap: true,
        }),
        ConditionExpression: 'attribute_exists(pk)',
      }),
    );
  }

  /** Records one chunk's or partition's outcome (idempotent: a retry overwrites its own record). */
  async recordStep(runId: string, step: StepRecord): Promise<void> {
    const id =
      step.kind === 'chunk'
        ? `CHUNK#${String(step.index).padStart(6, '0')}`
        : `PART#${String(step.partition).padStart(4, '0')}`;
    await dynamodb.send(
      new PutItemCommand({
        TableName: this.table,
        Item: marshall(
          {
            pk: `RUN#${runId}`,
            sk: id,
            ...step,
            recordedAt: new Date().toISOString(),
          },
          { removeUndefinedValues: true },
        ),
      }),
    );
  }
}

export type { SourceRef };
