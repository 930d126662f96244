import { parquetWriteBuffer } from 'hyparquet-writer';
import { MalformedFileError } from '../../lambdas/domain/errors';
import { isParquet, jsonText, parquetLines } from '../../lambdas/domain/parquet';

/** An in-memory file as hyparquet reads one (random access). */
const asFile = (bytes: ArrayBuffer) => ({
  byteLength: bytes.byteLength,
  slice: (start: number, end?: number) => bytes.slice(start, end),
});

async function lines(bytes: ArrayBuffer): Promise<string[]> {
  const out: Buffer[] = [];
  for await (const part of parquetLines(asFile(bytes))) out.push(part);
  return Buffer.concat(out).toString('utf8').split('\n').slice(0, -1);
}

describe('Parquet', () => {
  it('converts a file written by hyparquet-writer into one JSON line per row, row group by row group', async () => {
    // Prepare: 5 rows in row groups of 2, with an INT64 past 2^53, a null, a timestamp.
    const file = parquetWriteBuffer({
      rowGroupSize: 2,
      columnData: [
        { name: 'Id', data: ['a', 'b', 'c', 'd', 'e'], type: 'STRING' },
        { name: 'Big', data: [9007199254740993n, 1n, 2n, 3n, -4n], type: 'INT64' },
        { name: 'Score', data: [1.5, 2, 0.1, -3, 1e21], type: 'DOUBLE' },
        { name: 'Active', data: [true, false, true, false, true], type: 'BOOLEAN' },
        { name: 'Note', data: ['x "y"\nz', null, 'é', null, ''], type: 'STRING', nullable: true },
        {
          name: 'Modified',
          data: [0, 1, 2, 3, 4].map((i) => new Date(Date.UTC(2024, 0, 1 + i))),
          type: 'TIMESTAMP',
        },
      ],
    });

    // Act
    const out = await lines(file);

    // Assess
    expect(isParquet(new Uint8Array(file))).toBe(true);
    expect(out).toHaveLength(5);
    expect(out[0]).toBe(
      '{"Id":"a","Big":9007199254740993,"Score":1.5,"Active":true,"Note":"x \\"y\\"\\nz","Modified":"2024-01-01T00:00:00.000Z"}',
    );
    expect(out.map((l) => JSON.parse(l).Id)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(JSON.parse(out[1] ?? '')).toMatchObject({ Note: null, Big: 1 });
  });

  it('gives no line for a file without rows', async () => {
    // Prepare
    const file = parquetWriteBuffer({ columnData: [{ name: 'Id', data: [], type: 'STRING' }] });

    // Act / Assess
    expect(await lines(file)).toEqual([]);
  });

  it.each<[string, (good: ArrayBuffer) => ArrayBuffer]>([
    ['a cut-off file (no footer)', (good) => good.slice(0, good.byteLength - 10)],
    [
      'a file whose footer is broken',
      (good) => {
        const bad = new Uint8Array(good.slice(0));
        bad.fill(0xff, bad.length - 40, bad.length - 8);
        return bad.buffer;
      },
    ],
  ])('refuses %s with a MalformedFileError', async (_name, spoil) => {
    // Prepare
    const good = parquetWriteBuffer({ columnData: [{ name: 'Id', data: ['a', 'b'], type: 'STRING' }] });

    // Act / Assess
    await expect(lines(spoil(good))).rejects.toThrow(MalformedFileError);
    await expect(lines(spoil(good))).rejects.toThrow(/^the Parquet file is not valid: /);
  });

  it.each<[string, unknown, string]>([
    ['a string', 'a"b', '"a\\"b"'],
    ['an INT64 past 2^53', 12345678901234567890n, '12345678901234567890'],
    ['NaN', Number.NaN, '"NaN"'],
    ['-Infinity', Number.NEGATIVE_INFINITY, '"-Infinity"'],
    ['a date', new Date(Date.UTC(2024, 1, 29, 12)), '"2024-02-29T12:00:00.000Z"'],
    ['bytes', new Uint8Array([1, 2, 255]), '"AQL/"'],
    ['a list of structs', [{ a: 1n, b: null }], '[{"a":1,"b":null}]'],
    ['null', null, 'null'],
  ])('writes %s as JSON text', (_name, value, expected) => {
    // Act / Assess
    expect(jsonText(value)).toBe(expected);
  });
});
