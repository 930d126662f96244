import { itemDigest } from '../../lambdas/domain/digest';
import { SetDigest } from '../../lambdas/domain/hash';
import { ReferenceCollector } from '../../lambdas/domain/references';
import type { MergedLine } from '../../lambdas/domain/run';
import {
  decisionProblems,
  orphanRows,
  readDecisions,
  SegmentCheck,
  verifyResultOf,
  writtenEntry,
} from '../../lambdas/domain/verify';

const CONTENT = { id: 'K1', lastName: 'Lovelace', account: 'A1' };
const H = itemDigest(CONTENT);
const WRITTEN = { ...CONTENT, _v: '2024-01-01T00:00:00.000Z', _line: 2, _run: 'run-1', _digest: H };
const REFS = { account: { entity: 'account' } };

function merged(...lines: MergedLine[]): string {
  return `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`;
}

describe('readDecisions', () => {
  const put: MergedLine = { k: 'K1', o: 'put', h: H };
  const del: MergedLine = { k: 'K2', o: 'delete', h: null };
  const unchanged: MergedLine = { k: 'K3', o: 'unchanged', h: H };
  it.each<[string, string, boolean, number, number, string[]]>([
    ['no merged object', '', false, 1, 0, []],
    ['by key, every decision in the sample', merged(put, del, unchanged), false, 1, 0, ['K1', 'K2', 'K3']],
    ['by key, an empty sample', merged(put, del, unchanged), false, 0, 0, []],
    [
      'by digest: the puts are digested, the rest read by key',
      merged(put, del, unchanged),
      true,
      1,
      1,
      ['K2', 'K3'],
    ],
    ['by digest, a put without a digest is read by key', merged({ k: 'K4', o: 'put' }), true, 1, 0, ['K4']],
  ])('%s', (_name, text, byDigest, rate, digested, byKey) => {
    // Act
    const decisions = readDecisions(text, byDigest, rate);

    // Assess
    expect(decisions.decisions).toBe(text.split('\n').filter(Boolean).length);
    expect(decisions.expected.count).toBe(digested);
    expect(decisions.byKey.map((l) => l.k)).toEqual(byKey);
  });

  it('digests a put as the key and its winner content', () => {
    // Prepare
    const expected = new SetDigest();
    expected.add(writtenEntry('K1', H));

    // Act
    const decisions = readDecisions(merged(put), true, 1);

    // Assess
    expect(decisions.expected.hex).toBe(expected.hex);
  });
});

describe('decisionProblems', () => {
  it.each<[string, MergedLine, Record<string, string | number> | undefined, unknown[], number]>([
    ['a put the table holds', { k: 'K1', o: 'put', h: H }, WRITTEN, [], 1],
    [
      'a put the table lacks',
      { k: 'K1', o: 'put', h: H },
      undefined,
      [{ key: 'K1', problem: 'missing', scope: 'run' }],
      0,
    ],
    [
      'a mirror delete the table still holds',
      { k: 'K1', o: 'mirror', h: null },
      WRITTEN,
      [{ key: 'K1', problem: 'present: the item should have been deleted', scope: 'mirror' }],
      1,
    ],
  ])('%s', (_name, line, stored, problems, referenced) => {
    // Prepare
    const references = new ReferenceCollector(REFS);
    const table = new Map(stored ? [[line.k, stored]] : []);

    // Act
    const found = decisionProblems([line], table, references);

    // Assess
    expect(found).toEqual(problems);
    expect(references.result('account', new Set(['A1'])).check.checked).toBe(referenced);
  });
});

describe('SegmentCheck', () => {
  it.each<[string, Record<string, string | number>, boolean, unknown[], number]>([
    ['an item the run wrote, first pass: digested', WRITTEN, true, [], 1],
    ['an item the run wrote, key-by-key pass: not digested', WRITTEN, false, [], 0],
    ['an item of another run: checked, not digested', { ...WRITTEN, _run: 'run-0' }, true, [], 0],
    [
      'an item without provenance',
      CONTENT,
      true,
      [{ key: 'K1', problem: 'not written by crm-sync', scope: 'table' }],
      0,
    ],
    [
      'an item changed since',
      { ...WRITTEN, lastName: 'Byron' },
      true,
      [{ key: 'K1', problem: 'changed outside crm-sync', scope: 'table' }],
      1,
    ],
  ])('%s', (_name, item, byDigest, problems, digested) => {
    // Prepare
    const references = new ReferenceCollector(REFS);
    const check = new SegmentCheck({ partition: 'id' }, 'run-1', byDigest, references);

    // Act
    check.add(item);

    // Assess
    expect(check.scanned).toBe(1);
    expect(check.problems).toEqual(problems);
    expect(check.found.count).toBe(digested);
    expect(references.result('account', new Set()).check.checked).toBe(digested);
  });
});

describe('orphanRows', () => {
  it.each<[string, Array<{ value: string; children: number; keys: string[] }>, string[]]>([
    ['no missing parent', [], []],
    [
      'one missing parent',
      [{ value: 'A9', children: 2, keys: ['K1', 'K2'] }],
      ['account,account,A9,2,K1 K2\r\n'],
    ],
    ['a value to quote', [{ value: 'A,9', children: 1, keys: ['K1'] }], ['account,account,"A,9",1,K1\r\n']],
  ])('%s', (_name, missing, rows) => {
    // Act
    const out = orphanRows('account', 'account', missing);

    // Assess
    expect(out).toEqual(rows);
  });
});

describe('verifyResultOf', () => {
  it.each<[string, boolean, number, number, boolean]>([
    ['a first full pass: the set digests', true, 25, 20, true],
    ['a key-by-key pass: no digests', false, 0, 20, false],
    ['more problems than returned: the first 20', false, 0, 30, false],
  ])('%s', (_name, byDigest, puts, problemCount, written) => {
    // Prepare
    const decisions = readDecisions(
      merged(...Array.from({ length: puts }, (_, i): MergedLine => ({ k: `P${i}`, o: 'put', h: H }))),
      byDigest,
      1,
    );
    const problems = Array.from({ length: problemCount }, (_, i) => ({
      key: `K${i}`,
      problem: 'missing',
      scope: 'run' as const,
    }));

    // Act
    const result = verifyResultOf({
      partition: 2,
      byDigest,
      decisions,
      segment: { scanned: 40, found: new SetDigest() },
      problems,
      references: [],
      durationMs: 5,
    });

    // Assess
    expect(result).toMatchObject({
      partition: 2,
      verified: puts,
      decisions: puts,
      scanned: 40,
      mirrorDeleted: 0,
    });
    expect(result.problems).toBe(problemCount);
    expect(result.sample).toEqual(problems.slice(0, 20));
    expect(result.written !== undefined).toBe(written);
    if (result.written) expect(result.written.expected.items).toBe(puts);
  });
});
