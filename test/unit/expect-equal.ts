import { isDeepStrictEqual } from 'node:util';

/**
 * `expect(actual).toEqual(expected)` for the hot loops of the property and equivalence tests, with
 * the same verdict: jest's matcher runs (and reports) whenever the two are not deeply strictly
 * equal, a stricter test than toEqual's, so a pair it skips is one toEqual passes too. Each
 * `expect()` call allocates an assertion error for its stack: over 10⁵ runs that was half the time.
 */
export function expectEqual(actual: unknown, expected: unknown): void {
  if (!isDeepStrictEqual(actual, expected)) expect(actual).toEqual(expected);
}

/** `expect(actual).toBe(expected)`, the matcher run only when `Object.is` (toBe's test) fails. */
export function expectSame(actual: unknown, expected: unknown): void {
  if (!Object.is(actual, expected)) expect(actual).toBe(expected);
}
