import { statSync } from 'node:fs';
import { CONTACTS, cli } from './support';

const DEMO_CONFIG = 'examples/crm-sync.config.json';
const TEN_MILLION = ['--entity', 'contact', '--rows', '10000000', '--avg-bytes', '400'];

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
      '--preset',
      'salesforce',
      '--json',
    ]);

    // Assess
    expect(result.code).toBe(0);
    const e = JSON.parse(result.stdout) as {
      entity: string;
      config: { kind: string; name: string };
      verdict: { runnable: boolean };
      rows: number;
      sourceBytes: number;
      prices: { region: string; checked: string };
      items: { service: string; usd: number }[];
      totals: { onDemand: number; provisioned: number };
      layout: { chunks: number; partitions: number; checks: { ok: boolean }[] };
      importFromS3: { usd: number; cheaper: boolean };
    };
    expect(e).toMatchObject({
      entity: 'account',
      config: { kind: 'preset', name: 'salesforce' },
      verdict: { runnable: true },
      rows: 100_000_000,
      sourceBytes: 50_000_000_000,
    });
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
    const result = await cli(['estimate', CONTACTS, '--entity', 'contact', '--config', DEMO_CONFIG]);

    // Assess
    expect(result.code).toBe(0);
    const out = result.stdout;
    // examples/data/contacts.csv is smaller than the sample: every row is counted.
    expect(out).toMatch(
      /^crm-sync estimate for "contact" with the built-in DEMO config \(examples\/crm-sync\.config\.json\): 3,000 rows/,
    );
    expect(out).toContain('note: the demo config is for the laptop demo');
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
    const result = await cli(['estimate', '--entity', 'contact', '--rows', '10', '--preset', 'salesforce']);

    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe('crm-sync: estimate needs a file, or both --rows and --avg-bytes');
  });

  it('names an unknown entity', async () => {
    // Act
    const result = await cli([
      'estimate',
      '--entity',
      'nope',
      '--rows',
      '10',
      '--avg-bytes',
      '10',
      '--preset',
      'salesforce',
    ]);

    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/entity "nope" is not configured/);
  });

  it('refuses to estimate with the built-in demo config nobody chose, and says how to pass one', async () => {
    // Act
    const result = await cli(['estimate', ...TEN_MILLION], { CRM_SYNC_CONFIG: '' });

    // Assess
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      /^crm-sync: estimate needs the config you will deploy: --config <file>, or --preset salesforce\|hubspot .*--config examples\/crm-sync\.config\.json\n$/,
    );
  });

  it('names the config on its first line', async () => {
    // Act
    const preset = await cli(['estimate', ...TEN_MILLION, '--preset', 'salesforce']);
    const file = await cli([
      'estimate',
      ...TEN_MILLION,
      '--config',
      'test/fixtures/../../examples/crm-sync.config.json',
    ]);

    // Assess
    expect(preset.code).toBe(0);
    expect(preset.stdout.split('\n')[0]).toBe(
      'crm-sync estimate for "contact" with preset salesforce: 10,000,000 rows × 400 B = 3.7 GiB',
    );
    expect(preset.stdout).toMatch(/Wall time {7}70 min/);
    expect(preset.stdout).toMatch(/total, DynamoDB on-demand +\$9\.46/);
    expect(file.stdout.split('\n')[0]).toMatch(
      /with the built-in DEMO config \(examples\/crm-sync\.config\.json\)/,
    );
  });

  it('fails a run Plan would refuse or that passes the 12 h limit, and says what to change', async () => {
    // Act
    const result = await cli(['estimate', ...TEN_MILLION, '--config', DEMO_CONFIG]);

    // Assess
    expect(result.code).toBe(1);
    const lines = result.stdout.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('error: '))).toEqual([
      expect.stringMatching(
        /^error: Plan refuses this run .*merge part reads, seconds \(one part per chunk, 15,259 chunks\) 77 > 30$/,
      ),
      "error: the run would take 125.7 h, past the execution's 12 h time limit: it would fail (States.Timeout) after running 12 h",
    ]);
    expect(lines.filter((l) => l.startsWith('change: '))).toEqual([
      expect.stringMatching(/raise source\.chunkBytes \(262,144 B cuts 15,259 chunks/),
      expect.stringMatching(/raise the table's write throughput/),
      expect.stringMatching(/^change: or split the export into files of at most [\d,]+ rows/),
    ]);
    expect(result.stdout).toContain('Cost of one run (USD), were it to run (it cannot');
  });

  it('reports the partition count its layout line shows (no contradicting warning)', async () => {
    // Act
    const result = await cli(['estimate', ...TEN_MILLION, '--config', DEMO_CONFIG]);

    // Assess
    const layout = /partitions {4}([\d,]+) × /.exec(result.stdout)?.[1];
    expect(layout).toBe('10,000');
    // The old output warned "partitions needed: 10,000,000 exceeds 10,000" beside that layout line.
    expect(result.stdout).not.toMatch(/partitions needed/);
  });
});
