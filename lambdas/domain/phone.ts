import {
  type CountryCode,
  isSupportedCountry,
  parseDigits,
  parsePhoneNumberFromString,
} from 'libphonenumber-js';
import { Metadata, type MetadataJson } from 'libphonenumber-js/core';
import minMetadata from 'libphonenumber-js/min/metadata';

/**
 * Phone numbers to E.164, with exactly the results of
 * `parsePhoneNumberFromString(input, region)` + `isValid()` (or `isPossible()`) + `.number` of
 * libphonenumber-js (min metadata), followed by `;ext=<digits>` when the library found an extension,
 * but fast for the shapes CRM exports are made of.
 *
 * Why: libphonenumber-js builds a `new RegExp('^(?:' + pattern + ')$')` from the metadata on every
 * pattern test (helpers/matchesEntirely.js), a dozen times per number (a NANP number is tested against
 * the US plan while parsing, again to pick the exact country, again to validate). That was a third of
 * the transform worker's CPU.
 *
 * How: `phoneE164` takes a fast path for inputs made only of ASCII digits, `+` before the first
 * digit, the separators ` ( ) . - /` and an optional trailing ` ext. 123` / ` x123`. For those,
 * libphonenumber's result provably depends only on (leading plus, the digits of the number, the
 * default country): its text extraction, viability check, extension split and
 * `parseIncompletePhoneNumber` reduce such an input to `+digits` or `digits` (see the notes on `scan`). `libE164` then runs libphonenumber's own algorithm
 * (parse.js `parsePhoneNumber`, extractCountryCallingCode, extractNationalNumber, getCountryByCallingCode,
 * getNumberType, isValid — ported step by step, names kept) on the metadata read through the library's
 * `Metadata` class, with each pattern compiled once. Every other input goes to the library itself
 * (answers remembered in a small bounded memo: exports repeat their odd values).
 *
 * test/unit/phone.equivalence.test.ts checks both paths against the library for many generated inputs
 * and regions; libphonenumber-js is pinned (an upgrade must pass that test).
 */

const METADATA: MetadataJson = minMetadata;

/** The parts of libphonenumber-js's Metadata / NumberingPlan / Type classes this port reads (1.13.x). */
interface LibType {
  pattern(): string;
  possibleLengths(): number[] | undefined;
}
interface LibPlan {
  callingCode(): string;
  IDDPrefix(): string | undefined;
  nationalNumberPattern(): string;
  possibleLengths(): number[] | undefined;
  nationalPrefixForParsing(): string | undefined;
  nationalPrefixTransformRule(): string | undefined;
  leadingDigits(): string | undefined;
  hasTypes(): boolean;
  type(type: string): LibType | undefined;
}
interface LibMetadata {
  numberingPlan?: LibPlan;
  selectNumberingPlan(countryOrCallingCode: string): LibMetadata;
  hasCallingCode(callingCode: string): boolean | undefined;
  getCountryCodesForCallingCode(callingCode: string): string[] | undefined;
}

/** The methods of LibMetadata: the library's typings declare only some of them. */
const LIB_METADATA_METHODS = [
  'selectNumberingPlan',
  'hasCallingCode',
  'getCountryCodesForCallingCode',
] as const;

/** Whether the library's Metadata has the methods this port calls (checked once per instance, not per number). */
function isLibMetadata(value: object): value is LibMetadata {
  return LIB_METADATA_METHODS.every((m) => typeof Reflect.get(value, m) === 'function');
}

function newMetadata(): LibMetadata {
  const metadata: object = new Metadata(METADATA);
  if (!isLibMetadata(metadata)) {
    throw new Error(
      `libphonenumber-js's Metadata has no ${LIB_METADATA_METHODS.join(', ')}: not the pinned version`,
    );
  }
  return metadata;
}

const shared = newMetadata();

/** getNumberType.js: FIXED_LINE is tested first, then these, in this order. */
const NON_FIXED_LINE_PHONE_TYPES = [
  'MOBILE',
  'PREMIUM_RATE',
  'TOLL_FREE',
  'SHARED_COST',
  'VOIP',
  'PERSONAL_NUMBER',
  'PAGER',
  'UAN',
  'VOICEMAIL',
] as const;

interface CompiledType {
  /** Type.possibleLengths() (the type's, else the plan's); undefined: any length. */
  lengths: number[] | undefined;
  /** matchesEntirely(…, Type.pattern()). */
  entire: RegExp;
}

/** One numbering plan with every pattern the algorithm tests compiled once. */
interface Plan {
  callingCode: string;
  /** matchesEntirely(…, nationalNumberPattern()). */
  nationalNumber: RegExp;
  possibleLengths: number[] | undefined;
  /** `new RegExp('^(?:' + nationalPrefixForParsing() + ')')`, when there is one. */
  nationalPrefix: RegExp | undefined;
  nationalPrefixTransformRule: string | undefined;
  /** `new RegExp(leadingDigits())` (used with String.prototype.search), when there are any. */
  leadingDigits: RegExp | undefined;
  hasTypes: boolean;
  /** isNumberTypeEqualTo(…, 'FIXED_LINE'), undefined when the type has no pattern. */
  fixedLine: CompiledType | undefined;
  /** The other types with a pattern, in NON_FIXED_LINE_PHONE_TYPES order. */
  otherTypes: CompiledType[];
  /** `new RegExp(IDDPrefix())` as stripIddPrefix builds it. */
  iddPrefix: RegExp;
}

function entirely(pattern: string): RegExp {
  return new RegExp(`^(?:${pattern})$`);
}

function compileType(plan: LibPlan, type: string): CompiledType | undefined {
  const def = plan.type(type);
  if (!def?.pattern()) return undefined;
  return { lengths: def.possibleLengths(), entire: entirely(def.pattern()) };
}

function compilePlan(countryOrCallingCode: string): Plan {
  const plan = newMetadata().selectNumberingPlan(countryOrCallingCode).numberingPlan;
  if (!plan) throw new Error(`no numbering plan for ${countryOrCallingCode}`);
  const prefix = plan.nationalPrefixForParsing();
  const leading = plan.leadingDigits();
  const otherTypes: CompiledType[] = [];
  for (const t of NON_FIXED_LINE_PHONE_TYPES) {
    const compiled = compileType(plan, t);
    if (compiled) otherTypes.push(compiled);
  }
  return {
    callingCode: plan.callingCode(),
    nationalNumber: entirely(plan.nationalNumberPattern()),
    possibleLengths: plan.possibleLengths(),
    nationalPrefix: prefix ? new RegExp(`^(?:${prefix})`) : undefined,
    nationalPrefixTransformRule: plan.nationalPrefixTransformRule(),
    leadingDigits: leading ? new RegExp(leading) : undefined,
    hasTypes: plan.hasTypes(),
    fixedLine: compileType(plan, 'FIXED_LINE'),
    otherTypes,
    // stripIddPrefix passes IDDPrefix() as it is (undefined would give an empty pattern, here too).
    iddPrefix: new RegExp(plan.IDDPrefix() as string),
  };
}

/** Plans by the argument of selectNumberingPlan (a country like `US` or a calling code like `1`). */
const plans = new Map<string, Plan>();

function planOf(countryOrCallingCode: string): Plan {
  let plan = plans.get(countryOrCallingCode);
  if (!plan) {
    plan = compilePlan(countryOrCallingCode);
    plans.set(countryOrCallingCode, plan);
  }
  return plan;
}

/** matchesEntirely(text, pattern): `text || ''`. */
function matches(re: RegExp, text: string | undefined): boolean {
  return re.test(text || '');
}

/** getNumberType.js isNumberTypeEqualTo. */
function isType(nationalNumber: string, type: CompiledType | undefined): boolean {
  if (!type) return false;
  if (type.lengths && type.lengths.indexOf(nationalNumber.length) < 0) return false;
  return matches(type.entire, nationalNumber);
}

/** The last hasNumberType question and answer: parsing picks the country by it, validation asks again. */
let lastTypedPlan: Plan | undefined;
let lastTypedNumber = '';
let lastTypedAnswer = false;

/** getNumberType.js getNumberType(…) !== undefined: every branch after the pattern checks returns a type. */
function hasNumberType(nationalNumber: string, plan: Plan): boolean {
  if (plan === lastTypedPlan && nationalNumber === lastTypedNumber) return lastTypedAnswer;
  let answer = false;
  if (matches(plan.nationalNumber, nationalNumber)) {
    answer = isType(nationalNumber, plan.fixedLine);
    for (let i = 0; !answer && i < plan.otherTypes.length; i++) {
      answer = isType(nationalNumber, plan.otherTypes[i]);
    }
  }
  lastTypedPlan = plan;
  lastTypedNumber = nationalNumber;
  lastTypedAnswer = answer;
  return answer;
}

/** getCountryByCallingCode.js + getCountryByNationalNumber.js. */
function countryByCallingCode(callingCode: string, nationalNumber: string): string | undefined {
  const countries = shared.getCountryCodesForCallingCode(callingCode);
  if (!countries) return undefined;
  if (countries.length === 1) return countries[0];
  for (const country of countries) {
    const plan = planOf(country);
    if (plan.leadingDigits) {
      if (nationalNumber && nationalNumber.search(plan.leadingDigits) === 0) return country;
    } else if (hasNumberType(nationalNumber, plan)) {
      return country;
    }
  }
  return undefined;
}

type LengthCheck = 'IS_POSSIBLE' | 'TOO_SHORT' | 'TOO_LONG' | 'INVALID_LENGTH';

/** checkNumberLength.js checkNumberLengthForType without a type. */
function checkNumberLength(nationalNumber: string, plan: Plan): LengthCheck {
  const lengths = plan.possibleLengths;
  if (!lengths) return 'IS_POSSIBLE';
  const length = nationalNumber.length;
  const min = lengths[0] as number;
  if (min === length) return 'IS_POSSIBLE';
  if (min > length) return 'TOO_SHORT';
  if ((lengths[lengths.length - 1] as number) < length) return 'TOO_LONG';
  return lengths.indexOf(length, 1) >= 0 ? 'IS_POSSIBLE' : 'INVALID_LENGTH';
}

/** extractNationalNumberFromPossiblyIncompleteNumber.js (the national number only). */
function stripNationalPrefix(number: string, plan: Plan): string {
  if (number && plan.nationalPrefix) {
    const match = plan.nationalPrefix.exec(number);
    if (match) {
      const groups = match.length - 1;
      const hasCapturedGroups = groups > 0 && match[groups];
      if (plan.nationalPrefixTransformRule && hasCapturedGroups) {
        return number.replace(plan.nationalPrefix, plan.nationalPrefixTransformRule);
      }
      return number.slice(match[0].length);
    }
  }
  return number;
}

/** extractNationalNumber.js with `country` undefined (the national number only). */
function extractNationalNumber(number: string, plan: Plan): string {
  const nationalNumber = stripNationalPrefix(number, plan);
  if (nationalNumber !== number) {
    // shouldHaveExtractedNationalPrefix
    if (matches(plan.nationalNumber, number) && !matches(plan.nationalNumber, nationalNumber)) return number;
    if (plan.possibleLengths) {
      const country = countryByCallingCode(plan.callingCode, nationalNumber);
      const check = checkNumberLength(nationalNumber, country ? planOf(country) : plan);
      if (check === 'TOO_SHORT' || check === 'INVALID_LENGTH') return number;
    }
  }
  return nationalNumber;
}

/** stripIddPrefix.js: the digits after the default country's IDD prefix, or undefined. */
function stripIddPrefix(number: string, plan: Plan): string | undefined {
  const match = plan.iddPrefix.exec(number);
  if (match?.index !== 0) return undefined;
  const rest = number.slice(match[0].length);
  // CAPTURING_DIGIT_PATTERN: the first digit (all ASCII digits here).
  if (rest.length > 0 && rest.charCodeAt(0) === 0x30) return undefined;
  return rest;
}

/** extractCountryCallingCodeFromInternationalNumberWithoutPlusSign.js: the shorter number, or undefined. */
function stripCallingCodeWithoutPlus(number: string, plan: Plan): string | undefined {
  const callingCode = plan.callingCode;
  if (number.indexOf(callingCode) !== 0) return undefined;
  const shorter = number.slice(callingCode.length);
  const shorterNational = extractNationalNumber(shorter, plan);
  const national = extractNationalNumber(number, plan);
  if (
    (!matches(plan.nationalNumber, national) && matches(plan.nationalNumber, shorterNational)) ||
    checkNumberLength(national, plan) === 'TOO_LONG'
  ) {
    return shorter;
  }
  return undefined;
}

const MAX_LENGTH_COUNTRY_CODE = 3;
const MIN_LENGTH_FOR_NSN = 2;
const MAX_LENGTH_FOR_NSN = 17;

/**
 * What libphonenumber-js answers (E.164 if valid, else undefined) for a number that
 * `parseIncompletePhoneNumber` reduced to `(plus ? '+' : '') + digits` (ASCII digits), with
 * `defaultCountry` a supported country or undefined. `possible`: PhoneNumber.isPossible() (the
 * length for the number's country) instead of isValid().
 */
export function libE164(
  plus: boolean,
  digits: string,
  defaultCountry: string | undefined,
  possible = false,
): string | undefined {
  // ---- extractCountryCallingCode
  let international = plus;
  let afterPlus = digits;
  let callingCode: string | undefined;
  let number: string | undefined;
  if (!plus) {
    if (defaultCountry === undefined) return undefined; // neither a calling code nor a default country
    const plan = planOf(defaultCountry);
    const withoutIdd = stripIddPrefix(digits, plan);
    if (withoutIdd && withoutIdd !== digits) {
      international = true;
      afterPlus = withoutIdd;
    } else {
      const shorter = stripCallingCodeWithoutPlus(digits, plan);
      if (shorter !== undefined) callingCode = plan.callingCode;
      number = shorter ?? digits;
    }
  }
  if (international) {
    if (afterPlus[0] === '0') return undefined;
    for (let k = 1; k <= MAX_LENGTH_COUNTRY_CODE && k <= afterPlus.length; k++) {
      const code = afterPlus.slice(0, k);
      if (shared.hasCallingCode(code)) {
        callingCode = code;
        number = afterPlus.slice(k);
        break;
      }
    }
    if (callingCode === undefined) return undefined;
  }

  // ---- parse.js parsePhoneNumber
  let country: string | undefined;
  let plan: Plan;
  if (callingCode !== undefined) {
    plan = planOf(callingCode);
  } else if (number && defaultCountry !== undefined) {
    country = defaultCountry;
    plan = planOf(defaultCountry);
    callingCode = plan.callingCode;
  } else {
    return undefined;
  }
  if (!number) return undefined; // no national number: TOO_SHORT
  const nationalNumber = extractNationalNumber(number, plan);
  const exactCountry = countryByCallingCode(callingCode, nationalNumber);
  if (exactCountry) country = exactCountry;

  // ---- parse.js length checks, then PhoneNumber.isValid()
  if (!nationalNumber || nationalNumber.length < MIN_LENGTH_FOR_NSN) return undefined;
  if (nationalNumber.length > MAX_LENGTH_FOR_NSN) return undefined;
  const validPlan = planOf(country || callingCode);
  // isPossible.js: checkNumberLength on the plan of the country, else of the calling code.
  if (possible) {
    return checkNumberLength(nationalNumber, validPlan) === 'IS_POSSIBLE'
      ? `+${callingCode}${nationalNumber}`
      : undefined;
  }
  const valid = validPlan.hasTypes
    ? hasNumberType(nationalNumber, validPlan)
    : matches(validPlan.nationalNumber, nationalNumber);
  return valid ? `+${callingCode}${nationalNumber}` : undefined;
}

// ---------------------------------------------------------------- input shapes

/** parse.js MAX_INPUT_STRING_LENGTH: longer texts throw TOO_LONG. */
const MAX_INPUT_STRING_LENGTH = 250;
/** An extension label this fast path accepts after the number: `ext`, `ext.`, `x` (any case), then digits. */
const SIMPLE_EXTENSION = /^(?:ext\.?|x) *([0-9]{1,9})$/i;

const NOT_SIMPLE = 0;

/**
 * Reduces a simple input to its digits, or returns NOT_SIMPLE. Simple: ASCII digits; at most one `+`,
 * before the first digit; separators ` ( ) . - /` (libphonenumber's VALID_PUNCTUATION has them all);
 * at least 3 digits before an optional extension; an optional extension as SIMPLE_EXTENSION says,
 * right after the number or after spaces.
 *
 * Why libphonenumber reduces such an input to (plus, digits of the number part):
 * - extraction keeps the text from the first `+` or digit up to the last digit (or `#`);
 * - the RFC 3966 branch needs `;phone-context=` / `tel:` / `;isub=`, impossible here;
 * - VALID_PHONE_NUMBER_PATTERN (`+`? then 3+ digits among punctuation, then an optional extension)
 *   accepts it, so it is viable;
 * - without a letter no extension pattern can match (every alternative needs `;`, `,`, `#`, `~`, or a
 *   label); with one, the leftmost match starts at the label or the spaces right before it (no
 *   alternative can start earlier: after optional spaces each needs a label, `#`, `,` or `;`), so the
 *   number part holds exactly the digits before the label;
 * - parseIncompletePhoneNumber keeps a leading `+` and the digits;
 * - the extension is the label's digits (the pattern's capture group), as the library's is.
 */
function scan(input: string): { plus: boolean; digits: string; ext: string } | typeof NOT_SIMPLE {
  if (input.length > MAX_INPUT_STRING_LENGTH) return NOT_SIMPLE;
  let digits = '';
  let plus = false;
  let runStart = 0;
  const n = input.length;
  for (let i = 0; i < n; i++) {
    const c = input.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) {
      // A run of digits: one slice instead of a concatenation per digit.
      runStart = i;
      while (i + 1 < n) {
        const d = input.charCodeAt(i + 1);
        if (d < 0x30 || d > 0x39) break;
        i++;
      }
      digits += input.slice(runStart, i + 1);
    } else if (c === 0x20 || c === 0x28 || c === 0x29 || c === 0x2e || c === 0x2d || c === 0x2f) {
      // space ( ) . - /
    } else if (c === 0x2b) {
      if (plus || digits.length > 0) return NOT_SIMPLE;
      plus = true;
    } else if (c === 0x65 || c === 0x45 || c === 0x78 || c === 0x58) {
      // e E x X: an extension label; the digits so far are the number.
      const ext = digits.length < 3 ? null : SIMPLE_EXTENSION.exec(input.slice(i));
      return ext ? { plus, digits, ext: ext[1] as string } : NOT_SIMPLE;
    } else {
      return NOT_SIMPLE;
    }
  }
  return digits.length < 3 ? NOT_SIMPLE : { plus, digits, ext: '' };
}

const supported = new Map<string, boolean>();

function isSupported(region: string): boolean {
  let yes = supported.get(region);
  if (yes === undefined) {
    yes = isSupportedCountry(region as CountryCode);
    supported.set(region, yes);
  }
  return yes;
}

/** The library path: E.164, then `;ext=` and the extension's digits (in ASCII) when it has one. */
function libraryE164(
  input: string,
  defaultCountry: string | undefined,
  possible: boolean,
): string | undefined {
  const phone = parsePhoneNumberFromString(input, defaultCountry as CountryCode | undefined);
  if (!phone || !(possible ? phone.isPossible() : phone.isValid())) return undefined;
  return phone.ext ? `${phone.number}${EXTENSION}${parseDigits(phone.ext)}` : phone.number;
}

/** Answers of the library path by (default country, input): exports repeat their odd values. */
const libraryAnswers = new Map<string, string | null>();
const MAX_LIBRARY_ANSWERS = 4096;
/** Longer inputs are not remembered (with MAX_LIBRARY_ANSWERS, the memo stays well under 1 MiB). */
const MAX_REMEMBERED_INPUT = 64;

function rememberedLibraryE164(
  input: string,
  defaultCountry: string | undefined,
  possible: boolean,
): string | undefined {
  if (input.length > MAX_REMEMBERED_INPUT) return libraryE164(input, defaultCountry, possible);
  const key = `${possible ? 'p' : 'v'}${defaultCountry ?? ''}\u0000${input}`;
  const known = libraryAnswers.get(key);
  if (known !== undefined) return known ?? undefined;
  const e164 = libraryE164(input, defaultCountry, possible);
  // Bounded: start over when full (a worker's memory stays flat whatever the file holds).
  if (libraryAnswers.size >= MAX_LIBRARY_ANSWERS) libraryAnswers.clear();
  libraryAnswers.set(key, e164 ?? null);
  return e164;
}

/** What separates the number from its extension in a stored value (RFC 3966's parameter). */
export const EXTENSION = ';ext=';

/**
 * E.164 of `input` (already trimmed) for `parsePhoneNumberFromString(input, region)` (region: a default
 * country; unsupported means none) when the library says it is valid (`possible`: possible, by its
 * length), else undefined. An extension is kept: `+14155552671;ext=12`.
 */
export function phoneE164(input: string, region: string, possible = false): string | undefined {
  const defaultCountry = isSupported(region) ? region : undefined;
  const simple = scan(input);
  if (simple === NOT_SIMPLE) return rememberedLibraryE164(input, defaultCountry, possible);
  const e164 = libE164(simple.plus, simple.digits, defaultCountry, possible);
  return e164 === undefined || simple.ext === '' ? e164 : `${e164}${EXTENSION}${simple.ext}`;
}
