import { lazyObject, once } from '../../lambdas/adapters/lazy';

type Clients = typeof import('../../lambdas/adapters/clients');

/**
 * The adapters' clients module loaded afresh (as in a new process), with the tracer's capture and
 * the SDK clients' constructors counted.
 */
function loadClients(): { clients: Clients; made: string[]; captured: unknown[] } {
  const made: string[] = [];
  const captured: unknown[] = [];
  let clients: Clients | undefined;
  jest.isolateModules(() => {
    jest.doMock('../../lambdas/adapters/powertools', () => ({
      tracer: {
        captureAWSv3Client: <T>(client: T): T => {
          captured.push(client);
          return client;
        },
      },
    }));
    for (const [pkg, name] of [
      ['@aws-sdk/client-s3', 'S3Client'],
      ['@aws-sdk/client-dynamodb', 'DynamoDBClient'],
      ['@aws-sdk/client-eventbridge', 'EventBridgeClient'],
      ['@aws-sdk/client-sfn', 'SFNClient'],
    ] as const) {
      jest.doMock(pkg, () => {
        const actual = jest.requireActual<Record<string, new (config: unknown) => object>>(pkg);
        const Actual = actual[name] as new (config: unknown) => object;
        return {
          ...actual,
          [name]: class extends Actual {
            constructor(config: unknown) {
              super(config);
              made.push(name);
            }
          },
        };
      });
    }
    clients = require('../../lambdas/adapters/clients') as Clients;
  });
  if (!clients) throw new Error('clients not loaded');
  return { clients, made, captured };
}

describe('the adapters’ SDK clients', () => {
  const saved = process.env.AWS_ENDPOINT_URL_S3;
  afterEach(() => {
    if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_S3;
    else process.env.AWS_ENDPOINT_URL_S3 = saved;
  });

  it('makes no client when the module is loaded', () => {
    // Act
    const { made, captured } = loadClients();

    // Assess
    expect(made).toEqual([]);
    expect(captured).toEqual([]);
  });

  it.each([
    ['S3Client', (c: Clients) => c.s3Client(), 5],
    ['DynamoDBClient', (c: Clients) => c.dynamodbClient(), 6],
    ['EventBridgeClient', (c: Clients) => c.eventBridgeClient(), 5],
    ['SFNClient', (c: Clients) => c.sfnClient(), 5],
  ] as const)(
    'makes one %s on first use, captured by the tracer, with its retry budget',
    async (name, get, attempts) => {
      // Prepare
      const { clients, made, captured } = loadClients();

      // Act
      const first = get(clients);
      const second = get(clients);

      // Assess
      expect(second).toBe(first);
      expect(made).toEqual([name]);
      expect(captured).toEqual([first]);
      expect(await first.config.maxAttempts()).toBe(attempts);
    },
  );

  it.each([
    ['set: path-style, checksums only when required', 'http://127.0.0.1:4569', true, 'WHEN_REQUIRED'],
    ['unset: virtual-hosted, the SDK’s checksums', undefined, false, 'WHEN_SUPPORTED'],
  ])(
    'reads AWS_ENDPOINT_URL_S3 when the S3 client is made, not when loaded (%s)',
    async (_name, endpoint, pathStyle, checksums) => {
      // Prepare: the variable changes after the module is loaded (as local mode sets it)
      process.env.AWS_ENDPOINT_URL_S3 = 'http://set-before-first-use.invalid';
      const { clients } = loadClients();
      if (endpoint === undefined) delete process.env.AWS_ENDPOINT_URL_S3;
      else process.env.AWS_ENDPOINT_URL_S3 = endpoint;

      // Act
      const s3 = clients.s3Client();

      // Assess
      expect(s3.config.forcePathStyle).toBe(pathStyle);
      expect(await s3.config.requestChecksumCalculation()).toBe(checksums);
      expect(await s3.config.responseChecksumValidation()).toBe(checksums);
    },
  );

  it('makes new clients after resetClients, which read the endpoint then (a local stack on new ports)', () => {
    // Prepare
    const { clients, made } = loadClients();
    process.env.AWS_ENDPOINT_URL_S3 = 'http://127.0.0.1:4569';
    const before = clients.s3Client();
    const destroyed = jest.spyOn(before, 'destroy');
    delete process.env.AWS_ENDPOINT_URL_S3;

    // Act
    clients.resetClients();
    const after = clients.s3Client();

    // Assess
    expect(after).not.toBe(before);
    expect(destroyed).toHaveBeenCalledTimes(1);
    expect([before.config.forcePathStyle, after.config.forcePathStyle]).toEqual([true, false]);
    expect(made).toEqual(['S3Client', 'S3Client']);
  });

  it('hands the fault injector and the IAM check the very clients the adapters use', () => {
    // Prepare
    const { clients } = loadClients();

    // Act
    const data = clients.dataClients();

    // Assess
    expect(data.s3).toBe(clients.s3Client());
    expect(data.dynamodb).toBe(clients.dynamodbClient());
  });
});

describe('values made on first use', () => {
  it('once: makes the value on the first call only', () => {
    // Prepare
    let calls = 0;
    const get = once(() => ({ n: ++calls }));

    // Act
    const values = [get(), get(), get()];

    // Assess
    expect(calls).toBe(1);
    expect(values[1]).toBe(values[0]);
    expect(values[2]).toBe(values[0]);
  });

  it('lazyObject: makes the object on first use, with its methods bound to it (private fields work)', () => {
    // Prepare
    class Counter {
      #n = 0;
      label = 'counter';
      add(k: number): number {
        this.#n += k;
        return this.#n;
      }
    }
    let made = 0;
    const counter = lazyObject(() => {
      made++;
      return new Counter();
    });
    const { add } = counter;
    const madeByFirstRead = made;

    // Act
    add(2);
    const total = counter.add(3);
    counter.label = 'renamed';

    // Assess
    expect(madeByFirstRead).toBe(1);
    expect(made).toBe(1);
    expect(total).toBe(5);
    expect(counter.label).toBe('renamed');
    expect('add' in counter).toBe(true);
    expect(counter).toBeInstanceOf(Counter);
  });

  it('lazyObject: makes nothing until used', () => {
    // Prepare
    let made = 0;

    // Act
    lazyObject(() => {
      made++;
      return {};
    });

    // Assess
    expect(made).toBe(0);
  });
});
