import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  DynamoDBClient,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { batchGet, batchWrite, setTableWorkMeter } from '../../lambdas/adapters/dynamodb';

const ddb = mockClient(DynamoDBClient);
const put = (id: string): WriteRequest => ({ PutRequest: { Item: { id: { S: id } } } });
const FAST = { maxAttempts: 5, baseDelayMs: 1, maxDelayMs: 1 };

describe('the table work meter (local progress lines)', () => {
  const counted: Array<[string, number]> = [];
  beforeEach(() => {
    ddb.reset();
    counted.length = 0;
    setTableWorkMeter((kind, n) => counted.push([kind, n]));
  });
  afterAll(() => setTableWorkMeter(undefined));

  it('counts the writes DynamoDB took, not the ones it handed back unprocessed', async () => {
    // Prepare: 30 puts; the first call of 25 leaves 5 unprocessed.
    const requests = Array.from({ length: 30 }, (_, i) => put(`k${i}`));
    ddb
      .on(BatchWriteItemCommand)
      .resolvesOnce({ UnprocessedItems: { t: requests.slice(20, 25) } })
      .resolves({});

    // Act
    await batchWrite('t', requests, { inFlight: 1, policy: FAST });

    // Assess
    expect(counted).toEqual([
      ['write', 20],
      ['write', 5],
      ['write', 5],
    ]);
  });

  it('counts the keys read, answered or not found, not the unprocessed ones', async () => {
    // Prepare: 3 keys; the first call finds one, misses one and leaves one unprocessed.
    ddb
      .on(BatchGetItemCommand)
      .resolvesOnce({
        Responses: { t: [{ id: { S: 'a' } }] },
        UnprocessedKeys: { t: { Keys: [{ id: { S: 'c' } }] } },
      })
      .resolves({ Responses: { t: [{ id: { S: 'c' } }] } });

    // Act
    const found = await batchGet('t', 'id', ['a', 'b', 'c'], { policy: FAST });

    // Assess
    expect([...found.keys()].sort()).toEqual(['a', 'c']);
    expect(counted).toEqual([
      ['read', 2],
      ['read', 1],
    ]);
  });

  it('counts nothing once the meter is removed (as in AWS)', async () => {
    // Prepare
    setTableWorkMeter(undefined);
    ddb.on(BatchWriteItemCommand).resolves({});

    // Act
    await batchWrite('t', [put('a')], { policy: FAST });

    // Assess
    expect(counted).toEqual([]);
  });
});
