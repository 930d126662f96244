import {
  parseRuntimeSettings,
  type RuntimeSettings,
  runtimeSettings,
  setRuntimeSettings,
} from '../../lambdas/adapters/runtime-settings';

const VARIABLES = ['CRM_SYNC_MAX_CONCURRENCY', 'CRM_SYNC_UNMETERED_TABLES', 'CRM_SYNC_TABLE_STATS'];

describe('the runtime settings (the handlers’ settings outside the entity config)', () => {
  const saved = Object.fromEntries(VARIABLES.map((v) => [v, process.env[v]]));
  afterEach(() => {
    setRuntimeSettings(undefined);
    for (const v of VARIABLES) {
      if (saved[v] === undefined) delete process.env[v];
      else process.env[v] = saved[v];
    }
  });

  it.each<[string, Record<string, string>, RuntimeSettings]>([
    ['nothing set: the defaults', {}, { unmeteredTables: false }],
    [
      'empty values: the defaults',
      { CRM_SYNC_MAX_CONCURRENCY: '', CRM_SYNC_UNMETERED_TABLES: '', CRM_SYNC_TABLE_STATS: '' },
      { unmeteredTables: false },
    ],
    ['a concurrency', { CRM_SYNC_MAX_CONCURRENCY: '40' }, { maxConcurrency: 40, unmeteredTables: false }],
    ['unmetered tables', { CRM_SYNC_UNMETERED_TABLES: '1' }, { unmeteredTables: true }],
    ['metered tables said outright', { CRM_SYNC_UNMETERED_TABLES: '0' }, { unmeteredTables: false }],
    [
      'a table size',
      { CRM_SYNC_TABLE_STATS: '{"bytes":1e9,"items":2000000}' },
      { unmeteredTables: false, tableStats: { bytes: 1e9, items: 2_000_000 } },
    ],
    [
      'all of them',
      {
        CRM_SYNC_MAX_CONCURRENCY: '10',
        CRM_SYNC_UNMETERED_TABLES: '1',
        CRM_SYNC_TABLE_STATS: '{"bytes":0,"items":0}',
      },
      { maxConcurrency: 10, unmeteredTables: true, tableStats: { bytes: 0, items: 0 } },
    ],
  ])('reads %s', (_name, env, expected) => {
    // Act
    const settings = parseRuntimeSettings(env);

    // Assess
    expect(settings).toEqual(expected);
  });

  it.each([
    [
      'a concurrency of 0',
      { CRM_SYNC_MAX_CONCURRENCY: '0' },
      /^CRM_SYNC_MAX_CONCURRENCY must be a whole number of workers from 1: "0"$/,
    ],
    ['a negative concurrency', { CRM_SYNC_MAX_CONCURRENCY: '-3' }, /CRM_SYNC_MAX_CONCURRENCY .*"-3"/],
    ['a fraction of a worker', { CRM_SYNC_MAX_CONCURRENCY: '2.5' }, /CRM_SYNC_MAX_CONCURRENCY .*"2.5"/],
    ['a concurrency in words', { CRM_SYNC_MAX_CONCURRENCY: 'ten' }, /CRM_SYNC_MAX_CONCURRENCY .*"ten"/],
    [
      'unmetered as a word',
      { CRM_SYNC_UNMETERED_TABLES: 'true' },
      /^CRM_SYNC_UNMETERED_TABLES must be 1 \(unmetered\) or 0: "true"$/,
    ],
    [
      'a table size not JSON',
      { CRM_SYNC_TABLE_STATS: '{bytes' },
      /^CRM_SYNC_TABLE_STATS is not JSON: \{bytes$/,
    ],
    [
      'a negative table size',
      { CRM_SYNC_TABLE_STATS: '{"bytes":-1,"items":3}' },
      /^CRM_SYNC_TABLE_STATS must be \{"bytes": <bytes>, "items": <items>\}: bytes:/,
    ],
    [
      'a table size without items',
      { CRM_SYNC_TABLE_STATS: '{"bytes":1}' },
      /CRM_SYNC_TABLE_STATS must be .*items:/,
    ],
    [
      'a table size that is a list',
      { CRM_SYNC_TABLE_STATS: '[1,2]' },
      /CRM_SYNC_TABLE_STATS must be .*\(root\):/,
    ],
  ])('refuses %s with a ConfigError that names the variable', (_name, env, message) => {
    // Act
    const read = () => parseRuntimeSettings(env);

    // Assess
    expect(read).toThrow(
      expect.objectContaining({ name: 'ConfigError', message: expect.stringMatching(message) }),
    );
  });

  it('reads the environment again when a variable changes (as tests change them)', () => {
    // Prepare
    for (const v of VARIABLES) delete process.env[v];
    process.env.CRM_SYNC_MAX_CONCURRENCY = '7';

    // Act
    const first = runtimeSettings();
    const again = runtimeSettings();
    process.env.CRM_SYNC_MAX_CONCURRENCY = '8';
    const changed = runtimeSettings();

    // Assess
    expect([first.maxConcurrency, again.maxConcurrency, changed.maxConcurrency]).toEqual([7, 7, 8]);
  });

  it('puts the settings the local stack sets over the environment’s, and drops them again', () => {
    // Prepare
    for (const v of VARIABLES) delete process.env[v];
    process.env.CRM_SYNC_MAX_CONCURRENCY = '40';
    process.env.CRM_SYNC_TABLE_STATS = '{"bytes":5,"items":1}';

    // Act
    setRuntimeSettings({ maxConcurrency: 10, unmeteredTables: true });
    const set = runtimeSettings();
    setRuntimeSettings(undefined);
    const dropped = runtimeSettings();

    // Assess
    expect(set).toEqual({ maxConcurrency: 10, unmeteredTables: true, tableStats: { bytes: 5, items: 1 } });
    expect(dropped).toEqual({
      maxConcurrency: 40,
      unmeteredTables: false,
      tableStats: { bytes: 5, items: 1 },
    });
  });

  it.each([
    ['a concurrency of 0', { maxConcurrency: 0 }, /^runtime settings: maxConcurrency: /],
    ['a fraction of a worker', { maxConcurrency: 1.5 }, /maxConcurrency: /],
    ['a negative table size', { tableStats: { bytes: -1, items: 0 } }, /tableStats\.bytes: /],
  ])('refuses to set %s (a ConfigError), and keeps the settings it had', (_name, settings, message) => {
    // Prepare
    for (const v of VARIABLES) delete process.env[v];
    setRuntimeSettings({ maxConcurrency: 3 });

    // Act
    const set = () => setRuntimeSettings(settings as Partial<RuntimeSettings>);

    // Assess
    expect(set).toThrow(
      expect.objectContaining({ name: 'ConfigError', message: expect.stringMatching(message) }),
    );
    expect(runtimeSettings().maxConcurrency).toBe(3);
  });

  it('lets a malformed variable fail when the settings are read, not before', () => {
    // Prepare
    process.env.CRM_SYNC_UNMETERED_TABLES = 'yes';

    // Act
    const read = () => runtimeSettings();

    // Assess
    expect(read).toThrow(/CRM_SYNC_UNMETERED_TABLES must be 1/);
  });
});
