import {
  benchConfig,
  E2E_DEFAULT_PUT_ROWS,
  E2E_DEFAULT_ROWS,
  E2E_MEMORY_ROWS,
  parseE2eOptions,
} from '../../bench/e2e';

describe('npm run bench -- e2e: options', () => {
  it('defaults to 200,000 rows, put-per-row on a 20,000-row prefix, no memory mode', () => {
    // Act
    const options = parseE2eOptions([]);

    // Assess
    expect(options).toEqual({
      rows: E2E_DEFAULT_ROWS,
      putRows: E2E_DEFAULT_PUT_ROWS,
      memory: false,
      memoryRows: [...E2E_MEMORY_ROWS],
      chunkBytes: undefined,
      out: undefined,
      keep: false,
    });
    expect(E2E_MEMORY_ROWS).toEqual([100_000, 1_000_000]);
  });

  it('takes --rows, --put-rows (never more than the file), --out and --keep', () => {
    // Act
    const big = parseE2eOptions(['--rows', '1000000', '--put-rows', '5000', '--out', 'r.json', '--keep']);
    const small = parseE2eOptions(['--rows', '2000']);
    const capped = parseE2eOptions(['--rows', '2000', '--put-rows', '9000']);

    // Assess
    expect(big).toMatchObject({ rows: 1_000_000, putRows: 5000, out: 'r.json', keep: true, memory: false });
    expect(small.putRows).toBe(2000);
    expect(capped.putRows).toBe(2000);
  });

  it('--memory measures the default sizes; --memory-rows picks them and implies --memory', () => {
    // Act
    const defaults = parseE2eOptions(['--memory']);
    const picked = parseE2eOptions(['--memory-rows', '1000, 4000']);

    // Assess
    expect(defaults).toMatchObject({ memory: true, memoryRows: [100_000, 1_000_000] });
    expect(picked).toMatchObject({ memory: true, memoryRows: [1000, 4000] });
  });

  it('--chunk-bytes sets the contact entity’s chunk size, keeps the example’s, or leaves it to Plan', () => {
    // Prepare
    const chunkBytesOf = (config: Record<string, unknown>) =>
      (config as { entities: { contact: { source: { chunkBytes?: number } } } }).entities.contact.source
        .chunkBytes;

    // Act
    const fixed = parseE2eOptions(['--chunk-bytes', '1048576']).chunkBytes;
    const example = parseE2eOptions(['--chunk-bytes', 'example']).chunkBytes;

    // Assess
    expect([fixed, example]).toEqual([1_048_576, 'example']);
    expect(chunkBytesOf(benchConfig(undefined))).toBeUndefined();
    expect(chunkBytesOf(benchConfig('example'))).toBe(262_144);
    expect(chunkBytesOf(benchConfig(1_048_576))).toBe(1_048_576);
  });

  it.each([
    [['--chunk-bytes', '10'], '--chunk-bytes must be an integer >= 1024'],
    [['--rows', 'many'], '--rows must be an integer >= 100'],
    [['--rows', '50'], '--rows must be an integer >= 100'],
    [['--put-rows', '0'], '--put-rows must be an integer >= 1'],
    [['--memory-rows', '1000'], '--memory-rows needs at least two sizes'],
    [['--memory-rows', '1000,x'], '--memory-rows must be an integer >= 100'],
  ])('refuses %j', (argv, message) => {
    // Act
    const act = () => parseE2eOptions(argv);

    // Assess
    expect(act).toThrow(message);
  });

  it('refuses an unknown option', () => {
    // Act
    const act = () => parseE2eOptions(['--fast']);

    // Assess
    expect(act).toThrow(/Unknown option/);
  });
});
