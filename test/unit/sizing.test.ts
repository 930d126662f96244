import fc from 'fast-check';
import {
  AWS_LIMITS,
  averageRowBytes,
  chunkBytesFor,
  FUNCTIONS,
  MAX_CHUNK_BYTES,
  MAX_PARTITIONS,
  MAX_SCAN_SEGMENTS,
  MIN_CHUNK_BYTES,
  planLayout,
  RUN_TIMEOUT_SECONDS,
  sampleRows,
  scanSegmentsFor,
} from '../../lambdas/domain/sizing';
import { TokenBucket, writeUnits } from '../../lambdas/domain/token-bucket';
import { contactEntity } from './fixtures';

const MiB = 1024 * 1024;
const GB = 1e9;

const ENTITY = contactEntity();
/** A table warmed to 40,000 WCU/s and 120,000 RCU/s (on-demand warm throughput set by the user). */
const WARM = contactEntity({
  throughput: { mode: 'on-demand', writeUnitsPerSecond: 40_000, readUnitsPerSecond: 120_000 },
});

describe('sizing: the scale planner', () => {
  describe('a 50 GB / 100M-row object', () => {
    const layouts = [
      ['a new on-demand table (4,000 WCU/s warm)', ENTITY],
      ['an on-demand table warmed to 40,000 WCU/s', WARM],
    ] as const;

    it.each(layouts)('stays inside every AWS limit on %s', (_name, entity) => {
      // Act
      const layout = planLayout({ objectBytes: 50 * GB, avgRowBytes: 500, rows: 100_000_000, entity });

      // Assess
      expect(layout.checks.filter((c) => !c.ok)).toEqual([]);
      expect(layout.chunks).toBeLessThanOrEqual(500);
      expect(layout.chunkBytes).toBeLessThanOrEqual(MAX_CHUNK_BYTES);
      expect(layout.partitions).toBeLessThanOrEqual(MAX_PARTITIONS);
      expect(layout.transformConcurrency).toBeLessThanOrEqual(AWS_LIMITS.mapConcurrency);
      expect(layout.mergeConcurrency).toBeLessThanOrEqual(AWS_LIMITS.mapConcurrency);
      // Payloads: far from 256 KB (state) and 6 MB (Lambda), whatever the file size.
      expect(layout.payloads.stateBytes).toBeLessThan(AWS_LIMITS.statePayloadBytes / 10);
      expect(layout.payloads.planOutputBytes).toBeLessThan(AWS_LIMITS.statePayloadBytes / 10);
      expect(layout.payloads.childInputBytes).toBeLessThan(AWS_LIMITS.statePayloadBytes / 10);
      expect(layout.payloads.workerResponseBytes).toBeLessThan(AWS_LIMITS.lambdaPayloadBytes);
      // History: a constant few dozen events; even with every retry used, far from 25,000.
      expect(layout.history.worstCaseEvents).toBeLessThan(AWS_LIMITS.standardHistoryEvents / 100);
      // Lambda time at the assumed worker throughput, with half the limit to spare.
      expect(layout.seconds.plan).toBeLessThan(AWS_LIMITS.lambdaSeconds);
      expect(layout.seconds.chunk).toBeLessThanOrEqual(FUNCTIONS.transform.timeoutSeconds / 2);
      expect(layout.seconds.partition).toBeLessThanOrEqual(FUNCTIONS.merge.timeoutSeconds / 2);
      expect(FUNCTIONS.transform.timeoutSeconds).toBeLessThan(AWS_LIMITS.expressSeconds);
      // BatchWriteItem: 25 items of the estimated size fit in 16 MB; an item in 400 KB.
      expect(layout.payloads.batchWriteBytes).toBeLessThan(AWS_LIMITS.batchWriteBytes);
      // The merge workers' writes stay under the table's throughput.
      expect(layout.writeUnitsPerWorker * layout.mergeConcurrency).toBeLessThanOrEqual(
        layout.table.writeUnitsPerSecond * 1.5,
      );
      expect(layout.seconds.total).toBeLessThan(RUN_TIMEOUT_SECONDS);
      expect(layout.warnings).toEqual([]);
    });

    it('gives the numbers the README states', () => {
      // Act
      const cold = planLayout({ objectBytes: 50 * GB, avgRowBytes: 500, rows: 100_000_000, entity: ENTITY });
      const warm = planLayout({ objectBytes: 50 * GB, avgRowBytes: 500, rows: 100_000_000, entity: WARM });

      // Assess
      expect({
        chunkBytes: cold.chunkBytes,
        chunks: cold.chunks,
        partitions: cold.partitions,
        transformConcurrency: cold.transformConcurrency,
        mergeConcurrency: cold.mergeConcurrency,
        writeUnitsPerWorker: cold.writeUnitsPerWorker,
        events: cold.history.events,
        worstCaseEvents: cold.history.worstCaseEvents,
      }).toEqual({
        chunkBytes: 120 * MiB,
        chunks: 398,
        partitions: 2_000,
        transformConcurrency: 28,
        mergeConcurrency: 2,
        writeUnitsPerWorker: 2_664,
        events: 41,
        worstCaseEvents: 198,
      });
      expect(warm.mergeConcurrency).toBe(14);
      expect(Math.round(cold.seconds.total / 360) / 10).toBe(11.7);
      expect(Math.round(warm.seconds.total / 360) / 10).toBe(1.5);
    });

    it('warns when a slow table would make the run outlast its time limit', () => {
      // Prepare
      const slow = contactEntity({
        throughput: { mode: 'provisioned', writeCapacityUnits: 1_000, readCapacityUnits: 3_000 },
      });

      // Act
      const layout = planLayout({ objectBytes: 50 * GB, avgRowBytes: 500, rows: 100_000_000, entity: slow });

      // Assess
      expect(layout.table).toEqual({
        mode: 'provisioned',
        writeUnitsPerSecond: 1_000,
        readUnitsPerSecond: 3_000,
      });
      expect(layout.mergeConcurrency).toBe(1);
      expect(layout.writeUnitsPerWorker).toBeLessThanOrEqual(1_000 / 0.6);
      expect(layout.warnings.join('\n')).toMatch(/raise the table's throughput/);
    });
  });

  describe('across file sizes', () => {
    // bytes, rows per byte 1/avg, expected chunks and partitions (entity default partitionRows 50,000).
    it.each([
      [1e3, 100, 8 * MiB, 1, 1],
      [1e6, 250, 8 * MiB, 1, 1],
      [55e6, 275, 8 * MiB, 7, 4],
      [1e9, 500, 8 * MiB, 120, 40],
      [5e9, 500, 12 * MiB, 398, 200],
      [20e9, 500, 48 * MiB, 398, 800],
      [50e9, 500, 120 * MiB, 398, 2_000],
    ])(
      '%d bytes of %d-byte rows: %d-byte chunks, %d chunks, %d partitions',
      (bytes, avg, chunkBytes, chunks, partitions) => {
        // Act
        const layout = planLayout({ objectBytes: bytes, avgRowBytes: avg, entity: ENTITY });

        // Assess
        expect([layout.chunkBytes, layout.chunks, layout.partitions]).toEqual([
          chunkBytes,
          chunks,
          partitions,
        ]);
        expect(layout.checks.filter((c) => !c.ok)).toEqual([]);
      },
    );

    it('keeps an explicit source.chunkBytes', () => {
      // Prepare
      const entity = contactEntity({}, { source: { chunkBytes: 4096 } });

      // Act
      const layout = planLayout({ objectBytes: 1e6, avgRowBytes: 100, entity });

      // Assess
      expect(layout.chunkBytes).toBe(4096);
      expect(layout.chunkBytesFromConfig).toBe(true);
      expect(layout.chunks).toBe(Math.ceil(1e6 / 4096));
    });

    it('makes smaller chunks of tiny rows (time) and of big rows (memory) than of ordinary ones', () => {
      // Act
      const ordinary = chunkBytesFor(50 * GB, 500, ENTITY);
      const tiny = chunkBytesFor(50 * GB, 20, ENTITY);

      // Assess
      expect(tiny).toBeLessThan(ordinary);
      expect(
        planLayout({ objectBytes: 50 * GB, avgRowBytes: 20, entity: ENTITY }).seconds.chunk,
      ).toBeLessThanOrEqual(FUNCTIONS.transform.timeoutSeconds / 2);
    });

    it('fails a quota check it cannot meet: a header too large for the state payload', () => {
      // Act
      const layout = planLayout({ objectBytes: 1e6, avgRowBytes: 100, entity: ENTITY, jobBytes: 300 * 1024 });

      // Assess
      const broken = layout.checks.filter((c) => !c.ok).map((c) => c.name);
      expect(broken).toContain('plan output bytes (state payload)');
      expect(broken).toContain('map child input bytes');
    });

    it('names the part reads, not the partition count, when too many chunks leave a merge no time', () => {
      // Prepare: 256 KiB chunks of 4 GB: 15,259 chunks, one part each for every merge worker to read.
      const small = contactEntity({}, { source: { chunkBytes: 262_144 } });

      // Act
      const layout = planLayout({ objectBytes: 4e9, avgRowBytes: 400, rows: 10_000_000, entity: small });

      // Assess
      const check = (prefix: string) => layout.checks.find((c) => c.name.startsWith(prefix));
      expect(layout.partitions).toBe(MAX_PARTITIONS);
      // The partition count the layout has is the one the check reports: no contradiction.
      expect(check('partitions needed')).toMatchObject({ value: layout.partitions, ok: true });
      expect(check('merge part reads')).toMatchObject({ ok: false, kind: 'quota', limit: 30 });
      expect(layout.warnings.filter((w) => w.startsWith('partitions needed'))).toEqual([]);
    });

    it('honours the concurrency ceiling', () => {
      // Act
      const layout = planLayout({ objectBytes: 5 * GB, avgRowBytes: 500, entity: WARM, maxConcurrency: 3 });

      // Assess
      expect(layout.transformConcurrency).toBeLessThanOrEqual(3);
      expect(layout.mergeConcurrency).toBeLessThanOrEqual(3);
      expect(layout.verifyConcurrency).toBeLessThanOrEqual(3);
    });
  });

  describe('invariants (property)', () => {
    const table = fc.oneof(
      fc.constant({}),
      fc.record({
        throughput: fc.record({
          mode: fc.constant('provisioned'),
          writeCapacityUnits: fc.integer({ min: 1, max: 100_000 }),
          readCapacityUnits: fc.integer({ min: 1, max: 300_000 }),
        }),
      }),
      fc.record({
        throughput: fc.record({
          mode: fc.constant('on-demand'),
          writeUnitsPerSecond: fc.integer({ min: 1, max: 100_000 }),
          readUnitsPerSecond: fc.integer({ min: 1, max: 300_000 }),
        }),
      }),
    );

    it('chunks cover the object, partitions cover the rows, concurrency stays within its bounds', () => {
      fc.assert(
        fc.property(
          fc.double({ min: 1, max: 100e9, noNaN: true }),
          fc.double({ min: 5, max: 64 * 1024, noNaN: true }),
          table,
          fc.option(fc.integer({ min: 1, max: 10_000 }), { nil: undefined }),
          (bytes, avg, target, maxConcurrency) => {
            const entity = contactEntity(target);
            const l = planLayout({ objectBytes: bytes, avgRowBytes: avg, entity, maxConcurrency });
            expect(l.chunks * l.chunkBytes).toBeGreaterThanOrEqual(bytes);
            expect(l.chunkBytes).toBeLessThanOrEqual(MAX_CHUNK_BYTES);
            expect(l.partitions).toBeGreaterThanOrEqual(1);
            expect(l.partitions).toBeLessThanOrEqual(MAX_PARTITIONS);
            expect(l.partitions * l.rowsPerPartition).toBeGreaterThanOrEqual(l.rows);
            for (const c of [l.transformConcurrency, l.mergeConcurrency, l.verifyConcurrency]) {
              expect(Number.isInteger(c)).toBe(true);
              expect(c).toBeGreaterThanOrEqual(1);
              expect(c).toBeLessThanOrEqual(Math.min(maxConcurrency ?? 10_000, AWS_LIMITS.mapConcurrency));
            }
            expect(l.transformConcurrency).toBeLessThanOrEqual(l.chunks);
            expect(l.mergeConcurrency).toBeLessThanOrEqual(l.partitions);
            expect(l.writeUnitsPerWorker).toBeGreaterThanOrEqual(1);
            // Payloads and history do not grow with the file.
            expect(l.payloads.stateBytes).toBeLessThan(AWS_LIMITS.statePayloadBytes / 10);
            expect(l.history.worstCaseEvents).toBeLessThan(AWS_LIMITS.standardHistoryEvents / 100);
          },
        ),
        { numRuns: 300 },
      );
    });

    it('more table throughput never means fewer merge workers or a slower merge', () => {
      fc.assert(
        fc.property(
          fc.double({ min: 1e6, max: 100e9, noNaN: true }),
          fc.integer({ min: 1, max: 50_000 }),
          fc.integer({ min: 1, max: 50_000 }),
          (bytes, a, b) => {
            const [lo, hi] = a <= b ? [a, b] : [b, a];
            const at = (w: number) =>
              planLayout({
                objectBytes: bytes,
                avgRowBytes: 400,
                entity: contactEntity({
                  throughput: { mode: 'provisioned', writeCapacityUnits: w, readCapacityUnits: 3 * w },
                }),
              });
            const slow = at(lo);
            const fast = at(hi);
            expect(fast.mergeConcurrency).toBeGreaterThanOrEqual(slow.mergeConcurrency);
            expect(fast.seconds.merge).toBeLessThanOrEqual(slow.seconds.merge * 1.0001);
          },
        ),
        { numRuns: 200 },
      );
    });

    it('an adaptive chunk is between 8 MiB and 128 MiB unless a worker could not handle 8 MiB', () => {
      fc.assert(
        fc.property(
          fc.double({ min: 1, max: 200e9, noNaN: true }),
          fc.double({ min: 100, max: 10_000, noNaN: true }),
          (bytes, avg) => {
            const c = chunkBytesFor(bytes, avg, ENTITY);
            expect(c).toBeGreaterThanOrEqual(MIN_CHUNK_BYTES);
            expect(c).toBeLessThanOrEqual(MAX_CHUNK_BYTES);
          },
        ),
      );
    });
  });

  describe('sampleRows', () => {
    it.each([
      ['header and two rows', 'id,name\n1,a\n2,b\n', 'csv', true, { rows: 2, bytes: 8 }],
      [
        'a quoted line break is inside its row',
        'id,name\n1,"a\nb"\n2,c\n',
        'csv',
        true,
        { rows: 2, bytes: 12 },
      ],
      ['the cut-off last row is not counted', 'id,name\n1,a\n2,b', 'csv', false, { rows: 1, bytes: 4 }],
      ['unless the sample is the whole file', 'id,name\n1,a\n2,b', 'csv', true, { rows: 2, bytes: 8 }],
      [
        'blank lines and a BOM are skipped',
        '\ufeffid\r\n\r\n1\r\n\n2\r\n',
        'csv',
        true,
        { rows: 2, bytes: 6 },
      ],
      ['JSON Lines have no header', '{"a":1}\n{"a":"\\""}\n', 'jsonl', true, { rows: 2, bytes: 19 }],
    ] as const)('%s', (_name, text, format, wholeFile, expected) => {
      // Act
      const sample = sampleRows(Buffer.from(text), { format, wholeFile });

      // Assess
      expect(sample).toEqual(expected);
    });

    it('averages, or takes the sample size when not one row fits', () => {
      expect(averageRowBytes({ rows: 4, bytes: 100 }, 1000)).toBe(25);
      expect(averageRowBytes({ rows: 0, bytes: 0 }, 65536)).toBe(65536);
    });
  });
});

describe('scanSegmentsFor: table scan segments sized from the table', () => {
  // Half the verify worker's 60 s, less its start-up: what one segment may take.
  const budget = FUNCTIONS.verify.timeoutSeconds / 2 - 0.3;

  it.each([
    // name, DescribeTable, run rows, item bytes, partitions, segments
    // 3,816 pages × 0.25 s + 10,001,000 items × 48 µs = 1,434 s, over 29.7 s a segment
    ['10M items / 4 GB, a 1,000-row delta', { bytes: 4e9, items: 1e7 }, 1_000, 400, 1, 49],
    ['10M items / 4 GB, 30 partitions', { bytes: 4e9, items: 1e7 }, 1_000, 400, 30, 49],
    [
      '10M items / 4 GB, 60 partitions: at least the partitions',
      { bytes: 4e9, items: 1e7 },
      1_000,
      400,
      60,
      60,
    ],
    ['a tiny table, one partition', { bytes: 2_000, items: 10 }, 400, 200, 1, 1],
    ['a tiny table: at least the partitions', { bytes: 2_000, items: 10 }, 400, 200, 3, 3],
    // DescribeTable answers 0 for a table loaded in the last six hours: the run's rows still count
    // (2M × 400 B: 763 pages × 0.25 s + 2M × 48 µs = 286.8 s)
    ['stale DescribeTable (0), a 2M-row first load', { bytes: 0, items: 0 }, 2_000_000, 400, 1, 10],
    ['no DescribeTable answer, a 2M-row load', undefined, 2_000_000, 400, 1, 10],
    // A size that lags the item count: the items at the estimated item size count
    ['bytes lag the items (10M items, 0 bytes)', { bytes: 0, items: 1e7 }, 0, 400, 1, 49],
    ['a petabyte table: the DynamoDB limit', { bytes: 1e15, items: 1e12 }, 0, 1_000, 1, MAX_SCAN_SEGMENTS],
  ])(
    '%s (%j, %d rows, %d B items, %d partitions) → %d segments',
    (_name, table, rows, itemBytes, partitions, segments) => {
      // Act
      const out = scanSegmentsFor({ table, rows, itemBytes, partitions });

      // Assess
      expect(out.segments).toBe(segments);
      if (segments < MAX_SCAN_SEGMENTS) expect(out.secondsPerSegment).toBeLessThanOrEqual(budget + 0.3);
    },
  );

  it('sizes every segment inside the worker budget, never below the partitions, growing with the table (property)', () => {
    fc.assert(
      fc.property(
        fc.record({
          bytes: fc.integer({ min: 0, max: 1e13 }),
          items: fc.integer({ min: 0, max: 1e10 }),
          rows: fc.integer({ min: 0, max: 1e8 }),
          itemBytes: fc.integer({ min: 1, max: 400 * 1024 }),
          partitions: fc.integer({ min: 1, max: MAX_PARTITIONS }),
          more: fc.integer({ min: 0, max: 1e12 }),
        }),
        ({ bytes, items, rows, itemBytes, partitions, more }) => {
          const out = scanSegmentsFor({ table: { bytes, items }, rows, itemBytes, partitions });
          const bigger = scanSegmentsFor({
            table: { bytes: bytes + more, items },
            rows,
            itemBytes,
            partitions,
          });
          expect(out.segments).toBeGreaterThanOrEqual(partitions);
          expect(out.segments).toBeLessThanOrEqual(MAX_SCAN_SEGMENTS);
          expect(Number.isInteger(out.segments)).toBe(true);
          if (out.segments < MAX_SCAN_SEGMENTS) {
            expect(out.secondsPerSegment).toBeLessThanOrEqual(budget + 0.3 + 1e-9);
          }
          expect(out.tableItems).toBeGreaterThanOrEqual(items + rows);
          expect(bigger.segments).toBeGreaterThanOrEqual(out.segments);
        },
      ),
    );
  });
});

describe('TokenBucket', () => {
  it('lets a burst through, then spaces calls at the rate', () => {
    // Prepare
    let now = 0;
    const bucket = new TokenBucket(100, 100, () => now);

    // Act
    const waits = [bucket.take(100), bucket.take(50), bucket.take(50)];
    now = 1000;
    const afterASecond = bucket.take(0);

    // Assess
    // 100 tokens at start; 50 more owes 0.5 s; 50 more owes 1 s; after 1 s the debt is paid.
    expect(waits).toEqual([0, 500, 1000]);
    expect(afterASecond).toBe(0);
  });

  it('never holds more than its burst', () => {
    // Prepare
    let now = 0;
    const bucket = new TokenBucket(10, 20, () => now);

    // Act
    now = 60_000;
    const waits = [bucket.take(20), bucket.take(10)];

    // Assess
    expect(waits).toEqual([0, 1000]);
  });

  it('keeps a long run at the rate (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.array(fc.integer({ min: 1, max: 500 }), { minLength: 1, maxLength: 200 }),
        (rate, takes) => {
          let now = 0;
          const bucket = new TokenBucket(rate, rate, () => now);
          let total = 0;
          for (const units of takes) {
            now += bucket.take(units);
            total += units;
          }
          // Everything beyond the first burst took at least total/rate seconds.
          expect(now).toBeGreaterThanOrEqual(((total - rate) / rate) * 1000 - takes.length);
        },
      ),
    );
  });

  it('refuses a rate of zero', () => {
    expect(() => new TokenBucket(0)).toThrow(RangeError);
  });

  it('counts write units per started KB', () => {
    expect([writeUnits(0), writeUnits(1024), writeUnits(1025), writeUnits(400 * 1024)]).toEqual([
      1, 1, 2, 400,
    ]);
  });
});
