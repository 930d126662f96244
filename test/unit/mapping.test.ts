import { type EntityConfig, parseConfig } from '../../lambdas/domain/config';
import { HeaderMismatchError } from '../../lambdas/domain/errors';
import { bindHeader, mapRecord, mapValues } from '../../lambdas/domain/mapping';
import { salesforceAccount, salesforceContact } from '../../lambdas/domain/presets';

/**
 * The Salesforce contact preset with every field rejecting its row on a bad cell (onInvalid unset):
 * these tests are about the mapping's reasons. What the preset itself does with a bad optional cell
 * is tested below ("the salesforce preset").
 */
function contactEntity(): EntityConfig {
  const strict = {
    ...salesforceContact,
    fields: Object.fromEntries(
      Object.entries(salesforceContact.fields).map(([name, { onInvalid: _onInvalid, ...field }]) => [
        name,
        field,
      ]),
    ),
  };
  const config = parseConfig({ entities: { contact: strict, account: salesforceAccount } });
  const entity = config.entities['contact'];
  if (!entity) throw new Error('contact entity missing');
  return entity;
}

describe('the salesforce preset', () => {
  it('drops a bad optional cell as a warning and still rejects a bad required one', () => {
    // Prepare
    const config = parseConfig({ entities: { contact: salesforceContact, account: salesforceAccount } });
    const entity = config.entities['contact'] as EntityConfig;
    const binding = bindHeader(DATA_LOADER_HEADER, entity);
    const names = [...binding.fieldColumns.map((f) => f.field), ...binding.missingFields.map((f) => f.field)];

    // Act
    const dropped = mapValues(
      row({ EMAIL: 'not-an-email', PHONE: 'call me', BIRTHDATE: '13/45/1815' }),
      binding,
      entity,
      [],
    );
    const rejected = mapRecord(row({ LASTNAME: '', EMAIL: 'not-an-email' }), binding, entity);

    // Assess
    expect(dropped.ok && dropped.warnings?.map((w) => [w.reason, w.action])).toEqual([
      ['invalid_email:Email', 'drop'],
      ['invalid_phone:Phone', 'drop'],
      ['invalid_date:Birthdate', 'drop'],
    ]);
    expect(names).toContain('email');
    expect(rejected).toEqual({ ok: false, reasons: ['required:LastName'] });
  });
});

/** The header of a real full-field Salesforce Contact export (Data Export / Data Loader names). */
const REAL_CONTACT_HEADER =
  'Id,IsDeleted,MasterRecordId,AccountId,LastName,FirstName,Salutation,Name,OtherStreet,OtherCity,OtherState,OtherPostalCode,OtherCountry,OtherLatitude,OtherLongitude,OtherGeocodeAccuracy,OtherAddress,MailingStreet,MailingCity,MailingState,MailingPostalCode,MailingCountry,MailingLatitude,MailingLongitude,MailingGeocodeAccuracy,MailingAddress,Phone,Fax,MobilePhone,HomePhone,OtherPhone,AssistantPhone,ReportsToId,Email,Title,Department,AssistantName,LeadSource,Birthdate,Description,OwnerId,CreatedDate,CreatedById,LastModifiedDate,LastModifiedById,SystemModstamp,LastActivityDate,LastCURequestDate,LastCUUpdateDate,LastViewedDate,LastReferencedDate,EmailBouncedReason,EmailBouncedDate,IsEmailBounced,PhotoUrl,Jigsaw,JigsawContactId,CleanStatus,IndividualId,Level__c,Languages__c'.split(
    ',',
  );

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
        '(the first line has 4 fields: mapped columns Id, FirstName, Email, IsDeleted; 0 others)',
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
    expect(act).toThrow(
      `header is missing required columns: ${missing} (the first line has ${header.length} fields: mapped columns ${header.join(', ')}; 0 others)`,
    );
  });

  it('names duplicate header columns that the mapping uses', () => {
    // Prepare
    const entity = contactEntity();
    const header = ['Id', 'LastName', 'Email', 'LastModifiedDate', 'IsDeleted', 'EMAIL '];

    // Act
    const act = () => bindHeader(header, entity);

    // Assess
    expect(act).toThrow(HeaderMismatchError);
    expect(act).toThrow(/duplicate columns used by the mapping: Email \(columns 3, 6\)/);
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
        'header has duplicate columns used by the mapping: Id (columns 1, 2) (pick one on the field with ' +
        '`occurrence: <n>`, the n-th column of that name, or `position: <column number>`) (the first line has 3 fields: mapped columns Id, IsDeleted; 0 others)',
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

  it('never fills a default for a column the file does not have (the stored value is kept)', () => {
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
        updatedAt: '2024-03-05T10:22:33.000Z',
      },
    });
  });

  it('keeps the key as text exactly as normalized (a numeric key attribute is stored as its text: table keys are strings)', () => {
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
      item: { orderNo: '1042', note: ' 👋 null ' },
    });
    expect(binding.deleteIndex).toBeUndefined();
  });
});

describe('phone regionFrom', () => {
  /** An entity whose phone takes its region from the Country column. */
  function withRegionColumn(): EntityConfig {
    const config = parseConfig({
      entities: {
        people: {
          target: { key: 'id' },
          fields: {
            id: { source: 'Id', required: true },
            phone: { source: 'Phone', type: 'phone', region: 'US', regionFrom: 'Country' },
          },
        },
      },
    });
    const entity = config.entities['people'];
    if (!entity) throw new Error('people entity missing');
    return entity;
  }

  it.each<[string, string, string | undefined]>([
    ['GB', '020 7946 0958', '+442079460958'],
    ['United Kingdom', '020 7946 0958', '+442079460958'],
    ['Germany', '030 12345678', '+493012345678'],
    ['deutschland', '030 12345678', '+493012345678'],
    ['USA', '(650) 253-0000', '+16502530000'],
    ['', '(650) 253-0000', '+16502530000'], // empty: the field's region
    ['Narnia', '(650) 253-0000', '+16502530000'], // unknown: the field's region
    ['Germany', '(650) 253-0000', '+496502530000'], // read as a German number
    ['France', '(650) 253-0000', undefined], // not a valid French number
  ])('reads the row in the region of its Country cell %j: %j → %s', (country, number, expected) => {
    // Prepare
    const entity = withRegionColumn();
    const binding = bindHeader(['Id', 'Phone', 'COUNTRY'], entity);

    // Act
    const result = mapRecord(['p1', number, country], binding, entity);

    // Assess
    if (expected === undefined) expect(result).toEqual({ ok: false, reasons: ['invalid_phone:Phone'] });
    else expect(result).toMatchObject({ ok: true, item: { id: 'p1', phone: expected } });
  });

  it('exposes the region column, and falls back to the region when the header lacks it', () => {
    // Prepare
    const entity = withRegionColumn();

    // Act
    const present = bindHeader(['Id', 'Phone', 'Country'], entity);
    const absent = bindHeader(['Id', 'Phone'], entity);
    const result = mapRecord(['p1', '(650) 253-0000'], absent, entity);

    // Assess
    expect(present.regionColumns).toEqual([{ field: 'phone', source: 'Country', index: 2 }]);
    expect(present.missingOptional).toEqual([]);
    expect(absent.regionColumns).toEqual([{ field: 'phone', source: 'Country', index: undefined }]);
    // The country column is no mapped column: its absence is no missing column of the file.
    expect(absent.missingOptional).toEqual([]);
    expect(result).toMatchObject({ ok: true, item: { phone: '+16502530000' } });
  });

  it('reads the first of a region column the header repeats (a multi-object export)', () => {
    // Prepare
    const entity = withRegionColumn();

    // Act
    const binding = bindHeader(['Id', 'Phone', 'Country', 'country'], entity);
    const result = mapRecord(['p1', '030 12345678', 'Germany', 'US'], binding, entity);

    // Assess
    expect(binding.regionColumns).toEqual([{ field: 'phone', source: 'Country', index: 2 }]);
    expect(result).toMatchObject({ ok: true, item: { phone: '+493012345678' } });
  });
});

describe('header conventions of real exports', () => {
  /** A HubSpot-like contact entity with the given field settings merged in. */
  const hubspot = (
    fields: Record<string, Record<string, unknown>> = {},
    extra: Record<string, unknown> = {},
  ) => {
    const entity = parseConfig({
      entities: {
        contacts: {
          target: { key: 'id' },
          fields: {
            id: { source: 'Record ID', aliases: ['Record ID - Contact'], required: true, ...fields.id },
            phone: { source: 'Phone Number', type: 'phone', ...fields.phone },
            companyPhone: { source: 'Phone Number', type: 'phone', occurrence: 2, ...fields.companyPhone },
            companyId: { source: 'Record ID - Company', ...fields.companyId },
          },
          references: { companyId: { entity: 'companies' } },
          ...extra,
        },
        companies: { target: { key: 'id' }, fields: { id: { source: 'Record ID', required: true } } },
      },
    }).entities.contacts;
    if (!entity) throw new Error('no entity');
    return entity;
  };
  const MULTI = [
    'Record ID - Contact',
    'Phone Number',
    'Record ID - Company',
    'Company name',
    'Phone Number',
  ];

  it.each<[string, Record<string, Record<string, unknown>>, string[], Array<[string, number]>]>([
    [
      'an alias, and the occurrences of a repeated name',
      { phone: { occurrence: 1 } },
      MULTI,
      [
        ['id', 0],
        ['phone', 1],
        ['companyPhone', 4],
        ['companyId', 2],
      ],
    ],
    [
      'a position whose header cell is the source',
      { phone: { position: 2 }, companyPhone: { occurrence: undefined, position: 5 } },
      MULTI,
      [
        ['id', 0],
        ['phone', 1],
        ['companyPhone', 4],
        ['companyId', 2],
      ],
    ],
    [
      'the source before an alias when the header holds both',
      {},
      ['Record ID - Contact', 'Record ID', 'Phone Number'],
      [
        ['id', 1],
        ['phone', 2],
      ],
    ],
    [
      'an occurrence the header does not reach: an absent optional column',
      {},
      ['Record ID', 'phone number'],
      [
        ['id', 0],
        ['phone', 1],
      ],
    ],
  ])('binds %s', (_name, fields, header, expected) => {
    // Prepare
    const entity = hubspot(fields);

    // Act
    const binding = bindHeader(header, entity);

    // Assess
    expect(binding.fieldColumns.map((f) => [f.field, f.index])).toEqual(expected);
  });

  it.each<[string, Record<string, Record<string, unknown>>, string[], RegExp]>([
    [
      'a repeated name without occurrence or position',
      {},
      MULTI,
      /duplicate columns used by the mapping: Phone Number \(columns 2, 5\) \(pick one on the field with `occurrence: <n>`.*`position: <column number>`\)/,
    ],
    [
      'a position whose header cell is another column',
      { phone: { position: 4 } },
      MULTI,
      /header does not fit the positions: column 4 is not Phone Number \(position of Phone Number\)/,
    ],
    [
      'a position beyond the header',
      { phone: { position: 9 } },
      ['Record ID', 'Phone Number'],
      /position 9 of Phone Number is beyond the header's 2 columns/,
    ],
    [
      'a required field by occurrence the header does not reach',
      { companyPhone: { required: true } },
      ['Record ID', 'Phone Number'],
      /missing required columns: Phone Number \(occurrence 2\)/,
    ],
    [
      'a key none of whose names is in the header',
      {},
      ['Contact ID', 'Phone Number'],
      /missing required columns: Record ID \(or Record ID - Contact\)/,
    ],
  ])('refuses %s', (_name, fields, header, message) => {
    // Prepare
    const entity = hubspot(fields);

    // Act
    const act = () => bindHeader(header, entity);

    // Assess
    expect(act).toThrow(HeaderMismatchError);
    expect(act).toThrow(message);
  });

  it.each<[string, string[], string | undefined]>([
    [
      'a HubSpot contacts export',
      [
        'Record ID',
        'First Name',
        'Last Name',
        'Email',
        'Phone Number',
        'Lifecycle Stage',
        'Create Date',
        'Last Modified Date',
      ],
      `this header looks like the hubspot preset's "contacts" entity (8 of 9 columns): crm-sync config init --preset hubspot`,
    ],
    [
      'a Salesforce contact report',
      [
        'Contact ID',
        'Account ID',
        'First Name',
        'Last Name',
        'Email',
        'Phone',
        'Mobile',
        'Title',
        'Created Date',
        'Last Modified Date',
      ],
      `this header looks like the salesforce preset's "contact" entity (10 of 18 columns): crm-sync config init --preset salesforce`,
    ],
    ['a header like no preset', ['Foo', 'Bar', 'Baz'], undefined],
  ])('says which preset %s looks like', (_name, header, hint) => {
    // Prepare: an entity that needs columns none of these headers has
    const entity = hubspot({ id: { source: 'Key', aliases: undefined } });

    // Act
    let message = '';
    try {
      bindHeader(header, entity);
    } catch (err) {
      message = (err as Error).message;
    }

    // Assess
    expect(message).toMatch(/^header is missing required columns: Key/);
    if (hint === undefined) expect(message).not.toMatch(/looks like/);
    else expect(message.endsWith(`; ${hint}`)).toBe(true);
  });

  it('binds the Salesforce preset to a report export (labels, no IsDeleted) and to the real Data Loader header', () => {
    // Prepare
    const entity = contactEntity();
    const report = [
      'Contact ID',
      'Account ID',
      'First Name',
      'Last Name',
      'Mailing State/Province',
      'Last Modified Date',
    ];
    const real = REAL_CONTACT_HEADER;

    // Act
    const fromReport = bindHeader(report, entity);
    const fromDataLoader = bindHeader(real, entity);

    // Assess
    expect(fromReport.fieldColumns.map((f) => f.field)).toEqual([
      'id',
      'accountId',
      'firstName',
      'lastName',
      'mailingState',
      'updatedAt',
    ]);
    expect(fromReport.deleteIndex).toBeUndefined();
    expect(fromDataLoader.fieldColumns.find((f) => f.field === 'id')?.index).toBe(real.indexOf('Id'));
    expect(fromDataLoader.deleteIndex).toBe(real.indexOf('IsDeleted'));
  });

  it.each<[string, Record<string, Record<string, unknown>>, Record<string, unknown>, string[], unknown]>([
    [
      'an Excel-mangled key',
      {},
      {},
      ['1.11015E+11', '', '', '', ''],
      { ok: false, reasons: ['excel_mangled_id:Record ID'] },
    ],
    [
      'an Excel-mangled reference with a decimal comma',
      {},
      {},
      ['101', '', '1,23E+15', '', ''],
      { ok: false, reasons: ['excel_mangled_id:Record ID - Company'] },
    ],
    [
      'a null value in a required key',
      {},
      {},
      ['#N/A', '', '', '', ''],
      { ok: false, reasons: ['required:Record ID'] },
    ],
    [
      'a null value in an optional phone: absent, not invalid',
      { phone: { occurrence: 1 } },
      {},
      ['101', '[not provided]', '', '', 'none'],
      { ok: true, key: '101', updatedAt: undefined, deleted: false, item: { id: '101' } },
    ],
    [
      'a field without null values keeps the marker (and rejects it)',
      { phone: { occurrence: 1, nullValues: [] } },
      {},
      ['101', 'N/A', '', '', ''],
      { ok: false, reasons: ['invalid_phone:Phone Number'] },
    ],
    [
      'the entity list replaces the defaults',
      { phone: { occurrence: 1 } },
      { source: { nullValues: ['-'] } },
      ['101', '-', '', '', ''],
      { ok: true, key: '101', updatedAt: undefined, deleted: false, item: { id: '101' } },
    ],
    [
      'a zero-width space around the key',
      {},
      {},
      ['\u200b101\u200b', '', '', '', ''],
      { ok: true, key: '101', updatedAt: undefined, deleted: false, item: { id: '101' } },
    ],
    [
      'a number-typed key keeps accepting exponents',
      { id: { type: 'number' } },
      {},
      ['1.5E+3', '', '', '', ''],
      { ok: true, key: '1500', updatedAt: undefined, deleted: false, item: { id: '1500' } },
    ],
  ])('maps %s', (_name, fields, extra, row, expected) => {
    // Prepare
    const entity = hubspot({ phone: { occurrence: 1 }, ...fields }, extra);
    const binding = bindHeader(MULTI, entity);

    // Act
    const result = mapRecord(row, binding, entity);

    // Assess
    expect(result).toEqual(expected);
  });

  it('maps picklist values and types them, leaving unmapped ones to the type', () => {
    // Prepare
    const entity = parseConfig({
      entities: {
        deal: {
          target: { key: 'id' },
          fields: {
            id: { source: 'Id', required: true },
            stage: { source: 'Stage', map: { 'Closed Won': 'won', 'Closed Lost': 'lost' } },
            tier: { source: 'Tier', type: 'enum', values: ['gold', 'silver'], map: { Platinum: 'gold' } },
            optedOut: { source: 'Opt Out', type: 'boolean', map: { 'Opted Out': true, Subscribed: false } },
          },
        },
      },
    }).entities.deal;
    if (!entity) throw new Error('no entity');
    const binding = bindHeader(['Id', 'Stage', 'Tier', 'Opt Out'], entity);

    // Act
    const results = [
      ['1', 'closed won', 'PLATINUM', 'Opted Out'],
      ['2', 'Prospecting', 'silver', 'yes'],
      ['3', 'Closed Lost', 'bronze', 'Subscribed'],
    ].map((r) => mapRecord(r, binding, entity));

    // Assess
    expect(results).toEqual([
      {
        ok: true,
        key: '1',
        updatedAt: undefined,
        deleted: false,
        item: { id: '1', stage: 'won', tier: 'gold', optedOut: true },
      },
      {
        ok: true,
        key: '2',
        updatedAt: undefined,
        deleted: false,
        item: { id: '2', stage: 'Prospecting', tier: 'silver', optedOut: true },
      },
      { ok: false, reasons: ['invalid_enum:Tier'] },
    ]);
  });
});
