import { Readable } from 'node:stream';
import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  DEFAULT_FAULT_SEED,
  FaultInjector,
  type FaultRates,
  type FaultTask,
  formatFaultSpec,
  hash32,
  MAX_CONSECUTIVE_FAULTS,
  parseFaultSeed,
  parseFaultSpec,
  randomFor,
  retryBudget,
} from '../../local/faults';
import { mulberry32 } from '../../local/random';

/** The Retry of a worker task as the synthesized definition has it (lib/sync-state-machine.ts). */
const WORKER_RETRY = [
  {
    ErrorEquals: [
      'Lambda.ClientExecutionTimeoutException',
      'Lambda.ServiceException',
      'Lambda.AWSLambdaException',
      'Lambda.SdkClientException',
    ],
    IntervalSeconds: 2,
    MaxAttempts: 6,
    BackoffRate: 2,
  },
  { ErrorEquals: ['ConfigError', 'HeaderMismatchError'], MaxAttempts: 0 },
  { ErrorEquals: ['States.ALL'], IntervalSeconds: 2, MaxAttempts: 3, BackoffRate: 2 },
];
const WORKER: FaultTask = { state: 'MergePartition', worker: true, retry: WORKER_RETRY };

describe('parseFaultSpec', () => {
  it.each<[string, FaultRates]>([
    ['throttle=0.1', { throttle: 0.1 }],
    [
      'worker-crash=0.2,throttle=0.1,unprocessed=0.3,s3-error=0.05,duplicate-trigger=1',
      { 'worker-crash': 0.2, throttle: 0.1, unprocessed: 0.3, 's3-error': 0.05, 'duplicate-trigger': 1 },
    ],
    [' throttle = 0.5 , s3-error=0 ', { throttle: 0.5, 's3-error': 0 }],
    ['unprocessed=25%', { unprocessed: 0.25 }],
    ['worker-crash=.5', { 'worker-crash': 0.5 }],
    ['duplicate-trigger=1.0', { 'duplicate-trigger': 1 }],
  ])('parses %j', (spec, expected) => {
    expect(parseFaultSpec(spec)).toEqual(expected);
  });

  it.each<[string, RegExp]>([
    ['', /--faults: empty/],
    ['   ', /--faults: empty/],
    [
      'crash=0.1',
      /unknown fault kind "crash" \(kinds: worker-crash, throttle, unprocessed, s3-error, duplicate-trigger\)/,
    ],
    ['throttle', /"throttle" is not <kind>=<rate>/],
    ['throttle=0.1,', /"" is not <kind>=<rate>/],
    ['throttle=1.5', /rate of throttle must be a number from 0 to 1 .*not "1.5"/],
    ['throttle=-0.1', /not "-0.1"/],
    ['throttle=abc', /not "abc"/],
    ['throttle=', /not ""/],
    ['throttle=150%', /not "150%"/],
    ['throttle=1e-1', /not "1e-1"/],
    ['throttle=0.1,throttle=0.2', /"throttle" is given twice/],
  ])('rejects %j with a clear error', (spec, message) => {
    expect(() => parseFaultSpec(spec)).toThrow(message);
    expect(() => parseFaultSpec(spec)).toThrow(expect.objectContaining({ name: 'FaultSpecError' }));
  });

  it('formats a spec back in a fixed order', () => {
    expect(formatFaultSpec(parseFaultSpec('s3-error=0.1,throttle=0.2'))).toBe('throttle=0.2,s3-error=0.1');
  });
});

describe('parseFaultSeed', () => {
  it.each([
    ['0', 0],
    ['42', 42],
    [' 7 ', 7],
    ['4294967295', 4294967295],
  ])('parses %j', (text, seed) => {
    expect(parseFaultSeed(text)).toBe(seed);
  });

  it.each(['', '-1', '1.5', 'abc', '4294967296', '0x10'])('rejects %j', (text) => {
    expect(() => parseFaultSeed(text)).toThrow(/--seed: expected an integer from 0 to 4294967295/);
  });
});

describe('the seeded PRNG', () => {
  const take = (next: () => number, n: number) => Array.from({ length: n }, next);

  it.each([0, 1, 42, 0xffffffff])('gives the same sequence for the same seed (%d), in [0, 1)', (seed) => {
    const a = take(mulberry32(seed), 1000);
    expect(take(mulberry32(seed), 1000)).toEqual(a);
    for (const x of a) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
    }
    // Roughly uniform: the mean of 1,000 draws is near 0.5.
    expect(a.reduce((s, x) => s + x, 0) / a.length).toBeCloseTo(0.5, 1);
  });

  it('gives different sequences for different seeds and different decision keys', () => {
    expect(take(mulberry32(1), 5)).not.toEqual(take(mulberry32(2), 5));
    expect(take(randomFor(1, 'throttle|a'), 5)).toEqual(take(randomFor(1, 'throttle|a'), 5));
    expect(take(randomFor(1, 'throttle|a'), 5)).not.toEqual(take(randomFor(1, 'throttle|b'), 5));
    expect(take(randomFor(1, 'throttle|a'), 5)).not.toEqual(take(randomFor(2, 'throttle|a'), 5));
  });

  it.each([
    ['', 2872998923],
    ['a', 444641715],
  ])('hashes %j to a stable 32-bit value', (text, expected) => {
    expect(hash32(text)).toBe(expected);
    expect(Number.isInteger(hash32(text)) && hash32(text) >= 0 && hash32(text) <= 0xffffffff).toBe(true);
  });

  it('makes decisions that do not depend on the order they are asked in', () => {
    const keys = Array.from({ length: 200 }, (_, i) => `s3://bucket/object-${i}`);
    const decide = (order: string[]) => {
      const injector = new FaultInjector({ rates: { 'duplicate-trigger': 0.5 }, seed: 9 });
      return new Map(order.map((k) => [k, injector.duplicateTrigger(k) !== undefined]));
    };
    const forward = decide(keys);
    expect(decide([...keys].reverse())).toEqual(forward);
    const hits = [...forward.values()].filter(Boolean).length;
    expect(hits).toBeGreaterThan(60);
    expect(hits).toBeLessThan(140);
    // Another seed, other decisions.
    const other = new FaultInjector({ rates: { 'duplicate-trigger': 0.5 }, seed: 10 });
    expect(keys.map((k) => other.duplicateTrigger(k) !== undefined)).not.toEqual([...forward.values()]);
  });

  it('has a fixed default seed', () => {
    expect(new FaultInjector({ rates: { throttle: 0.1 } }).seed).toBe(DEFAULT_FAULT_SEED);
  });
});

describe('retryBudget', () => {
  it.each<[unknown, string, number]>([
    [WORKER_RETRY, 'Lambda.ServiceException', 6],
    [WORKER_RETRY, 'Lambda.Unknown', 3],
    [WORKER_RETRY, 'ConfigError', 0],
    [[{ ErrorEquals: ['States.TaskFailed'] }], 'Lambda.Unknown', 3],
    [[{ ErrorEquals: ['Other'], MaxAttempts: 5 }], 'Lambda.Unknown', 0],
    [undefined, 'Lambda.Unknown', 0],
  ])('%j lets %s be retried %d times', (retry, name, budget) => {
    expect(retryBudget(retry, name)).toBe(budget);
  });
});

describe('worker-crash', () => {
  /** Invokes like the state machine: retries while the Retry allows, returns the attempts made. */
  async function invokeWithRetries(injector: FaultInjector, task: FaultTask, event: unknown) {
    const attempts: string[] = [];
    let runs = 0;
    for (let i = 0; i < 10; i++) {
      try {
        await injector.invoke(task, event, async () => {
          runs++;
          return 'ok';
        });
        attempts.push('ok');
        return { attempts, runs };
      } catch (err) {
        attempts.push((err as Error).name);
      }
    }
    throw new Error('never succeeded');
  }

  it('crashes an invocation at most MAX_CONSECUTIVE_FAULTS times, then lets it succeed', async () => {
    const injector = new FaultInjector({ rates: { 'worker-crash': 1 }, seed: 3 });
    const event = { Items: [{ partition: 1, chunks: 4 }] };

    const { attempts } = await invokeWithRetries(injector, WORKER, event);

    expect(attempts).toHaveLength(MAX_CONSECUTIVE_FAULTS + 1);
    expect(attempts.at(-1)).toBe('ok');
    for (const a of attempts.slice(0, -1)) expect(['Lambda.ServiceException', 'Lambda.Unknown']).toContain(a);
    expect(injector.counts()).toEqual({ 'worker-crash': MAX_CONSECUTIVE_FAULTS });
  });

  it('runs the handler when it crashes after its work (the at-least-once case)', async () => {
    // Find, deterministically, a payload whose first crash is "after".
    const injector = new FaultInjector({ rates: { 'worker-crash': 1 }, seed: 1, onProgress: () => {} });
    const lines: string[] = [];
    const logged = new FaultInjector({
      rates: { 'worker-crash': 1 },
      seed: 1,
      onProgress: (m) => lines.push(m),
    });
    let found = false;
    for (let i = 0; i < 20 && !found; i++) {
      const event = { Items: [{ index: i }] };
      const before = lines.length;
      const { runs, attempts } = await invokeWithRetries(logged, WORKER, event);
      if (lines[before]?.includes('after its work')) {
        found = true;
        // The handler ran on the crashed attempt and again on the successful one.
        expect(runs).toBeGreaterThanOrEqual(2);
        expect(attempts[0]).toBe('Lambda.ServiceException');
      }
      await invokeWithRetries(injector, WORKER, event);
    }
    expect(found).toBe(true);
  });

  it('makes the same decisions for the same seed and payloads, whatever the order', async () => {
    const events = Array.from({ length: 30 }, (_, i) => ({ Items: [{ index: i }] }));
    const run = async (order: typeof events) => {
      const lines: string[] = [];
      const injector = new FaultInjector({
        rates: { 'worker-crash': 0.4 },
        seed: 5,
        onProgress: (m) => lines.push(m),
      });
      for (const e of order) await invokeWithRetries(injector, WORKER, e);
      return { count: injector.counts()['worker-crash'], lines: lines.sort() };
    };
    const a = await run(events);
    expect(await run([...events].reverse())).toEqual(a);
    expect(a.count).toBeGreaterThan(0);
  });

  it('leaves non-worker states alone unless named, and never exceeds the Retry', async () => {
    const injector = new FaultInjector({ rates: { 'worker-crash': 1 }, seed: 1 });
    const claim: FaultTask = { state: 'ClaimRun', worker: false, retry: WORKER_RETRY };
    expect((await invokeWithRetries(injector, claim, {})).attempts).toEqual(['ok']);

    const named = new FaultInjector({ rates: { 'worker-crash': 1 }, seed: 1, crashStates: ['ClaimRun'] });
    expect((await invokeWithRetries(named, claim, {})).attempts).toHaveLength(3);
    // A Retry of 1 attempt leaves no room for an injected crash.
    const tight: FaultTask = { ...WORKER, retry: [{ ErrorEquals: ['States.ALL'], MaxAttempts: 1 }] };
    expect((await invokeWithRetries(injector, tight, { x: 1 })).attempts).toEqual(['ok']);
  });
});

/** A DynamoDB or S3 endpoint in memory: records what was sent and answers with `answer`. */
function fakeHandler(answer: (body: string) => { status?: number; body: string }) {
  const sent: string[] = [];
  return {
    sent,
    handler: {
      handle: async (request: { body?: unknown }) => {
        const raw = request.body;
        const body =
          typeof raw === 'string' ? raw : raw instanceof Uint8Array ? new TextDecoder().decode(raw) : '';
        sent.push(body);
        const a = answer(body);
        return {
          response: {
            statusCode: a.status ?? 200,
            headers: {
              'content-type': 'application/x-amz-json-1.0',
              'content-length': String(a.body.length),
            },
            body: Readable.from([Buffer.from(a.body)]),
          },
        };
      },
    },
  };
}

/** The SDK's retry loop without its waits (the middleware under test sits inside it). */
const noWaitRetry = {
  mode: 'standard',
  capacity: 500,
  acquireInitialRetryToken: async () => ({ getRetryCount: () => 0, getRetryDelay: () => 0 }),
  refreshRetryTokenForRetry: async (token: { getRetryCount(): number }) => {
    const count = token.getRetryCount() + 1;
    if (count >= 6) throw new Error('no more retries');
    return { getRetryCount: () => count, getRetryDelay: () => 0 };
  },
  recordSuccess: () => {},
  getCapacity: () => 500,
};

const local = { region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } };

describe('SDK-level faults', () => {
  it('throttle: the SDK retries the injected ProvisionedThroughputExceededException and succeeds', async () => {
    const fake = fakeHandler(() => ({ body: JSON.stringify({ Item: { id: { S: 'k' } } }) }));
    const client = new DynamoDBClient({
      ...local,
      endpoint: 'http://127.0.0.1:1',
      requestHandler: fake.handler as never,
      retryStrategy: noWaitRetry as never,
      maxAttempts: 6,
    });
    const injector = new FaultInjector({ rates: { throttle: 1 }, seed: 1 });
    await injector.install({ dynamodb: client, s3: new S3Client(local) });

    const out = await client.send(new GetItemCommand({ TableName: 't', Key: { id: { S: 'k' } } }));

    expect(out.Item).toEqual({ id: { S: 'k' } });
    expect(out.$metadata.attempts).toBe(MAX_CONSECUTIVE_FAULTS + 1);
    expect(fake.sent).toHaveLength(1); // throttled attempts are never sent
    expect(injector.counts()).toEqual({ throttle: MAX_CONSECUTIVE_FAULTS });
  });

  it('unprocessed: BatchWriteItem sends part and returns the rest as UnprocessedItems', async () => {
    const fake = fakeHandler(() => ({ body: JSON.stringify({ UnprocessedItems: {} }) }));
    const client = new DynamoDBClient({
      ...local,
      endpoint: 'http://127.0.0.1:1',
      requestHandler: fake.handler as never,
    });
    const injector = new FaultInjector({ rates: { unprocessed: 1 }, seed: 4 });
    await injector.install({ dynamodb: client, s3: new S3Client(local) }, { t: ['id'] });
    const requests: WriteRequest[] = Array.from({ length: 25 }, (_, i) => ({
      PutRequest: { Item: { id: { S: `k${i}` } } },
    }));

    // Act: retry like the adapter until nothing is unprocessed.
    let pending = requests;
    const calls: number[] = [];
    while (pending.length > 0) {
      const out = await client.send(new BatchWriteItemCommand({ RequestItems: { t: pending } }));
      calls.push(pending.length);
      pending = out.UnprocessedItems?.t ?? [];
    }

    // Assess: every item was sent exactly once, and no item was held back more than twice.
    const sentIds = fake.sent.flatMap((b) =>
      (JSON.parse(b) as { RequestItems: { t: WriteRequest[] } }).RequestItems.t.map(
        (r) => r.PutRequest?.Item?.id?.S,
      ),
    );
    expect(sentIds.sort()).toEqual(requests.map((r) => r.PutRequest?.Item?.id?.S).sort());
    expect(calls[0]).toBe(25);
    expect(calls.length).toBeGreaterThan(1);
    expect(calls.length).toBeLessThanOrEqual(MAX_CONSECUTIVE_FAULTS + 1);
    expect(injector.counts().unprocessed).toBe(calls.length - 1);
  });

  it('unprocessed: BatchGetItem returns part of the keys as UnprocessedKeys, with the same options', async () => {
    const fake = fakeHandler((body) => {
      const keys = (JSON.parse(body) as { RequestItems: { t: { Keys: unknown[] } } }).RequestItems.t.Keys;
      return { body: JSON.stringify({ Responses: { t: keys }, UnprocessedKeys: {} }) };
    });
    const client = new DynamoDBClient({
      ...local,
      endpoint: 'http://127.0.0.1:1',
      requestHandler: fake.handler as never,
    });
    const injector = new FaultInjector({ rates: { unprocessed: 1 }, seed: 2 });
    await injector.install({ dynamodb: client, s3: new S3Client(local) }, { t: ['id'] });
    const keys = Array.from({ length: 10 }, (_, i) => ({ id: { S: `k${i}` } }));

    const out = await client.send(
      new BatchGetItemCommand({
        RequestItems: {
          t: {
            Keys: keys,
            ConsistentRead: true,
            ProjectionExpression: '#p0',
            ExpressionAttributeNames: { '#p0': 'id' },
          },
        },
      }),
    );

    const got = out.Responses?.t ?? [];
    const back = out.UnprocessedKeys?.t;
    expect(back?.Keys?.length).toBeGreaterThan(0);
    expect(got.length + (back?.Keys?.length ?? 0)).toBe(10);
    expect(back).toMatchObject({ ConsistentRead: true, ProjectionExpression: '#p0' });
  });

  it('worker-crash during the work: SDK calls after the crash point are never sent', async () => {
    const fake = fakeHandler(() => ({ body: JSON.stringify({}) }));
    const client = new DynamoDBClient({
      ...local,
      endpoint: 'http://127.0.0.1:1',
      requestHandler: fake.handler as never,
    });
    const lines: string[] = [];
    const injector = new FaultInjector({
      rates: { 'worker-crash': 1 },
      seed: 1,
      onProgress: (m) => lines.push(m),
    });
    await injector.install({ dynamodb: client, s3: new S3Client(local) });
    const work = async () => {
      for (let i = 0; i < 20; i++)
        await client.send(new GetItemCommand({ TableName: 't', Key: { id: { S: `${i}` } } }));
      return 'done';
    };

    // Act: first attempts of payloads until one crashes during its work.
    let during: { sent: number; error: string } | undefined;
    for (let i = 0; i < 30 && !during; i++) {
      const before = fake.sent.length;
      const error = await injector.invoke(WORKER, { Items: [{ index: i }] }, work).then(
        () => 'none',
        (e: Error) => e.name,
      );
      if (lines.at(-1)?.includes(`(chunk ${i}) crashed during`))
        during = { sent: fake.sent.length - before, error };
    }

    // Assess
    expect(during?.error).toBe('Lambda.Unknown');
    expect(during?.sent).toBeGreaterThanOrEqual(0);
    expect(during?.sent).toBeLessThan(20);
  });

  it('s3-error: GetObject and PutObject get retryable 500/503 errors that the SDK retries', async () => {
    const fake = fakeHandler(() => ({ body: '' }));
    const s3 = new S3Client({
      ...local,
      endpoint: 'http://127.0.0.1:1',
      forcePathStyle: true,
      requestHandler: fake.handler as never,
      retryStrategy: noWaitRetry as never,
      maxAttempts: 5,
    });
    const injector = new FaultInjector({ rates: { 's3-error': 1 }, seed: 1 });
    await injector.install({ dynamodb: new DynamoDBClient(local), s3 });

    const put = await s3.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'x' }));
    await s3.send(new GetObjectCommand({ Bucket: 'b', Key: 'k' }));

    expect(put.$metadata.attempts).toBe(MAX_CONSECUTIVE_FAULTS + 1);
    expect(fake.sent).toHaveLength(2);
    expect(injector.counts()).toEqual({ 's3-error': 2 * MAX_CONSECUTIVE_FAULTS });
  });
});
