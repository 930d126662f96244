import { formatElapsed, MapProgress, type TableWork, withElapsed } from '../../local/progress';

/** A clock the test moves by hand. */
function fakeClock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('progress lines', () => {
  it.each([
    [0, '0:00'],
    [999, '0:00'],
    [42_000, '0:42'],
    [605_000, '10:05'],
    [3_723_000, '1:02:03'],
    [-5, '0:00'],
  ])('formats %i ms as %s', (ms, text) => {
    // Act / Assess
    expect(formatElapsed(ms)).toBe(text);
  });

  it('starts every line with the time since the stack started, a leading blank line kept in front', () => {
    // Prepare
    const clock = fakeClock();
    const lines: string[] = [];
    const log = withElapsed((l) => lines.push(l), clock.now);

    // Act
    log('→ ClaimRun');
    clock.advance(65_000);
    log('\n▶ contact: running inbox/contact/b.csv');

    // Assess
    expect(lines).toEqual(['[0:00] → ClaimRun', '\n[1:05] ▶ contact: running inbox/contact/b.csv']);
  });

  describe('a Distributed Map', () => {
    function map(options: { work?: TableWork } = {}) {
      const clock = fakeClock();
      const lines: string[] = [];
      const work = options.work;
      const progress = new MapProgress({
        state: 'TransformChunks',
        write: (l) => lines.push(l),
        now: clock.now,
        work: work ? () => work : undefined,
      });
      return { clock, lines, progress };
    }

    it('prints the first child, then about one line per 5 % of 10,000 children, at most one a second, and always the last', () => {
      // Prepare
      const { clock, lines, progress } = map();
      progress.update({ done: 0, failed: 0, total: 10_000 });

      // Act: a child every 10 ms (100 s in all).
      for (let done = 1; done <= 10_000; done++) {
        clock.advance(10);
        progress.update({ done, failed: 0, total: 10_000 });
      }

      // Assess
      expect(lines.length).toBeLessThanOrEqual(22);
      expect(lines.length).toBeGreaterThanOrEqual(20);
      expect(lines[0]).toBe('TransformChunks: 1/10000 done');
      expect(lines[1]).toBe('TransformChunks: 500/10000 done; about 1:35 left');
      expect(lines.at(-1)).toBe('TransformChunks: 10000/10000 done in 1:40');
    });

    it.each([
      { name: 'under a second since the last line', after: 500, lines: 0 },
      { name: 'a second, and a new 5 %', after: 1_000, lines: 1 },
    ])('rate-limits: $name', ({ after, lines: expected }) => {
      // Prepare
      const { clock, lines, progress } = map();
      progress.update({ done: 0, failed: 0, total: 4 });
      progress.update({ done: 1, failed: 0, total: 4 }); // the first child: always shown
      lines.length = 0;

      // Act
      clock.advance(after);
      progress.update({ done: 2, failed: 0, total: 4 });

      // Assess
      expect(lines).toHaveLength(expected);
    });

    it.each([
      { done: 1, total: 4, eta: false },
      { done: 2, total: 4, eta: true },
      { done: 1, total: 10, eta: false },
      { done: 5, total: 100, eta: true },
    ])('gives an ETA once 5 % and at least 2 children are done: $done of $total', ({ done, total, eta }) => {
      // Prepare
      const { clock, lines, progress } = map();
      progress.update({ done: 0, failed: 0, total });

      // Act
      clock.advance(20_000);
      progress.update({ done, failed: 0, total });

      // Assess
      expect(lines).toHaveLength(1);
      expect(lines[0]?.includes('left')).toBe(eta);
      // 20 s for `done` children: the rest at the same rate.
      if (eta) expect(lines[0]).toContain(`about ${formatElapsed((20_000 / done) * (total - done))} left`);
    });

    it('shows the table work inside a partition on the heartbeat, only when it moved', () => {
      // Prepare
      const work = { reads: 1_000, writes: 500 };
      const { clock, lines, progress } = map({ work });
      progress.update({ done: 0, failed: 0, total: 4 });

      // Act
      clock.advance(4_000);
      work.reads += 20_000;
      progress.tick(); // 4 s: not yet a heartbeat
      clock.advance(1_000);
      work.writes += 10_000;
      progress.tick(); // 5 s: a line
      clock.advance(5_000);
      progress.tick(); // nothing moved: no line
      clock.advance(1_000);
      work.writes += 5_500;
      progress.update({ done: 1, failed: 1, total: 4 }); // a new 25 %

      // Assess
      expect(lines).toEqual([
        'TransformChunks: 0/4 done; 20,000 keys read, 10,000 items written (2,000/s)',
        'TransformChunks: 1/4 done, 1 failed; 20,000 keys read, 15,500 items written (1,409/s)',
      ]);
    });

    it('prints nothing on the heartbeat once every child is done, or before the Map started', () => {
      // Prepare
      const { clock, lines, progress } = map({ work: { reads: 0, writes: 0 } });

      // Act
      clock.advance(10_000);
      progress.tick();
      progress.update({ done: 1, failed: 0, total: 1 });
      clock.advance(10_000);
      progress.tick();

      // Assess
      expect(lines).toEqual(['TransformChunks: 1/1 done in 0:10']);
    });
  });
});
