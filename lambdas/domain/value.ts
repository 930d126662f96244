/**
 * The values of a target item: scalars (string, number, boolean) and the shapes DynamoDB stores
 * beside them: exact numbers, lists, string sets and maps. Pure: no AWS imports.
 *
 * A shape is a one-key object named after its DynamoDB type (`{ N: '…' }`, `{ L: […] }`,
 * `{ SS: […] }`, `{ M: {…} }`), so an item is plain JSON and survives the S3 parts as it is.
 * Each value has one representation: a number is a JS `number` when that number's plain decimal
 * text is the canonical text (`12.5`, `42`), else `{ N: canonical }` (more digits than a double
 * holds); `numberValue` decides, for a typed cell and for a number read back from the table alike,
 * so digests and comparisons see one value one way.
 */

export type Scalar = string | number | boolean;

/** A number whose canonical decimal text a JS number does not hold exactly. */
export interface ExactNumber {
  readonly N: string;
}
export interface ListValue {
  readonly L: readonly Value[];
}
/** A string set: distinct members (DynamoDB rejects an empty set: none is ever built). */
export interface StringSetValue {
  readonly SS: readonly string[];
}
export interface MapValue {
  readonly M: Readonly<Record<string, Value>>;
}
export type Value = Scalar | ExactNumber | ListValue | StringSetValue | MapValue;
export type ItemValues = Record<string, Value>;

export const isExactNumber = (v: Value): v is ExactNumber => typeof v === 'object' && 'N' in v;
export const isList = (v: Value): v is ListValue => typeof v === 'object' && 'L' in v;
export const isStringSet = (v: Value): v is StringSetValue => typeof v === 'object' && 'SS' in v;
export const isMap = (v: Value): v is MapValue => typeof v === 'object' && 'M' in v;

// ---------------------------------------------------------------- exact decimals

/** DynamoDB's limits on a number (Developer Guide, "Data types": Number). */
export const MAX_SIGNIFICANT_DIGITS = 38;
/** Decimal exponent of the leading digit: 1E-130 .. 9.99…E+125. */
export const MIN_EXPONENT = -130;
export const MAX_EXPONENT = 125;

/** Why a decimal text is no DynamoDB number. */
export type DecimalProblem = 'digits' | 'range';

const DECIMAL_TEXT = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d{1,9}))?$/;

/**
 * The canonical text of a decimal (`[+-]digits[.digits][e±n]`, already free of grouping): the plain
 * form DynamoDB returns (`+01.50` → `1.5`, `1.2e3` → `1200`, `-0` → `0`), or the problem that keeps
 * it out of a DynamoDB number (over 38 significant digits, magnitude outside 1E-130 .. 9.99…E+125),
 * or undefined when the text is not a decimal.
 */
export function canonicalDecimal(text: string): string | DecimalProblem | undefined {
  const m = DECIMAL_TEXT.exec(text);
  if (m === null) return undefined;
  const whole = m[2] ?? '';
  const fraction = m[3] ?? '';
  if (whole === '' && fraction === '') return undefined;
  let digits = whole + fraction;
  let exponent = Number(m[4] ?? '0') - fraction.length;
  let first = 0;
  while (first < digits.length && digits.charCodeAt(first) === 0x30) first++;
  let end = digits.length;
  while (end > first && digits.charCodeAt(end - 1) === 0x30) end--;
  exponent += digits.length - end;
  digits = digits.slice(first, end);
  if (digits === '') return '0';
  if (digits.length > MAX_SIGNIFICANT_DIGITS) return 'digits';
  const leading = exponent + digits.length - 1;
  if (leading > MAX_EXPONENT || leading < MIN_EXPONENT) return 'range';
  const sign = m[1] === '-' ? '-' : '';
  if (exponent >= 0) return `${sign}${digits}${'0'.repeat(exponent)}`;
  const point = digits.length + exponent;
  if (point > 0) return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
  return `${sign}0.${'0'.repeat(-point)}${digits}`;
}

/** The stored value of a canonical decimal text: a JS number when it holds the text exactly, else `{ N }`. */
export function numberValue(canonical: string): number | ExactNumber {
  const n = Number(canonical);
  const text = String(n);
  if (text === canonical) return n;
  if ((text.includes('e') || text.includes('E')) && canonicalDecimal(text) === canonical) return n;
  return { N: canonical };
}

/** The canonical decimal text of a stored number (a JS number's plain form). */
export function numberText(v: number | ExactNumber): string {
  if (typeof v !== 'number') return v.N;
  const text = String(v);
  if (!text.includes('e')) return text;
  const c = canonicalDecimal(text);
  return c === undefined || c === 'digits' || c === 'range' ? text : c;
}

// ---------------------------------------------------------------- digest text and equality

/** Type tags of the digest text: `1` and `"1"` differ. The scalar tags are those digest.ts always wrote. */
const STRING_TAG = '\u0001s';
const NUMBER_TAG = '\u0001n';
const BOOLEAN_TAG = '\u0001b';
const LIST_TAG = '\u0001l';
const SET_TAG = '\u0001S';
const MAP_TAG = '\u0001m';
const END = '\u0002';

/**
 * A value's tagged text for the digest: a scalar as it always was (tag, String(value)); an exact
 * number its canonical text under the number tag; a list its elements in order, a set its members
 * sorted (a set has no order), a map its members by sorted name, each closed by an end mark.
 */
export function digestText(v: Value): string {
  if (typeof v === 'string') return `${STRING_TAG}${v}`;
  if (typeof v === 'number') return `${NUMBER_TAG}${String(v)}`;
  if (typeof v === 'boolean') return `${BOOLEAN_TAG}${String(v)}`;
  if (isExactNumber(v)) return `${NUMBER_TAG}${v.N}`;
  if (isList(v)) {
    let text = LIST_TAG;
    for (const e of v.L) text += `${digestText(e)}\u0000`;
    return `${text}${END}`;
  }
  if (isStringSet(v)) {
    let text = SET_TAG;
    for (const e of [...v.SS].sort()) text += `${e}\u0000`;
    return `${text}${END}`;
  }
  let text = MAP_TAG;
  for (const k of Object.keys(v.M).sort()) text += `${k}${digestText(v.M[k] as Value)}\u0000`;
  return `${text}${END}`;
}

/** Whether two values are the same stored value (sets compared as sets, maps by member). */
export function sameValue(a: Value | undefined, b: Value | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || typeof a !== 'object' || typeof b !== 'object') return false;
  return digestText(a) === digestText(b);
}

/** Whether JSON read back (a progress object, a part) is a Value: a scalar or a well-formed shape. */
export function isValue(v: unknown): v is Value {
  if (typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  if (keys.length !== 1) return false;
  const inner: unknown = Object.values(v)[0];
  switch (keys[0]) {
    case 'N':
      return typeof inner === 'string';
    case 'L':
      return Array.isArray(inner) && inner.every(isValue);
    case 'SS':
      return Array.isArray(inner) && inner.every((e) => typeof e === 'string');
    case 'M':
      return (
        typeof inner === 'object' &&
        inner !== null &&
        !Array.isArray(inner) &&
        Object.values(inner).every(isValue)
      );
    default:
      return false;
  }
}

/** Sets the member at `path` of `item`, making the maps on the way (config.ts keeps leaves and maps apart). */
export function setMember(item: Record<string, Value>, path: readonly string[], value: Value): void {
  let members = item;
  for (let i = 0; i < path.length - 1; i++) {
    const name = path[i] as string;
    const at = members[name];
    if (at !== undefined && isMap(at)) {
      members = at.M as Record<string, Value>;
    } else {
      const next: Record<string, Value> = {};
      members[name] = { M: next };
      members = next;
    }
  }
  members[path[path.length - 1] as string] = value;
}

/** The member at `path` of `item` (a dotted field's value), or undefined. */
export function memberOf(item: Readonly<Record<string, Value>>, path: readonly string[]): Value | undefined {
  let members: Readonly<Record<string, Value>> | undefined = item;
  for (let i = 0; i < path.length - 1; i++) {
    const at: Value | undefined = members[path[i] as string];
    if (at === undefined || !isMap(at)) return undefined;
    members = at.M;
  }
  return members[path[path.length - 1] as string];
}
