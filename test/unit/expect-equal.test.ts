import { expectEqual, expectSame } from './expect-equal';

describe('expectEqual and expectSame give the verdicts of toEqual and toBe', () => {
  it.each([
    ['equal objects', { ok: true, value: 'a' }, { ok: true, value: 'a' }, true],
    ['an undefined property (toEqual ignores it)', { ok: true, value: undefined }, { ok: true }, true],
    ['a different value', { ok: true, value: 'a' }, { ok: true, value: 'b' }, false],
    ['a missing property', { ok: false }, { ok: false, value: 'a' }, false],
    ['NaN and NaN', [Number.NaN], [Number.NaN], true],
    ['0 and -0', [0], [-0], false],
  ])('expectEqual: %s', (_name, actual, expected, passes) => {
    // Act
    const run = () => expectEqual(actual, expected);

    // Assess
    if (passes) expect(run).not.toThrow();
    else expect(run).toThrow(/toEqual/);
  });

  it.each([
    ['the same string', 'a', 'a', true],
    ['different strings', 'a', 'b', false],
    ['undefined and null', undefined, null, false],
    ['NaN and NaN', Number.NaN, Number.NaN, true],
  ])('expectSame: %s', (_name, actual, expected, passes) => {
    // Act
    const run = () => expectSame(actual, expected);

    // Assess
    if (passes) expect(run).not.toThrow();
    else expect(run).toThrow(/toBe/);
  });
});
