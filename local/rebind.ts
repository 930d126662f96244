import { CrmSyncError } from '../lambdas/domain/errors';
import { RUN_TIMEOUT_SECONDS } from '../lambdas/domain/run';
import type { HandlerName } from '../lib/worker-function';

/** A state of an ASL definition, as JSON. */
export type AslState = Record<string, unknown>;

/** An ASL definition (a state machine's, or a Map's item processor's), as JSON. */
export type AslDefinition = {
  StartAt: string;
  States: Record<string, AslState>;
};

/** The Resource a Distributed Map state gets: the local runner runs it (local/distributed-map.ts). */
export const LOCAL_DISTRIBUTED_MAP = 'arn:aws:states:::local:distributedMap';

/** The optimized integrations the local stack runs itself. */
export const DYNAMODB_UPDATE_ITEM = 'arn:aws:states:::dynamodb:updateItem';
export const EVENTS_PUT_EVENTS = 'arn:aws:states:::events:putEvents';

/** The time limit a Distributed Map state gets as a Task: its children's runs bound it, not this. */
const DISTRIBUTED_MAP_TIMEOUT_SECONDS = RUN_TIMEOUT_SECONDS;

/** Keys a Distributed Map keeps as a Task: its place in the flow and its error handling. */
const DISTRIBUTED_MAP_KEPT = new Set(['Type', 'Next', 'End', 'Retry', 'Catch', 'Comment']);

/**
 * What a Task state of the rebound definition is bound to, by its state name. `state` is the Task
 * state in the rebound definition (what its payload quota is checked with).
 */
export type TaskBinding =
  | {
      kind: 'lambda';
      name: string;
      /** The function's ARN in the synthesized definition. */
      resource: string;
      handler: HandlerName;
      /** Inside a Distributed Map (a worker), not on the execution's own path. */
      inDistributedMap: boolean;
      state: AslState;
    }
  | { kind: 'dynamodb:updateItem'; name: string; state: AslState }
  | { kind: 'events:putEvents'; name: string; state: AslState }
  | {
      kind: 'distributedMap';
      name: string;
      /** The Map state as synthesized (its children rebound): what runDistributedMapState runs. */
      original: AslState;
    };

/** The definition with its Task states bound to the local stack. */
export interface ReboundDefinition {
  /** A copy of the definition: Distributed Maps turned into Tasks of LOCAL_DISTRIBUTED_MAP. */
  definition: AslDefinition;
  /** One binding per Task state (Distributed Maps and their children included), in definition order. */
  bindings: TaskBinding[];
  /** Every state's name, nested ones included (what retry interval overrides are keyed on). */
  stateNames: string[];
}

/** A Task state of the synthesized definition calls something the local stack has no binding for. */
export class UnboundTaskError extends CrmSyncError {
  override readonly name = 'UnboundTaskError';
}

/**
 * Binds the Task states of a synthesized definition to the local stack: a Lambda function's ARN to
 * its handler (`functions`, from the synthesized template), the DynamoDB UpdateItem and EventBridge
 * PutEvents integrations to the stack's own calls, and each Distributed Map (which
 * aws-local-stepfunctions does not run) to a Task of LOCAL_DISTRIBUTED_MAP that the local runner
 * runs with the Map's original state. Parallel branches and inline Maps are bound within. Any other
 * Task resource is an UnboundTaskError. The definition given is not changed.
 */
export function rebindDefinition(
  definition: Readonly<Record<string, unknown>>,
  functions: Readonly<Record<string, HandlerName>>,
): ReboundDefinition {
  const copy = JSON.parse(JSON.stringify(definition)) as AslDefinition;
  const bindings: TaskBinding[] = [];
  const stateNames: string[] = [];
  const bind = (states: Record<string, AslState>, inDistributedMap: boolean): void => {
    for (const [name, state] of Object.entries(states)) {
      stateNames.push(name);
      const processor = state.ItemProcessor as
        | { ProcessorConfig?: { Mode?: string }; States: Record<string, AslState> }
        | undefined;
      if (state.Type === 'Map' && processor?.ProcessorConfig?.Mode === 'DISTRIBUTED') {
        bind(processor.States, true);
        const original = { ...state };
        // InputPath, ResultSelector, ResultPath and OutputPath go with the rest: the local runner
        // applies them (runDistributedMapState, which holds the output to the payload quota).
        for (const k of Object.keys(state)) if (!DISTRIBUTED_MAP_KEPT.has(k)) delete state[k];
        state.Type = 'Task';
        state.Resource = LOCAL_DISTRIBUTED_MAP;
        state.TimeoutSeconds = DISTRIBUTED_MAP_TIMEOUT_SECONDS;
        bindings.push({ kind: 'distributedMap', name, original });
      } else if (state.Type === 'Task') {
        const resource = String(state.Resource);
        const handler = functions[resource];
        if (handler) bindings.push({ kind: 'lambda', name, resource, handler, inDistributedMap, state });
        else if (resource === DYNAMODB_UPDATE_ITEM)
          bindings.push({ kind: 'dynamodb:updateItem', name, state });
        else if (resource === EVENTS_PUT_EVENTS) bindings.push({ kind: 'events:putEvents', name, state });
        else throw new UnboundTaskError(`local runner: no local binding for Task ${name} (${resource})`);
      } else if (state.Type === 'Parallel') {
        for (const branch of state.Branches as Array<{ States: Record<string, AslState> }>)
          bind(branch.States, inDistributedMap);
      } else if (state.Type === 'Map') {
        // An inline Map: its item processor's states (or the older Iterator's).
        const inline = (state.ItemProcessor ?? state.Iterator) as { States?: Record<string, AslState> };
        bind(inline.States ?? {}, inDistributedMap);
      }
    }
  };
  bind(copy.States, false);
  return { definition: copy, bindings, stateNames };
}
