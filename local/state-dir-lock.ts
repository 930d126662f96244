import { linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CrmSyncError } from '../lambdas/domain/errors';

/** Another crm-sync process (a run, an export) has the state dir open. */
export class StateDirBusyError extends CrmSyncError {
  override readonly name = 'StateDirBusyError';
}

/** What the lock file of a state dir (`<stateDir>/lock`) says of the process that holds it. */
export interface StateDirOwner {
  pid: number;
  /** The command line that took it (what the busy message names). */
  command: string;
  startedAt: string;
}

/** The lock file's text as an owner, or undefined when it is not one (empty, half written, other). */
export function parseOwner(text: string): StateDirOwner | undefined {
  try {
    const o = JSON.parse(text) as Partial<StateDirOwner>;
    if (!Number.isInteger(o.pid) || (o.pid ?? 0) <= 0) return undefined;
    return {
      pid: o.pid as number,
      command: typeof o.command === 'string' ? o.command : '',
      startedAt: typeof o.startedAt === 'string' ? o.startedAt : '',
    };
  } catch {
    return undefined;
  }
}

/**
 * Who holds a state dir, from its lock file: `free` (no file), `own` (this process: several stacks
 * of one process may share it), `held` (a live process), `stale` (a process that ended without
 * releasing it — killed with SIGKILL, or the machine stopped — or a file that names no process).
 */
export function lockState(
  owner: StateDirOwner | undefined | null,
  self: number,
  isAlive: (pid: number) => boolean,
): 'free' | 'own' | 'held' | 'stale' {
  if (owner === null) return 'free';
  if (owner === undefined) return 'stale';
  if (owner.pid === self) return 'own';
  return isAlive(owner.pid) ? 'held' : 'stale';
}

/** Whether a process of this pid exists (a process of another user counts: EPERM). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The holds of this process, by lock file path (stacks of one process on one state dir share it). */
const held = new Map<string, number>();

function readOwner(path: string): StateDirOwner | undefined | null {
  try {
    return parseOwner(readFileSync(path, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * Takes the state dir's lock file before anything of it is opened; StateDirBusyError at once when a
 * live crm-sync process holds it. The file is written whole then linked into place (an atomic
 * create), so a reader never sees half of it; a stale one is moved aside first. Returns the release.
 */
export function acquireStateDirLock(stateDir: string, command = process.argv.slice(2).join(' ')): () => void {
  mkdirSync(stateDir, { recursive: true });
  const path = join(stateDir, 'lock');
  const count = held.get(path);
  if (count !== undefined) {
    held.set(path, count + 1);
    return once(() => release(path));
  }
  const owner: StateDirOwner = { pid: process.pid, command, startedAt: new Date().toISOString() };
  const tmp = `${path}.${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(owner)}\n`);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(tmp, path);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw err;
      }
      const current = readOwner(path);
      const state = lockState(current, process.pid, pidAlive);
      if (state === 'held' && current) {
        throw new StateDirBusyError(
          `the state dir ${stateDir} is in use by another crm-sync process (pid ${current.pid}` +
            `${current.command ? `: ${current.command}` : ''}, since ${current.startedAt}); try again when it ends`,
        );
      }
      // Stale (or its owner ended meanwhile): moved aside, then taken as above.
      const aside = `${path}.stale.${process.pid}`;
      try {
        renameSync(path, aside);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        continue;
      }
      // Another process may have taken the stale lock over between the read and the move: its
      // lock goes back in place.
      const moved = readOwner(aside);
      if (moved && lockState(moved, process.pid, pidAlive) === 'held') {
        try {
          linkSync(aside, path);
        } catch {
          // a third process linked its own meanwhile: that one holds the dir
        }
      }
      unlinkSync(aside);
    }
  } finally {
    unlinkSync(tmp);
  }
  held.set(path, 1);
  return once(() => release(path));
}

function release(path: string): void {
  const count = held.get(path) ?? 0;
  if (count > 1) {
    held.set(path, count - 1);
    return;
  }
  held.delete(path);
  if (readOwner(path)?.pid !== process.pid) return;
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}
