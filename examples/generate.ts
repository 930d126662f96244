/**
 * Deterministic generator of realistic, dirty Salesforce-style CSV exports (Contact and Account), as
 * Data Loader writes them: every field quoted, API names as headers, CRLF line endings.
 *
 * Library:
 *   for (const piece of generateContacts({ rows: 1_000_000, seed: 7 })) stream.write(piece);
 *   contactsTruth({ rows: 3000, seed: 42 }) // → { rows, badRows, duplicateRows, deletedRows, … }
 *
 * CLI:
 *   npx tsx examples/generate.ts contacts --rows 3000 --seed 42 --out examples/data/contacts.csv
 *   npx tsx examples/generate.ts accounts --rows 150 --seed 42 --out examples/data/accounts.csv
 *   options: --clean (no dirt), --lf (LF line endings); without --out the CSV goes to stdout.
 *
 * Contacts reference accounts `001…` from a pool of accountPoolSize(rows) = max(1, floor(rows / 20)) ids;
 * `accounts --rows <that> --seed <same>` produces exactly those ids.
 */

import { once } from 'node:events';
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { mulberry32 } from '../local/random';

export interface GenerateOptions {
  /** Number of data rows (duplicate rows included), not counting the header. */
  rows: number;
  /** PRNG seed (32-bit integer); default 42. */
  seed?: number;
  /** Inject dirt (invalid values, duplicates, formulas, odd spacing, emoji); default true. Accounts are always clean. */
  dirt?: boolean;
  /** Record separator; default '\r\n' like Data Loader. Newlines inside quoted fields are always '\n'. */
  lineEnding?: '\r\n' | '\n';
}

/** What makes a contact row invalid for the Salesforce contact preset. */
export type ContactDefect = 'email' | 'lastName' | 'phone' | 'date';

/**
 * Expected outcome of loading a generated contact file. The categories bad / duplicate / deleted are
 * disjoint: a duplicate repeats a valid, not deleted row and is itself valid; deleted rows are valid. So
 * loading the file into an empty table leaves `rows - badRows - duplicateRows - deletedRows` items.
 */
export interface ContactTruth {
  /** Data rows in the file. */
  rows: number;
  /** Rows with at least one defect (invalid email, missing LastName, invalid phone, impossible date). */
  badRows: number;
  /** Rows that repeat the Id of an earlier row (with another LastModifiedDate and Title). */
  duplicateRows: number;
  /** Rows with IsDeleted = true. */
  deletedRows: number;
  /** Duplicates whose LastModifiedDate is newer than the earlier row's: they must win. */
  newerDuplicateRows: number;
  /** Duplicates whose LastModifiedDate is older than the earlier row's: they must lose. */
  olderDuplicateRows: number;
  /** Bad rows by defect (each bad row has exactly one). */
  badByDefect: Record<ContactDefect, number>;
}

export const CONTACT_COLUMNS = [
  'Id',
  'AccountId',
  'FirstName',
  'LastName',
  'Email',
  'Phone',
  'MobilePhone',
  'Title',
  'MailingStreet',
  'MailingCity',
  'MailingState',
  'MailingPostalCode',
  'MailingCountry',
  'LeadSource',
  'HasOptedOutOfEmail',
  'Birthdate',
  'CreatedDate',
  'LastModifiedDate',
  'IsDeleted',
] as const;

export const ACCOUNT_COLUMNS = [
  'Id',
  'Name',
  'Type',
  'Industry',
  'Website',
  'Phone',
  'BillingCity',
  'BillingState',
  'BillingCountry',
  'AnnualRevenue',
  'NumberOfEmployees',
  'CreatedDate',
  'LastModifiedDate',
  'IsDeleted',
] as const;

type ContactRecord = Record<(typeof CONTACT_COLUMNS)[number], string>;
type AccountRecord = Record<(typeof ACCOUNT_COLUMNS)[number], string>;

export const DEFAULT_SEED = 42;
/** Size of the pieces yielded by the generators (UTF-16 code units, ≈ bytes for mostly-ASCII text). */
const PIECE_SIZE = 64 * 1024;
/** Earlier rows remembered as candidates for duplicates: bounds memory for any row count. */
const DUPLICATE_WINDOW = 4096;

/** Accounts referenced by a contact file of `rows` rows (ids 1..n of the accounts generator, same seed). */
export function accountPoolSize(rows: number): number {
  return Math.max(1, Math.floor(rows / 20));
}

// ---------------------------------------------------------------------------------------------------------
// PRNG

class Rng {
  private readonly next: () => number;

  constructor(seed: number) {
    this.next = mulberry32(seed);
  }

  float(): number {
    return this.next();
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error('pick() from an empty list');
    return item;
  }

  digits(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += String(this.int(0, 9));
    return s;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Salesforce ids

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const SUFFIX_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';

function base62(n: number, width: number): string {
  let s = '';
  let v = n;
  while (v > 0) {
    s = BASE62.charAt(v % 62) + s;
    v = Math.floor(v / 62);
  }
  return s.padStart(width, '0');
}

/** The 3-character case-safe suffix Salesforce appends to a 15-character id. */
function caseSafeSuffix(id15: string): string {
  let suffix = '';
  for (let chunk = 0; chunk < 3; chunk++) {
    let bits = 0;
    for (let i = 0; i < 5; i++) {
      const c = id15.charCodeAt(chunk * 5 + i);
      if (c >= 65 && c <= 90) bits |= 1 << i;
    }
    suffix += SUFFIX_CHARS.charAt(bits);
  }
  return suffix;
}

/** 18-character Salesforce-like id: key prefix, a seed-derived "pod", row number n in base 62, suffix. */
export function salesforceId(prefix: '001' | '003', seed: number, n: number): string {
  const h = mulberry32((seed ^ 0x5bd1e995) >>> 0);
  const pod = base62(Math.floor(h() * 62 * 62), 2);
  const offset = 100_000 + Math.floor(h() * 5_000_000);
  const id15 = `${prefix}${pod}0${base62(offset + n, 9)}`;
  return id15 + caseSafeSuffix(id15);
}

// ---------------------------------------------------------------------------------------------------------
// Embedded data: [display, ascii used for e-mail addresses]

const FIRST_NAMES: readonly (readonly [string, string])[] = [
  ['James', 'james'],
  ['Mary', 'mary'],
  ['John', 'john'],
  ['Patricia', 'patricia'],
  ['Robert', 'robert'],
  ['Jennifer', 'jennifer'],
  ['Michael', 'michael'],
  ['Linda', 'linda'],
  ['David', 'david'],
  ['Elizabeth', 'elizabeth'],
  ['William', 'william'],
  ['Sarah', 'sarah'],
  ['Emily', 'emily'],
  ['Daniel', 'daniel'],
  ['Jessica', 'jessica'],
  ['Christopher', 'christopher'],
  ['Ashley', 'ashley'],
  ['Matthew', 'matthew'],
  ['Olivia', 'olivia'],
  ['Ethan', 'ethan'],
  ['Sophia', 'sophia'],
  ['Liam', 'liam'],
  ['Emma', 'emma'],
  ['Noah', 'noah'],
  ['Mary Ann', 'maryann'],
  ['José', 'jose'],
  ['María', 'maria'],
  ['Zoë', 'zoe'],
  ['Łukasz', 'lukasz'],
  ['Małgorzata', 'malgorzata'],
  ['François', 'francois'],
  ['Chloé', 'chloe'],
  ['Amélie', 'amelie'],
  ['Jean-Luc', 'jean-luc'],
  ['Björn', 'bjorn'],
  ['Søren', 'soren'],
  ['Jürgen', 'juergen'],
  ['Siobhán', 'siobhan'],
  ['Seán', 'sean'],
  ['Ngọc', 'ngoc'],
  ['Thảo', 'thao'],
  ['Anh', 'anh'],
  ['伟', 'wei'],
  ['芳', 'fang'],
  ['Mei', 'mei'],
  ['Hiroshi', 'hiroshi'],
  ['Yuki', 'yuki'],
  ['Priya', 'priya'],
  ['Aarav', 'aarav'],
  ['Mohammed', 'mohammed'],
  ['Fatima', 'fatima'],
  ['Olusegun', 'olusegun'],
  ['Chiamaka', 'chiamaka'],
  ['Kwame', 'kwame'],
  ['Diego', 'diego'],
  ['Ana', 'ana'],
  ['Dmitri', 'dmitri'],
  ['Olga', 'olga'],
  ['Ingrid', 'ingrid'],
];

const LAST_NAMES: readonly (readonly [string, string])[] = [
  ['Smith', 'smith'],
  ['Johnson', 'johnson'],
  ['Williams', 'williams'],
  ['Brown', 'brown'],
  ['Jones', 'jones'],
  ['Garcia', 'garcia'],
  ['Miller', 'miller'],
  ['Davis', 'davis'],
  ['Rodriguez', 'rodriguez'],
  ['Martinez', 'martinez'],
  ['Hernandez', 'hernandez'],
  ['Lopez', 'lopez'],
  ['Wilson', 'wilson'],
  ['Anderson', 'anderson'],
  ['Taylor', 'taylor'],
  ['Thomas', 'thomas'],
  ['Moore', 'moore'],
  ['Jackson', 'jackson'],
  ['Lee', 'lee'],
  ['Thompson', 'thompson'],
  ['White', 'white'],
  ['Harris', 'harris'],
  ['Clark', 'clark'],
  ['Walker', 'walker'],
  ['Young', 'young'],
  ['King', 'king'],
  ['Wright', 'wright'],
  ['Scott', 'scott'],
  ['Müller', 'mueller'],
  ['Schröder', 'schroeder'],
  ['Weiß', 'weiss'],
  ['Nowak', 'nowak'],
  ['Wójcik', 'wojcik'],
  ['Kowalski', 'kowalski'],
  ['Łukaszewski', 'lukaszewski'],
  ["O'Brien", 'obrien'],
  ["O'Connor", 'oconnor'],
  ["D'Angelo", 'dangelo'],
  ['McDonald', 'mcdonald'],
  ['MacLeod', 'macleod'],
  ['Smith-Jones', 'smith-jones'],
  ['van der Berg', 'vanderberg'],
  ['de la Cruz', 'delacruz'],
  ['Nguyễn', 'nguyen'],
  ['Trần', 'tran'],
  ['Phạm', 'pham'],
  ['王', 'wang'],
  ['李', 'li'],
  ['张', 'zhang'],
  ['陈', 'chen'],
  ['佐藤', 'sato'],
  ['Tanaka', 'tanaka'],
  ['Kim', 'kim'],
  ['Park', 'park'],
  ['Patel', 'patel'],
  ['Singh', 'singh'],
  ['Sharma', 'sharma'],
  ['Okafor', 'okafor'],
  ['Mensah', 'mensah'],
  ['Haddad', 'haddad'],
  ['Núñez', 'nunez'],
  ['Gonçalves', 'goncalves'],
  ['Ødegaard', 'odegaard'],
  ['Åström', 'astrom'],
  ['Dubois', 'dubois'],
  ['Lefèvre', 'lefevre'],
  ['Rossi', 'rossi'],
  ['Ivanov', 'ivanov'],
  ['Cohen', 'cohen'],
];

const EMAIL_DOMAINS = [
  'gmail.com',
  'gmail.com',
  'gmail.com',
  'yahoo.com',
  'outlook.com',
  'hotmail.com',
  'icloud.com',
  'proton.me',
  'aol.com',
  'acme.com',
  'globex.com',
  'initech.io',
  'hooli.com',
  'umbrella-corp.com',
  'stark-industries.com',
  'piedpiper.net',
  'example.co.uk',
  'firma.de',
  'mueller-gmbh.de',
  'orange.fr',
] as const;

const TITLES = [
  'CEO',
  'CTO',
  'CFO',
  'Founder & CEO',
  'VP of Sales',
  'VP Marketing',
  'Director of Engineering',
  'Director, Finance',
  'Software Engineer',
  'Senior Software Engineer',
  'Product Manager',
  'Account Executive',
  'Sales Development Representative',
  'Marketing Manager',
  'Office Manager',
  'Head of Procurement',
  'Purchasing Manager',
  'Operations Manager',
  'HR Business Partner',
  'Customer Success Manager',
  'Data Scientist',
  'IT Director',
  'R&D Lead',
  'Consultant',
  'Geschäftsführer',
  'Directrice Marketing',
  'Intern',
] as const;

const FORMULAS = [
  '=HYPERLINK("http://x","click")',
  '+1+1',
  '@SUM(A1)',
  '-2+3',
  '=1+1',
  "=cmd|' /C calc'!A0",
] as const;

const EMOJI = ['🚀', '😊', '🎉', '🦄', '☕', '👩‍💻', '🇩🇪'] as const;

const LEAD_SOURCES = [
  'Web',
  'Web',
  'Phone Inquiry',
  'Partner Referral',
  'Purchased List',
  'Trade Show',
  'Employee Referral',
  'Word of mouth',
  'Other',
  '',
] as const;

type Country = 'US' | 'GB' | 'DE' | 'FR';

interface Place {
  city: string;
  state: string;
  stateLong: string;
  postal: readonly string[];
  country: Country;
  /** US area codes, or international prefixes (without the country code) for landlines. */
  areaCodes: readonly string[];
}

const US_PLACES: readonly Place[] = [
  ['Mountain View', 'CA', 'California', ['94040', '94041', '94043'], ['650']],
  ['Palo Alto', 'CA', 'California', ['94301', '94303', '94306'], ['650']],
  ['San Francisco', 'CA', 'California', ['94103', '94105', '94110', '94117'], ['415', '628']],
  ['Los Angeles', 'CA', 'California', ['90012', '90024', '90036'], ['213', '310', '323']],
  ['New York', 'NY', 'New York', ['10001', '10011', '10016', '10128'], ['212', '646', '917']],
  ['Brooklyn', 'NY', 'New York', ['11201', '11211', '11215'], ['718', '347']],
  ['Chicago', 'IL', 'Illinois', ['60601', '60614', '60622'], ['312', '773']],
  ['Boston', 'MA', 'Massachusetts', ['02108', '02110', '02116'], ['617', '857']],
  ['Seattle', 'WA', 'Washington', ['98101', '98104', '98109'], ['206']],
  ['Austin', 'TX', 'Texas', ['78701', '78704', '78751'], ['512', '737']],
  ['Denver', 'CO', 'Colorado', ['80202', '80205', '80218'], ['303', '720']],
  ['Atlanta', 'GA', 'Georgia', ['30303', '30308', '30318'], ['404', '678']],
  ['Miami', 'FL', 'Florida', ['33101', '33131', '33139'], ['305', '786']],
  ['Washington', 'DC', 'District of Columbia', ['20001', '20005', '20036'], ['202']],
  ['Portland', 'OR', 'Oregon', ['97201', '97204', '97214'], ['503', '971']],
  ['Minneapolis', 'MN', 'Minnesota', ['55401', '55403', '55408'], ['612']],
].map(([city, state, stateLong, postal, areaCodes]) => ({
  city: city as string,
  state: state as string,
  stateLong: stateLong as string,
  postal: postal as string[],
  country: 'US' as const,
  areaCodes: areaCodes as string[],
}));

const INTL_PLACES: readonly Place[] = [
  {
    city: 'London',
    state: '',
    stateLong: 'England',
    postal: ['SW1A 1AA', 'EC1A 1BB', 'W1D 3QF', 'N1 9GU'],
    country: 'GB',
    areaCodes: ['20 7', '20 8'],
  },
  {
    city: 'Manchester',
    state: '',
    stateLong: 'England',
    postal: ['M1 1AE', 'M2 5DB', 'M4 1HN'],
    country: 'GB',
    areaCodes: ['161 2', '161 8'],
  },
  {
    city: 'Berlin',
    state: 'BE',
    stateLong: 'Berlin',
    postal: ['10115', '10178', '10969'],
    country: 'DE',
    areaCodes: ['30'],
  },
  {
    city: 'München',
    state: 'BY',
    stateLong: 'Bayern',
    postal: ['80331', '80469', '81669'],
    country: 'DE',
    areaCodes: ['89'],
  },
  {
    city: 'Hamburg',
    state: 'HH',
    stateLong: 'Hamburg',
    postal: ['20095', '20354', '22765'],
    country: 'DE',
    areaCodes: ['40'],
  },
  {
    city: 'Paris',
    state: '',
    stateLong: 'Île-de-France',
    postal: ['75001', '75008', '75011'],
    country: 'FR',
    areaCodes: ['1'],
  },
];

const COUNTRY_NAMES: Record<Country, readonly string[]> = {
  US: ['United States', 'United States', 'United States', 'United States', 'USA', 'US'],
  GB: ['United Kingdom', 'United Kingdom', 'UK'],
  DE: ['Germany', 'Germany', 'Deutschland'],
  FR: ['France'],
};

const STREET_NAMES = [
  'Main',
  'Oak',
  'Maple',
  'Cedar',
  'Elm',
  'Washington',
  'Lake',
  'Hill',
  'Park',
  'Pine',
  'Market',
  'Mission',
  'Amphitheatre',
  'Sunset',
  'Spring',
] as const;
const STREET_SUFFIXES = ['St', 'Ave', 'Blvd', 'Rd', 'Dr', 'Ln', 'Way', 'Pkwy', 'Ct'] as const;
const INTL_STREETS: Record<Exclude<Country, 'US'>, readonly string[]> = {
  GB: ['Baker Street', 'High Street', 'Oxford Road', 'Deansgate', 'Victoria Road'],
  DE: ['Friedrichstraße', 'Hauptstraße', 'Schönhauser Allee', 'Maximilianstraße', 'Königstraße'],
  FR: ['Rue de Rivoli', 'Avenue des Champs-Élysées', 'Boulevard Saint-Germain', 'Rue du Faubourg'],
};

const START_SEC = Date.UTC(2018, 0, 1) / 1000;
const END_SEC = Date.UTC(2025, 5, 30) / 1000;
const DAY = 86_400;

function iso(sec: number): string {
  return new Date(sec * 1000).toISOString();
}

// ---------------------------------------------------------------------------------------------------------
// Field generators

function usPhone(rng: Rng, areaCodes: readonly string[]): string {
  const area = rng.pick(areaCodes);
  let exchange = rng.int(200, 999);
  // 555 is fictional, N11 are service codes: libphonenumber rejects them.
  while (exchange === 555 || exchange % 100 === 11) exchange = rng.int(200, 999);
  const line = rng.digits(4);
  const u = rng.float();
  if (u < 0.35) return `(${area}) ${exchange}-${line}`;
  if (u < 0.55) return `${area}.${exchange}.${line}`;
  if (u < 0.75) return `+1 ${area} ${exchange} ${line}`;
  if (u < 0.97) return `${area}-${exchange}-${line}`;
  return `(${area}) ${exchange}-${line} ext. ${rng.int(10, 999)}`;
}

function landline(rng: Rng, place: Place): string {
  if (place.country === 'US') return usPhone(rng, place.areaCodes);
  const area = rng.pick(place.areaCodes);
  switch (place.country) {
    case 'GB': // London 20 7xxx xxxx, Manchester 161 2xx xxxx
      return `+44 ${area}${rng.digits(area.startsWith('20') ? 3 : 2)} ${rng.digits(4)}`;
    case 'DE':
      return `+49 ${area} ${rng.int(2, 9)}${rng.digits(7)}`;
    case 'FR':
      return `+33 ${area} ${rng.int(40, 59)} ${rng.digits(2)} ${rng.digits(2)} ${rng.digits(2)}`;
  }
}

function mobile(rng: Rng, place: Place): string {
  switch (place.country) {
    case 'US':
      return usPhone(rng, place.areaCodes);
    case 'GB':
      return `+44 7${rng.pick(['400', '480', '800', '973'])} ${rng.digits(6)}`; // 7700 900…, parts of 7911… are not valid
    case 'DE':
      return `+49 ${rng.pick(['151', '152', '157', '160', '170', '176'])} ${rng.int(1, 9)}${rng.digits(7)}`;
    case 'FR':
      return `+33 ${rng.pick(['6', '7'])} ${rng.int(40, 89)} ${rng.digits(2)} ${rng.digits(2)} ${rng.digits(2)}`; // not 639, 69x, 71x, 72x
  }
}

const BAD_PHONES = ['12', 'call me', '123', 'TBD', '+1 650', '1234567', 'ask reception'] as const;

function street(rng: Rng, place: Place, dirt: boolean): string {
  const u = rng.float();
  if (u < 0.04) return '';
  if (u < 0.06) return `PO Box ${rng.int(100, 9999)}`;
  const line1 =
    place.country === 'US'
      ? `${rng.int(1, 9999)} ${rng.pick(STREET_NAMES)} ${rng.pick(STREET_SUFFIXES)}`
      : place.country === 'GB'
        ? `${rng.int(1, 250)} ${rng.pick(INTL_STREETS.GB)}`
        : place.country === 'DE'
          ? `${rng.pick(INTL_STREETS.DE)} ${rng.int(1, 180)}`
          : `${rng.int(1, 120)} ${rng.pick(INTL_STREETS.FR)}`;
  const line2 = rng.pick([
    `Suite ${rng.int(1, 900)}`,
    `Apt ${rng.int(1, 40)}${rng.pick(['', 'A', 'B', 'C'])}`,
    `Floor ${rng.int(1, 60)}`,
    `Unit ${rng.int(1, 300)}`,
    'Attn: Accounts Payable',
    'The "Old Mill" Building',
  ]);
  const v = rng.float();
  if (v < 0.15) return `${line1}${dirt && rng.chance(0.05) ? '\r\n' : '\n'}${line2}`; // multi-line
  if (v < 0.25) return `${line1}, ${line2}`; // comma inside
  if (v < 0.27) return `${line1}\n${line2}\nBuilding ${rng.int(1, 9)}`; // three lines
  return line1;
}

function email(rng: Rng, first: string, last: string): string {
  const domain = rng.pick(EMAIL_DOMAINS);
  const f = first || last;
  const u = rng.float();
  const local =
    u < 0.4
      ? `${f}.${last}`
      : u < 0.55
        ? `${f.charAt(0)}${last}`
        : u < 0.65
          ? `${f}${last}`
          : u < 0.72
            ? `${f}_${last}`
            : u < 0.85
              ? `${f}.${last}${rng.int(1, 99)}`
              : u < 0.92
                ? `${last}.${f}`
                : `${f}.${last}+crm`;
  return `${local}@${domain}`;
}

function badEmail(rng: Rng, first: string, last: string): string {
  const domain = rng.pick(EMAIL_DOMAINS);
  const f = first || 'info';
  return rng.pick([
    `${f}.${last}@`,
    `${f}.${last}.${domain}`,
    `${f} ${last}@${domain}`,
    `${f}.${last}@@${domain}`,
    `@${domain}`,
    `${f}.${last}@${domain.replace('.', ',')}`,
  ]);
}

/** An impossible date, keeping the year (and the time part when `time` is given). */
function badDate(rng: Rng, year: string, time: string): string {
  const leapless = Number(year) % 4 === 0 ? '2023' : year;
  const date = rng.pick([
    `${year}-02-30`,
    `${year}-02-31`,
    `${leapless}-02-29`,
    `${year}-04-31`,
    `${year}-06-31`,
    `${year}-09-31`,
    `${year}-11-31`,
    `${year}-13-05`,
    `${year}-00-12`,
  ]);
  return `${date}${time}`;
}

function spaced(rng: Rng, name: string): string {
  if (name.includes(' ') && rng.chance(0.5)) return name.replace(' ', '  ');
  return rng.pick([` ${name}`, `${name} `, `  ${name}`, ` ${name}  `]);
}

function differentTitle(rng: Rng, current: string): string {
  let title: string = rng.pick(TITLES);
  while (title === current) title = rng.pick(TITLES);
  return title;
}

// ---------------------------------------------------------------------------------------------------------
// Contacts

interface Candidate {
  record: ContactRecord;
  createdSec: number;
  modifiedSec: number;
}

function normalize(options: GenerateOptions): Required<GenerateOptions> {
  const { rows, seed = DEFAULT_SEED, dirt = true, lineEnding = '\r\n' } = options;
  if (!Number.isSafeInteger(rows) || rows < 0)
    throw new RangeError(`rows must be a non-negative integer, got ${rows}`);
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  return { rows, seed, dirt, lineEnding };
}

function emptyTruth(rows: number): ContactTruth {
  return {
    rows,
    badRows: 0,
    duplicateRows: 0,
    deletedRows: 0,
    newerDuplicateRows: 0,
    olderDuplicateRows: 0,
    badByDefect: { email: 0, lastName: 0, phone: 0, date: 0 },
  };
}

/** Contact records in file order; counts what it generates into `truth`. */
function* contactRecords(options: GenerateOptions, truth: ContactTruth): Generator<ContactRecord> {
  const { rows, seed, dirt } = normalize(options);
  const rng = new Rng(seed);
  const pool = accountPoolSize(rows);
  const candidates: Candidate[] = [];

  for (let n = 1; n <= rows; n++) {
    // One roll decides the kind of row, so the categories are disjoint.
    const roll = rng.float();
    let defect: ContactDefect | undefined;
    let deleted = false;
    if (dirt) {
      if (roll < 0.02) defect = 'email';
      else if (roll < 0.03) defect = 'lastName';
      else if (roll < 0.04) defect = 'phone';
      else if (roll < 0.045) defect = 'date';
      else if (roll < 0.075 && candidates.length > 0) {
        // Duplicate: a later row repeats an earlier Id; alternately newer (wins) and older (loses).
        const index = rng.int(0, candidates.length - 1);
        const original = candidates[index] as Candidate;
        const last = candidates.pop() as Candidate;
        if (index < candidates.length) candidates[index] = last;
        const newer = truth.duplicateRows % 2 === 0;
        const modifiedSec = newer
          ? original.modifiedSec + rng.int(60, 90 * DAY)
          : original.createdSec + rng.int(0, original.modifiedSec - original.createdSec - 1);
        truth.duplicateRows++;
        if (newer) truth.newerDuplicateRows++;
        else truth.olderDuplicateRows++;
        yield {
          ...original.record,
          Title: differentTitle(rng, original.record.Title),
          LastModifiedDate: iso(modifiedSec),
        };
        continue;
      } else if (roll >= 0.075 && roll < 0.08) deleted = true;
    } else if (roll < 0.005) deleted = true;

    const [firstName, firstAscii] = rng.chance(0.02) ? ['', ''] : rng.pick(FIRST_NAMES);
    const [lastName, lastAscii] = rng.pick(LAST_NAMES);
    const place = rng.chance(0.8) ? rng.pick(US_PLACES) : rng.pick(INTL_PLACES);
    const createdSec = rng.int(START_SEC, END_SEC);
    const modifiedSec = rng.chance(0.15)
      ? createdSec
      : Math.min(createdSec + rng.int(60, 540 * DAY), END_SEC + 90 * DAY);
    const birthSec = rng.int(Date.UTC(1950, 0, 1) / 1000, Date.UTC(2004, 11, 31) / 1000);

    const record: ContactRecord = {
      Id: salesforceId('003', seed, n),
      AccountId: rng.chance(0.97) ? salesforceId('001', seed, rng.int(1, pool)) : '',
      FirstName: firstName,
      LastName: lastName,
      Email: rng.chance(0.94) ? email(rng, firstAscii, lastAscii) : '',
      Phone: rng.chance(0.9) ? landline(rng, place) : '',
      MobilePhone: rng.chance(0.55) ? mobile(rng, place) : '',
      Title: rng.chance(0.92) ? rng.pick(TITLES) : '',
      MailingStreet: street(rng, place, dirt),
      MailingCity: place.city,
      MailingState: rng.chance(0.93) ? place.state : place.stateLong,
      MailingPostalCode:
        place.country === 'US' && rng.chance(0.1)
          ? `${rng.pick(place.postal)}-${rng.digits(4)}`
          : rng.pick(place.postal),
      MailingCountry: rng.chance(0.96) ? rng.pick(COUNTRY_NAMES[place.country]) : '',
      LeadSource: rng.pick(LEAD_SOURCES),
      HasOptedOutOfEmail: rng.chance(0.08) ? 'true' : 'false',
      Birthdate: rng.chance(0.35) ? iso(birthSec).slice(0, 10) : '',
      CreatedDate: iso(createdSec),
      LastModifiedDate: iso(modifiedSec),
      IsDeleted: deleted ? 'true' : 'false',
    };

    if (dirt) {
      // Harmless dirt: the row stays valid.
      if (rng.chance(0.03) && record.FirstName) record.FirstName = spaced(rng, record.FirstName);
      if (rng.chance(0.03)) record.LastName = spaced(rng, record.LastName);
      if (rng.chance(0.002)) record.Title = rng.pick(FORMULAS);
      if (rng.chance(0.004)) {
        const emoji = rng.pick(EMOJI);
        if (rng.chance(0.5)) record.Title = `${record.Title || 'Chief Happiness Officer'} ${emoji}`;
        else record.FirstName = `${record.FirstName.trim() || 'Sunny'} ${emoji}`;
      }
    }

    switch (defect) {
      case 'email':
        record.Email = badEmail(rng, firstAscii, lastAscii);
        break;
      case 'lastName':
        record.LastName = '';
        break;
      case 'phone':
        if (rng.chance(0.7)) record.Phone = rng.pick(BAD_PHONES);
        else record.MobilePhone = rng.pick(BAD_PHONES);
        break;
      case 'date': {
        const which = rng.float();
        if (which < 0.4)
          record.CreatedDate = badDate(rng, record.CreatedDate.slice(0, 4), record.CreatedDate.slice(10));
        else if (which < 0.7)
          record.LastModifiedDate = badDate(
            rng,
            record.LastModifiedDate.slice(0, 4),
            record.LastModifiedDate.slice(10),
          );
        else record.Birthdate = badDate(rng, iso(birthSec).slice(0, 4), '');
        break;
      }
      case undefined:
        break;
    }

    if (defect) {
      truth.badRows++;
      truth.badByDefect[defect]++;
    } else if (deleted) {
      truth.deletedRows++;
    } else if (dirt && modifiedSec - createdSec >= 60) {
      // Valid, live and modified after creation: may be repeated later with an older or newer version.
      const candidate = { record, createdSec, modifiedSec };
      if (candidates.length < DUPLICATE_WINDOW) candidates.push(candidate);
      else candidates[rng.int(0, DUPLICATE_WINDOW - 1)] = candidate;
    }
    yield record;
  }
}

function quote(value: string): string {
  return `"${value.replaceAll('"', '""')}"`;
}

function* csvPieces<C extends string>(
  columns: readonly C[],
  records: Iterable<Record<C, string>>,
  lineEnding: string,
): Generator<string> {
  let piece = columns.map(quote).join(',') + lineEnding;
  for (const record of records) {
    piece += columns.map((c) => quote(record[c])).join(',') + lineEnding;
    if (piece.length >= PIECE_SIZE) {
      yield piece;
      piece = '';
    }
  }
  if (piece) yield piece;
}

/** Streams CSV text (header + `rows` data rows) of a Salesforce Contact export, in pieces of ~64 KB. */
export function generateContacts(options: GenerateOptions): Generator<string> {
  const { lineEnding } = normalize(options);
  return csvPieces(CONTACT_COLUMNS, contactRecords(options, emptyTruth(options.rows)), lineEnding);
}

/** What generateContacts(options) contains (re-runs the generator without building CSV text). */
export function contactsTruth(options: GenerateOptions): ContactTruth {
  const truth = emptyTruth(normalize(options).rows);
  const records = contactRecords(options, truth);
  while (!records.next().done) {
    // drain: the generator counts into `truth`
  }
  return truth;
}

// ---------------------------------------------------------------------------------------------------------
// Accounts

const COMPANY_STEMS: readonly (readonly [string, string])[] = [
  ['Acme', 'acme'],
  ['Globex', 'globex'],
  ['Initech', 'initech'],
  ['Umbrella', 'umbrella'],
  ['Stark', 'stark'],
  ['Wayne', 'wayne'],
  ['Hooli', 'hooli'],
  ['Pied Piper', 'piedpiper'],
  ['Vandelay', 'vandelay'],
  ['Soylent', 'soylent'],
  ['Cyberdyne', 'cyberdyne'],
  ['Tyrell', 'tyrell'],
  ['Wonka', 'wonka'],
  ['Oceanic', 'oceanic'],
  ['Aperture', 'aperture'],
  ['Massive Dynamic', 'massivedynamic'],
  ['Nakatomi', 'nakatomi'],
  ['Dunder Mifflin', 'dundermifflin'],
  ['Sterling Cooper', 'sterlingcooper'],
  ['Bluth', 'bluth'],
  ['Müller & Söhne', 'mueller-soehne'],
  ["Zoë's", 'zoes'],
  ['Łódź', 'lodz'],
  ['Société Lumière', 'societe-lumiere'],
  ['北京星辰', 'xingchen'],
  ['Nguyễn & Partners', 'nguyen-partners'],
];
const COMPANY_SECTORS = [
  '',
  'Systems',
  'Labs',
  'Foods',
  'Logistics',
  'Energy',
  'Health',
  'Capital',
  'Media',
  'Robotics',
  'Analytics',
  'Industries',
] as const;
const COMPANY_SUFFIXES = [
  'Inc.',
  ', Inc.',
  'LLC',
  'Corp.',
  'Ltd',
  'GmbH',
  'Group',
  'Holdings',
  'SA',
  '',
] as const;
const ACCOUNT_TYPES = [
  'Customer - Direct',
  'Customer - Direct',
  'Customer - Channel',
  'Prospect',
  'Prospect',
  'Channel Partner / Reseller',
  'Installation Partner',
  'Technology Partner',
  'Other',
  '',
] as const;
const INDUSTRIES = [
  'Agriculture',
  'Apparel',
  'Banking',
  'Biotechnology',
  'Chemicals',
  'Communications',
  'Construction',
  'Consulting',
  'Education',
  'Electronics',
  'Energy',
  'Engineering',
  'Entertainment',
  'Finance',
  'Food & Beverage',
  'Government',
  'Healthcare',
  'Hospitality',
  'Insurance',
  'Manufacturing',
  'Media',
  'Not For Profit',
  'Retail',
  'Technology',
  'Telecommunications',
  'Transportation',
  'Utilities',
  'Other',
] as const;

function* accountRecords(options: GenerateOptions): Generator<AccountRecord> {
  const { rows, seed } = normalize(options);
  const rng = new Rng((seed ^ 0x9e3779b9) >>> 0);
  for (let n = 1; n <= rows; n++) {
    const [stem, slug] = rng.pick(COMPANY_STEMS);
    const sector = rng.pick(COMPANY_SECTORS);
    const suffix = rng.pick(COMPANY_SUFFIXES);
    const base = sector ? `${stem} ${sector}` : stem;
    const name = suffix.startsWith(',') ? `${base}${suffix}` : suffix ? `${base} ${suffix}` : base;
    const domain = `${slug}${sector ? `-${sector.toLowerCase()}` : ''}.${rng.pick(['com', 'com', 'io', 'net', 'co'])}`;
    const place = rng.chance(0.8) ? rng.pick(US_PLACES) : rng.pick(INTL_PLACES);
    const createdSec = rng.int(START_SEC, END_SEC);
    const modifiedSec = rng.chance(0.1) ? createdSec : createdSec + rng.int(60, 365 * DAY);
    const employees = Math.round(10 ** (rng.float() * 5.3)); // 1 … ~200,000, log-uniform
    yield {
      Id: salesforceId('001', seed, n),
      Name: name,
      Type: rng.pick(ACCOUNT_TYPES),
      Industry: rng.chance(0.9) ? rng.pick(INDUSTRIES) : '',
      Website: rng.chance(0.9)
        ? rng.pick([`www.${domain}`, `https://www.${domain}`, `http://${domain}`])
        : '',
      Phone: rng.chance(0.92) ? landline(rng, place) : '',
      BillingCity: place.city,
      BillingState: place.state,
      BillingCountry: rng.pick(COUNTRY_NAMES[place.country]),
      AnnualRevenue: rng.chance(0.8) ? String(Math.round(employees * rng.int(50, 400)) * 1000) : '',
      NumberOfEmployees: rng.chance(0.85) ? String(employees) : '',
      CreatedDate: iso(createdSec),
      LastModifiedDate: iso(modifiedSec),
      IsDeleted: 'false',
    };
  }
}

/** Streams CSV text (header + `rows` data rows) of a clean Salesforce Account export, in pieces of ~64 KB. */
export function generateAccounts(options: GenerateOptions): Generator<string> {
  const { lineEnding } = normalize(options);
  return csvPieces(ACCOUNT_COLUMNS, accountRecords(options), lineEnding);
}

// ---------------------------------------------------------------------------------------------------------
// CLI

const USAGE = `usage: npx tsx examples/generate.ts <contacts|accounts> --rows N [--seed N] [--out FILE] [--clean] [--lf]`;

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      rows: { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string', short: 'o' },
      clean: { type: 'boolean', default: false },
      lf: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const kind = positionals[0];
  if (values.help || (kind !== 'contacts' && kind !== 'accounts') || values.rows === undefined) {
    console.error(USAGE);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const options: GenerateOptions = {
    rows: Number(values.rows),
    seed: values.seed === undefined ? DEFAULT_SEED : Number(values.seed),
    dirt: !values.clean,
    lineEnding: values.lf ? '\n' : '\r\n',
  };
  const truth = emptyTruth(options.rows);
  const pieces =
    kind === 'contacts'
      ? csvPieces(CONTACT_COLUMNS, contactRecords(options, truth), normalize(options).lineEnding)
      : generateAccounts(options);

  if (values.out) mkdirSync(dirname(values.out), { recursive: true });
  const out = values.out ? createWriteStream(values.out) : process.stdout;
  let bytes = 0;
  for (const piece of pieces) {
    bytes += Buffer.byteLength(piece);
    if (!out.write(piece)) await once(out, 'drain');
  }
  if (values.out) {
    out.end();
    await once(out, 'finish');
  }
  const summary =
    kind === 'contacts' ? { ...truth, accounts: accountPoolSize(options.rows) } : { rows: options.rows };
  console.error(`${kind}: ${bytes} bytes${values.out ? ` → ${values.out}` : ''} ${JSON.stringify(summary)}`);
}

if (typeof require !== 'undefined' && require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
