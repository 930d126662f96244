import { type CrmSyncConfig, parseConfig } from '../../lambdas/domain/config';
import { runLocalFile } from '../../local/run';
import { readCsv } from './reference';
import { NOTE_ENTITY, useLocalStack } from './support';

/**
 * Integration: rows DynamoDB cannot store (an item over 400 KB, a partition key over 2,048 bytes)
 * are rejected at the transform with `item_too_large` / `key_too_large`, and every other row of
 * the file loads: the merge never sends a write DynamoDB refuses, which would fail the run with
 * part of the table written.
 */
const KiB = 1024;
const CONFIG: CrmSyncConfig = parseConfig({
  entities: {
    note: {
      ...NOTE_ENTITY,
      partitionRows: 100,
      // Each cell is under maxFieldBytes (128 KiB): only the item as a whole is too large.
      source: { maxFieldBytes: 128 * KiB, chunkBytes: 256 * KiB },
    },
  },
});
const HEADER = 'Id,A,B,C,D,Modified';
const MODIFIED = '2024-01-01T00:00:00Z';

describe('rows over DynamoDB limits', () => {
  const local = useLocalStack('row-limits', CONFIG);

  it('rejects the item over 400 KB and the 3,010-byte key, loads the 182 other rows, reconciles', async () => {
    // Prepare: 184 rows; line 40 has four fields of 120 KiB, line 120 an Id of 3,010 bytes, and
    // line 150 three fields of 120 KiB (360 KiB: it fits).
    const big = 'x'.repeat(120 * KiB);
    const rows: string[] = [];
    for (let n = 1; n <= 184; n++) {
      const line = n + 1;
      if (line === 40) rows.push(`p${n},${big},${big},${big},${big},${MODIFIED}`);
      else if (line === 120) rows.push(`${'k'.repeat(3010)},a,,,,${MODIFIED}`);
      else if (line === 150) rows.push(`p${n},${big},${big},${big},,${MODIFIED}`);
      else rows.push(`p${n},a${n},b${n},,,${MODIFIED}`);
    }
    const file = local.write('notes.csv', `${HEADER}\n${rows.join('\n')}\n`);

    // Act
    const result = await runLocalFile(local.stack, file, CONFIG, {
      entity: 'note',
      stateDir: local.stateDir,
    });

    // Assess
    expect(result.error).toBeUndefined();
    expect(result.status).toBe('SUCCEEDED');
    expect(result.reconciliation?.status).toBe('MATCHED');
    expect(result.counts).toEqual({
      rows: 184,
      applied: 182,
      unchanged: 0,
      superseded: 0,
      deleted: 0,
      rejected: 2,
    });
    expect(result.topReasons).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ reason: 'item_too_large', count: 1 }),
        expect.objectContaining({ reason: 'key_too_large', count: 1 }),
      ]),
    );
    const [, ...rejects] = readCsv(result.reports.rejects as string);
    expect(rejects.map((r) => [Number(r.cells[0]), r.cells[1]])).toEqual([
      [40, 'item_too_large'],
      [120, 'key_too_large'],
    ]);
    const items = await local.items('note');
    expect(items).toHaveLength(182);
    expect(items.find((i) => i.id === 'p149')?.c).toBe(big);
    expect(items.some((i) => i.id === 'p39')).toBe(false);
  });
});
