import {
  ACCOUNT_COLUMNS,
  accountPoolSize,
  CONTACT_COLUMNS,
  contactsTruth,
  type GenerateOptions,
  generateAccounts,
  generateContacts,
} from '../../examples/generate';

/** Minimal RFC 4180 parser: quoted fields may hold commas, doubled quotes, CR and LF. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c !== '"') field += c;
      else if (text[i + 1] === '"') {
        field += '"';
        i++;
      } else quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      record.push(field);
      field = '';
    } else if (c === '\n' || (c === '\r' && text[i + 1] === '\n')) {
      if (c === '\r') i++;
      record.push(field);
      records.push(record);
      record = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || record.length > 0) {
    record.push(field);
    records.push(record);
  }
  return records;
}

function text(pieces: Iterable<string>): string {
  let out = '';
  for (const piece of pieces) out += piece;
  return out;
}

function column(records: string[][], name: (typeof CONTACT_COLUMNS)[number]): string[] {
  const index = CONTACT_COLUMNS.indexOf(name);
  return records.slice(1).map((r) => r[index] ?? '');
}

const OPTIONS: GenerateOptions = { rows: 3000, seed: 42 };

describe('generateContacts', () => {
  it('is deterministic: same seed, same text; another seed, another text', () => {
    // Prepare
    const other: GenerateOptions = { ...OPTIONS, seed: 43 };

    // Act
    const first = text(generateContacts(OPTIONS));
    const second = text(generateContacts(OPTIONS));
    const third = text(generateContacts(other));

    // Assess
    expect(second).toBe(first);
    expect(third).not.toBe(first);
  });

  it('writes the exact header and `rows` records of 19 quoted fields, some with newlines inside', () => {
    // Prepare
    const csv = text(generateContacts(OPTIONS));

    // Act
    const records = parseCsv(csv);

    // Assess
    expect(csv.startsWith(`${CONTACT_COLUMNS.map((c) => `"${c}"`).join(',')}\r\n`)).toBe(true);
    expect(records[0]).toEqual([...CONTACT_COLUMNS]);
    expect(records).toHaveLength(OPTIONS.rows + 1);
    expect(records.every((r) => r.length === CONTACT_COLUMNS.length)).toBe(true);
    expect(column(records, 'MailingStreet').some((s) => s.includes('\n'))).toBe(true);
    expect(column(records, 'Id').every((id) => /^003[0-9A-Za-z]{15}$/.test(id))).toBe(true);
  });

  it('streams pieces of about 64 KB', () => {
    // Prepare
    const pieces: string[] = [];

    // Act
    for (const piece of generateContacts(OPTIONS)) pieces.push(piece);

    // Assess
    expect(pieces.length).toBeGreaterThan(5);
    for (const piece of pieces.slice(0, -1)) {
      expect(piece.length).toBeGreaterThanOrEqual(64 * 1024);
      expect(piece.length).toBeLessThan(66 * 1024);
    }
  });

  it('honours lineEnding and dirt: false (no defects, no duplicates)', () => {
    // Prepare
    const options: GenerateOptions = { ...OPTIONS, dirt: false, lineEnding: '\n' };

    // Act
    const csv = text(generateContacts(options));
    const truth = contactsTruth(options);

    // Assess
    expect(csv).not.toContain('"\r\n"');
    expect(parseCsv(csv)).toHaveLength(OPTIONS.rows + 1);
    expect(truth).toMatchObject({ rows: 3000, badRows: 0, duplicateRows: 0 });
  });
});

describe('contactsTruth', () => {
  it('counts what the file holds: defects, duplicates (half newer), deletions', () => {
    // Prepare
    const records = parseCsv(text(generateContacts(OPTIONS)));
    const ids = column(records, 'Id');

    // Act
    const truth = contactsTruth(OPTIONS);

    // Assess
    expect(truth.rows).toBe(3000);
    expect(truth.badRows).toBeGreaterThan(0.02 * truth.rows);
    expect(truth.badRows).toBeLessThan(0.08 * truth.rows);
    expect(Object.values(truth.badByDefect).reduce((a, b) => a + b, 0)).toBe(truth.badRows);
    expect(truth.duplicateRows).toBeGreaterThan(0);
    expect(truth.duplicateRows).toBe(ids.length - new Set(ids).size);
    expect(truth.newerDuplicateRows + truth.olderDuplicateRows).toBe(truth.duplicateRows);
    expect(Math.abs(truth.newerDuplicateRows - truth.olderDuplicateRows)).toBeLessThanOrEqual(1);
    expect(truth.deletedRows).toBeGreaterThan(0);
    expect(truth.deletedRows).toBe(column(records, 'IsDeleted').filter((v) => v === 'true').length);
    expect(column(records, 'LastName').filter((v) => v === '').length).toBe(truth.badByDefect.lastName);
  });

  it('gives each duplicate another LastModifiedDate and Title than the row it repeats', () => {
    // Prepare
    const records = parseCsv(text(generateContacts(OPTIONS))).slice(1);
    const idIndex = CONTACT_COLUMNS.indexOf('Id');
    const modifiedIndex = CONTACT_COLUMNS.indexOf('LastModifiedDate');
    const titleIndex = CONTACT_COLUMNS.indexOf('Title');
    const first = new Map<string, string[]>();
    let newer = 0;
    let older = 0;

    // Act
    for (const record of records) {
      const id = record[idIndex] ?? '';
      const earlier = first.get(id);
      if (!earlier) {
        first.set(id, record);
        continue;
      }
      expect(record[titleIndex]).not.toBe(earlier[titleIndex]);
      if ((record[modifiedIndex] ?? '') > (earlier[modifiedIndex] ?? '')) newer++;
      else if ((record[modifiedIndex] ?? '') < (earlier[modifiedIndex] ?? '')) older++;
    }

    // Assess
    const truth = contactsTruth(OPTIONS);
    expect(newer).toBe(truth.newerDuplicateRows);
    expect(older).toBe(truth.olderDuplicateRows);
  });
});

describe('generateAccounts', () => {
  it('has the exact header and holds every account a contact file of the same seed references', () => {
    // Prepare
    const contacts = parseCsv(text(generateContacts(OPTIONS)));
    const pool = accountPoolSize(OPTIONS.rows);

    // Act
    const accounts = parseCsv(text(generateAccounts({ rows: pool, seed: OPTIONS.seed })));

    // Assess
    expect(pool).toBe(150);
    expect(accounts[0]).toEqual([...ACCOUNT_COLUMNS]);
    expect(accounts).toHaveLength(pool + 1);
    const accountIds = new Set(accounts.slice(1).map((r) => r[0]));
    expect(accountIds.size).toBe(pool);
    const references = column(contacts, 'AccountId').filter((id) => id !== '');
    expect(references.length).toBeGreaterThan(0);
    expect(references.every((id) => accountIds.has(id))).toBe(true);
  });
});
