import { configHash, getEntity, parseConfigText } from '../../lambdas/domain/config';
import { ChunkCountMismatchError, ConfigError } from '../../lambdas/domain/errors';
import {
  checkChunkRows,
  chunkResultOf,
  entityOfJob,
  type TransformedChunk,
} from '../../lambdas/domain/transform';

const CONFIG = parseConfigText(
  JSON.stringify({
    entities: {
      contact: {
        target: { key: 'id' },
        fields: {
          id: { source: 'Id', type: 'string', required: true },
          born: { source: 'Born', type: 'date' },
        },
      },
    },
  }),
);
const CONTACT = getEntity(CONFIG, 'contact');
const JOB = { entity: 'contact', runId: 'run-1', configHash: configHash(CONTACT) };

describe('entityOfJob', () => {
  it.each<[string, Record<string, never> | undefined]>([
    ['no date order decided: the config entity as it is', undefined],
    ['an empty decision: the config entity as it is', {}],
  ])('%s', (_name, dateOrder) => {
    // Act
    const entity = entityOfJob(CONFIG, { ...JOB, dateOrder });

    // Assess
    expect(entity).toBe(CONTACT);
    expect(entity.fields.born?.dayFirst).toBeUndefined();
  });

  it.each([
    ['day-first', true],
    ['month-first', false],
  ] as const)('a %s decision is written into the field', (order, dayFirst) => {
    // Act
    const entity = entityOfJob(CONFIG, { ...JOB, dateOrder: { born: { order, decidedBy: 'values' } } });

    // Assess
    expect(entity.fields.born?.dayFirst).toBe(dayFirst);
    expect(entity.fields.id).toEqual(CONTACT.fields.id);
  });

  it('refuses a job planned with another config of the entity', () => {
    // Act
    const act = () => entityOfJob(CONFIG, { ...JOB, configHash: 'another' });

    // Assess
    expect(act).toThrow(ConfigError);
    expect(act).toThrow('the config of "contact" changed since run run-1 was planned; start a new run');
  });
});

describe('checkChunkRows', () => {
  it.each<[string, number, number, boolean]>([
    ['as many rows as planned', 10, 10, false],
    ['an empty chunk, as planned', 0, 0, false],
    ['fewer rows than planned', 10, 9, true],
    ['more rows than planned', 10, 11, true],
  ])('%s', (_name, planned, read, throws) => {
    // Act
    const act = () => checkChunkRows({ index: 3, rows: planned }, read);

    // Assess
    if (throws) {
      expect(act).toThrow(ChunkCountMismatchError);
      expect(act).toThrow(`chunk 3: the plan counted ${planned} rows, the worker read ${read}`);
    } else expect(act).not.toThrow();
  });
});

function transformed(over: Partial<TransformedChunk> = {}): TransformedChunk {
  return {
    rows: 4,
    rejects: [],
    superseded: 1,
    winners: new Set(['a', 'b']),
    keepKeys: undefined,
    unkeyedRejects: 0,
    reasonCounts: {},
    warnings: [],
    warningCounts: {},
    ...over,
  };
}

describe('chunkResultOf', () => {
  it.each<[string, TransformedChunk, Record<string, unknown>]>([
    [
      'a clean chunk: counts only',
      transformed(),
      { index: 7, rows: 4, rejected: 0, superseded: 1, candidates: 2, topReasons: {}, durationMs: 12 },
    ],
    [
      'rejects: their count, reasons and first lines',
      transformed({
        rejects: [
          { line: 3, reasons: ['required:Id'], raw: 'x' },
          { line: 5, reasons: ['invalid_date:Born'], raw: 'y' },
        ],
        reasonCounts: { required: 1, invalid_date: 1 },
      }),
      {
        index: 7,
        rows: 4,
        rejected: 2,
        superseded: 1,
        candidates: 2,
        topReasons: { required: 1, invalid_date: 1 },
        reasonLines: { required: [3], invalid_date: [5] },
        durationMs: 12,
      },
    ],
    [
      'mirror mode: the rejects without a readable key',
      transformed({ keepKeys: ['k'], unkeyedRejects: 2 }),
      {
        index: 7,
        rows: 4,
        rejected: 0,
        superseded: 1,
        candidates: 2,
        unkeyedRejects: 2,
        topReasons: {},
        durationMs: 12,
      },
    ],
    [
      'warnings: their count and codes',
      transformed({
        warnings: [{ line: 2, reason: 'invalid_date:Born', action: 'drop', value: '31/02/1990' }],
        warningCounts: { invalid_date: 1 },
      }),
      {
        index: 7,
        rows: 4,
        rejected: 0,
        superseded: 1,
        candidates: 2,
        topReasons: {},
        warnings: 1,
        topWarnings: { invalid_date: 1 },
        durationMs: 12,
      },
    ],
  ])('%s', (_name, acc, expected) => {
    // Act
    const result = chunkResultOf(7, acc, 12);

    // Assess
    expect(result).toEqual(expected);
  });
});
