import type { HandlerName } from '../../lib/worker-function';
import {
  type AslDefinition,
  type AslState,
  DYNAMODB_UPDATE_ITEM,
  EVENTS_PUT_EVENTS,
  LOCAL_DISTRIBUTED_MAP,
  rebindDefinition,
  type TaskBinding,
} from '../../local/rebind';

const PLAN_ARN = 'arn:aws:lambda:us-east-1:000000000000:function:crm-sync-plan';
const TRANSFORM_ARN = 'arn:aws:lambda:us-east-1:000000000000:function:crm-sync-transform';
const FUNCTIONS: Record<string, HandlerName> = { [PLAN_ARN]: 'plan', [TRANSFORM_ARN]: 'transform' };
const RETRY = [{ ErrorEquals: ['States.TaskFailed'], MaxAttempts: 3 }];

const lambdaTask = (resource: string, extra: AslState = {}): AslState => ({
  Type: 'Task',
  Resource: resource,
  Retry: RETRY,
  End: true,
  ...extra,
});

/** A Distributed Map whose one child runs the transform function. */
const distributedMap = (): AslState => ({
  Type: 'Map',
  ItemReader: { Resource: 'arn:aws:states:::s3:getObject', ReaderConfig: { InputType: 'JSON' } },
  ItemProcessor: {
    ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'EXPRESS' },
    StartAt: 'TransformChunk',
    States: { TransformChunk: lambdaTask(TRANSFORM_ARN) },
  },
  MaxConcurrency: 10,
  ResultWriter: { Resource: 'arn:aws:states:::s3:putObject' },
  ResultPath: '$.map',
  Retry: RETRY,
  Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Failed' }],
  Next: 'Done',
});

const one = (name: string, state: AslState): AslDefinition => ({ StartAt: name, States: { [name]: state } });

/** The bindings without the state objects (those are checked where they matter). */
const summary = (bindings: TaskBinding[]) =>
  bindings.map((b) =>
    b.kind === 'lambda'
      ? { kind: b.kind, name: b.name, handler: b.handler, inDistributedMap: b.inDistributedMap }
      : { kind: b.kind, name: b.name },
  );

describe('rebinding a synthesized definition to the local stack', () => {
  it.each<[string, AslDefinition, ReturnType<typeof summary>]>([
    [
      'a Lambda task: its handler, by function ARN',
      one('PlanChunks', lambdaTask(PLAN_ARN)),
      [{ kind: 'lambda', name: 'PlanChunks', handler: 'plan', inDistributedMap: false }],
    ],
    [
      'the DynamoDB UpdateItem integration',
      one('ReleaseLock', { Type: 'Task', Resource: DYNAMODB_UPDATE_ITEM, End: true }),
      [{ kind: 'dynamodb:updateItem', name: 'ReleaseLock' }],
    ],
    [
      'the EventBridge PutEvents integration',
      one('EmitRunFinished', { Type: 'Task', Resource: EVENTS_PUT_EVENTS, End: true }),
      [{ kind: 'events:putEvents', name: 'EmitRunFinished' }],
    ],
    [
      'a Distributed Map: its children (workers), then the Map itself',
      one('TransformChunks', distributedMap()),
      [
        { kind: 'lambda', name: 'TransformChunk', handler: 'transform', inDistributedMap: true },
        { kind: 'distributedMap', name: 'TransformChunks' },
      ],
    ],
    [
      'the branches of a Parallel state',
      one('Both', {
        Type: 'Parallel',
        Branches: [
          one('A', lambdaTask(PLAN_ARN)),
          one('B', { Type: 'Task', Resource: EVENTS_PUT_EVENTS, End: true }),
        ],
        End: true,
      }),
      [
        { kind: 'lambda', name: 'A', handler: 'plan', inDistributedMap: false },
        { kind: 'events:putEvents', name: 'B' },
      ],
    ],
    [
      'the states of an inline Map',
      one('Each', {
        Type: 'Map',
        ItemProcessor: { ProcessorConfig: { Mode: 'INLINE' }, ...one('Item', lambdaTask(PLAN_ARN)) },
        End: true,
      }),
      [{ kind: 'lambda', name: 'Item', handler: 'plan', inDistributedMap: false }],
    ],
    [
      'states that call nothing: no binding',
      {
        StartAt: 'Choose',
        States: {
          Choose: { Type: 'Choice', Choices: [], Default: 'Wait' },
          Wait: { Type: 'Pass', Next: 'Done' },
          Done: { Type: 'Succeed' },
          Failed: { Type: 'Fail', Error: 'X' },
        },
      },
      [],
    ],
  ])('binds %s', (_name, definition, expected) => {
    // Act
    const { bindings } = rebindDefinition(definition, FUNCTIONS);

    // Assess
    expect(summary(bindings)).toEqual(expected);
  });

  it('turns a Distributed Map into a Task of the local runner that keeps its place and error handling', () => {
    // Prepare
    const definition = one('TransformChunks', distributedMap());

    // Act
    const { definition: rebound, bindings } = rebindDefinition(definition, FUNCTIONS);

    // Assess: the Map's own keys go to the runner (with the state as synthesized)
    expect(rebound.States.TransformChunks).toEqual({
      Type: 'Task',
      Resource: LOCAL_DISTRIBUTED_MAP,
      TimeoutSeconds: 12 * 3600,
      Retry: RETRY,
      Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Failed' }],
      Next: 'Done',
    });
    const map = bindings.find((b) => b.kind === 'distributedMap');
    expect(map?.kind === 'distributedMap' && map.original).toEqual(distributedMap());
  });

  it('gives a Lambda binding its function ARN, and the state its retries and payload check come from', () => {
    // Prepare
    const definition = one('PlanChunks', lambdaTask(PLAN_ARN, { ResultPath: '$.plan' }));

    // Act
    const { definition: rebound, bindings } = rebindDefinition(definition, FUNCTIONS);

    // Assess
    const [binding] = bindings;
    expect(binding?.kind === 'lambda' && binding.resource).toBe(PLAN_ARN);
    expect(binding?.kind === 'lambda' && binding.state).toBe(rebound.States.PlanChunks);
    expect(binding?.kind === 'lambda' && binding.state.Retry).toEqual(RETRY);
  });

  it('names every state, nested ones too (what retry intervals are set for), and leaves the input as it was', () => {
    // Prepare
    const definition: AslDefinition = {
      StartAt: 'PlanChunks',
      States: {
        PlanChunks: lambdaTask(PLAN_ARN, { End: undefined, Next: 'TransformChunks' }),
        TransformChunks: distributedMap(),
      },
    };
    const before = JSON.stringify(definition);

    // Act
    const { stateNames } = rebindDefinition(definition, FUNCTIONS);

    // Assess
    expect(stateNames).toEqual(['PlanChunks', 'TransformChunks', 'TransformChunk']);
    expect(JSON.stringify(definition)).toBe(before);
  });

  it.each([
    [
      'an unknown Lambda function',
      one('Other', lambdaTask('arn:aws:lambda:us-east-1:000000000000:function:other')),
      'Other',
      'arn:aws:lambda:us-east-1:000000000000:function:other',
    ],
    [
      'an integration the local stack does not run',
      one('Query', { Type: 'Task', Resource: 'arn:aws:states:::aws-sdk:dynamodb:query', End: true }),
      'Query',
      'arn:aws:states:::aws-sdk:dynamodb:query',
    ],
    [
      'an unknown resource inside a Distributed Map',
      one('Map', {
        ...distributedMap(),
        ItemProcessor: {
          ProcessorConfig: { Mode: 'DISTRIBUTED' },
          ...one('Child', { Type: 'Task', Resource: 'arn:aws:states:::sqs:sendMessage', End: true }),
        },
      }),
      'Child',
      'arn:aws:states:::sqs:sendMessage',
    ],
  ])('refuses %s, naming the state and its resource', (_name, definition, state, resource) => {
    // Act
    const rebind = () => rebindDefinition(definition, FUNCTIONS);

    // Assess
    expect(rebind).toThrow(
      expect.objectContaining({
        name: 'UnboundTaskError',
        message: `local runner: no local binding for Task ${state} (${resource})`,
      }),
    );
  });
});
