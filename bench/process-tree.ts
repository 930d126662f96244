/**
 * Peak resident memory of a child process and everything it starts (Linux /proc): the sum of VmRSS
 * over the process tree, sampled every `intervalMs`, and the largest VmHWM (kernel-tracked peak) of
 * any single process in it. The tree sum matters when a contender runs its emulators in a process of
 * their own: their memory is part of the contender's.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { MiB, round } from './measure';

function statusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    return match ? Number(match[1]) : 0;
  } catch {
    return 0; // ended between listing and reading
  }
}

/** utime + stime of one process, in clock ticks (100 per second on Linux). */
function cpuTicks(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return -1;
  }
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      if (text) for (const c of text.split(/\s+/)) out.push(Number(c));
    }
  } catch {
    // ended
  }
  return out;
}

export function treeOf(root: number): number[] {
  const seen: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    seen.push(pid);
    queue.push(...childrenOf(pid));
  }
  return seen;
}

export interface TreeMemory {
  /** Largest sampled sum of VmRSS over the tree. */
  peakTreeRssMiB: number;
  /** Largest VmHWM of one process of the tree (the root's own peak, unless a child grew more). */
  peakProcessRssMiB: number;
  /** CPU seconds (user + system) of the tree's processes, as last sampled (up to one interval short). */
  cpuS: number;
  /** Processes seen in the tree at once, at most. */
  processes: number;
  samples: number;
}

export class TreeMemorySampler {
  private timer: NodeJS.Timeout | undefined;
  private peakTree = 0;
  private peakProcess = 0;
  private processes = 0;
  private samples = 0;
  private readonly ticks = new Map<number, number>();

  constructor(
    private readonly root: number,
    intervalMs = 100,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  sample(): void {
    const pids = treeOf(this.root);
    let sum = 0;
    let alive = 0;
    for (const pid of pids) {
      const rss = statusKiB(pid, 'VmRSS');
      if (rss === 0) continue;
      alive++;
      sum += rss;
      this.peakProcess = Math.max(this.peakProcess, statusKiB(pid, 'VmHWM'));
      const ticks = cpuTicks(pid);
      if (ticks >= 0) this.ticks.set(pid, ticks);
    }
    if (alive === 0) return;
    this.samples++;
    this.processes = Math.max(this.processes, alive);
    this.peakTree = Math.max(this.peakTree, sum);
  }

  stop(): TreeMemory {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    return {
      peakTreeRssMiB: round((this.peakTree * 1024) / MiB, 1),
      peakProcessRssMiB: round((this.peakProcess * 1024) / MiB, 1),
      cpuS: round([...this.ticks.values()].reduce((a, b) => a + b, 0) / 100, 1),
      processes: this.processes,
      samples: this.samples,
    };
  }
}
