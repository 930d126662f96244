import fc from 'fast-check';
import { getCountries, getExampleNumber, parsePhoneNumberFromString } from 'libphonenumber-js';
import examples from 'libphonenumber-js/examples.mobile.json';
import type { FieldSpec } from '../../lambdas/domain/config';
import { countryCodeOf } from '../../lambdas/domain/country';
import { normalizeField } from '../../lambdas/domain/normalize';

/** A phone field as the config schema outputs it, with the given settings. */
function phone(over: Partial<FieldSpec> = {}): FieldSpec {
  return { source: 'Phone', type: 'phone', required: false, transforms: ['trim'], ...over };
}

describe('phone validity', () => {
  it.each<[string, string, string | undefined, string | undefined]>([
    // input, region, stored with validity 'valid', stored with validity 'possible'
    ['1-572-069-1592', 'US', undefined, '+15720691592'], // the Salesforce sample's shape: 572 is no area code
    ['1-018-509-3382', 'US', undefined, '+10185093382'], // an area code starting with 0
    ['(555) 010-9999', 'US', undefined, '+15550109999'], // 555: reserved for fiction
    ['(650) 253-0000', 'US', '+16502530000', '+16502530000'],
    ['+44 20 7946 0958', 'US', '+442079460958', '+442079460958'],
    ['030 12345678', 'DE', '+493012345678', '+493012345678'],
    ['555-0199', 'US', undefined, undefined], // too short for the US either way
    ['12345', 'US', undefined, undefined],
    ['+1 415 555 26711', 'US', undefined, undefined], // too long
    ['1-555-010-99999', 'US', undefined, undefined],
    ['650-253-0000abc', 'US', undefined, undefined], // letters: refused before any check
  ])('%j in %s: valid → %s, possible → %s', (input, region, asValid, asPossible) => {
    // Act
    const byDefault = normalizeField(input, phone({ region }));
    const valid = normalizeField(input, phone({ region, validity: 'valid' }));
    const possible = normalizeField(input, phone({ region, validity: 'possible' }));

    // Assess
    const expected = (v: string | undefined) =>
      v === undefined ? { ok: false, code: 'invalid_phone' } : { ok: true, value: v };
    expect(byDefault).toEqual(expected(asValid));
    expect(valid).toEqual(expected(asValid));
    expect(possible).toEqual(expected(asPossible));
  });
});

describe('phone extensions', () => {
  it.each<[string, string]>([
    ['415.555.2671 x12', '+14155552671;ext=12'],
    ['(415) 555-2671 x 12', '+14155552671;ext=12'],
    ['415-555-2671 X12', '+14155552671;ext=12'],
    ['+1 415 555 2671 ext. 12', '+14155552671;ext=12'],
    ['415 555 2671 ext 0012', '+14155552671;ext=0012'],
    ['415 555 2671 Ext.7', '+14155552671;ext=7'],
    ['415 555 2671 extension 12', '+14155552671;ext=12'],
    ['415-555-2671 #12', '+14155552671;ext=12'],
    ['+1-415-555-2671;ext=12', '+14155552671;ext=12'],
    ['415 555 2671 x١٢', '+14155552671;ext=12'], // Arabic-Indic digits: stored as ASCII
    ['415 555 2671', '+14155552671'],
  ])('%j is stored as %s', (input, expected) => {
    // Act
    const result = normalizeField(input, phone({ region: 'US' }));

    // Assess
    expect(result).toEqual({ ok: true, value: expected });
  });

  it.each([
    ['an empty extension', '415 555 2671 ext.'],
    ['letters in the extension', '415 555 2671 ext 1a'],
    ['an extension of 11 digits', '415 555 2671 x12345678901'],
  ])('rejects %s (%j)', (_name, input) => {
    // Act
    const result = normalizeField(input, phone({ region: 'US' }));

    // Assess
    expect(result).toEqual({ ok: false, code: 'invalid_phone' });
  });

  it('stores a value that parses back to the same number and extension, for any valid number', () => {
    const countries = Object.keys(examples);
    fc.assert(
      fc.property(
        fc.constantFrom(...countries),
        fc.stringMatching(/^[0-9]{1,9}$/),
        fc.constantFrom(' x', ' ext. ', ' ext ', ' #', ';ext=', ' extension '),
        fc.boolean(),
        (country, ext, label, possible) => {
          // Prepare
          const example = getExampleNumber(country as never, examples);
          if (!example?.isValid()) return;
          const input = `${example.formatInternational()}${label}${ext}`;

          // Act
          const result = normalizeField(input, phone({ validity: possible ? 'possible' : 'valid' }));

          // Assess
          expect(result.ok).toBe(true);
          const stored = result.ok ? String(result.value) : '';
          expect(stored).toBe(`${example.number};ext=${ext}`);
          const back = parsePhoneNumberFromString(stored);
          expect(back?.number).toBe(example.number);
          expect(back?.ext).toBe(ext);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('countryCodeOf (a regionFrom cell)', () => {
  it.each<[string, string | undefined]>([
    ['US', 'US'],
    ['us', 'US'],
    ['  DE ', 'DE'],
    ['USA', 'US'],
    ['usa', 'US'],
    ['DEU', 'DE'],
    ['GBR', 'GB'],
    ['United States', 'US'],
    ['UNITED STATES', 'US'],
    ['United States of America', 'US'],
    ['U.S.', 'US'],
    ['U.S.A.', 'US'],
    ['UK', 'GB'],
    ['U.K.', 'GB'],
    ['United Kingdom', 'GB'],
    ['Great Britain', 'GB'],
    ['England', 'GB'],
    ['Germany', 'DE'],
    ['Deutschland', 'DE'],
    ['Österreich', 'AT'],
    ['Osterreich', 'AT'],
    ['España', 'ES'],
    ['Japan', 'JP'],
    ['日本', 'JP'],
    ['Cayman Islands', 'KY'],
    ['Korea, Republic of', 'KR'],
    ['South Korea', 'KR'],
    ['Czech Republic', 'CZ'],
    ['Czechia', 'CZ'],
    ["Côte d'Ivoire", 'CI'],
    ['Cote d’Ivoire', 'CI'],
    ['St. Kitts & Nevis', 'KN'],
    ['Saint Kitts and Nevis', 'KN'],
    ['Bosnia and Herzegovina', 'BA'],
    ['Myanmar', 'MM'],
    ['Hong Kong', 'HK'],
    ['Narnia', undefined],
    ['', undefined],
    ['   ', undefined],
    ['XX', undefined],
    ['U', undefined],
    ['United States of Narnia and the land beyond the wardrobe, which is a long way off', undefined],
  ])('%j → %s', (cell, expected) => {
    // Act
    const code = countryCodeOf(cell);

    // Assess
    expect(code).toBe(expected);
  });

  it("knows every libphonenumber country by its code and by CLDR's English name", () => {
    // Prepare
    const english = new Intl.DisplayNames(['en'], { type: 'region' });

    // Act
    const unknown = getCountries().filter(
      (code) => countryCodeOf(code) !== code || countryCodeOf(english.of(code) ?? '') !== code,
    );

    // Assess
    expect(unknown).toEqual([]);
  });
});

describe('phone regionFrom (the row region)', () => {
  it.each<[string | undefined, string | undefined, string, string]>([
    // field region, row region (from the regionFrom cell), input, stored
    ['US', 'GB', '020 7946 0958', '+442079460958'],
    ['US', 'DE', '030 12345678', '+493012345678'],
    ['GB', 'US', '(650) 253-0000', '+16502530000'],
    ['GB', undefined, '020 7946 0958', '+442079460958'], // no row region: the field's
    [undefined, undefined, '(650) 253-0000', '+16502530000'], // neither: US
    ['US', 'DE', '+44 20 7946 0958', '+442079460958'], // a country code wins over any region
  ])('region %s, row region %s: %j → %s', (region, rowRegion, input, expected) => {
    // Act
    const result = normalizeField(input, phone(region ? { region } : {}), rowRegion);

    // Assess
    expect(result).toEqual({ ok: true, value: expected });
  });
});
