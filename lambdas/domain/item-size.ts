/**
 * DynamoDB's size rules (Developer Guide, "DynamoDB item sizes and formats" and "Constraints"), for
 * the rows the transform must reject before the merge writes them: an item over 400 KB or a key
 * over its limit fails BatchWriteItem with a ValidationException, which would fail the whole merge.
 * Pure: no AWS imports.
 */

import { isExactNumber, isList, isStringSet, type Value } from './value';

/** Largest item DynamoDB stores: 400 KB, binary units (409,600 bytes), names and values included. */
export const MAX_ITEM_BYTES = 400 * 1024;
/** Largest partition key value, in UTF-8 bytes. */
export const MAX_PARTITION_KEY_BYTES = 2048;
/** Largest sort key value, in UTF-8 bytes. */
export const MAX_SORT_KEY_BYTES = 1024;

/**
 * Significant digits of a number's decimal text (sign, point, exponent, and leading and trailing
 * zeroes not counted; at least 1, so zero sizes as one digit).
 */
function significantDigits(text: string): number {
  let end = text.length;
  const e = text.search(/[eE]/);
  if (e >= 0) end = e;
  let first = 0;
  let last = end - 1;
  const isZeroOrMark = (c: number) => c === 0x30 || c === 0x2e || c === 0x2d || c === 0x2b;
  while (first < end && isZeroOrMark(text.charCodeAt(first))) first++;
  while (last >= first && (text.charCodeAt(last) === 0x30 || text.charCodeAt(last) === 0x2e)) last--;
  let digits = 0;
  for (let i = first; i <= last; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) digits++;
  }
  return Math.max(1, digits);
}

/** A number's size: 1 byte per two significant digits (rounded up), plus 1 byte. */
export function numberSize(value: number | string): number {
  return Math.ceil(significantDigits(String(value)) / 2) + 1;
}

/**
 * The size of one attribute value: a string its UTF-8 bytes; a number (a JS number or an exact
 * `{ N }`) `numberSize`; a boolean 1 byte; a list or map 3 bytes, plus 1 byte and the size of each
 * element (a map's element also its name's UTF-8 bytes); a string set the sizes of its members.
 */
export function dynamoValueSize(value: Value): number {
  if (typeof value === 'string') return Buffer.byteLength(value, 'utf8');
  if (typeof value === 'number') return numberSize(value);
  if (typeof value === 'boolean') return 1;
  if (isExactNumber(value)) return numberSize(value.N);
  if (isStringSet(value)) {
    let bytes = 0;
    for (const s of value.SS) bytes += Buffer.byteLength(s, 'utf8');
    return bytes;
  }
  let bytes = 3;
  if (isList(value)) {
    for (const v of value.L) bytes += 1 + dynamoValueSize(v);
    return bytes;
  }
  for (const [name, v] of Object.entries(value.M))
    bytes += 1 + Buffer.byteLength(name, 'utf8') + dynamoValueSize(v);
  return bytes;
}

/** An item's size: the sum, over its attributes, of the name's UTF-8 bytes and the value's size. */
export function dynamoItemSize(item: Readonly<Record<string, Value>>): number {
  let bytes = 0;
  for (const name in item) {
    if (!Object.hasOwn(item, name)) continue;
    bytes += Buffer.byteLength(name, 'utf8') + dynamoValueSize(item[name] as Value);
  }
  return bytes;
}

/** Whether a string key value fits `max` UTF-8 bytes (measured only when it could exceed it). */
export function keyFits(key: string, max: number): boolean {
  // A UTF-16 unit is at most 3 UTF-8 bytes (a surrogate pair: 4 bytes for 2 units).
  return key.length * 3 <= max || Buffer.byteLength(key, 'utf8') <= max;
}
