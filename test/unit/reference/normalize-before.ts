import {
  type CountryCode,
  isSupportedCountry,
  parseDigits,
  parsePhoneNumberFromString,
} from 'libphonenumber-js';
import type { FieldSpec, Transform } from '../../../lambdas/domain/config';

/**
 * normalize.ts as it was before it was rewritten for speed (values instead of result objects, shared
 * Invalid codes, one pass over emails, a trim that skips clean ends, a fast date path, a fast phone
 * path), verbatim but for the names: the reference of the equivalence tests, which must find the
 * same result for every cell and spec. Not a test file.
 *
 * Intended changes since: phones keep an extension as `;ext=<digits>`, and `validity: possible`
 * checks isPossible(); trimming also drops invisible characters at the ends (soft hyphen, U+180E,
 * U+200B–U+200F, U+2060–U+2064; U+FEFF is whitespace already), and the `trim` transform drops
 * U+200B, U+2060 and U+FEFF inside too (referenceTrim, referenceTrimCell, written plainly).
 */
export type Scalar = string | number | boolean;
export type NormalizeResult = { ok: true; value: Scalar | undefined } | { ok: false; code: string };

// ------------------------------------------------------------------------------ reference (before)
const EDGE_BLANKS =
  /^[\s\u00ad\u180e\u200b-\u200f\u2060-\u2064]+|[\s\u00ad\u180e\u200b-\u200f\u2060-\u2064]+$/gu;

/** Whitespace and invisible characters off both ends. */
export function referenceTrim(s: string): string {
  return s.replace(EDGE_BLANKS, '');
}

/** The `trim` transform: referenceTrim, then zero-width spaces, word joiners and BOMs inside removed. */
export function referenceTrimCell(s: string): string {
  return referenceTrim(s).replace(/[\u200b\u2060\ufeff]/g, '');
}
const WHITESPACE_RUN = /\s+/gu;

/** Applies transforms in order: trim, lower, upper, collapseSpaces (runs of Unicode whitespace -> one space). */
export function referenceApplyTransforms(value: string, transforms: readonly Transform[]): string {
  let out = value;
  for (const t of transforms) {
    switch (t) {
      case 'trim':
        out = referenceTrimCell(out);
        break;
      case 'lower':
        out = out.toLowerCase();
        break;
      case 'upper':
        out = out.toUpperCase();
        break;
      case 'collapseSpaces':
        out = out.replace(WHITESPACE_RUN, ' ');
        break;
      default: {
        const unknown: never = t;
        throw new Error(`unknown transform ${String(unknown)}`);
      }
    }
  }
  return out;
}

/**
 * raw: the cell text (undefined if the column is missing). Empty string (after transforms) is absent:
 * returns spec.default if set (typed per spec.type), else {ok:true, value: undefined}.
 *
 * For every type but `string`, a cell of only whitespace is absent too and surrounding whitespace is
 * ignored (a number or a date has no meaningful edge spaces); a `string` keeps exactly what the
 * transforms leave.
 */
export function referenceNormalizeField(raw: string | undefined, spec: FieldSpec): NormalizeResult {
  const text = referenceApplyTransforms(raw ?? '', spec.transforms);
  const empty = spec.type === 'string' ? text === '' : referenceTrim(text) === '';
  if (!empty) return parseTyped(text, spec);
  if (spec.default === undefined) return { ok: true, value: undefined };
  // The default is written in the config: type it like a cell (no transforms), and say so if it does not fit.
  const typed = parseTyped(String(spec.default), spec);
  return typed.ok ? typed : { ok: false, code: 'invalid_default' };
}

function parseTyped(text: string, spec: FieldSpec): NormalizeResult {
  switch (spec.type) {
    case 'string':
      return normalizeString(text, spec.maxLength);
    case 'email':
      return normalizeEmail(text);
    case 'phone':
      return normalizePhone(text, spec.region, spec.validity === 'possible');
    case 'number': {
      const n = parseDecimal(text);
      return n === undefined ? fail('invalid_number') : ok(n);
    }
    case 'integer': {
      const n = parseDecimal(text);
      return n === undefined || !Number.isSafeInteger(n) ? fail('invalid_integer') : ok(n);
    }
    case 'boolean': {
      const b = BOOLEANS.get(referenceTrim(text).toLowerCase());
      return b === undefined ? fail('invalid_boolean') : ok(b);
    }
    case 'date': {
      const iso = referenceParseDateTime(referenceTrim(text));
      return iso === undefined ? fail('invalid_date') : ok(iso.slice(0, 10));
    }
    case 'datetime': {
      const iso = referenceParseDateTime(referenceTrim(text));
      return iso === undefined ? fail('invalid_datetime') : ok(iso);
    }
    case 'enum':
      return normalizeEnum(referenceTrim(text), spec);
    case 'currency':
    case 'percent':
      throw new Error(`the reference predates type ${spec.type}`);
    default: {
      const unknown: never = spec.type;
      throw new Error(`unknown field type ${String(unknown)}`);
    }
  }
}

function ok(value: Scalar): NormalizeResult {
  return { ok: true, value };
}

function fail(code: string): NormalizeResult {
  return { ok: false, code };
}

function codePointLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

// ---------------------------------------------------------------- string

function normalizeString(text: string, maxLength: number | undefined): NormalizeResult {
  // Code points ≤ UTF-16 units: only count when the cheap bound is exceeded.
  if (maxLength !== undefined && text.length > maxLength && codePointLength(text) > maxLength) {
    return fail('too_long');
  }
  return ok(text);
}

// ---------------------------------------------------------------- email

/** Characters a (pragmatic, unquoted) local part may not hold: whitespace, controls, specials. */
const EMAIL_LOCAL_FORBIDDEN = /[\s\p{Cc}@,;:<>()[\]\\"]/u;
/** A domain label: letters (any script, IDN), digits, inner hyphens; combining marks after a base. */
const DOMAIN_LABEL = /^[\p{L}\p{N}](?:[\p{L}\p{N}\p{M}-]*[\p{L}\p{N}\p{M}])?$/u;
const HAS_LETTER = /\p{L}/u;

function normalizeEmail(text: string): NormalizeResult {
  const email = referenceTrim(text).toLowerCase();
  const at = email.indexOf('@');
  if (at <= 0 || at !== email.lastIndexOf('@') || codePointLength(email) > 254) return fail('invalid_email');
  const local = email.slice(0, at);
  const domain = email.slice(at + 1);
  if (
    codePointLength(local) > 64 ||
    EMAIL_LOCAL_FORBIDDEN.test(local) ||
    local.startsWith('.') ||
    local.endsWith('.') ||
    local.includes('..')
  ) {
    return fail('invalid_email');
  }
  const labels = domain.split('.');
  if (labels.length < 2) return fail('invalid_email');
  for (const label of labels) {
    if (codePointLength(label) > 63 || !DOMAIN_LABEL.test(label)) return fail('invalid_email');
  }
  // The top-level domain is never all digits (`a@1.2.3.4` is not a mailbox a CRM should hold).
  if (!HAS_LETTER.test(labels[labels.length - 1] ?? '')) return fail('invalid_email');
  return ok(email);
}

// ---------------------------------------------------------------- phone

/**
 * What a typed phone number may look like before libphonenumber sees it: digits and the usual
 * punctuation, an optional leading `+`, an optional extension. libphonenumber itself ignores
 * trailing garbage (`650-253-0000abc` parses as valid), so letters are refused here.
 */
const PHONE_TEXT = /^\(?\+?[\p{Nd}\s().\-/]+(?:\s*(?:;\s*ext=|ext\.?|extension|x|#)\s*\p{Nd}{1,10})?$/iu;

/**
 * E.164 (`+14155552671`). The region is the default country for numbers written without a country
 * code (US if unset). An extension (`x12`, `ext. 12`) is kept: `+14155552671;ext=12`. Validation
 * uses `isValid()` (number plan: length and leading digits for the region), or `isPossible()` for
 * `possible`, with libphonenumber-js's default (min) metadata.
 */
function normalizePhone(text: string, region: string | undefined, possible: boolean): NormalizeResult {
  const input = referenceTrim(text);
  if (!PHONE_TEXT.test(input)) return fail('invalid_phone');
  const country = region ?? 'US';
  const phone = parsePhoneNumberFromString(
    input,
    isSupportedCountry(country) ? (country as CountryCode) : undefined,
  );
  if (!phone || !(possible ? phone.isPossible() : phone.isValid())) return fail('invalid_phone');
  return ok(phone.ext ? `${phone.number};ext=${parseDigits(phone.ext)}` : phone.number);
}

// ---------------------------------------------------------------- number / integer

const PLAIN_NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?$/i;
/** Thousands separators only where they clearly are: groups of exactly three digits. */
const THOUSANDS_NUMBER = /^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$/;

/** Finite decimal number, or undefined. -0 becomes 0 (one value, one representation). */
function parseDecimal(text: string): number | undefined {
  let s = referenceTrim(text);
  if (THOUSANDS_NUMBER.test(s)) s = s.replaceAll(',', '');
  else if (!PLAIN_NUMBER.test(s)) return undefined;
  const n = Number(s);
  if (!Number.isFinite(n)) return undefined;
  return n === 0 ? 0 : n;
}

// ---------------------------------------------------------------- boolean

const BOOLEANS = new Map<string, boolean>([
  ['true', true],
  ['false', false],
  ['1', true],
  ['0', false],
  ['yes', true],
  ['no', false],
  ['y', true],
  ['n', false],
  ['t', true],
  ['f', false],
]);

// ---------------------------------------------------------------- enum

const enumLookups = new WeakMap<FieldSpec, Map<string, string>>();

function normalizeEnum(text: string, spec: FieldSpec): NormalizeResult {
  let lookup = enumLookups.get(spec);
  if (!lookup) {
    lookup = new Map();
    for (const v of spec.values ?? []) {
      const k = v.toLowerCase();
      if (!lookup.has(k)) lookup.set(k, v);
    }
    enumLookups.set(spec, lookup);
  }
  const value = lookup.get(text.toLowerCase());
  return value === undefined ? fail('invalid_enum') : ok(value);
}

// ---------------------------------------------------------------- date / datetime

/**
 * Optional time after a date: `T` or spaces, H:mm[:ss[.fraction]], optional AM/PM, optional zone.
 * Zone: `Z`, `UTC`, `GMT`, or an offset `±HH`, `±HHmm`, `±HH:mm` (optionally after `Z`/`UTC`/`GMT`:
 * Data Loader reads `…000Z-0300` as literal `Z` then offset -03:00, and so do we).
 */
const TIME =
  String.raw`(?:(?:T|\s+)(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:\s*([AP]M))?` +
  String.raw`(?:\s*(?:(Z|UTC|GMT)|(?:Z|UTC|GMT)?([+-])(\d{2})(?::?(\d{2}))?))?)?`;
/** 2024-03-05 (ISO, two-digit month and day). */
const ISO_DATETIME = new RegExp(String.raw`^(\d{4})-(\d{2})-(\d{2})${TIME}$`, 'i');
/** 2024/03/05 or 2024/3/5. */
const YMD_SLASH_DATETIME = new RegExp(String.raw`^(\d{4})/(\d{1,2})/(\d{1,2})${TIME}$`, 'i');
/** 3/5/2024 or 03/05/2024: US month/day/year. */
const US_DATETIME = new RegExp(String.raw`^(\d{1,2})/(\d{1,2})/(\d{4})${TIME}$`, 'i');
/** Epoch milliseconds (13 digits: 2001-09-09 … 2286-11-20). */
const EPOCH_MILLIS = /^\d{13}$/;

const MAX_OFFSET_HOURS = 18;

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * Parses the accepted date/datetime shapes with explicit patterns (never `Date.parse`) and returns
 * ISO-8601 UTC with milliseconds, or undefined. No zone means UTC; a bare date is midnight UTC.
 * Fractions of a second beyond milliseconds are truncated. Years are 1000–9999.
 */
export function referenceParseDateTime(text: string): string | undefined {
  if (EPOCH_MILLIS.test(text)) return new Date(Number(text)).toISOString();
  let year: string | undefined;
  let month: string | undefined;
  let day: string | undefined;
  let m = ISO_DATETIME.exec(text) ?? YMD_SLASH_DATETIME.exec(text);
  if (m) {
    [year, month, day] = [m[1], m[2], m[3]];
  } else {
    m = US_DATETIME.exec(text);
    if (!m) return undefined;
    [month, day, year] = [m[1], m[2], m[3]];
  }
  const [hourText, minuteText, secondText, fraction, ampm, , sign, offHours, offMinutes] = m.slice(4);
  const y = Number(year);
  const mo = Number(month);
  const d = Number(day);
  if (y < 1000 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) return undefined;

  let h = hourText === undefined ? 0 : Number(hourText);
  const mi = minuteText === undefined ? 0 : Number(minuteText);
  const s = secondText === undefined ? 0 : Number(secondText);
  const ms = fraction === undefined ? 0 : Number(fraction.slice(0, 3).padEnd(3, '0'));
  if (ampm !== undefined) {
    if (h < 1 || h > 12) return undefined;
    h = (h % 12) + (ampm.toUpperCase() === 'PM' ? 12 : 0);
  }
  if (h > 23 || mi > 59 || s > 59) return undefined;

  let offset = 0;
  if (sign !== undefined) {
    const oh = Number(offHours);
    const om = offMinutes === undefined ? 0 : Number(offMinutes);
    if (oh > MAX_OFFSET_HOURS || om > 59) return undefined;
    offset = (sign === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const utc = Date.UTC(y, mo - 1, d, h, mi, s, ms) - offset * 60_000;
  const iso = new Date(utc).toISOString();
  // An offset can push 9999-12-31 past year 9999 (toISOString then writes an expanded year).
  return iso.length === 24 ? iso : undefined;
}
