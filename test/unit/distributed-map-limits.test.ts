import { StateMachine } from 'aws-local-stepfunctions';
import {
  type ChildRunner,
  checkPayload,
  localExpressTimeLimitMs,
  PAYLOAD_LIMIT_BYTES,
  payloadBytes,
  runDistributedMap,
  runDistributedMapState,
  stateOutputOf,
} from '../../local/distributed-map';

const executionArn = 'arn:aws:states:us-east-1:000000000000:execution:m:e';
const EXPRESS = { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'EXPRESS' } };
const STANDARD = { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' } };

/** A string whose JSON text (quotes included) is exactly `bytes` long. */
function jsonOfBytes(bytes: number): string {
  return 'x'.repeat(bytes - 2);
}

function memoryStore() {
  const files = new Map<string, string>();
  return {
    files,
    store: {
      getText: (bucket: string, key: string) => Promise.resolve(files.get(`${bucket}/${key}`) ?? ''),
      putText: (bucket: string, key: string, text: string) => {
        files.set(`${bucket}/${key}`, text);
        return Promise.resolve();
      },
    },
  };
}

/** Children that each take `ms[i]` ms (of their item index) and return `{ i }`. */
function sleepingChildren(ms: (i: number) => number, aborted: number[] = []): ChildRunner {
  return (_processor, input, signal) =>
    new Promise((resolve) => {
      const i = input as number;
      const timer = setTimeout(() => resolve({ i }), ms(i));
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        aborted.push(i);
      });
    });
}

describe('local Distributed Map: the EXPRESS time limit', () => {
  it('fails a child past the limit with States.Timeout, and the Map past its tolerance', async () => {
    // Prepare
    const { files, store } = memoryStore();
    const aborted: number[] = [];

    // Act
    const act = runDistributedMap({
      stateName: 'M',
      state: {
        ItemsPath: '$.items',
        ItemProcessor: EXPRESS,
        ResultWriter: { Resource: 'arn:aws:states:::s3:putObject', Parameters: { Bucket: 'b', Prefix: 'r' } },
      },
      input: { items: [0, 1, 2] },
      context: {},
      store,
      executionArn,
      expressTimeLimitMs: 200,
      runChild: sleepingChildren((i) => (i === 1 ? 2_000 : 5), aborted),
    });

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'States.ExceedToleratedFailureThreshold',
      message: expect.stringContaining('1 of 3 child executions failed (first: States.Timeout'),
    });
    expect(aborted).toEqual([1]);
    const failedFile = [...files.entries()].find(([k]) => k.endsWith('FAILED_0.json'));
    expect(JSON.parse(failedFile?.[1] ?? '[]')).toEqual([
      expect.objectContaining({ Status: 'TIMED_OUT', Error: 'States.Timeout' }),
    ]);
  });

  it.each([
    ['within ToleratedFailurePercentage', { ToleratedFailurePercentage: 50 }],
    ['within ToleratedFailureCount', { ToleratedFailureCount: 1 }],
  ])('lets the Map succeed when the timed-out child is %s', async (_name, tolerance) => {
    // Act
    const output = await runDistributedMap({
      stateName: 'M',
      state: { ItemsPath: '$.items', ItemProcessor: EXPRESS, ...tolerance },
      input: { items: [0, 1, 2, 3] },
      context: {},
      store: memoryStore().store,
      executionArn,
      expressTimeLimitMs: 200,
      runChild: sleepingChildren((i) => (i === 0 ? 2_000 : 5)),
    });

    // Assess
    expect(output).toEqual([null, { i: 1 }, { i: 2 }, { i: 3 }]);
  });

  it('gives STANDARD children no such limit', async () => {
    // Act
    const output = await runDistributedMap({
      stateName: 'M',
      state: { ItemsPath: '$.items', ItemProcessor: STANDARD },
      input: { items: [0] },
      context: {},
      store: memoryStore().store,
      executionArn,
      expressTimeLimitMs: 50,
      runChild: sleepingChildren(() => 150),
    });

    // Assess
    expect(output).toEqual([{ i: 0 }]);
  });
});

describe('local Distributed Map: the 256 KiB payload quota', () => {
  it('fails a child whose output is over 256 KiB with States.DataLimitExceeded', async () => {
    // Act
    const act = runDistributedMap({
      stateName: 'M',
      state: { ItemsPath: '$.items', ItemProcessor: EXPRESS },
      input: { items: [0, 1] },
      context: {},
      store: memoryStore().store,
      executionArn,
      runChild: async (_p, input) => (input === 1 ? jsonOfBytes(PAYLOAD_LIMIT_BYTES + 1) : 'ok'),
    });

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'States.ExceedToleratedFailureThreshold',
      message: expect.stringContaining('(first: States.DataLimitExceeded: the output of M'),
    });
  });

  it('fails the Map when one batch (BatchInput included) is over 256 KiB', async () => {
    // Prepare: two items of 100 KiB and a BatchInput of 100 KiB in one batch of MaxItemsPerBatch 2.
    const item = jsonOfBytes(100 * 1024);
    let children = 0;

    // Act
    const act = runDistributedMap({
      stateName: 'M',
      state: {
        ItemsPath: '$.items',
        ItemProcessor: EXPRESS,
        ItemBatcher: { MaxItemsPerBatch: 2, BatchInput: { 'job.$': '$.job' } },
      },
      input: { items: [item, item], job: item },
      context: {},
      store: memoryStore().store,
      executionArn,
      runChild: async () => {
        children++;
        return {};
      },
    });

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'States.DataLimitExceeded',
      isCatchable: false,
      isRetryable: false,
      message: expect.stringContaining("the input of M's child 0 (one batch)"),
    });
    expect(children).toBe(0);
  });

  it('cuts batches at MaxInputBytesPerBatch, BatchInput included', async () => {
    // Prepare: items of 100 bytes, at most 350 bytes a batch.
    const items = Array.from({ length: 7 }, () => jsonOfBytes(100));
    const inputs: unknown[] = [];

    // Act
    await runDistributedMap({
      stateName: 'M',
      state: {
        ItemsPath: '$.items',
        ItemProcessor: EXPRESS,
        ItemBatcher: { MaxInputBytesPerBatch: 350, BatchInput: { a: 1 } },
      },
      input: { items },
      context: {},
      store: memoryStore().store,
      executionArn,
      processConcurrency: 1,
      runChild: async (_p, input) => {
        inputs.push(input);
        return {};
      },
    });

    // Assess: {"BatchInput":{"a":1},"Items":[...]} is 34 bytes with no item; 3 items (302) fit, a 4th does not.
    expect(inputs.map((b) => (b as { Items: unknown[] }).Items.length)).toEqual([3, 3, 1]);
    expect(Math.max(...inputs.map(payloadBytes))).toBeLessThanOrEqual(350);
  });

  it('fails the Map state whose output after ResultPath is over 256 KiB', async () => {
    // Prepare: three children of 100 KiB each, the array put into the input by ResultPath.
    const state = { ItemsPath: '$.items', ItemProcessor: EXPRESS, ResultPath: '$.results' };

    // Act
    const act = runDistributedMapState({
      stateName: 'M',
      state,
      rawInput: { items: [0, 1, 2] },
      context: {},
      store: memoryStore().store,
      executionArn,
      runChild: async () => jsonOfBytes(100 * 1024),
    });

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'States.DataLimitExceeded',
      message: expect.stringContaining('the output of M'),
    });
  });

  it('keeps the Map state output within the quota when ResultPath discards the result', async () => {
    // Act
    const output = await runDistributedMapState({
      stateName: 'M',
      state: { ItemsPath: '$.items', ItemProcessor: EXPRESS, ResultPath: null },
      rawInput: { items: [0, 1, 2] },
      context: {},
      store: memoryStore().store,
      executionArn,
      runChild: async () => jsonOfBytes(100 * 1024),
    });

    // Assess
    expect(output).toEqual({ items: [0, 1, 2] });
  });
});

describe('checkPayload', () => {
  it.each([
    ['exactly 256 KiB', jsonOfBytes(PAYLOAD_LIMIT_BYTES), false],
    ['one byte over', jsonOfBytes(PAYLOAD_LIMIT_BYTES + 1), true],
    // 'é' is 2 bytes of UTF-8: 131,071 of them and the quotes are 262,144 bytes.
    ['multi-byte UTF-8 at the limit', 'é'.repeat((PAYLOAD_LIMIT_BYTES - 2) / 2), false],
    ['multi-byte UTF-8 over the limit', `${'é'.repeat((PAYLOAD_LIMIT_BYTES - 2) / 2)}x`, true],
    ['null', null, false],
  ])('%s', (_name, value, over) => {
    // Act
    const act = () => checkPayload(value, 'the result of T');

    // Assess
    if (over) expect(act).toThrow(expect.objectContaining({ name: 'States.DataLimitExceeded' }));
    else expect(act).not.toThrow();
  });

  it.each([
    ['States.ALL', [{ ErrorEquals: ['States.ALL'] }], false],
    ['States.TaskFailed', [{ ErrorEquals: ['States.TaskFailed'] }], false],
    ['its own name', [{ ErrorEquals: ['States.DataLimitExceeded'] }], true],
    [
      'its own name after States.ALL',
      [{ ErrorEquals: ['States.ALL'] }, { ErrorEquals: ['States.DataLimitExceeded'] }],
      false,
    ],
  ])('is caught by a Catch of %s: %s', (_name, Catch, catchable) => {
    // Act
    let error: unknown;
    try {
      checkPayload(jsonOfBytes(PAYLOAD_LIMIT_BYTES + 1), 'x', { Catch });
    } catch (err) {
      error = err;
    }

    // Assess
    expect(error).toMatchObject({ name: 'States.DataLimitExceeded', isCatchable: catchable });
  });

  it('is not caught by States.ALL in aws-local-stepfunctions, so the execution fails', async () => {
    // Prepare: a Task whose result is over the quota, caught by States.ALL into a Pass state.
    const machine = new StateMachine(
      {
        StartAt: 'T',
        States: {
          T: {
            Type: 'Task',
            Resource: 'arn:aws:lambda:us-east-1:000000000000:function:t',
            Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Caught' }],
            End: true,
          },
          Caught: { Type: 'Pass', End: true },
        },
      } as never,
      { validationOptions: { checkArn: false } },
    );
    const state = { Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Caught' }] };

    // Act
    const act = machine.run({} as never, {
      overrides: {
        taskResourceLocalHandlers: {
          T: async () => {
            const result = jsonOfBytes(PAYLOAD_LIMIT_BYTES + 10);
            checkPayload(result, 'the result of T', state);
            return result;
          },
        } as never,
      },
    }).result;

    // Assess
    await expect(act).rejects.toMatchObject({
      cause: expect.objectContaining({ name: 'States.DataLimitExceeded' }),
    });
  });
});

describe('stateOutputOf', () => {
  const raw = { a: { keep: 1 }, n: 2 };
  it.each([
    ['no ResultPath: the result', {}, { r: 1 }],
    ['ResultPath null: the input', { ResultPath: null }, raw],
    ['ResultPath $: the result', { ResultPath: '$' }, { r: 1 }],
    ['ResultPath $.a.b: merged', { ResultPath: '$.a.b' }, { a: { keep: 1, b: { r: 1 } }, n: 2 }],
    [
      'ResultSelector then ResultPath',
      { ResultSelector: { 'x.$': '$.r' }, ResultPath: '$.s' },
      { ...raw, s: { x: 1 } },
    ],
    ['OutputPath after ResultPath', { ResultPath: '$.s', OutputPath: '$.s' }, { r: 1 }],
  ])('%s', (_name, state, expected) => {
    // Act
    const out = stateOutputOf(state, raw, { r: 1 }, {});

    // Assess
    expect(out).toEqual(expected);
    expect(raw).toEqual({ a: { keep: 1 }, n: 2 });
  });

  it('fails on a ResultPath into an input that is not an object', () => {
    // Act
    const act = () => stateOutputOf({ ResultPath: '$.x' }, [1], {}, {});

    // Assess
    expect(act).toThrow(expect.objectContaining({ name: 'States.ResultPathMatchFailure' }));
  });
});

describe('localExpressTimeLimitMs', () => {
  it.each([
    [undefined, 300_000],
    ['', 300_000],
    ['200', 200],
  ])('reads %p as %p', (text, expected) => {
    // Act
    const ms = localExpressTimeLimitMs({ CRM_SYNC_LOCAL_EXPRESS_LIMIT_MS: text });

    // Assess
    expect(ms).toBe(expected);
  });

  it.each(['0', '-5', '1.5', 'five'])('refuses %p with the setting named', (text) => {
    // Act
    const act = () => localExpressTimeLimitMs({ CRM_SYNC_LOCAL_EXPRESS_LIMIT_MS: text });

    // Assess
    expect(act).toThrow(/CRM_SYNC_LOCAL_EXPRESS_LIMIT_MS must be a positive integer/);
  });
});
