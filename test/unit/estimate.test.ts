import { type CostItem, estimateRun, PRICES, priceUsage, type Usage } from '../../lambdas/domain/estimate';
import { contactEntity } from './fixtures';

const entity = contactEntity();

const total = (items: readonly CostItem[]) => items.reduce((t, i) => t + i.usd, 0);
const line = (items: readonly CostItem[], name: string) => {
  const found = items.find((i) => i.item === name);
  if (!found) throw new Error(`no line ${name}`);
  return found;
};

describe('estimate: the cost of one run', () => {
  it('prices usage with the table of prices (hand-computed)', () => {
    // Prepare
    const usage: Usage = {
      s3: {
        manifests: { puts: 1_000, gets: 1_000 },
        source: { puts: 0, gets: 10_000 },
        parts: { puts: 2_000, gets: 5_000 },
        reports: { puts: 0, gets: 0 },
      },
      lambda: { gbSeconds: 1_000, requests: 1_000_000 },
      stepFunctions: { standardTransitions: 1_000, expressRequests: 2_000_000, expressGbSeconds: 600 },
      dynamodb: {
        writeUnits: 3_000_000,
        readUnits: 8_000_000,
        provisioned: { writeCapacityUnits: 100, readCapacityUnits: 300, hours: 2 },
      },
      sourceBytes: 0,
    };

    // Act
    const { items, provisioned } = priceUsage(usage);

    // Assess
    // S3: PUT 1,000 + 2,000 at $0.005/1,000 = $0.005 + $0.010; GET 1,000 + 10,000 + 5,000 at
    // $0.0004/1,000 = $0.0004 + $0.004 + $0.002.
    expect(line(items, 'manifests and map results PUT').usd).toBeCloseTo(0.005, 9);
    expect(line(items, 'parts PUT').usd).toBeCloseTo(0.01, 9);
    expect(line(items, 'manifests and map results GET').usd).toBeCloseTo(0.0004, 9);
    expect(line(items, 'source GET').usd).toBeCloseTo(0.004, 9);
    expect(line(items, 'parts GET').usd).toBeCloseTo(0.002, 9);
    // Lambda: 1,000 GB-s × $0.0000133334 = $0.0133334; 1M requests × $0.20/M = $0.20.
    expect(line(items, 'compute (arm64)').usd).toBeCloseTo(0.0133334, 7);
    expect(line(items, 'requests').usd).toBeCloseTo(0.2, 9);
    // Step Functions: 1,000 transitions × $0.025/1,000 = $0.025; 2M Express requests × $1/M = $2;
    // 600 GB-s × $0.00001667 = $0.010002.
    expect(line(items, 'Standard state transitions').usd).toBeCloseTo(0.025, 9);
    expect(line(items, 'Express requests').usd).toBeCloseTo(2, 9);
    expect(line(items, 'Express duration').usd).toBeCloseTo(0.010002, 9);
    // DynamoDB on-demand: 3M WRU × $0.625/M = $1.875; 8M RRU × $0.125/M = $1.00.
    expect(line(items, 'write request units (on-demand)').usd).toBeCloseTo(1.875, 9);
    expect(line(items, 'read request units (on-demand)').usd).toBeCloseTo(1, 9);
    // Provisioned: 100 WCU × 2 h × $0.00065 = $0.13; 300 RCU × 2 h × $0.00013 = $0.078.
    expect(line(provisioned, 'write capacity (provisioned, 2 h)').usd).toBeCloseTo(0.13, 9);
    expect(line(provisioned, 'read capacity (provisioned, 2 h)').usd).toBeCloseTo(0.078, 9);
    // Totals: common lines $0.0214 + $0.2133334 + $2.035002 = $2.2697354;
    // on-demand + $2.875 = $5.1447354; provisioned + $0.208 = $2.4777354.
    expect(total(items)).toBeCloseTo(5.1447354, 6);
    expect(total(provisioned)).toBeCloseTo(2.4777354, 6);
  });

  it('estimates a 100M-row, 500-byte-row run (hand-computed DynamoDB units and Import from S3)', () => {
    // Act
    const e = estimateRun({ rows: 100_000_000, avgRowBytes: 500, entity });

    // Assess
    // The layout (test/unit/sizing.test.ts): 398 chunks, 2,000 partitions, 11.7 h.
    expect([e.layout.chunks, e.layout.partitions]).toEqual([398, 2_000]);
    // Item: 500 B of row + 24 B of field names (id, email, lastName, updatedAt) + 120 B of crm-sync's
    // attributes = 644 B: 1 WCU, 1 RCU.
    expect(e.layout.itemBytes).toBe(644);
    // Writes: 100,000,000 items × 1 WCU + ledger (398 chunks + 2 × 2,000 partitions + 10) = 100,004,408.
    expect(e.usage.dynamodb.writeUnits).toBe(100_004_408);
    // Reads: merge 100M strongly consistent + verify read-back 100M + the verify scan
    // ceil(100M × 644 / 4,096 / 2) = 7,861,329 + ledger 4,408 = 207,865,737.
    expect(e.usage.dynamodb.readUnits).toBe(207_865_737);
    // $0.625 × 100.004408 = $62.502755; $0.125 × 207.865737 = $25.983217.
    expect(line(e.items, 'write request units (on-demand)').usd).toBeCloseTo(62.502755, 5);
    expect(line(e.items, 'read request units (on-demand)').usd).toBeCloseTo(25.983217, 5);
    // Parts: 398 chunks × (2,000 parts + 1 rejects) = 796,398 PUTs = $3.98199; merge reads
    // 2,000 × 398 = 796,000 GETs = $0.3184.
    expect(e.usage.s3.parts).toEqual({ puts: 796_398, gets: 796_000 });
    expect(line(e.items, 'parts PUT').usd).toBeCloseTo(3.98199, 5);
    expect(line(e.items, 'parts GET').usd).toBeCloseTo(0.3184, 5);
    // Children: 398 transform + 2 × 2,000 merge and verify = 4,398 Express requests; Lambda
    // requests add ClaimRun, PlanChunks and Reconcile: 4,401.
    expect(e.usage.stepFunctions.expressRequests).toBe(4_398);
    expect(e.usage.lambda.requests).toBe(4_401);
    expect(e.usage.stepFunctions.standardTransitions).toBe(9);
    // Provisioned at the same rates for ceil(11.7 h) = 12 h: 4,000 × 12 × $0.00065 = $31.20 and
    // 12,000 × 12 × $0.00013 = $18.72.
    expect(line(e.provisioned, 'write capacity (provisioned, 12 h)').usd).toBeCloseTo(31.2, 6);
    expect(line(e.provisioned, 'read capacity (provisioned, 12 h)').usd).toBeCloseTo(18.72, 6);
    // Import from S3: 5e10 B / 2^30 = 46.566129 GiB × $0.15 = $6.984919, cheaper than the run.
    expect(e.importFromS3.usd).toBeCloseTo(6.984919, 5);
    expect(e.importFromS3.cheaper).toBe(true);
    expect(e.totals.onDemand).toBeCloseTo(total(e.items), 5);
    expect(e.totals.onDemand).toBeGreaterThan(62.5 + 25.9 + 3.98);
  });

  it('prices a small file at cents, with the prices dated', () => {
    // Act
    const e = estimateRun({ rows: 3_000, avgRowBytes: 276, entity });

    // Assess
    expect(e.layout.chunks).toBe(1);
    expect(e.layout.partitions).toBe(1);
    expect(e.totals.onDemand).toBeLessThan(0.01);
    expect(e.prices.checked).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(e.prices).toBe(PRICES);
  });

  it('counts only the changed rows as writes', () => {
    // Act
    const all = estimateRun({ rows: 1_000_000, avgRowBytes: 300, entity });
    const tenth = estimateRun({ rows: 1_000_000, avgRowBytes: 300, entity, changedShare: 0.1 });

    // Assess
    // 1,000,000 vs 100,000 item writes, the same ledger writes.
    expect(all.usage.dynamodb.writeUnits - tenth.usage.dynamodb.writeUnits).toBe(900_000);
  });

  it('counts the writes of each global secondary index, a keys-only one at one unit, and the key attributes in the item size', () => {
    // Prepare
    const indexed = contactEntity({
      indexes: {
        byEmail: { partitionKey: { name: 'gsi1pk', value: 'EMAIL#{email}' } },
        byName: { partitionKey: 'lastName', projection: 'keys' },
      },
    });
    const templated = contactEntity({
      key: undefined,
      partitionKey: { name: 'pk', value: 'CONTACT#{id}' },
      sortKey: { name: 'sk', value: 'PROFILE' },
    });

    // Act
    const plain = estimateRun({ rows: 1_000_000, avgRowBytes: 300, entity });
    const withIndexes = estimateRun({ rows: 1_000_000, avgRowBytes: 300, entity: indexed });
    const withTemplates = estimateRun({ rows: 1_000_000, avgRowBytes: 300, entity: templated });

    // Assess
    // Items under 1 KB: 1 unit for the table, 1 for the full index, 1 for the keys-only index.
    expect(plain.layout.indexWriteUnitsPerItem).toBe(0);
    expect(withIndexes.layout.indexWriteUnitsPerItem).toBe(2);
    expect(withIndexes.usage.dynamodb.writeUnits - plain.usage.dynamodb.writeUnits).toBe(2_000_000);
    // gsi1pk and its EMAIL# prefix; pk, sk, CONTACT# and PROFILE, and a share per field they read.
    expect(withIndexes.layout.itemBytes - plain.layout.itemBytes).toBe(
      'gsi1pk'.length + 'EMAIL#'.length + 16,
    );
    expect(withTemplates.layout.itemBytes - plain.layout.itemBytes).toBe(
      'pk'.length + 'CONTACT#'.length + 16 + 'sk'.length + 'PROFILE'.length,
    );
  });
});
