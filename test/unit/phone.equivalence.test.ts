import fc from 'fast-check';
import {
  type CountryCode,
  isSupportedCountry,
  parseDigits,
  parsePhoneNumberFromString,
} from 'libphonenumber-js';
import examples from 'libphonenumber-js/examples.mobile.json';
import metadata from 'libphonenumber-js/min/metadata';
import type { FieldSpec } from '../../lambdas/domain/config';
import { normalizeField } from '../../lambdas/domain/normalize';
import { libE164, phoneE164 } from '../../lambdas/domain/phone';
import { expectEqual, expectSame } from './expect-equal';

/**
 * The fast phone path (lambdas/domain/phone.ts) must give exactly what the straightforward
 * libphonenumber-js path gives. The reference below is normalize.ts's normalizePhone as it was before
 * the fast path: PHONE_TEXT, then parsePhoneNumberFromString + isValid(), with two intended changes
 * since: `possible` checks isPossible() instead (validity: possible), and an extension is kept as
 * `;ext=<digits>` after the E.164 number (it used to be dropped).
 */
const PHONE_TEXT = /^\(?\+?[\p{Nd}\s().\-/]+(?:\s*(?:;\s*ext=|ext\.?|extension|x|#)\s*\p{Nd}{1,10})?$/iu;

function referenceLibrary(input: string, region: string, possible = false): string | undefined {
  const phone = parsePhoneNumberFromString(
    input,
    isSupportedCountry(region) ? (region as CountryCode) : undefined,
  );
  if (!phone || !(possible ? phone.isPossible() : phone.isValid())) return undefined;
  return phone.ext ? `${phone.number};ext=${parseDigits(phone.ext)}` : phone.number;
}

function referenceNormalize(
  text: string,
  region: string | undefined,
  possible = false,
): { ok: boolean; value?: string } {
  const input = text.trim();
  if (!PHONE_TEXT.test(input)) return { ok: false };
  const e164 = referenceLibrary(input, region ?? 'US', possible);
  return e164 === undefined ? { ok: false } : { ok: true, value: e164 };
}

function ours(text: string, region: string | undefined, possible = false): { ok: boolean; value?: string } {
  const spec: FieldSpec = { source: 'Phone', type: 'phone', required: false, transforms: [] };
  if (region !== undefined) spec.region = region;
  if (possible) spec.validity = 'possible';
  const r = normalizeField(text, spec);
  if (!r.ok) {
    expectSame(r.code, 'invalid_phone');
    return { ok: false };
  }
  // A blank cell is absent, not a phone: the reference sees it as invalid text.
  if (r.value === undefined) return { ok: false };
  return { ok: true, value: r.value as string };
}

const REGIONS = [
  'US',
  'CA',
  'GB',
  'DE',
  'FR',
  'IN',
  'BR',
  'JP',
  'AU',
  'IT',
  'AR',
  'MX',
  'RU',
  'KZ',
  'CN',
  'AG',
  'JM',
  'PR',
  'GG',
  'JE',
  'XX',
  'us',
  '001',
];
const REGION = fc.constantFrom<string | undefined>(...REGIONS, undefined);
const json = metadata as unknown as {
  countries: Record<string, [string, ...unknown[]]>;
  country_calling_codes: Record<string, string[]>;
  nonGeographic: Record<string, unknown>;
};
const COUNTRIES = Object.keys(json.countries);
const ANY_COUNTRY = fc.constantFrom(...COUNTRIES);
const CALLING_CODES = Object.keys(json.country_calling_codes);
const NON_GEOGRAPHIC = Object.keys(json.nonGeographic);
/** Example mobile numbers (national), one per country: valid, so mutations of their tail often are too. */
const EXAMPLES = Object.entries(examples as Record<string, string>).map(([country, national]) => ({
  country,
  callingCode: json.countries[country]?.[0] ?? '',
  national,
}));

const digit = fc.constantFrom(...'0123456789');
const digits = (min: number, max: number) =>
  fc.array(digit, { minLength: min, maxLength: max }).map((a) => a.join(''));
const areaOrExchange = fc.tuple(fc.constantFrom(...'23456789'), digits(2, 2)).map(([a, b]) => a + b);
/** NANP: mostly valid-looking area code and exchange, sometimes service, toll-free or Caribbean codes. */
const nanp = fc
  .tuple(
    fc.oneof(
      { weight: 6, arbitrary: areaOrExchange },
      {
        weight: 2,
        arbitrary: fc.constantFrom(
          '800',
          '833',
          '844',
          '855',
          '866',
          '877',
          '888',
          '900',
          '500',
          '521',
          '268',
          '264',
          '684',
          '246',
          '441',
          '242',
          '787',
          '939',
          '876',
          '340',
          '721',
          '649',
          '868',
          '784',
          '284',
          '670',
          '671',
          '345',
          '809',
          '829',
          '849',
          '758',
          '473',
          '664',
          '869',
          '767',
          '416',
          '514',
          '604',
          '983',
          '310',
          '555',
        ),
      },
      { weight: 1, arbitrary: digits(3, 3) },
    ),
    fc.oneof(
      { weight: 5, arbitrary: areaOrExchange },
      { weight: 1, arbitrary: fc.constantFrom('555', '211', '911', '011', '100') },
    ),
    digits(4, 4),
    fc.constantFrom('', '', '', '', '1', '+1', '001', '011 1', '1 1', '0'),
  )
  .map(([a, b, c, prefix]) => (prefix === '' ? [a, b, c] : [prefix, a, b, c]));

/** A country's example mobile number with its last digits replaced, written nationally or internationally. */
const example = fc
  .tuple(
    fc.constantFrom(...EXAMPLES),
    fc.nat(4),
    digits(4, 4),
    fc.constantFrom('national', 'trunk', 'plus', 'idd', 'bare'),
    fc.integer({ min: 1, max: 4 }),
  )
  .map(([ex, keep, tail, form, cut]) => {
    const n = ex.national;
    const national = keep === 0 ? n : n.slice(0, Math.max(1, n.length - keep)) + tail.slice(0, keep);
    const grouped = [national.slice(0, cut), national.slice(cut, cut + 3), national.slice(cut + 3)].filter(
      (g) => g !== '',
    );
    switch (form) {
      case 'national':
        return grouped;
      case 'trunk':
        return ['0', ...grouped];
      case 'plus':
        return [`+${ex.callingCode}`, ...grouped];
      case 'idd':
        return ['00', ex.callingCode, ...grouped];
      default:
        return [ex.callingCode, ...grouped];
    }
  });

/** Digit groups of a national or international number, with a prefix that exercises parsing branches. */
const groups = fc.oneof(
  { weight: 4, arbitrary: nanp },
  { weight: 4, arbitrary: example },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(...CALLING_CODES, ...NON_GEOGRAPHIC), digits(1, 4), digits(2, 5), digits(0, 5))
      .map(([cc, ...g]) => [`+${cc}`, ...g.filter((x) => x !== '')]),
  },
  { weight: 1, arbitrary: fc.array(digits(1, 5), { minLength: 1, maxLength: 5 }) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom(
          '011',
          '00',
          '0',
          '1',
          '8',
          '810',
          '0011',
          '001',
          '7',
          '44',
          '49',
          '33',
          '91',
          '55',
          '81',
          '1 1',
        ),
        digits(6, 12),
      )
      .map((g) => [...g]),
  },
);

const cleanSeparator = fc.constantFrom(' ', '-', '.', '/', ' ', '', ') ', ' (', '  ', ' - ');
const dirtySeparator = fc.constantFrom('\t', '\u00a0', '–', ',', '_', '+', 'x', '\u3000', '．');
const cleanLead = fc.constantFrom('', '', '', '(', '(+', ' ');
const dirtyLead = fc.constantFrom(
  '+(',
  '00',
  '+0',
  '++',
  '+ ',
  '(( ',
  '-+',
  '#',
  'tel:',
  '1 ',
  '+1 ',
  'ext ',
  '＋',
);
const cleanExtension = fc.constantFrom(
  '',
  '',
  '',
  ' ext. 123',
  ' ext 45',
  'ext.9',
  ' x12',
  ' X 7',
  ' EXT. 999999999',
  ' Ext.1',
);
const dirtyExtension = fc.constantFrom(
  ' ext. 1234567890',
  ' x1234567890',
  ' extension 12',
  ' #12',
  ';ext=12',
  ' x. 12',
  ' ext12 ',
  ' ext.',
  ' e12',
  ' ext 1a',
  ' ex 12',
  ' ext: 12',
  ',,12',
  ' - 12#',
);
const cleanTrailing = fc.constantFrom('', '', '', ')', '.', ' ', '-');
const dirtyTrailing = fc.constantFrom('abc', '#', ' (home)', '١٢', '０', '+');
const pick = <T>(clean: fc.Arbitrary<T>, dirty: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 6, arbitrary: clean }, { weight: 1, arbitrary: dirty });

/** Phone-like text: lead, groups joined by separators, extension, trailing noise; mostly clean. */
const phoneText = fc
  .tuple(
    pick(cleanLead, dirtyLead),
    groups,
    fc.array(pick(cleanSeparator, dirtySeparator), { minLength: 6, maxLength: 6 }),
    pick(cleanExtension, dirtyExtension),
    pick(cleanTrailing, dirtyTrailing),
    fc.boolean(),
  )
  .map(([l, g, seps, ext, tail, wrap]) => {
    let body = '';
    g.forEach((part, i) => {
      body += i === 0 ? part : `${seps[i % seps.length]}${part}`;
    });
    const text = `${l}${body}${ext}${tail}`;
    return wrap ? ` ${text} ` : text;
  });

/** Arbitrary short strings over a phone-ish alphabet (letters, non-ASCII digits, odd punctuation). */
const noise = fc
  .array(fc.constantFrom(...'0123456789 +()-./xXeEtT#;,:=~a١٢٣۴０１\u00a0\t'.split('')), {
    minLength: 0,
    maxLength: 24,
  })
  .map((a) => a.join(''));

const NUM_RUNS = 4000;

describe('phoneE164 equals libphonenumber-js', () => {
  it('for generated phone-like text in many regions', () => {
    let valid = 0;
    let simple = 0;
    const runs = NUM_RUNS * 5;
    fc.assert(
      fc.property(phoneText, REGION, fc.boolean(), (text, region, possible) => {
        const expected = referenceNormalize(text, region, possible);
        expectEqual(ours(text, region, possible), expected);
        if (expected.ok) valid++;
        if (/^[0-9 ().\-/+]*(?:(?:ext\.?|x) *[0-9]{1,9})?$/i.test(text.trim())) simple++;
      }),
      // Seeded: the counts below check that both branches were exercised, so they must not depend on luck.
      { numRuns: runs, seed: 20261125 },
    );
    // Not a vacuous comparison: many inputs are valid, and many take the fast path.
    expect(valid).toBeGreaterThan(runs * 0.08);
    expect(simple).toBeGreaterThan(runs * 0.25);
  });

  it('for any country as the default region', () => {
    fc.assert(
      fc.property(phoneText, ANY_COUNTRY, fc.boolean(), (text, region, possible) => {
        expectEqual(ours(text, region, possible), referenceNormalize(text, region, possible));
      }),
      { numRuns: NUM_RUNS * 3 },
    );
  });

  it('for noise over a phone-ish alphabet', () => {
    fc.assert(
      fc.property(noise, REGION, fc.boolean(), (text, region, possible) => {
        expectEqual(ours(text, region, possible), referenceNormalize(text, region, possible));
      }),
      { numRuns: NUM_RUNS * 2 },
    );
  });

  it('for bare digit strings of every length, with and without +, in every country (the port itself)', () => {
    fc.assert(
      fc.property(fc.boolean(), digits(3, 20), fc.constantFrom(...COUNTRIES, 'XX'), (plus, d, region) => {
        const input = `${plus ? '+' : ''}${d}`;
        const defaultCountry = isSupportedCountry(region) ? region : undefined;
        expectSame(libE164(plus, d, defaultCountry), referenceLibrary(input, region));
        expectSame(phoneE164(input, region), referenceLibrary(input, region));
        expectSame(libE164(plus, d, defaultCountry, true), referenceLibrary(input, region, true));
      }),
      { numRuns: NUM_RUNS * 5 },
    );
  });

  it("for every country's example number, written in several ways, in its own and other regions", () => {
    for (const ex of EXAMPLES) {
      const n = ex.national;
      const inputs = [
        n,
        `0${n}`,
        `+${ex.callingCode}${n}`,
        `+${ex.callingCode} ${n}`,
        `${ex.callingCode}${n}`,
        `00${ex.callingCode}${n}`,
        `011${ex.callingCode}${n}`,
      ];
      for (const region of [ex.country, 'US', 'GB', 'XX']) {
        for (const input of inputs) {
          expectSame(phoneE164(input, region), referenceLibrary(input, region));
          expectSame(phoneE164(input, region, true), referenceLibrary(input, region, true));
        }
      }
    }
  });

  it('for every calling code followed by plausible national numbers', () => {
    for (const code of [...CALLING_CODES, ...NON_GEOGRAPHIC]) {
      fc.assert(
        fc.property(digits(4, 14), fc.constantFrom('US', 'GB', 'DE', 'IN', 'XX'), (national, region) => {
          for (const input of [
            `+${code}${national}`,
            `+${code} ${national}`,
            `${code}${national}`,
            `011${code}${national}`,
            `00 ${code} ${national}`,
          ]) {
            expectSame(phoneE164(input, region), referenceLibrary(input, region));
            expectSame(phoneE164(input, region, true), referenceLibrary(input, region, true));
          }
        }),
        { numRuns: 40 },
      );
    }
  });

  it.each([
    ['(206) 249-1750', 'US'],
    ['+1 206 688 0480', 'US'],
    ['650.857.1959', 'US'],
    ['206-249-1750', 'US'],
    ['(206) 249-1750 ext. 123', 'US'],
    ['1 (206) 249-1750', 'US'],
    ['12062491750', 'US'],
    ['011 44 20 7946 0958', 'US'],
    ['+44 20 7946 0958', 'US'],
    ['020 7946 0958', 'GB'],
    ['07400 123456', 'GB'],
    ['+49 30 12345678', 'DE'],
    ['030 12345678', 'DE'],
    ['+33 1 42 68 53 00', 'FR'],
    ['01 42 68 53 00', 'FR'],
    ['+91 98765 43210', 'IN'],
    ['098765 43210', 'IN'],
    ['+55 11 91234-5678', 'BR'],
    ['(11) 91234-5678', 'BR'],
    ['011 91234 5678', 'BR'],
    ['03-1234-5678', 'JP'],
    ['+81 3 1234 5678', 'JP'],
    ['8 (495) 123-45-67', 'RU'],
    ['+7 701 123 4567', 'KZ'],
    ['(268) 464-1234', 'US'],
    ['+1 268 464 1234', 'US'],
    ['+1 416 555 0199', 'CA'],
    ['+1 416 234 5678', 'US'],
    ['+800 1234 5678', 'US'],
    ['+882 1234 5678', 'US'],
    ['123', 'US'],
    ['1234567', 'US'],
    ['+1 650', 'US'],
    ['+0 650 253 0000', 'US'],
    ['0 650 253 0000', 'US'],
    ['+', 'US'],
    ['12', 'US'],
    ['1-572-069-1592', 'US'],
    ['(555) 010-9999', 'US'],
    ['415-555-2671 #12', 'US'],
    ['+1-415-555-2671;ext=12', 'US'],
    ['415 555 2671 x١٢', 'US'],
  ])('%s in %s', (input, region) => {
    expect(phoneE164(input, region)).toBe(referenceLibrary(input, region));
    expect(phoneE164(input, region, true)).toBe(referenceLibrary(input, region, true));
  });
});
