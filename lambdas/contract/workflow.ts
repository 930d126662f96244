import type { MirrorDecision } from '../domain/mirror';
import type { RejectDecision } from '../domain/rejects';
import type { RunSummary } from '../domain/report';
import type { WrittenCheck } from './checks';
import type { MergeLoopState } from './merge-loop';
import type { ClaimOutput, PlanOutput } from './plan';
import type { MapOutput } from './results';

/**
 * The sync state machine's state document: what each step adds, at its result path, for the steps
 * after it. The state machine construct (lib/sync-state-machine.ts) names every path it passes
 * through `statePath`, so a path the contract does not have fails to compile.
 */
export interface SyncState {
  claim: ClaimOutput;
  plan: PlanOutput;
  transform: MapOutput;
  rejects: RejectDecision;
  /** The merge loop: StartMerge's first state, then CheckMerge's output after each pass. */
  mergeLoop: MergeLoopState;
  mergePass: MapOutput;
  mirrorScan: MapOutput;
  mirrorCandidates: MapOutput;
  mirror: MirrorDecision;
  verify: MapOutput;
  written: WrittenCheck;
  summary: RunSummary;
  /** EmitRunFinished's error, caught: the run's outcome stands without its event. */
  eventError: { Error: string; Cause: string };
}

type Depth = [never, 0, 1, 2, 3, 4];

/** Every dotted path into T (objects only; through each member of a union), to `depth` levels. */
export type PathsOf<T, D extends number = 5> = [D] extends [never]
  ? never
  : T extends readonly unknown[]
    ? never
    : T extends object
      ? {
          [K in keyof T & string]-?: K | `${K}.${PathsOf<NonNullable<T[K]>, Depth[D]>}`;
        }[keyof T & string]
      : never;

/** A dotted path into the sync state machine's state document. */
export type StatePath = PathsOf<SyncState>;

/** A JSONPath into the sync state machine's state document: `statePath('plan.job.workPrefix')`. */
export function statePath(path: StatePath): string {
  return `$.${path}`;
}
