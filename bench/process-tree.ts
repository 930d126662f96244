/**
 * Peak resident memory of a child process and everything it starts (Linux /proc): the sum of VmRSS
 * over the process tree, sampled every `intervalMs`, and the largest VmHWM (kernel-tracked peak) of
 * any single process in it. The tree sum matters when a contender runs its emulators in a process of
 * their own: their memory is part of the contender's. VmRSS counts file pages a process has mapped
 * and touched (dynalite's LevelDB maps its table files: reading the whole table, as verification
 * does, maps all of it); the anonymous part (RssAnon: heaps, buffers, stacks) is what the processes
 * allocated, and is reported apart.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { MiB, round } from './measure';

const STATUS_FIELDS = ['VmRSS', 'VmHWM', 'RssAnon', 'RssFile'] as const;
type StatusField = (typeof STATUS_FIELDS)[number];

/** The memory fields of /proc/<pid>/status, in KiB (all 0 when the process has ended). */
function statusKiB(pid: number): Record<StatusField, number> {
  const out = { VmRSS: 0, VmHWM: 0, RssAnon: 0, RssFile: 0 };
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    for (const field of STATUS_FIELDS) {
      const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
      if (match) out[field] = Number(match[1]);
    }
  } catch {
    // ended between listing and reading
  }
  return out;
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

/** What a process of the tree is: the contender itself, or an emulator it started. */
function roleOf(pid: number, root: number): string {
  if (pid === root) return 'main';
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('dynalite') ? 'dynalite' : 'child';
  } catch {
    return 'child';
  }
}

/** One process's own peaks, in MiB. */
export interface ProcessPeak {
  role: string;
  peakRssMiB: number;
  peakAnonMiB: number;
  peakFileMiB: number;
}

export interface TreeMemory {
  /** Largest sampled sum of VmRSS over the tree. */
  peakTreeRssMiB: number;
  /** Largest sampled sum of RssAnon over the tree (VmRSS without mapped file pages and shared memory). */
  peakTreeAnonMiB: number;
  /** Largest sampled sum of RssFile over the tree (mapped file pages: code, dynalite's table files). */
  peakTreeFileMiB: number;
  /** Largest VmHWM of one process of the tree (the root's own peak, unless a child grew more). */
  peakProcessRssMiB: number;
  /** CPU seconds (user + system) of the tree's processes, as last sampled (up to one interval short). */
  /** Per process of the tree (largest first): which of them grew. */
  perProcess: ProcessPeak[];
  cpuS: number;
  /** Processes seen in the tree at once, at most. */
  processes: number;
  samples: number;
}

export class TreeMemorySampler {
  private timer: NodeJS.Timeout | undefined;
  private peakTree = 0;
  private peakAnon = 0;
  private peakFile = 0;
  private peakProcess = 0;
  private processes = 0;
  private samples = 0;
  private readonly ticks = new Map<number, number>();
  private readonly perProcess = new Map<number, { role: string; rss: number; anon: number; file: number }>();

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
    let anon = 0;
    let file = 0;
    let alive = 0;
    for (const pid of pids) {
      const status = statusKiB(pid);
      if (status.VmRSS === 0) continue;
      alive++;
      sum += status.VmRSS;
      anon += status.RssAnon;
      file += status.RssFile;
      this.peakProcess = Math.max(this.peakProcess, status.VmHWM);
      let own = this.perProcess.get(pid);
      if (!own) {
        own = { role: roleOf(pid, this.root), rss: 0, anon: 0, file: 0 };
        this.perProcess.set(pid, own);
      } else if (own.role === 'child') {
        // Seen between fork and exec, a child still shows its parent's command line: look again.
        own.role = roleOf(pid, this.root);
      }
      own.rss = Math.max(own.rss, status.VmRSS);
      own.anon = Math.max(own.anon, status.RssAnon);
      own.file = Math.max(own.file, status.RssFile);
      const ticks = cpuTicks(pid);
      if (ticks >= 0) this.ticks.set(pid, ticks);
    }
    if (alive === 0) return;
    this.samples++;
    this.processes = Math.max(this.processes, alive);
    this.peakTree = Math.max(this.peakTree, sum);
    this.peakAnon = Math.max(this.peakAnon, anon);
    this.peakFile = Math.max(this.peakFile, file);
  }

  stop(): TreeMemory {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    return {
      peakTreeRssMiB: round((this.peakTree * 1024) / MiB, 1),
      peakTreeAnonMiB: round((this.peakAnon * 1024) / MiB, 1),
      peakTreeFileMiB: round((this.peakFile * 1024) / MiB, 1),
      peakProcessRssMiB: round((this.peakProcess * 1024) / MiB, 1),
      perProcess: [...this.perProcess.values()]
        .sort((a, b) => b.rss - a.rss)
        .map((p) => ({
          role: p.role,
          peakRssMiB: round((p.rss * 1024) / MiB, 1),
          peakAnonMiB: round((p.anon * 1024) / MiB, 1),
          peakFileMiB: round((p.file * 1024) / MiB, 1),
        })),
      cpuS: round([...this.ticks.values()].reduce((a, b) => a + b, 0) / 100, 1),
      processes: this.processes,
      samples: this.samples,
    };
  }
}
