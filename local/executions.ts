import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

/**
 * What the local runner keeps of an execution so that a redrive can continue it as Step Functions
 * does: the state it was in (its name and raw input), the Map Runs its Distributed Maps started,
 * and how it ended. Written on every top-level state entered, so a process killed mid-run leaves
 * the state it was in.
 */
export const executionRecordSchema = z.object({
  executionArn: z.string(),
  name: z.string(),
  machine: z.enum(['sync', 'snapshot', 'restore']),
  input: z.unknown(),
  startedAt: z.string(),
  status: z.enum(['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED']),
  redriveCount: z.number().int().min(0),
  /** The last top-level state entered: where a redrive starts. */
  state: z.object({ name: z.string(), input: z.unknown() }).optional(),
  /** Distributed Map state → its Map Run id (a redrive reruns only the children that did not succeed). */
  mapRuns: z.record(z.string(), z.string()),
  error: z.object({ name: z.string(), message: z.string() }).optional(),
  stoppedAt: z.string().optional(),
});
export type ExecutionRecord = z.infer<typeof executionRecordSchema>;

function file(stateDir: string, name: string): string {
  return join(stateDir, 'executions', `${name}.json`);
}

/** The execution's name: the last part of its ARN. */
export function executionName(executionArn: string): string {
  return executionArn.slice(executionArn.lastIndexOf(':') + 1);
}

/** Writes the record atomically (a kill leaves the previous version, never half a file). */
export function saveExecution(stateDir: string, record: ExecutionRecord): void {
  mkdirSync(join(stateDir, 'executions'), { recursive: true });
  const path = file(stateDir, record.name);
  writeFileSync(`${path}.tmp`, JSON.stringify(record));
  renameSync(`${path}.tmp`, path);
}

/** The record of an execution, or undefined when this state dir has none (a run from before records). */
export function loadExecution(stateDir: string, executionArn: string): ExecutionRecord | undefined {
  const path = file(stateDir, executionName(executionArn));
  if (!existsSync(path)) return undefined;
  return executionRecordSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
}
