import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChunkAccumulator } from '../../lambdas/domain/chunk';
import { parseConfig } from '../../lambdas/domain/config';
import { binaryProblem, nulInFirstLine, parseRecord, planChunks, recordsOf } from '../../lambdas/domain/csv';
import { HeaderMismatchError, MalformedFileError } from '../../lambdas/domain/errors';
import { jsonColumns } from '../../lambdas/domain/jsonl';
import { bindHeader } from '../../lambdas/domain/mapping';

/**
 * The hostile-input corpus (test/fixtures/fuzz): each file through the Plan checks and the chunk
 * planner, then its rows through the transform worker's accumulator, against the outcome written
 * down in outcomes.json.
 */

const DIR = join(__dirname, '..', 'fixtures', 'fuzz');
interface Outcome {
  plan: { name: string; message: string } | null;
  rows?: number;
  rejects?: Record<string, string[]>;
  keys?: string[];
  keyCount?: number;
}
const outcomes = (
  JSON.parse(readFileSync(join(DIR, 'outcomes.json'), 'utf8')) as { files: Record<string, Outcome> }
).files;

const entity = parseConfig({
  entities: {
    contact: {
      target: { key: 'id' },
      fields: {
        id: { source: 'Id', required: true },
        firstName: { source: 'FirstName' },
        lastName: { source: 'LastName', required: true },
        email: { source: 'Email', type: 'email' },
        score: { source: 'Score' },
        modified: { source: 'LastModifiedDate', type: 'datetime', required: true },
      },
      updatedAt: 'modified',
      onMissingColumns: 'keep',
    },
  },
}).entities.contact;
if (!entity) throw new Error('no contact entity');

async function* once(bytes: Buffer): AsyncGenerator<Buffer> {
  yield bytes;
}

/** Plan's checks on the first bytes, then the scan (the errors Plan fails with). */
async function plan(bytes: Buffer, format: 'csv' | 'jsonl') {
  const binary = binaryProblem(bytes) ?? nulInFirstLine(bytes);
  if (binary !== undefined) throw new MalformedFileError(binary);
  const planned = await planChunks(once(bytes), { chunkBytes: 16 * 1024, format });
  const columns =
    format === 'jsonl'
      ? jsonColumns(entity as NonNullable<typeof entity>)
      : (() => {
          const parsed = parseRecord(planned.header?.text ?? '', planned.delimiter);
          if (!parsed.ok) throw new MalformedFileError(parsed.reason);
          return parsed.fields.map((c) => c.trim());
        })();
  return { planned, binding: bindHeader(columns, entity as NonNullable<typeof entity>) };
}

describe('hostile input corpus', () => {
  it('has an outcome for every file', () => {
    // Act / Assess
    expect(
      readdirSync(DIR)
        .filter((f) => f !== 'outcomes.json')
        .sort(),
    ).toEqual(Object.keys(outcomes).sort());
  });

  it.each(Object.entries(outcomes))('%s', async (file, expected) => {
    // Prepare
    const bytes = readFileSync(join(DIR, file));
    const format = file.endsWith('.jsonl') ? 'jsonl' : 'csv';

    // Act
    const result = await plan(bytes, format).catch((err: unknown) => err as Error);

    // Assess
    if (expected.plan !== null) {
      expect(result).toBeInstanceOf(
        expected.plan.name === 'HeaderMismatchError' ? HeaderMismatchError : MalformedFileError,
      );
      expect((result as Error).message).toContain(expected.plan.message);
      return;
    }
    if (result instanceof Error) throw result;
    const acc = new ChunkAccumulator(
      entity as NonNullable<typeof entity>,
      result.binding,
      result.planned.delimiter,
      1 << 20,
      format,
    );
    for (const chunk of result.planned.chunks) {
      const slice = bytes.subarray(chunk.start, chunk.end);
      for await (const batch of recordsOf(once(slice), chunk, {
        quoting: format === 'csv',
        delimiter: result.planned.delimiter,
      })) {
        for (const record of batch) acc.add(record);
      }
    }
    expect(acc.rows).toBe(expected.rows);
    expect(Object.fromEntries(acc.rejects.map((r) => [String(r.line), r.reasons]))).toEqual(expected.rejects);
    if (expected.keys) expect([...acc.winners.keys()].sort()).toEqual(expected.keys);
    if (expected.keyCount !== undefined) expect(acc.winners.size).toBe(expected.keyCount);
  });
});
