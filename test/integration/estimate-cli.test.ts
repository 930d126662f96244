import { statSync } from 'node:fs';
import { CONTACTS, cli } from './support';

/** `crm-sync estimate` as a user runs it: no stack, no AWS, one process. */
describe('crm-sync estimate', () => {
  it('prints one JSON document whose lines add up to the totals', async () => {
    // Act
    const result = await cli([
      'estimate',
      '--rows',
      '100000000',
      '--avg-bytes',
      '500',
      '--entity',
      'account',
      '--json',
    ]);

    // Assess
    expect(result.code).toBe(0);
    const e = JSON.parse(result.stdout) as {
      entity: string;
      rows: number;
      sourceBytes: number;
      prices: { region: string; checked: string };
      items: { service: string; usd: number }[];
      totals: { onDemand: number; provisioned: number };
      layout: { chunks: number; partitions: number; checks: { ok: boolean }[] };
      importFromS3: { usd: number; cheaper: boolean };
    };
    expect(e).toMatchObject({ entity: 'account', rows: 100_000_000, sourceBytes: 50_000_000_000 });
    expect(e.prices).toMatchObject({
      region: 'us-east-1',
      checked: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
    });
    expect(new Set(e.items.map((i) => i.service))).toEqual(
      new Set(['S3', 'Lambda', 'Step Functions', 'DynamoDB']),
    );
    expect(e.totals.onDemand).toBeCloseTo(
      e.items.reduce((t, i) => t + i.usd, 0),
      4,
    );
    expect(e.layout.checks.every((c) => c.ok)).toBe(true);
    // 5e10 B = 46.57 GiB at $0.15: $6.98, cheaper than writing 100M items.
    expect(e.importFromS3).toEqual({ usd: expect.closeTo(6.98, 2), cheaper: true, note: expect.any(String) });
  });

  it('samples a file for its rows and row size, and prints the itemized estimate', async () => {
    // Act
    const result = await cli(['estimate', CONTACTS, '--entity', 'contact']);

    // Assess
    expect(result.code).toBe(0);
    const out = result.stdout;
    // examples/data/contacts.csv is smaller than the sample: every row is counted.
    expect(out).toMatch(/crm-sync estimate for "contact": 3,000 rows/);
    for (const item of [
      'parts PUT',
      'compute (arm64)',
      'Standard state transitions',
      'Express requests',
      'Express duration',
      'write request units (on-demand)',
      'read request units (on-demand)',
      'write capacity (provisioned',
      'total, DynamoDB on-demand',
      'total, DynamoDB provisioned',
      'Wall time',
      'Import from S3',
    ]) {
      expect(out).toContain(item);
    }
    expect(statSync(CONTACTS).size).toBeLessThan(1024 * 1024);
  });

  it('says what is missing without a file or --rows and --avg-bytes', async () => {
    // Act
    const result = await cli(['estimate', '--entity', 'contact', '--rows', '10']);

    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe('crm-sync: estimate needs a file, or both --rows and --avg-bytes');
  });

  it('names an unknown entity', async () => {
    // Act
    const result = await cli(['estimate', '--entity', 'nope', '--rows', '10', '--avg-bytes', '10']);

    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/entity "nope" is not configured/);
  });
});
