import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, lastJson, ROOT } from './support';

/**
 * A file that fails at Plan leaves none of its cells in any output: a headerless CSV (its first line
 * a person's name, email, phone and address) run through the CLI on the local stack; its stdout and
 * stderr, `local runs`, `report --json`, the run's reports (summary.json, report.html) and the events
 * file are scanned for each planted value.
 */
const PLANTED = [
  'Jane Doe',
  'jane.doe@example.com',
  '415 555 0199',
  'Mulberry Lane',
  'John Roe',
  'Elm Street',
];

/** Every file under `dir` (or `dir` itself when it is a file), as text. */
function filesUnder(dir: string): Array<{ path: string; text: string }> {
  if (!existsSync(dir)) return [];
  if (!statSync(dir).isDirectory()) return [{ path: dir, text: readFileSync(dir, 'utf8') }];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [{ path, text: readFileSync(path, 'utf8') }];
  });
}

describe('Plan errors carry no cell values', () => {
  const base = mkdtempSync(join(tmpdir(), 'crm-sync-pii-'));
  const stateDir = join(base, 'state');
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('a headerless CSV fails with HeaderMismatchError and no output holds its first row', async () => {
    // Prepare
    const file = join(base, 'contacts.csv');
    copyFileSync(join(__dirname, '..', 'fixtures', 'fuzz', 'headerless-pii.csv'), file);
    const common = ['--state-dir', stateDir];

    // Act
    const run = await cli(['local', 'run', file, '--entity', 'contact', '--json', ...common]);
    const result = lastJson<{ runId: string; status: string; error?: { name: string } }>(run.stdout);
    const runs = await cli(['local', 'runs', '--json', ...common]);
    const report = await cli(['report', result.runId, '--json', ...common]);
    const outputs = [
      { path: 'local run stdout', text: run.stdout },
      { path: 'local run stderr', text: run.stderr },
      { path: 'local runs', text: runs.stdout + runs.stderr },
      { path: 'report', text: report.stdout + report.stderr },
      ...filesUnder(join(stateDir, 'reports')),
      ...filesUnder(join(stateDir, 'events.jsonl')),
    ];

    // Assess
    expect({ status: result.status, error: result.error?.name }).toEqual({
      status: 'FAILED',
      error: 'HeaderMismatchError',
    });
    expect(outputs.map((o) => o.path)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/summary\.json$/),
        expect.stringMatching(/report\.html$/),
      ]),
    );
    expect(run.stdout + run.stderr).toContain('none of which is a mapped column');
    const leaks = outputs.flatMap((o) =>
      PLANTED.filter((p) => o.text.includes(p)).map((p) => `${o.path}: ${p}`),
    );
    expect(leaks).toEqual([]);
  });
});

/**
 * The workers' logs at debug level carry no row value: contacts of known PII (names, emails, phones,
 * street addresses, a free-text note), some valid, some rejected (a malformed email, a missing last
 * name, a malformed phone), run, run again (a duplicate trigger), then updated by a second export
 * (a new address and note, a deleted contact), then the table's snapshot exported to files and
 * restored into another local stack, through the CLI on the local stack with
 * `--verbose` and POWERTOOLS_LOG_LEVEL=DEBUG, and each handler's event logged
 * (POWERTOOLS_LOGGER_LOG_EVENT). Everything the process writes (Powertools Logger, console, stdout,
 * stderr) is searched for every value as written and as normalized (lower-case email, E.164 phone),
 * as text and as the bytes of a logged Buffer.
 */
const HEADER =
  'Id,AccountId,FirstName,LastName,Email,Phone,MobilePhone,Title,MailingStreet,MailingCity,MailingState,MailingPostalCode,MailingCountry,LeadSource,HasOptedOutOfEmail,Birthdate,CreatedDate,LastModifiedDate,IsDeleted,Note';

interface Person {
  id: string;
  first: string;
  last: string;
  email: string;
  phone: string;
  street: string;
  city: string;
  note: string;
  modified: string;
  deleted?: boolean;
}

const PEOPLE: Person[] = [
  [
    'Zephyrine',
    'Okonkwo-Lindqvist',
    'Zephyrine.Okonkwo@example.org',
    '(415) 555-0143',
    '742 Quillfeather Avenue',
    'Brisbane',
    'Prefers calls after six about the Hollowbrook renewal',
  ],
  [
    'Thaddeus',
    'Marchetti-Ybarra',
    'thaddeus.ybarra@example.net',
    '+1 650 555 0178',
    '19 Larkspur Crescent',
    'Pacifica',
    'Allergic to peanuts; daughter Ottoline starts college',
  ],
  [
    'Wilhelmina',
    'Szczepanski',
    'w.szczepanski@example.com',
    '206.555.0121',
    '3301 Bramblewood Court',
    'Tukwila',
    'Asked not to be contacted before the Fernhill merger',
  ],
  [
    'Anselm',
    'Quackenbush',
    'anselm.q@example.org',
    '312-555-0166',
    '88 Gossamer Row',
    'Evanston',
    'Divorce pending, send mail to his sister Rosalind',
  ],
  [
    'Perpetua',
    'Vandersloot',
    'perpetua.v@example.com',
    '617 555 0190',
    '5 Thistledown Way',
    'Somerville',
    'VIP: her husband Leopold is on the board',
  ],
  [
    'Cornelius',
    'Abernathy-Oyelaran',
    'cornelius.ao@example.net',
    '(503) 555-0117',
    '1200 Wrenfield Parkway',
    'Beaverton',
    'Recovering from knee surgery until March',
  ],
].map(([first, last, email, phone, street, city, note], i) => ({
  id: `003PII${String(i + 1).padStart(12, '0')}`,
  first: String(first),
  last: String(last),
  email: String(email),
  phone: String(phone),
  street: String(street),
  city: String(city),
  note: String(note),
  modified: '2024-03-01T10:00:00.000Z',
}));

/** Rows the run rejects: their values are PII too, and errors about them must not quote them. */
const REJECTED: Person[] = [
  {
    ...must(PEOPLE[0]),
    id: '003PII900000000001',
    first: 'Marguerite',
    last: 'Featherstonehaugh',
    email: 'marguerite.featherstonehaugh(at)example',
    street: '61 Cobblestone Mews',
    note: 'Owes us the Pemberton invoice',
  },
  {
    ...must(PEOPLE[1]),
    id: '003PII900000000002',
    first: 'Evander',
    last: '',
    email: 'evander.holyfield-pii@example.org',
    street: '47 Juniper Hollow',
    note: 'Lives with his mother Philippa',
  },
  {
    ...must(PEOPLE[2]),
    id: '003PII900000000003',
    first: 'Isolde',
    last: 'Ravenscroft',
    email: 'isolde.r@example.com',
    phone: 'call me 77',
    street: '9 Saffron Gardens',
    note: 'Hearing impaired, email only',
  },
];

/** The second export: a new address and note for the first contact, the second one deleted. */
const UPDATED: Person[] = [
  {
    ...must(PEOPLE[0]),
    street: '15 Marigold Terrace',
    note: 'Moved in with her partner Cosimo',
    modified: '2024-04-01T10:00:00.000Z',
  },
  { ...must(PEOPLE[1]), modified: '2024-04-01T10:00:00.000Z', deleted: true },
  ...PEOPLE.slice(2),
];

function must<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('missing person');
  return value;
}

const csvCell = (v: string) => (/[",\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);

function csv(people: readonly Person[]): string {
  const rows = people.map((p) =>
    [
      p.id,
      '',
      p.first,
      p.last,
      p.email,
      p.phone,
      '',
      'Buyer',
      p.street,
      p.city,
      'CA',
      '94005',
      'US',
      'Web',
      'false',
      '',
      '2020-01-01T00:00:00.000Z',
      p.modified,
      p.deleted ? 'true' : 'false',
      p.note,
    ]
      .map(csvCell)
      .join(','),
  );
  return `${[HEADER, ...rows].join('\n')}\n`;
}

/** Each PII value of a person, as written and as the transform normalizes it. */
function piiOf(p: Person): string[] {
  const digits = p.phone.replace(/\D/g, '');
  const e164 = digits.length === 10 ? `+1${digits}` : digits.length === 11 ? `+${digits}` : undefined;
  return [
    p.first,
    p.last,
    p.email,
    p.email.toLowerCase(),
    p.phone,
    p.street,
    p.city,
    p.note,
    ...(e164 ? [e164] : []),
  ].filter((v) => v.length >= 5);
}

/**
 * Where a value would show in the output: as text, and as the Logger writes a Buffer that holds it
 * (`{"type":"Buffer","data":[…]}`: its bytes in decimal), a raw record or chunk logged as it is read.
 */
const logForms = (v: string): string[] => [v, [...Buffer.from(v, 'utf8')].join(',')];

describe('worker logs carry no row values (debug level)', () => {
  const base = mkdtempSync(join(tmpdir(), 'crm-sync-pii-logs-'));
  const stateDir = join(base, 'state');
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('a run with rejects, its duplicate, an update, a snapshot and its restore log keys and counts, never a value', async () => {
    // Prepare: the example config, with a free-text note on contacts.
    const config = JSON.parse(readFileSync(join(ROOT, 'examples/crm-sync.config.json'), 'utf8')) as {
      entities: { contact: { fields: Record<string, unknown>; maxRejectRatio?: number } };
    };
    config.entities.contact.fields.note = { source: 'Note' };
    config.entities.contact.maxRejectRatio = 0.5; // the rejected rows are a third of the first file
    const configFile = join(base, 'crm-sync.config.json');
    writeFileSync(configFile, JSON.stringify(config));
    const first = join(base, 'contacts-march.csv');
    writeFileSync(first, csv([...PEOPLE, ...REJECTED]));
    const second = join(base, 'contacts-april.csv');
    writeFileSync(second, csv(UPDATED));
    const env = { POWERTOOLS_LOG_LEVEL: 'DEBUG', POWERTOOLS_LOGGER_LOG_EVENT: 'true' };
    const local = (args: readonly string[], state = stateDir) =>
      cli(['local', ...args, '--json', '--verbose', '--config', configFile, '--state-dir', state], env);
    const run = (file: string, ...more: string[]) => local(['run', file, '--entity', 'contact', ...more]);
    const backup = join(base, 'backup');

    // Act: the runs, then a snapshot of the table (its rows to files) restored into another stack.
    const runs = [await run(first), await run(first), await run(first, '--rerun'), await run(second)];
    const exported = await local(['export', '--entity', 'contact', '--out', backup]);
    const restored = await local(['restore', backup, '--entity', 'contact'], join(base, 'restored'));

    // Assess: the runs did what they should, and logged (the workers' JSON lines).
    const results = runs.map((r) => lastJson<{ status: string; counts?: Record<string, number> }>(r.stdout));
    expect(results.map((r) => r.status)).toEqual([
      'SUCCEEDED',
      'DUPLICATE_TRIGGER',
      'SUCCEEDED',
      'SUCCEEDED',
    ]);
    expect(results.map((r) => r.counts?.rejected)).toEqual([3, undefined, 3, 0]);
    expect(results[3]?.counts).toMatchObject({ applied: 1, deleted: 1 });
    // Five contacts are left (six, one deleted), and all five are restored.
    expect(lastJson<{ status: string; items: number }>(restored.stdout)).toMatchObject({
      status: 'SUCCEEDED',
      items: 5,
    });
    const output = [...runs, exported, restored].map((r) => r.stdout + r.stderr).join('\n');
    expect(output).toContain('"level":"INFO"');
    expect(output).toContain('"message":"snapshot written"');
    expect(output).toContain('"message":"restore verified"');
    expect(output).toContain('"message":"chunk transformed"');
    expect(output).toContain('"message":"Lambda invocation event"');
    const planted = [...new Set([...PEOPLE, ...REJECTED, ...UPDATED].flatMap(piiOf))];
    expect(planted.length).toBeGreaterThan(50);
    const leaks = planted.filter((v) => logForms(v).some((form) => output.includes(form)));
    expect(leaks).toEqual([]);
  });
});
