import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { priorRunAction } from '../../local/interrupted';
import {
  acquireStateDirLock,
  lockState,
  parseOwner,
  StateDirBusyError,
  type StateDirOwner,
} from '../../local/state-dir-lock';

const owner = (pid: number): StateDirOwner => ({ pid, command: 'local run f.csv', startedAt: 'T' });
const alive = (pids: number[]) => (pid: number) => pids.includes(pid);

describe('the state dir lock rule', () => {
  it.each([
    ['no lock file', null, [], 'free'],
    ['a file that names no process', undefined, [], 'stale'],
    ['this process', owner(10), [10], 'own'],
    ['a live process', owner(20), [10, 20], 'held'],
    ['a process that ended (kill -9)', owner(20), [10], 'stale'],
  ] as const)('%s: %s', (_name, current, pids, expected) => {
    // Act
    const state = lockState(current, 10, alive([...pids]));

    // Assess
    expect(state).toBe(expected);
  });

  it.each([
    ['empty', ''],
    ['half written', '{"pid":12'],
    ['no pid', '{"command":"x"}'],
    ['a pid of zero', '{"pid":0}'],
    ['a negative pid', '{"pid":-3}'],
    ['a pid that is not a number', '{"pid":"12"}'],
    ['a fractional pid', '{"pid":1.5}'],
    ['not an object', '42'],
  ])('a lock file that is not an owner (%s) names no process', (_name, text) => {
    // Act
    const parsed = parseOwner(text);

    // Assess
    expect(parsed).toBeUndefined();
  });

  it('reads an owner, with defaults for what it lacks', () => {
    // Act
    const parsed = parseOwner('{"pid":12}');

    // Assess
    expect(parsed).toEqual({ pid: 12, command: '', startedAt: '' });
  });
});

describe('acquireStateDirLock', () => {
  const dir = () => mkdtempSync(join(tmpdir(), 'crm-sync-lock-'));

  it('takes the lock with this pid and removes it on release', () => {
    // Prepare
    const stateDir = dir();

    // Act
    const release = acquireStateDirLock(stateDir, 'local run f.csv');
    const held = parseOwner(readFileSync(join(stateDir, 'lock'), 'utf8'));
    release();

    // Assess
    expect(held).toMatchObject({ pid: process.pid, command: 'local run f.csv' });
    expect(existsSync(join(stateDir, 'lock'))).toBe(false);
  });

  it('refuses at once a state dir another live process holds, naming it', () => {
    // Prepare: the parent of this process (the test runner) is alive
    const stateDir = dir();
    writeFileSync(join(stateDir, 'lock'), JSON.stringify(owner(process.ppid)));

    // Act
    const take = () => acquireStateDirLock(stateDir);

    // Assess
    expect(take).toThrow(StateDirBusyError);
    expect(take).toThrow(`in use by another crm-sync process (pid ${process.ppid}: local run f.csv`);
    expect(parseOwner(readFileSync(join(stateDir, 'lock'), 'utf8'))?.pid).toBe(process.ppid);
  });

  it.each([
    ['a dead process', JSON.stringify(owner(2 ** 22 + 12345))],
    ['a half-written file', '{"pid":'],
  ])('takes over a stale lock (%s)', (_name, text) => {
    // Prepare
    const stateDir = dir();
    writeFileSync(join(stateDir, 'lock'), text);

    // Act
    const release = acquireStateDirLock(stateDir);
    const held = parseOwner(readFileSync(join(stateDir, 'lock'), 'utf8'));
    release();

    // Assess
    expect(held?.pid).toBe(process.pid);
    expect(existsSync(join(stateDir, 'lock'))).toBe(false);
  });

  it('is shared by the stacks of one process: released when the last one releases it', () => {
    // Prepare
    const stateDir = dir();
    const first = acquireStateDirLock(stateDir);

    // Act
    const second = acquireStateDirLock(stateDir);
    first();
    const afterFirst = existsSync(join(stateDir, 'lock'));
    second();
    second();

    // Assess
    expect(afterFirst).toBe(true);
    expect(existsSync(join(stateDir, 'lock'))).toBe(false);
  });
});

describe('what a plain rerun does with the run an export already has', () => {
  it.each([
    ['no run', undefined, 'new'],
    ['a run that succeeded', { status: 'SUCCEEDED' }, 'done'],
    ['a run still recorded running', { status: 'RUNNING' }, 'running'],
    ['an interrupted run (crash, Ctrl-C)', { status: 'FAILED', error: 'Interrupted' }, 'resume'],
    ['a run that failed for its own reason', { status: 'FAILED', error: 'HeaderMismatchError' }, 'refuse'],
    ['a run that did not reconcile', { status: 'MISMATCHED', error: 'ReconciliationMismatch' }, 'refuse'],
    ['a failed run with no error recorded', { status: 'FAILED' }, 'refuse'],
  ] as const)('%s: %s', (_name, run, expected) => {
    // Act
    const action = priorRunAction(run);

    // Assess
    expect(action).toBe(expected);
  });
});
