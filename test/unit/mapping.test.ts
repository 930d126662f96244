import { type EntityConfig, parseConfig } from '../../lambdas/domain/config';
import { HeaderMismatchError } from '../../lambdas/domain/errors';
import { bindHeader, mapRecord } from '../../lambdas/domain/mapping';
import { salesforceAccount, salesforceContact } from '../../lambdas/domain/presets';

function contactEntity(): EntityConfig {
  const config = parseConfig({ entities: { contact: salesforceContact, account: salesforceAccount } });
  const entity = config.entities['contact'];
  if (!entity) throw new Error('contact entity missing');
  return entity;
}

/** Data Loader export header: upper-case names, columns in its own order. */
const DATA_LOADER_HEADER = [
  'ID',
  'ISDELETED',
  'ACCOUNTID',
  'LASTNAME',
  'FIRSTNAME',
  'EMAIL',
  'PHONE',
  'HASOPTEDOUTOFEMAIL',
  'BIRTHDATE',
  'CREATEDDATE',
  'LASTMODIFIEDDATE',
];

/** A row for DATA_LOADER_HEADER, with named overrides. */
function row(overrides: Partial<Record<(typeof DATA_LOADER_HEADER)[number], string>> = {}): string[] {
  const base: Record<string, string> = {
    ID: '0035e00000AbCdEAAV',
    ISDELETED: 'false',
    ACCOUNTID: '0015e00000XyZwQAAV',
    LASTNAME: '  Lovelace ',
    FIRSTNAME: 'Ada   King',
    EMAIL: 'Ada@Example.com',
    PHONE: '(650) 253-0000',
    HASOPTEDOUTOFEMAIL: 'true',
    BIRTHDATE: '12/10/1815',
    CREATEDDATE: '2024-03-01T09:00:00.000+0000',
    LASTMODIFIEDDATE: '2024-03-05T10:22:33.000+0000',
  };
  return DATA_LOADER_HEADER.map((c) => overrides[c] ?? base[c] ?? '');
}

describe('bindHeader', () => {
  it.each([
    ['Data Loader upper case', DATA_LOADER_HEADER],
    ['UI export case', DATA_LOADER_HEADER.map((c) => (c === 'LASTMODIFIEDDATE' ? 'LastModifiedDate' : c))],
    ['padded and mixed case', DATA_LOADER_HEADER.map((c) => `  ${c.toLowerCase()} `)],
  ])('matches columns case-insensitively after trimming (%s)', (_name, header) => {
    // Prepare
    const entity = contactEntity();

    // Act
    const binding = bindHeader(header, entity);

    // Assess
    expect(binding.columns).toBe(header);
    expect(binding.fieldColumns.map((f) => [f.field, f.index])).toEqual([
      ['id', 0],
      ['accountId', 2],
      ['firstName', 4],
      ['lastName', 3],
      ['email', 5],
      ['phone', 6],
      ['hasOptedOutOfEmail', 7],
      ['birthdate', 8],
      ['createdAt', 9],
      ['updatedAt', 10],
    ]);
    expect(binding.deleteIndex).toBe(1);
    expect(binding.missingOptional).toEqual([
      'MobilePhone',
      'Title',
      'MailingStreet',
      'MailingCity',
      'MailingState',
      'MailingPostalCode',
      'MailingCountry',
      'LeadSource',
    ]);
  });

  it('lists every missing required column and the columns it found', () => {
    // Prepare
    const entity = contactEntity();
    const header = ['Id', 'FirstName', 'Email', 'IsDeleted'];

    // Act
    const act = () => bindHeader(header, entity);

    // Assess
    expect(act).toThrow(HeaderMismatchError);
    expect(act).toThrow(
      'header is missing required columns: LastName (or Last Name), LastModifiedDate (or Last Modified Date) ' +
        '(found: Id, FirstName, Email, IsDeleted)',
    );
  });

  it.each([
    ['the key column', ['LastName', 'LastModifiedDate', 'IsDeleted'], 'Id (or Contact ID)'],
    ['the delete flag column', ['Id', 'LastName', 'LastModifiedDate'], 'IsDeleted'],
    ['the updatedAt column', ['Id', 'LastName', 'IsDeleted'], 'LastModifiedDate (or Last Modified Date)'],
  ])('requires %s', (_name, header, missing) => {
    // Prepare: the preset's delete flag column is optional (report exports have none); here it is not.
    const entity = {
      ...contactEntity(),
      deleteFlag: { source: 'IsDeleted', values: ['true', '1'], required: true },
    };

    // Act
    const act = () => bindHeader(header, entity);

    // Assess
    expect(act).toThrow(`header is missing required columns: ${missing} (found: ${header.join(', ')})`);
  });

  it('names duplicate header columns that the mapping uses', () => {
    // Prepare
    const entity = contactEntity();
    const header = ['Id', 'LastName', 'Email', 'LastModifiedDate', 'IsDeleted', 'EMAIL '];

    // Act
    const act = () => bindHeader(header, entity);

    // Assess
    expect(act).toThrow(HeaderMismatchError);
    expect(act).toThrow(/duplicate columns used by the mapping: Email \/ EMAIL {2}\(columns 3, 6\)/);
  });

  it('ignores duplicate columns that no mapping uses', () => {
    // Prepare
    const entity = contactEntity();
    const header = ['Id', 'Notes', 'LastName', 'notes', 'LastModifiedDate', 'IsDeleted'];

    // Act
    const binding = bindHeader(header, entity);

    // Assess
    expect(binding.fieldColumns.map((f) => f.field)).toEqual(['id', 'lastName', 'updatedAt']);
  });

  it('reports missing and duplicate columns in one message', () => {
    // Prepare
    const entity = contactEntity();
    const header = ['Id', 'Id', 'IsDeleted'];

    // Act
    const act = () => bindHeader(header, entity);

    // Assess
    expect(act).toThrow(
      'header is missing required columns: LastName (or Last Name), LastModifiedDate (or Last Modified Date); ' +
        'header has duplicate columns used by the mapping: Id / Id (columns 1, 2) (pick one on the field with ' +
        '`occurrence: <n>`, the n-th column of that name, or `position: <column number>`) (found: Id, Id, IsDeleted)',
    );
  });
});

describe('mapRecord', () => {
  it('maps a valid row to a typed item', () => {
    // Prepare
    const entity = contactEntity();
    const binding = bindHeader(DATA_LOADER_HEADER, entity);

    // Act
    const result = mapRecord(row(), binding, entity);

    // Assess
    expect(result).toEqual({
      ok: true,
      key: '0035e00000AbCdEAAV',
      updatedAt: '2024-03-05T10:22:33.000Z',
      deleted: false,
      item: {
        id: '0035e00000AbCdEAAV',
        accountId: '0015e00000XyZwQAAV',
        firstName: 'Ada King',
        lastName: 'Lovelace',
        email: 'ada@example.com',
        phone: '+16502530000',
        hasOptedOutOfEmail: true,
        birthdate: '1815-12-10',
        createdAt: '2024-03-01T09:00:00.000Z',
        updatedAt: '2024-03-05T10:22:33.000Z',
      },
    });
  });

  it('omits absent fields from the item', () => {
    // Prepare
    const entity = contactEntity();
    const binding = bindHeader(DATA_LOADER_HEADER, entity);

    // Act
    const result = mapRecord(row({ ACCOUNTID: '', EMAIL: '   ', BIRTHDATE: '' }), binding, entity);

    // Assess
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.item).not.toHaveProperty('accountId');
    expect(result.item).not.toHaveProperty('email');
    expect(result.item).not.toHaveProperty('birthdate');
    expect(result.item).not.toHaveProperty('title');
  });

  it.each([
    ['too few fields', row().slice(0, -1), 'column_count:11:10'],
    ['too many fields', [...row(), 'extra'], 'column_count:11:12'],
    ['one empty field', [''], 'column_count:11:1'],
  ])('rejects a ragged row (%s) without guessing', (_name, fields, reason) => {
    // Prepare
    const entity = contactEntity();
    const binding = bindHeader(DATA_LOADER_HEADER, entity);

    // Act
    const result = mapRecord(fields, binding, entity);

    // Assess
    expect(result).toEqual({ ok: false, reasons: [reason] });
  });

  it('collects every reason of a row, not just the first', () => {
    // Prepare
    const entity = contactEntity();
    const binding = bindHeader(DATA_LOADER_HEADER, entity);
    const fields = row({
      LASTNAME: '   ',
      EMAIL: 'ada at example.com',
      PHONE: 'call me',
      HASOPTEDOUTOFEMAIL: 'maybe',
      BIRTHDATE: '2023-02-29',
      LASTMODIFIEDDATE: 'yesterday',
    });

    // Act
    const result = mapRecord(fields, binding, entity);

    // Assess
    expect(result).toEqual({
      ok: false,
      reasons: [
        'required:LastName',
        'invalid_email:Email',
        'invalid_phone:Phone',
        'invalid_boolean:HasOptedOutOfEmail',
        'invalid_date:Birthdate',
        'invalid_datetime:LastModifiedDate',
      ],
    });
  });

  it.each([
    ['the key', { ID: '' }, ['required:Id']],
    ['the updatedAt', { LASTMODIFIEDDATE: '' }, ['required:LastModifiedDate']],
    ['key and updatedAt', { ID: ' ', LASTMODIFIEDDATE: '' }, ['required:Id', 'required:LastModifiedDate']],
  ])('rejects a row without %s', (_name, overrides, reasons) => {
    // Prepare
    const entity = contactEntity();
    const binding = bindHeader(DATA_LOADER_HEADER, entity);

    // Act
    const result = mapRecord(row(overrides), binding, entity);

    // Assess
    expect(result).toEqual({ ok: false, reasons });
  });

  it.each(['true', 'TRUE', ' True ', '1'])('marks a row deleted when the flag is %j', (flag) => {
    // Prepare
    const entity = contactEntity();
    const binding = bindHeader(DATA_LOADER_HEADER, entity);

    // Act
    const result = mapRecord(row({ ISDELETED: flag }), binding, entity);

    // Assess
    expect(result).toMatchObject({ ok: true, key: '0035e00000AbCdEAAV', deleted: true });
  });

  it.each(['false', '0', '', 'yes'])('does not delete when the flag is %j', (flag) => {
    // Prepare
    const entity = contactEntity();
    const binding = bindHeader(DATA_LOADER_HEADER, entity);

    // Act
    const result = mapRecord(row({ ISDELETED: flag }), binding, entity);

    // Assess
    expect(result).toMatchObject({ ok: true, deleted: false });
  });

  it('deletes despite other field errors: a delete row carries only its key and updatedAt', () => {
    // Prepare
    const entity = contactEntity();
    const binding = bindHeader(DATA_LOADER_HEADER, entity);
    const fields = row({ ISDELETED: 'true', LASTNAME: '', EMAIL: 'not an email', PHONE: '12' });

    // Act
    const result = mapRecord(fields, binding, entity);

    // Assess
    expect(result).toEqual({
      ok: true,
      key: '0035e00000AbCdEAAV',
      updatedAt: '2024-03-05T10:22:33.000Z',
      deleted: true,
      item: { id: '0035e00000AbCdEAAV', updatedAt: '2024-03-05T10:22:33.000Z' },
    });
  });

  it.each([
    ['no key', { ID: '' }, ['required:Id']],
    [
      'an invalid updatedAt',
      { LASTMODIFIEDDATE: '2024-02-30T00:00:00Z' },
      ['invalid_datetime:LastModifiedDate'],
    ],
  ])('rejects a delete row with %s', (_name, overrides, reasons) => {
    // Prepare
    const entity = contactEntity();
    const binding = bindHeader(DATA_LOADER_HEADER, entity);

    // Act
    const result = mapRecord(row({ ISDELETED: 'true', EMAIL: 'bad', ...overrides }), binding, entity);

    // Assess
    expect(result).toEqual({ ok: false, reasons });
  });

  it('fills a default for an empty cell', () => {
    // Prepare
    const entity = contactEntity();
    const binding = bindHeader(DATA_LOADER_HEADER, entity);

    // Act
    const result = mapRecord(row({ HASOPTEDOUTOFEMAIL: '' }), binding, entity);

    // Assess
    expect(result).toMatchObject({ ok: true, item: { hasOptedOutOfEmail: false } });
  });

  it('fills a default for a column the file does not have', () => {
    // Prepare
    const entity = contactEntity();
    const header = ['Id', 'LastName', 'LastModifiedDate', 'IsDeleted'];
    const binding = bindHeader(header, entity);

    // Act
    const result = mapRecord(['003A', 'Lovelace', '2024-03-05 10:22:33', 'false'], binding, entity);

    // Assess
    expect(binding.missingOptional).toContain('HasOptedOutOfEmail');
    expect(result).toEqual({
      ok: true,
      key: '003A',
      updatedAt: '2024-03-05T10:22:33.000Z',
      deleted: false,
      item: {
        id: '003A',
        lastName: 'Lovelace',
        hasOptedOutOfEmail: false,
        updatedAt: '2024-03-05T10:22:33.000Z',
      },
    });
  });

  it('keeps the key as text exactly as normalized', () => {
    // Prepare
    const config = parseConfig({
      entities: {
        order: {
          target: { key: 'orderNo' },
          fields: {
            orderNo: { source: 'Order No', type: 'integer', required: true },
            note: { source: 'Note', transforms: [] },
          },
        },
      },
    });
    const entity = config.entities['order'] as EntityConfig;
    const binding = bindHeader(['order no', 'NOTE'], entity);

    // Act
    const result = mapRecord(['1,042', ' 👋 null '], binding, entity);

    // Assess
    expect(result).toEqual({
      ok: true,
      key: '1042',
      updatedAt: undefined,
      deleted: false,
      item: { orderNo: 1042, note: ' 👋 null ' },
    });
    expect(binding.deleteIndex).toBeUndefined();
  });
});
