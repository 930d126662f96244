import type { FieldSpec, Transform } from './config';
import {
  type CompiledFormat,
  compileFormat,
  DEFAULT_DATE_FORMATS,
  DEFAULT_FORMAT_SHAPE,
  parseWithFormats,
  swapDayMonth,
  type ZoneClock,
  zoneClock,
} from './dates';
import { phoneE164 } from './phone';
import type { RejectCode } from './reject-reasons';
import { canonicalDecimal, type DecimalProblem, numberValue, type Scalar, type Value } from './value';

/**
 * Cell normalization: one source cell (text) → one typed target value, or a reason code.
 * Pure and synchronous: it runs once per cell on the worker's hot path.
 */

export type { Scalar, Value } from './value';
export type NormalizeResult = { ok: true; value: Value | undefined } | { ok: false; code: string };

const WHITESPACE_RUN = /\s+/gu;

/**
 * `s.trim()` that also drops invisible characters at the ends (see INVISIBLE), without the call
 * when both ends are printable ASCII (no whitespace there): cells are trimmed by the transforms and
 * then again by every typed parser, so most calls find nothing to do.
 */
function trim(s: string): string {
  const n = s.length;
  if (n === 0) return s;
  const first = s.charCodeAt(0);
  const last = s.charCodeAt(n - 1);
  if (first > 0x20 && first < 0x7f && last > 0x20 && last < 0x7f) return s;
  const t = s.trim();
  if (t === '' || (!isInvisible(t.charCodeAt(0)) && !isInvisible(t.charCodeAt(t.length - 1)))) return t;
  return t.replace(EDGE_BLANKS, '');
}

/**
 * Characters that show nothing and that `String.prototype.trim` keeps: the soft hyphen, the
 * Mongolian vowel separator, zero-width space / non-joiner / joiner, the direction marks, the word
 * joiner and the invisible operators (U+FEFF is whitespace to `trim` already). Exports carry them
 * from web forms and copy-paste; at the ends of a cell they are never meaningful.
 */
function isInvisible(c: number): boolean {
  return c === 0xad || c === 0x180e || (c >= 0x200b && c <= 0x200f) || (c >= 0x2060 && c <= 0x2064);
}
const EDGE_BLANKS =
  /^[\s\u00ad\u180e\u200b-\u200f\u2060-\u2064]+|[\s\u00ad\u180e\u200b-\u200f\u2060-\u2064]+$/gu;
/**
 * Invisible characters that mean nothing anywhere in a cell (zero-width space, word joiner, BOM);
 * the joiners U+200C/U+200D inside a cell stay (emoji sequences, Indic scripts).
 */
const INNER_INVISIBLE = /[\u200b\u2060\ufeff]/g;

/**
 * The `trim` transform: trim, then drop INNER_INVISIBLE inside. The one test per cell is the only new
 * cost for a cell without them (measured about 20–55 ns a cell, one regex pass; three indexOf calls
 * cost twice that).
 */
function trimCell(s: string): string {
  const t = trim(s);
  return HAS_INNER_INVISIBLE.test(t) ? t.replace(INNER_INVISIBLE, '') : t;
}
const HAS_INNER_INVISIBLE = /[\u200b\u2060\ufeff]/;

/** Trims whitespace and invisible characters at the ends (what the `trim` transform does at the ends). */
export const trimInvisible = trim;

/**
 * Whether collapseSpaces would leave `s` as it is, told without the regex for printable ASCII text
 * with no two spaces in a row (false: let the regex decide).
 */
function isCollapsedAscii(s: string): boolean {
  let space = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x20) {
      if (space) return false;
      space = true;
    } else if (c > 0x20 && c < 0x7f) {
      space = false;
    } else {
      return false;
    }
  }
  return true;
}

/**
 * Applies transforms in order: trim (whitespace and invisible characters at the ends, zero-width
 * spaces, word joiners and BOMs anywhere), lower, upper, collapseSpaces (runs of Unicode whitespace
 * -> one space).
 */
export function applyTransforms(value: string, transforms: readonly Transform[]): string {
  let out = value;
  for (const t of transforms) {
    switch (t) {
      case 'trim':
        out = trimCell(out);
        break;
      case 'lower':
        out = out.toLowerCase();
        break;
      case 'upper':
        out = out.toUpperCase();
        break;
      case 'collapseSpaces':
        if (!isCollapsedAscii(out)) out = out.replace(WHITESPACE_RUN, ' ');
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
 * A cell that does not normalize, with its reason code. One shared instance per code, so the hot path
 * (normalizeValue) allocates nothing to say "invalid".
 */
export class Invalid {
  private static readonly byCode = new Map<RejectCode, Invalid>();

  private constructor(readonly code: RejectCode) {}

  static of(code: RejectCode): Invalid {
    let invalid = Invalid.byCode.get(code);
    if (!invalid) {
      invalid = new Invalid(code);
      Invalid.byCode.set(code, invalid);
    }
    return invalid;
  }
}

const INVALID_DEFAULT = Invalid.of('invalid_default');
const TOO_LONG = Invalid.of('too_long');
const INVALID_EMAIL = Invalid.of('invalid_email');
const INVALID_PHONE = Invalid.of('invalid_phone');
const INVALID_NUMBER = Invalid.of('invalid_number');
const INVALID_INTEGER = Invalid.of('invalid_integer');
const INVALID_BOOLEAN = Invalid.of('invalid_boolean');
const INVALID_DATE = Invalid.of('invalid_date');
const INVALID_DATETIME = Invalid.of('invalid_datetime');
const INVALID_ENUM = Invalid.of('invalid_enum');
const NUMBER_TOO_PRECISE = Invalid.of('number_too_precise');
const NUMBER_OUT_OF_RANGE = Invalid.of('number_out_of_range');
const INVALID_CURRENCY = Invalid.of('invalid_currency');
const CURRENCY_MISMATCH = Invalid.of('currency_mismatch');
const INVALID_PERCENT = Invalid.of('invalid_percent');

/**
 * raw: the cell text (undefined if the column is missing). Empty string (after transforms) is absent:
 * returns spec.default if set (typed per spec.type), else {ok:true, value: undefined}.
 *
 * For every type but `string`, a cell of only whitespace is absent too and surrounding whitespace is
 * ignored (a number or a date has no meaningful edge spaces); a `string` keeps exactly what the
 * transforms leave.
 */
export function normalizeField(
  raw: string | undefined,
  spec: FieldSpec,
  rowRegion?: string,
): NormalizeResult {
  const value = normalizeValue(raw, spec, rowRegion);
  return value instanceof Invalid ? { ok: false, code: value.code } : { ok: true, value };
}

/**
 * normalizeField without the result object (the mapping's per-cell call): the value, undefined when
 * absent, or an Invalid with the reason code. rowRegion: a `phone` field's region for this row (its
 * `regionFrom` cell, as an alpha-2 code), overriding spec.region.
 */
export function normalizeValue(
  raw: string | undefined,
  spec: FieldSpec,
  rowRegion?: string,
): Value | undefined | Invalid {
  return valueOfText(applyTransforms(raw ?? '', spec.transforms), spec, rowRegion);
}

/** normalizeValue after the transforms. */
function valueOfText(
  text: string,
  spec: FieldSpec,
  rowRegion: string | undefined,
): Value | undefined | Invalid {
  const empty = spec.type === 'string' && spec.list === undefined ? text === '' : trim(text) === '';
  if (!empty) {
    const value = shapedValue(text, spec, rowRegion);
    if (value !== undefined) return value;
  }
  return defaultValue(spec, rowRegion);
}

/**
 * A non-empty cell typed: a scalar (typedValue), or for a `list` field the list or string set of its
 * elements (split at the delimiter, each trimmed, empty ones dropped, each typed like a scalar cell
 * of the field: one invalid element makes the cell invalid). No element: undefined (absent, like an
 * empty cell: DynamoDB stores no empty set). A set holds each value once, in first-seen order.
 */
function shapedValue(
  text: string,
  spec: FieldSpec,
  rowRegion: string | undefined,
): Value | undefined | Invalid {
  const list = spec.list;
  if (list === undefined) return typedValue(text, spec, rowRegion);
  const elements: Value[] = [];
  for (const piece of text.split(list.delimiter)) {
    const element = trim(piece);
    if (element === '') continue;
    const typed = typedValue(element, spec, rowRegion);
    if (typed instanceof Invalid) return typed;
    elements.push(typed);
  }
  if (elements.length === 0) return undefined;
  if (list.as === 'list') return { L: elements };
  return { SS: [...new Set(elements.map(String))] };
}

/** An empty cell: spec.default typed, or undefined. */
function defaultValue(spec: FieldSpec, rowRegion: string | undefined): Value | undefined | Invalid {
  if (spec.default === undefined) return undefined;
  // The default is written in the config: type it like a cell (no transforms), and say so if it does not fit.
  const typed = shapedValue(String(spec.default), spec, rowRegion);
  return typed instanceof Invalid ? INVALID_DEFAULT : typed;
}

/** A value written in the config (a default, a map value) typed like a cell of the field, without transforms. */
export function typeLiteral(value: Scalar, spec: FieldSpec): Value | Invalid {
  return shapedValue(String(value), spec, undefined) ?? INVALID_DEFAULT;
}

// ---------------------------------------------------------------- null values, value maps, Excel ids

/**
 * What a field needs beyond normalizeValue, worked out once per binding (see mapping.ts planOf).
 * Keys are cellRuleKey's: after the field's transforms, trimmed, lower-cased.
 */
export interface CellRules {
  /** Null values; undefined: none. */
  nulls: ReadonlySet<string> | undefined;
  /** The longest null value, and which lower-cased ASCII first characters one starts with. */
  nullMaxLength: number;
  nullFirst: Uint8Array;
  /** Map keys → the value already typed (an Invalid when it does not fit the type). */
  map: ReadonlyMap<string, Value | Invalid> | undefined;
  /** A key or reference of type string: refuse ids that a spreadsheet turned into numbers. */
  excelIds: boolean;
}

/**
 * An id a spreadsheet wrote in scientific notation (`1.11015E+11`, `1,11015E+11`): its digits are
 * gone, and rows of different records end up under one key. Salesforce and HubSpot ids never hold a
 * `+` or `.`, so no real id matches.
 */
const EXCEL_ID = /^[+-]?\d(?:[.,]\d+)?E[+-]\d{1,3}$/i;
const EXCEL_MANGLED_ID = Invalid.of('excel_mangled_id');

/**
 * normalizeValue with the field's null values, value map and Excel id check: after the transforms, a
 * cell that is a null value reads as empty (its default applies), a mapped cell takes its mapped
 * value, an Excel-mangled id is `excel_mangled_id`; any other cell is typed as usual.
 */
export function normalizeWithRules(
  raw: string | undefined,
  spec: FieldSpec,
  rules: CellRules,
  rowRegion?: string,
): Value | undefined | Invalid {
  const text = applyTransforms(raw ?? '', spec.transforms);
  const bare = trim(text);
  if (bare === '') return valueOfText(text, spec, rowRegion);
  let folded: string | undefined;
  if (rules.nulls !== undefined && bare.length <= rules.nullMaxLength) {
    const c = bare.charCodeAt(0);
    if (c > 0x7f || rules.nullFirst[c] === 1) {
      folded = bare.toLowerCase();
      if (rules.nulls.has(folded)) return defaultValue(spec, rowRegion);
    }
  }
  if (rules.map !== undefined) {
    const mapped = rules.map.get(folded ?? bare.toLowerCase());
    if (mapped !== undefined) return mapped;
  }
  if (rules.excelIds && EXCEL_ID.test(bare)) return EXCEL_MANGLED_ID;
  return valueOfText(text, spec, rowRegion);
}

/** A cell of a field read with its CellRules when it has any (normalizeWithRules), else normalizeValue. */
export function normalizeCell(
  raw: string | undefined,
  spec: FieldSpec,
  rules: CellRules | undefined,
  rowRegion?: string,
): Value | undefined | Invalid {
  return rules === undefined
    ? normalizeValue(raw, spec, rowRegion)
    : normalizeWithRules(raw, spec, rules, rowRegion);
}

/**
 * The CellRules of a field from its settings (null values and map keys as cellRuleKey gives them), or
 * undefined when it has none: normalizeValue then does all.
 */
export function cellRules(
  spec: FieldSpec,
  nullKeys: readonly string[],
  mapEntries: ReadonlyArray<readonly [string, Scalar]>,
  excelIds: boolean,
): CellRules | undefined {
  if (nullKeys.length === 0 && mapEntries.length === 0 && !excelIds) return undefined;
  const nullFirst = new Uint8Array(128);
  let nullMaxLength = 0;
  for (const k of nullKeys) {
    nullMaxLength = Math.max(nullMaxLength, k.length);
    const c = k.charCodeAt(0);
    if (c < 0x80) {
      nullFirst[c] = 1;
      // The cell is compared lower-cased: an upper-case first letter leads there too.
      if (c >= 0x61 && c <= 0x7a) nullFirst[c - 0x20] = 1;
    }
  }
  return {
    nulls: nullKeys.length > 0 ? new Set(nullKeys) : undefined,
    nullMaxLength,
    nullFirst,
    map:
      mapEntries.length > 0
        ? new Map(mapEntries.map(([k, v]) => [k, typeLiteral(v, spec)] as const))
        : undefined,
    excelIds,
  };
}

function typedValue(text: string, spec: FieldSpec, rowRegion: string | undefined): Value | Invalid {
  switch (spec.type) {
    case 'string':
      return normalizeString(text, spec.maxLength);
    case 'email':
      return normalizeEmail(text);
    case 'phone':
      return normalizePhone(text, rowRegion ?? spec.region, spec.validity === 'possible');
    case 'number':
      return decimalValue(parseDecimal(text), INVALID_NUMBER);
    case 'integer': {
      const n = parseDecimal(text);
      return n?.includes('.') ? INVALID_INTEGER : decimalValue(n, INVALID_INTEGER);
    }
    case 'currency':
      return normalizeCurrency(trim(text), spec);
    case 'percent':
      return normalizePercent(trim(text), spec);
    case 'boolean': {
      const b = BOOLEANS.get(trim(text).toLowerCase());
      return b === undefined ? INVALID_BOOLEAN : b;
    }
    case 'date': {
      const t = trim(text);
      // The ISO fast path first; in a zone, a UTC time's date is the zone's (the general path).
      const canonical = parseCanonicalDateTime(t);
      if (canonical !== undefined && (spec.timezone === undefined || !endsWithZ(t))) {
        return canonical.slice(0, 10);
      }
      const iso = parseDateTime(t, dateSettings(spec));
      return iso === undefined ? INVALID_DATE : iso.slice(0, 10);
    }
    case 'datetime': {
      const t = trim(text);
      const canonical = parseCanonicalDateTime(t);
      if (canonical !== undefined && (spec.timezone === undefined || endsWithZ(t))) return canonical;
      const iso = parseDateTime(t, dateSettings(spec), false);
      return iso === undefined ? INVALID_DATETIME : iso;
    }
    case 'enum':
      return normalizeEnum(trim(text), spec);
    default: {
      const unknown: never = spec.type;
      throw new Error(`unknown field type ${String(unknown)}`);
    }
  }
}

function codePointLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** More than `max` code points (code points ≤ UTF-16 units: only count when the cheap bound is exceeded). */
function longerThan(s: string, max: number): boolean {
  return s.length > max && codePointLength(s) > max;
}

// ---------------------------------------------------------------- string

function normalizeString(text: string, maxLength: number | undefined): string | Invalid {
  if (maxLength !== undefined && longerThan(text, maxLength)) return TOO_LONG;
  return text;
}

// ---------------------------------------------------------------- email

/** Characters a (pragmatic, unquoted) local part may not hold: whitespace, controls, specials. */
const EMAIL_LOCAL_FORBIDDEN = /[\s\p{Cc}@,;:<>()[\]\\"]/u;
/** A domain label: letters (any script, IDN), digits, inner hyphens; combining marks after a base. */
const DOMAIN_LABEL = /^[\p{L}\p{N}](?:[\p{L}\p{N}\p{M}-]*[\p{L}\p{N}\p{M}])?$/u;
const HAS_LETTER = /\p{L}/u;

/** What the regexes answer, told by a scan of ASCII text: yes, no, or not ASCII (ask the regex). */
const YES = 1;
const NO = 0;
const NOT_ASCII = -1;

/**
 * EMAIL_LOCAL_FORBIDDEN.test(local) for ASCII text. Its ASCII members: controls and DEL (\p{Cc}),
 * the space (\s: the other ASCII spaces are controls) and `@,;:<>()[]\"`.
 */
function localForbiddenAscii(local: string): number {
  let answer = NO;
  for (let i = 0; i < local.length; i++) {
    const c = local.charCodeAt(i);
    if (c > 0x7e) {
      if (c === 0x7f) return YES; // DEL is a control
      answer = NOT_ASCII; // the regex decides, unless a forbidden ASCII character comes
    } else if (
      c <= 0x20 ||
      c === 0x40 || // @
      c === 0x2c || // ,
      c === 0x3b || // ;
      c === 0x3a || // :
      c === 0x3c || // <
      c === 0x3e || // >
      c === 0x28 || // (
      c === 0x29 || // )
      c === 0x5b || // [
      c === 0x5d || // ]
      c === 0x5c || // \
      c === 0x22 // "
    ) {
      return YES; // the regex finds it too, whatever else the text holds
    }
  }
  return answer;
}

const isAsciiLetter = (c: number) => (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);
const isAsciiDigit = (c: number) => c >= 0x30 && c <= 0x39;

/**
 * DOMAIN_LABEL.test(label) for ASCII text: in ASCII, \p{L} is a–z and A–Z, \p{N} is 0–9 and
 * \p{M} is empty, so a label is letters, digits and inner hyphens.
 */
function domainLabelAscii(label: string): number {
  const n = label.length;
  if (n === 0) return NO;
  let answer = YES;
  for (let i = 0; i < n; i++) {
    const c = label.charCodeAt(i);
    if (c > 0x7f) {
      answer = NOT_ASCII; // the regex decides, unless an ASCII character refuses the label
    } else if (!isAsciiLetter(c) && !isAsciiDigit(c) && !(c === 0x2d && i > 0 && i < n - 1)) {
      return NO; // the regex is anchored: one character outside its classes refuses the label
    }
  }
  return answer;
}

/** HAS_LETTER.test(text) for ASCII text. */
function hasLetterAscii(text: string): number {
  let answer = NO;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (isAsciiLetter(c)) return YES; // the regex finds it too, whatever else the text holds
    if (c > 0x7f) answer = NOT_ASCII;
  }
  return answer;
}

/** `regex.test(text)`, answered by `ascii` when the text is ASCII. */
function testAsciiFirst(ascii: (text: string) => number, regex: RegExp, text: string): boolean {
  const answer = ascii(text);
  return answer === NOT_ASCII ? regex.test(text) : answer === YES;
}

function normalizeEmail(text: string): string | Invalid {
  const email = trim(text).toLowerCase();
  const at = email.indexOf('@');
  if (at <= 0 || at !== email.lastIndexOf('@') || longerThan(email, 254)) return INVALID_EMAIL;
  const local = email.slice(0, at);
  if (
    longerThan(local, 64) ||
    testAsciiFirst(localForbiddenAscii, EMAIL_LOCAL_FORBIDDEN, local) ||
    local.charCodeAt(0) === 0x2e ||
    local.charCodeAt(local.length - 1) === 0x2e ||
    local.includes('..')
  ) {
    return INVALID_EMAIL;
  }
  // Labels between the dots of the domain: at least two, each a DOMAIN_LABEL of at most 63 code points.
  let from = at + 1;
  let labels = 0;
  let last = '';
  for (;;) {
    const dot = email.indexOf('.', from);
    last = dot === -1 ? email.slice(from) : email.slice(from, dot);
    labels++;
    if (longerThan(last, 63) || !testAsciiFirst(domainLabelAscii, DOMAIN_LABEL, last)) return INVALID_EMAIL;
    if (dot === -1) break;
    from = dot + 1;
  }
  if (labels < 2) return INVALID_EMAIL;
  // The top-level domain is never all digits (`a@1.2.3.4` is not a mailbox a CRM should hold).
  if (!testAsciiFirst(hasLetterAscii, HAS_LETTER, last)) return INVALID_EMAIL;
  return email;
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
 * code (US if unset). An extension (`x12`, `ext. 12`, `#12`, `;ext=12`) is kept after the number,
 * RFC 3966 style: `+14155552671;ext=12`. Validation uses `isValid()` (number plan: length and leading
 * digits for the region), or `isPossible()` (length only) when `possible`, with libphonenumber-js's
 * default (min) metadata: phoneE164 gives exactly `parsePhoneNumberFromString(input, region)` →
 * `isValid()` / `isPossible()` → `.number` (+ `;ext=`), fast for common shapes.
 */
/**
 * Part of PHONE_TEXT's language, in ASCII and without the Unicode regex: `(`?, `+`?, then ASCII
 * digits, spaces and `().-/` (ASCII digits are \p{Nd}, the space is \s). Text it refuses may still
 * be a phone: PHONE_TEXT decides.
 */
const PLAIN_PHONE_TEXT = /^\(?\+?[0-9 ().\-/]+$/;

function normalizePhone(text: string, region: string | undefined, possible: boolean): string | Invalid {
  const input = trim(text);
  if (!PLAIN_PHONE_TEXT.test(input) && !PHONE_TEXT.test(input)) return INVALID_PHONE;
  return phoneE164(input, region ?? 'US', possible) ?? INVALID_PHONE;
}

// ---------------------------------------------------------------- number / integer

const PLAIN_NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?$/i;
/** Thousands separators only where they clearly are: groups of exactly three digits. */
const THOUSANDS_NUMBER = /^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$/;

/**
 * The canonical decimal text of a number cell (value.ts canonicalDecimal: exact, `+`, leading and
 * trailing zeros and thousands separators gone, `-0` → `0`, exponents written out), the problem that
 * keeps it out of a DynamoDB number, or undefined when it is no number.
 */
function parseDecimal(text: string): string | DecimalProblem | undefined {
  let s = trim(text);
  if (THOUSANDS_NUMBER.test(s)) s = s.replaceAll(',', '');
  else if (!PLAIN_NUMBER.test(s)) return undefined;
  return canonicalDecimal(s);
}

/** The stored value of parseDecimal's answer, or the reason it is none (`invalid` when no number). */
function decimalValue(canonical: string | DecimalProblem | undefined, invalid: Invalid): Value | Invalid {
  if (canonical === undefined) return invalid;
  if (canonical === 'digits') return NUMBER_TOO_PRECISE;
  if (canonical === 'range') return NUMBER_OUT_OF_RANGE;
  return numberValue(canonical);
}

// ---------------------------------------------------------------- currency / percent

/**
 * Currency symbols and the ISO 4217 codes they may stand for (`$` is many dollars): a cell's symbol
 * passes a `currencyCode` check when the code is among them.
 */
const CURRENCY_SYMBOLS = new Map<string, readonly string[]>([
  ['$', ['USD', 'CAD', 'AUD', 'NZD', 'SGD', 'HKD', 'MXN']],
  ['US$', ['USD']],
  ['€', ['EUR']],
  ['£', ['GBP']],
  ['¥', ['JPY', 'CNY']],
  ['₹', ['INR']],
  ['₩', ['KRW']],
  ['₽', ['RUB']],
  ['₺', ['TRY']],
  ['₪', ['ILS']],
  ['R$', ['BRL']],
]);
/** Symbol or ISO code before or after the amount, an optional sign or accounting parentheses. */
const MONEY_TEXT =
  /^(\()?\s*(-)?\s*([A-Z]{3}|US\$|R\$|[$€£¥₹₩₽₺₪])?\s*(-)?\s*([\d.,]+)\s*([A-Z]{3}|[$€£¥₹₩₽₺₪])?\s*(\))?$/u;
/** An amount with `.` decimals: optional `,` thousands in groups of three. */
const POINT_AMOUNT = /^(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$/;
/** An amount with `,` decimals: optional `.` thousands in groups of three. */
const COMMA_AMOUNT = /^(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d+)?$/;

/**
 * A `currency` cell: an amount with an optional symbol (`$`, `€`, `£` …) or ISO code (`USD`) before
 * or after it, a `-` or accounting parentheses `(1,234.50)` for a negative. The field's
 * `decimalSeparator` (default `.`) says which mark is the decimal point; the other one may only
 * group thousands in threes, so `1.234,50` in a `.` field is invalid, never guessed. With
 * `currencyCode`, a symbol or code of another currency is `currency_mismatch`.
 */
function normalizeCurrency(text: string, spec: FieldSpec): Value | Invalid {
  const m = MONEY_TEXT.exec(text);
  if (m === null) return INVALID_CURRENCY;
  const [, open, signBefore, prefix, signAfter, amount = '', suffix, close] = m;
  if ((open === undefined) !== (close === undefined) || (prefix !== undefined && suffix !== undefined)) {
    return INVALID_CURRENCY;
  }
  const negatives =
    (open !== undefined ? 1 : 0) + (signBefore !== undefined ? 1 : 0) + (signAfter !== undefined ? 1 : 0);
  if (negatives > 1) return INVALID_CURRENCY;
  const mark = prefix ?? suffix;
  if (mark !== undefined && spec.currencyCode !== undefined) {
    const codes = CURRENCY_SYMBOLS.get(mark) ?? [mark];
    if (!codes.includes(spec.currencyCode)) return CURRENCY_MISMATCH;
  }
  let plain: string;
  if ((spec.decimalSeparator ?? '.') === '.') {
    if (!POINT_AMOUNT.test(amount)) return INVALID_CURRENCY;
    plain = amount.replaceAll(',', '');
  } else {
    if (!COMMA_AMOUNT.test(amount)) return INVALID_CURRENCY;
    plain = amount.replaceAll('.', '').replace(',', '.');
  }
  return decimalValue(canonicalDecimal(negatives === 1 ? `-${plain}` : plain), INVALID_CURRENCY);
}

const PERCENT_TEXT = /^([+-]?[\d.,]+)\s*%?$/;

/**
 * A `percent` cell: a number with or without `%` (`12.5%` and `12.5` are both twelve and a half
 * percent: Salesforce's data export writes percent fields without the sign). Stored as the fraction
 * (`0.125`, exact) unless the field's `percentScale` is `points` (`12.5`).
 */
function normalizePercent(text: string, spec: FieldSpec): Value | Invalid {
  const m = PERCENT_TEXT.exec(text);
  const points = m === null ? undefined : parseDecimal(m[1] ?? '');
  if (points === undefined) return INVALID_PERCENT;
  if (points === 'digits' || points === 'range' || spec.percentScale === 'points') {
    return decimalValue(points, INVALID_PERCENT);
  }
  return decimalValue(canonicalDecimal(`${points}e-2`), INVALID_PERCENT);
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

function normalizeEnum(text: string, spec: FieldSpec): string | Invalid {
  let lookup = enumLookups.get(spec);
  if (!lookup) {
    lookup = new Map();
    for (const v of spec.values ?? []) {
      const k = v.toLowerCase();
      if (!lookup.has(k)) lookup.set(k, v);
    }
    enumLookups.set(spec, lookup);
  }
  return lookup.get(text.toLowerCase()) ?? INVALID_ENUM;
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

/** The value of the ASCII digits text[at, at + count), or -1 when one of them is not an ASCII digit. */
function digitsAt(text: string, at: number, count: number): number {
  let value = 0;
  for (let i = at; i < at + count; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value;
}

/**
 * The shapes exports write, without regexes or Date objects: `YYYY-MM-DD`, then optionally `T` or a
 * space and `HH:mm:ss`, then optionally `.sss` (exactly 3 digits), then optionally `Z`. Returns what
 * parseDateTime's general path returns for them when they are valid (for a valid date and time in
 * years 1000–9999 without an offset, toISOString writes the same digits), else undefined: the
 * general path then decides (it rejects what is invalid, and parses whatever else it accepts).
 */
function parseCanonicalDateTime(text: string): string | undefined {
  const n = text.length;
  if (n !== 10 && n !== 19 && n !== 20 && n !== 23 && n !== 24) return undefined;
  if (text.charCodeAt(4) !== 0x2d || text.charCodeAt(7) !== 0x2d) return undefined; // -
  const y = digitsAt(text, 0, 4);
  const mo = digitsAt(text, 5, 2);
  const d = digitsAt(text, 8, 2);
  if (y < 1000 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) return undefined;
  if (n === 10) return `${text}T00:00:00.000Z`;

  const sep = text.charCodeAt(10);
  if ((sep !== 0x54 && sep !== 0x20) || text.charCodeAt(13) !== 0x3a || text.charCodeAt(16) !== 0x3a) {
    return undefined; // T or space, then :
  }
  const h = digitsAt(text, 11, 2);
  const mi = digitsAt(text, 14, 2);
  const s = digitsAt(text, 17, 2);
  if (h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59) return undefined;
  let ms = '.000';
  let end = 19;
  if (n >= 23) {
    if (text.charCodeAt(19) !== 0x2e || digitsAt(text, 20, 3) < 0) return undefined; // .sss
    ms = text.slice(19, 23);
    end = 23;
  }
  if (n === end + 1) {
    if (text.charCodeAt(end) !== 0x5a) return undefined; // Z
    if (n === 24 && sep === 0x54) return text;
  } else if (n !== end) {
    return undefined;
  }
  return `${text.slice(0, 10)}T${text.slice(11, 19)}${ms}Z`;
}

/** Whether text ends in `Z` (a canonical value with its zone written: UTC). */
function endsWithZ(text: string): boolean {
  return text.charCodeAt(text.length - 1) === 0x5a;
}

/** A date/datetime field's settings, prepared once per FieldSpec. */
interface DateSettings {
  /** The default formats: the 4-digit-year US regex (in `dayFirst` order) before `formats`. */
  defaults: boolean;
  dayFirst: boolean;
  formats: CompiledFormat[];
  /** The field's zone; undefined for UTC. */
  clock: ZoneClock | undefined;
  /** Results of `formats` per text (they cost microseconds; columns repeat values). */
  memo: Map<string, number>;
  /** Whether each memoized result is an instant (its format had an offset). */
  memoZoned: Set<string>;
}

const dateSettingsOf = new WeakMap<FieldSpec, DateSettings>();
const MEMO_ENTRIES = 10_000;

function dateSettings(spec: FieldSpec): DateSettings {
  let s = dateSettingsOf.get(spec);
  if (!s) {
    const dayFirst = spec.dayFirst === true;
    const formats =
      spec.formats ?? (dayFirst ? DEFAULT_DATE_FORMATS.map(swapDayMonth) : DEFAULT_DATE_FORMATS);
    s = {
      defaults: spec.formats === undefined,
      dayFirst,
      formats: formats.map(compileFormat),
      clock: zoneClock(spec.timezone),
      memo: new Map(),
      memoZoned: new Set(),
    };
    dateSettingsOf.set(spec, s);
  }
  return s;
}

/** Set by the parsers below: whether the value they read carried its offset (an instant). */
let readOffset = false;
const zonedResult = { value: false };

/**
 * The general path after parseCanonicalDateTime: ISO-8601 UTC with milliseconds, or undefined.
 * Reads, in order, the canonical shapes again (for a field in a zone), 13-digit epoch
 * milliseconds, the ISO and `YYYY/M/D` shapes with explicit patterns (never `Date.parse`), then the
 * default formats (`M/D/YYYY` by pattern, in the field's day/month order, then luxon's
 * DEFAULT_DATE_FORMATS) or the field's own `formats` (luxon). A value without an offset is read in
 * the field's zone (ZoneClock; UTC by default); `date` fields (`bareDate`) keep the calendar date
 * as written, and a value with an offset gives its date in the field's zone. Fractions of a second
 * beyond milliseconds are truncated. Years are 1000–9999.
 */
function parseDateTime(text: string, s: DateSettings, bareDate = true): string | undefined {
  let ms = readInstantOrWall(text, s);
  if (Number.isNaN(ms)) return undefined;
  if (s.clock !== undefined) {
    if (bareDate) {
      if (readOffset) ms = s.clock.wallOf(ms);
    } else if (!readOffset) {
      ms = s.clock.toInstant(ms);
    }
  }
  const iso = new Date(ms).toISOString();
  // An offset can push 9999-12-31 past year 9999 (toISOString then writes an expanded year).
  return iso.length === 24 ? iso : undefined;
}

/** Epoch ms of the value: the instant when it carries an offset (readOffset), else its wall time as UTC. NaN: unreadable. */
function readInstantOrWall(text: string, s: DateSettings): number {
  readOffset = true;
  // Without a zone, typedValue's fast path already took every canonical value.
  const canonical = s.clock === undefined ? undefined : parseCanonicalDateTime(text);
  if (canonical !== undefined) {
    readOffset = text.length !== 10 && endsWithZ(text);
    return Date.parse(canonical);
  }
  if (EPOCH_MILLIS.test(text)) return Number(text);
  const byPattern = readByPattern(text, s);
  if (byPattern !== undefined) return byPattern;
  if (s.defaults && !DEFAULT_FORMAT_SHAPE.test(text)) return Number.NaN;
  let ms = s.memo.get(text);
  if (ms !== undefined) {
    readOffset = s.memoZoned.has(text);
    return ms;
  }
  ms = parseWithFormats(text, s.formats, zonedResult);
  readOffset = !Number.isNaN(ms) && zonedResult.value;
  if (s.memo.size >= MEMO_ENTRIES) {
    s.memo.clear();
    s.memoZoned.clear();
  }
  s.memo.set(text, ms);
  if (readOffset) s.memoZoned.add(text);
  return ms;
}

/**
 * The shapes read with explicit patterns: ISO and `YYYY/M/D` (always), `M/D/YYYY` (default formats
 * only; `D/M/YYYY` when the field reads day-first). NaN: the pattern matched but the date or time is
 * invalid (no format is tried then); undefined: no pattern matched.
 */
function readByPattern(text: string, s: DateSettings): number | undefined {
  let year: string | undefined;
  let month: string | undefined;
  let day: string | undefined;
  let m = ISO_DATETIME.exec(text) ?? YMD_SLASH_DATETIME.exec(text);
  if (m) {
    [year, month, day] = [m[1], m[2], m[3]];
  } else {
    m = s.defaults ? US_DATETIME.exec(text) : null;
    if (!m) return undefined;
    [month, day, year] = s.dayFirst ? [m[2], m[1], m[3]] : [m[1], m[2], m[3]];
  }
  const [hourText, minuteText, secondText, fraction, ampm, utc, sign, offHours, offMinutes] = m.slice(4);
  const y = Number(year);
  const mo = Number(month);
  const d = Number(day);
  if (y < 1000 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) return Number.NaN;

  let h = hourText === undefined ? 0 : Number(hourText);
  const mi = minuteText === undefined ? 0 : Number(minuteText);
  const sec = secondText === undefined ? 0 : Number(secondText);
  const ms = fraction === undefined ? 0 : Number(fraction.slice(0, 3).padEnd(3, '0'));
  if (ampm !== undefined) {
    if (h < 1 || h > 12) return Number.NaN;
    h = (h % 12) + (ampm.toUpperCase() === 'PM' ? 12 : 0);
  }
  if (h > 23 || mi > 59 || sec > 59) return Number.NaN;

  let offset = 0;
  if (sign !== undefined) {
    const oh = Number(offHours);
    const om = offMinutes === undefined ? 0 : Number(offMinutes);
    if (oh > MAX_OFFSET_HOURS || om > 59) return Number.NaN;
    offset = (sign === '-' ? -1 : 1) * (oh * 60 + om);
  }
  readOffset = utc !== undefined || sign !== undefined;
  return Date.UTC(y, mo - 1, d, h, mi, sec, ms) - offset * 60_000;
}
