/**
 * The progress lines of a local run (stderr, plain text): every line starts with the time since the
 * stack started (`[1:05]`), and a Distributed Map's lines say how many children are done, the table
 * work its workers did so far (keys read, items written: the merge's own progress inside a
 * partition) and, once enough children finished, when the Map should end. A Map's lines are
 * rate-limited: the first child's line, then a line when the children crossed another 5 % (at most one a second), else a
 * heartbeat every 5 s while the count or the table work moved, and the last child's line: a
 * 10,000-chunk Map prints about 20 lines, not 10,000.
 * Pure: the clock is injected.
 */

/** Milliseconds since some origin (Date.now, or a test's fake clock). */
export type Clock = () => number;

/** `0:42`, `12:05`, `1:02:03`: minutes and seconds, hours when there are any. */
export function formatElapsed(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** Every line written through it starts with the time since it was made: `[0:42] → Merge`. */
export function withElapsed(write: (line: string) => void, now: Clock = Date.now): (line: string) => void {
  const start = now();
  return (line) => {
    // A leading blank line (a new file of `local sync`) stays in front of the time.
    const lead = /^\n*/.exec(line)?.[0] ?? '';
    write(`${lead}[${formatElapsed(now() - start)}] ${line.slice(lead.length)}`);
  };
}

/** Table work done in this process so far (keys read, items written; retried attempts count again). */
export interface TableWork {
  reads: number;
  writes: number;
}

export interface MapProgressOptions {
  /** The Map state's name. */
  state: string;
  write: (line: string) => void;
  now?: Clock | undefined;
  /** The table work counters (cumulative, process-wide): the Map shows what it added. */
  work?: (() => TableWork) | undefined;
  /** At most one line per this many ms (the last child's line always). Default 1,000. */
  minIntervalMs?: number | undefined;
  /** A line when the children done crossed another such share of the total. Default 0.05. */
  step?: number | undefined;
  /** Otherwise a line when this long passed since the last and there is new work to show. Default 5,000. */
  heartbeatMs?: number | undefined;
}

const num = (n: number) => Math.round(n).toLocaleString('en-US');

/**
 * One Distributed Map's progress: `update` when a child ends (and once at the start with 0 done),
 * `tick` on a timer for the heartbeat while children run.
 */
export class MapProgress {
  private readonly now: Clock;
  private readonly start: number;
  private readonly base: TableWork;
  private readonly minIntervalMs: number;
  private readonly step: number;
  private readonly heartbeatMs: number;
  private done = 0;
  private failed = 0;
  private total: number | undefined;
  private lastAt: number;
  private lastStep = 0;
  private lastShown = '';
  private firstShown = false;

  constructor(private readonly options: MapProgressOptions) {
    this.now = options.now ?? Date.now;
    this.start = this.now();
    this.lastAt = this.start;
    this.base = { ...(options.work?.() ?? { reads: 0, writes: 0 }) };
    this.minIntervalMs = options.minIntervalMs ?? 1_000;
    this.step = options.step ?? 0.05;
    this.heartbeatMs = options.heartbeatMs ?? 5_000;
  }

  /** Children done (and failed) of `total`. */
  update(p: { done: number; failed: number; total: number }): void {
    this.done = p.done;
    this.failed = p.failed;
    this.total = p.total;
    const now = this.now();
    if (p.total > 0 && p.done >= p.total) {
      this.emit(now);
      return;
    }
    // The first child's line at once: the workers run (and how long one took).
    if (p.done + p.failed === 1 && !this.firstShown) {
      this.firstShown = true;
      this.emit(now);
      return;
    }
    const step = p.total > 0 ? Math.floor(p.done / p.total / this.step) : 0;
    if (now - this.lastAt >= this.minIntervalMs && step > this.lastStep) this.emit(now);
  }

  /** The heartbeat: a line when it has been `heartbeatMs` and the work or the count moved since. */
  tick(): void {
    const now = this.now();
    if (this.total === undefined || this.done >= this.total) return;
    if (now - this.lastAt < this.heartbeatMs) return;
    if (this.moved() === this.lastShown) return;
    this.emit(now);
  }

  /** What the heartbeat compares: the counts, not the rate (which changes with every second). */
  private moved(): string {
    const work = this.options.work?.();
    return `${this.done} ${this.failed} ${work?.reads ?? 0} ${work?.writes ?? 0}`;
  }

  /** The line's text after the state name. */
  private body(now: number): string {
    const total = this.total ?? 0;
    let text = `${this.done}/${total} done${this.failed ? `, ${this.failed} failed` : ''}`;
    const work = this.options.work?.();
    if (work) {
      const reads = work.reads - this.base.reads;
      const writes = work.writes - this.base.writes;
      const parts: string[] = [];
      if (reads > 0) parts.push(`${num(reads)} keys read`);
      if (writes > 0) {
        const seconds = (now - this.start) / 1000;
        parts.push(`${num(writes)} items written${seconds >= 1 ? ` (${num(writes / seconds)}/s)` : ''}`);
      }
      if (parts.length > 0) text += `; ${parts.join(', ')}`;
    }
    const eta = this.eta(now);
    if (eta !== undefined) text += `; about ${formatElapsed(eta)} left`;
    return text;
  }

  /**
   * Time left at the rate so far, once 5 % of the children (and at least 2) are done: earlier the
   * first children's start-up dominates.
   */
  private eta(now: number): number | undefined {
    const total = this.total ?? 0;
    if (this.done >= total || this.done < Math.max(2, Math.ceil(total * 0.05))) return undefined;
    return ((now - this.start) / this.done) * (total - this.done);
  }

  private emit(now: number): void {
    const total = this.total ?? 0;
    this.lastShown = this.moved();
    this.lastAt = now;
    this.lastStep = total > 0 ? Math.floor(this.done / total / this.step) : 0;
    const took = this.done >= total && total > 0 ? ` in ${formatElapsed(now - this.start)}` : '';
    this.options.write(`${this.options.state}: ${this.body(now)}${took}`);
  }
}
