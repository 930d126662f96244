import { runDistributedMap } from '../../local/distributed-map';

/** Runs a Map over `items` children that each take a tick; returns the most that ran at once. */
async function peakConcurrency(state: Record<string, unknown>, input: unknown): Promise<number> {
  let running = 0;
  let peak = 0;
  await runDistributedMap({
    stateName: 'M',
    state: { ItemsPath: '$.items', ItemProcessor: {}, ...state },
    input,
    context: {},
    store: { getText: () => Promise.reject(new Error('unused')), putText: () => Promise.resolve() },
    executionArn: 'arn:aws:states:us-east-1:000000000000:execution:m:e',
    runChild: async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      return {};
    },
  });
  return peak;
}

describe('local Distributed Map: MaxConcurrency(Path)', () => {
  const items = Array.from({ length: 12 }, (_, i) => i);

  it('reads the concurrency from the input with MaxConcurrencyPath', async () => {
    // Act
    const peak = await peakConcurrency(
      { MaxConcurrencyPath: '$.plan.layout.c' },
      { items, plan: { layout: { c: 3 } } },
    );

    // Assess
    expect(peak).toBe(3);
  });

  it('keeps a fixed MaxConcurrency', async () => {
    // Act
    const peak = await peakConcurrency({ MaxConcurrency: 2 }, { items });

    // Assess
    expect(peak).toBe(2);
  });

  it('fails like Step Functions on a value that is not a non-negative integer', async () => {
    // Act
    const act = peakConcurrency({ MaxConcurrencyPath: '$.c' }, { items, c: 'ten' });

    // Assess
    await expect(act).rejects.toMatchObject({ name: 'States.Runtime' });
  });
});
