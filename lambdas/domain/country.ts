import { getCountries } from 'libphonenumber-js';

/**
 * A country cell as exports write it (`US`, `USA`, `United States`, `u.s.a.`, `Deutschland`) → the
 * ISO 3166 alpha-2 code libphonenumber takes as a default region, or undefined when it names no
 * country this table knows. Read by a phone field's `regionFrom`.
 *
 * The table is built once, on first use, over libphonenumber-js's countries (getCountries()):
 * - alpha-2 and alpha-3 codes (ALPHA3 below);
 * - English names from Intl.DisplayNames (CLDR, e.g. `Czechia`, `Bosnia & Herzegovina`, and the part
 *   before a parenthesis: `Myanmar (Burma)` → `Myanmar`);
 * - ALIASES: the other English forms exports hold (`UK`, `United States of America`, ISO's
 *   `Korea, Republic of`…);
 * - each country's name in its main language (Intl.Locale's likely language for the region, e.g.
 *   `Deutschland`, `España`, `Österreich`), unless it is ambiguous: English names and aliases win
 *   over native names, and a native name two countries share is left out.
 * Keys are compared by `keyOf`: lower case, accents and `.` `'` removed, `&` read as `and`, `St` as
 * `Saint`, other punctuation and space runs as one space, trimmed.
 */

/** ISO 3166-1 alpha-2 → alpha-3 for the countries libphonenumber knows (AC, TA, XK have none). */
const ALPHA3 =
  'AD AND AE ARE AF AFG AG ATG AI AIA AL ALB AM ARM AO AGO AR ARG AS ASM AT AUT AU AUS AW ABW AX ALA ' +
  'AZ AZE BA BIH BB BRB BD BGD BE BEL BF BFA BG BGR BH BHR BI BDI BJ BEN BL BLM BM BMU BN BRN BO BOL ' +
  'BQ BES BR BRA BS BHS BT BTN BW BWA BY BLR BZ BLZ CA CAN CC CCK CD COD CF CAF CG COG CH CHE CI CIV ' +
  'CK COK CL CHL CM CMR CN CHN CO COL CR CRI CU CUB CV CPV CW CUW CX CXR CY CYP CZ CZE DE DEU DJ DJI ' +
  'DK DNK DM DMA DO DOM DZ DZA EC ECU EE EST EG EGY EH ESH ER ERI ES ESP ET ETH FI FIN FJ FJI FK FLK ' +
  'FM FSM FO FRO FR FRA GA GAB GB GBR GD GRD GE GEO GF GUF GG GGY GH GHA GI GIB GL GRL GM GMB GN GIN ' +
  'GP GLP GQ GNQ GR GRC GT GTM GU GUM GW GNB GY GUY HK HKG HN HND HR HRV HT HTI HU HUN ID IDN IE IRL ' +
  'IL ISR IM IMN IN IND IO IOT IQ IRQ IR IRN IS ISL IT ITA JE JEY JM JAM JO JOR JP JPN KE KEN KG KGZ ' +
  'KH KHM KI KIR KM COM KN KNA KP PRK KR KOR KW KWT KY CYM KZ KAZ LA LAO LB LBN LC LCA LI LIE LK LKA ' +
  'LR LBR LS LSO LT LTU LU LUX LV LVA LY LBY MA MAR MC MCO MD MDA ME MNE MF MAF MG MDG MH MHL MK MKD ' +
  'ML MLI MM MMR MN MNG MO MAC MP MNP MQ MTQ MR MRT MS MSR MT MLT MU MUS MV MDV MW MWI MX MEX MY MYS ' +
  'MZ MOZ NA NAM NC NCL NE NER NF NFK NG NGA NI NIC NL NLD NO NOR NP NPL NR NRU NU NIU NZ NZL OM OMN ' +
  'PA PAN PE PER PF PYF PG PNG PH PHL PK PAK PL POL PM SPM PR PRI PS PSE PT PRT PW PLW PY PRY QA QAT ' +
  'RE REU RO ROU RS SRB RU RUS RW RWA SA SAU SB SLB SC SYC SD SDN SE SWE SG SGP SH SHN SI SVN SJ SJM ' +
  'SK SVK SL SLE SM SMR SN SEN SO SOM SR SUR SS SSD ST STP SV SLV SX SXM SY SYR SZ SWZ TC TCA TD TCD ' +
  'TG TGO TH THA TJ TJK TK TKL TL TLS TM TKM TN TUN TO TON TR TUR TT TTO TV TUV TW TWN TZ TZA UA UKR ' +
  'UG UGA US USA UY URY UZ UZB VA VAT VC VCT VE VEN VG VGB VI VIR VN VNM VU VUT WF WLF WS WSM YE YEM ' +
  'YT MYT ZA ZAF ZM ZMB ZW ZWE';

/** English forms CLDR's display names miss (keyOf applies to them too: `U.S.A.` is `usa`). */
const ALIASES: Record<string, string> = {
  USA: 'US',
  America: 'US',
  'United States of America': 'US',
  'The United States': 'US',
  UK: 'GB',
  'Great Britain': 'GB',
  Britain: 'GB',
  England: 'GB',
  Scotland: 'GB',
  Wales: 'GB',
  'Northern Ireland': 'GB',
  'United Kingdom of Great Britain and Northern Ireland': 'GB',
  'The Netherlands': 'NL',
  Holland: 'NL',
  'Czech Republic': 'CZ',
  Turkey: 'TR',
  'Republic of Korea': 'KR',
  'Korea, Republic of': 'KR',
  Korea: 'KR',
  'Korea, Democratic People’s Republic of': 'KP',
  'Russian Federation': 'RU',
  'Viet Nam': 'VN',
  'Iran, Islamic Republic of': 'IR',
  'Syrian Arab Republic': 'SY',
  'Lao People’s Democratic Republic': 'LA',
  'Tanzania, United Republic of': 'TZ',
  'Bolivia, Plurinational State of': 'BO',
  'Venezuela, Bolivarian Republic of': 'VE',
  'Moldova, Republic of': 'MD',
  'Brunei Darussalam': 'BN',
  'Taiwan, Province of China': 'TW',
  'Hong Kong': 'HK',
  Macau: 'MO',
  Macao: 'MO',
  Burma: 'MM',
  'Ivory Coast': 'CI',
  'Cabo Verde': 'CV',
  'East Timor': 'TL',
  Swaziland: 'SZ',
  Macedonia: 'MK',
  'Democratic Republic of the Congo': 'CD',
  'DR Congo': 'CD',
  'Republic of the Congo': 'CG',
  Palestine: 'PS',
  'Holy See': 'VA',
  Vatican: 'VA',
  UAE: 'AE',
};

/**
 * The comparison key of a country cell or name. `’` and `'` vanish, so ISO's `People's` and CLDR's
 * `People’s` meet.
 */
export function keyOf(text: string): string {
  return text
    .normalize('NFD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/[.'’]/g, '')
    .replace(/&/g, ' and ')
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim()
    .replace(/(^| )st(?= |$)/g, '$1saint');
}

let table: Map<string, string> | undefined;

function buildTable(): Map<string, string> {
  const byKey = new Map<string, string>();
  const add = (name: string | undefined, code: string) => {
    if (name === undefined) return;
    const key = keyOf(name);
    if (key !== '' && !byKey.has(key)) byKey.set(key, code);
  };
  const countries = new Set<string>(getCountries());
  const words = ALPHA3.split(' ');
  for (let i = 0; i + 1 < words.length; i += 2) {
    const alpha2 = words[i] as string;
    if (countries.has(alpha2)) add(words[i + 1], alpha2);
  }
  for (const code of countries) add(code, code);
  const english = new Intl.DisplayNames(['en'], { type: 'region', fallback: 'none' });
  for (const code of countries) {
    const name = english.of(code);
    add(name, code);
    if (name?.includes('(')) add(name.slice(0, name.indexOf('(')), code);
  }
  for (const [alias, code] of Object.entries(ALIASES)) add(alias, code);
  // Native names last: what is already taken keeps its meaning; a name two countries share is dropped.
  const native = new Map<string, string | null>();
  const namesIn = new Map<string, Intl.DisplayNames>();
  for (const code of countries) {
    const language = new Intl.Locale(`und-${code}`).maximize().language;
    if (language === 'und' || language === 'en') continue;
    let names = namesIn.get(language);
    if (!names) {
      names = new Intl.DisplayNames([language], { type: 'region', fallback: 'none' });
      namesIn.set(language, names);
    }
    const name = names.of(code);
    if (name === undefined) continue;
    const key = keyOf(name);
    if (key === '' || byKey.has(key)) continue;
    native.set(key, native.has(key) && native.get(key) !== code ? null : code);
  }
  for (const [key, code] of native) if (code !== null) byKey.set(key, code);
  return byKey;
}

/** Answers by cell text: a column repeats a handful of values. Bounded like phone.ts's memo. */
const answers = new Map<string, string | null>();
const MAX_ANSWERS = 4096;
const MAX_REMEMBERED_CELL = 64;

/** The alpha-2 code a country cell names, or undefined (empty, unknown or too long to be a country). */
export function countryCodeOf(cell: string): string | undefined {
  const known = answers.get(cell);
  if (known !== undefined) return known ?? undefined;
  if (cell.length > MAX_REMEMBERED_CELL) return undefined;
  table ??= buildTable();
  const code = table.get(keyOf(cell)) ?? null;
  if (answers.size >= MAX_ANSWERS) answers.clear();
  answers.set(cell, code);
  return code ?? undefined;
}
