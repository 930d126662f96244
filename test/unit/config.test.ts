import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import {
  columnKey,
  configHash,
  effectiveNullValues,
  getEntity,
  parseConfig,
  parseConfigText,
} from '../../lambdas/domain/config';
import { UnknownEntityError } from '../../lambdas/domain/errors';
import { PRESETS } from '../../lambdas/domain/presets';
import { configIssues } from './fixtures';

const EXAMPLE = readFileSync(join(__dirname, '../../examples/crm-sync.config.json'), 'utf8');

/** A valid entity to break one piece at a time. */
const entity = (over: Record<string, unknown> = {}) => ({
  target: { key: 'id' },
  fields: {
    id: { source: 'Id', required: true },
    email: { source: 'Email', type: 'email' },
    modified: { source: 'LastModifiedDate', type: 'datetime' },
  },
  updatedAt: 'modified',
  ...over,
});

describe('config', () => {
  it.each([
    ['the example', EXAMPLE],
    ['the salesforce preset as YAML', toYaml(PRESETS.salesforce)],
    ['the hubspot preset as JSON', JSON.stringify(PRESETS.hubspot)],
    [
      'a config with local settings',
      JSON.stringify({ local: { keepSnapshots: 3 }, entities: { contact: entity() } }),
    ],
    [
      'a config with email notifications',
      JSON.stringify({ notify: { email: ['ops@example.com'] }, entities: { contact: entity() } }),
    ],
  ])('accepts %s', (_name, text) => {
    // Act
    const config = parseConfigText(text);

    // Assess
    expect(Object.keys(config.entities).length).toBeGreaterThan(0);
  });

  it.each<[string, unknown, string[]]>([
    [
      'an unknown type',
      {
        entities: {
          contact: entity({
            fields: { id: { source: 'Id', required: true }, e: { source: 'E', type: 'mail' } },
            updatedAt: undefined,
          }),
        },
      },
      ['entities.contact.fields.e.type: unknown type "mail"'],
    ],
    [
      'an unknown transform and a key that is not required',
      {
        entities: {
          contact: entity({ fields: { id: { source: 'Id', transforms: ['shout'] } }, updatedAt: undefined }),
        },
      },
      [
        'entities.contact.fields.id.transforms.0: unknown transform "shout"',
        'entities.contact.fields.id.required: the key field must be required',
      ],
    ],
    [
      'a key field that does not exist',
      { entities: { contact: entity({ target: { key: 'uid' } }) } },
      ['entities.contact.target.key: key field "uid" is not in fields'],
    ],
    [
      'an updatedAt that is not a date',
      { entities: { contact: entity({ updatedAt: 'email' }) } },
      ['entities.contact.updatedAt: field "email" must be of type datetime or date'],
    ],
    [
      'an enum without values',
      {
        entities: {
          contact: entity({
            fields: { id: { source: 'Id', required: true }, s: { source: 'S', type: 'enum' } },
            updatedAt: undefined,
          }),
        },
      },
      ['entities.contact.fields.s.values: an enum field needs values'],
    ],
    [
      'a reference to an unknown entity',
      {
        entities: {
          contact: entity({
            fields: { id: { source: 'Id', required: true }, accountId: { source: 'AccountId' } },
            updatedAt: undefined,
            references: { accountId: { entity: 'account' } },
          }),
        },
      },
      ['entities.contact.references.accountId.entity: unknown entity "account"'],
    ],
    [
      'a reference whose reject is not a boolean',
      {
        entities: {
          account: entity(),
          contact: entity({
            fields: { id: { source: 'Id', required: true }, accountId: { source: 'AccountId' } },
            updatedAt: undefined,
            references: { accountId: { entity: 'account', reject: 'yes' } },
          }),
        },
      },
      ['entities.contact.references.accountId.reject: Invalid input: expected boolean, received string'],
    ],
    [
      'a bad delimiter and format',
      { entities: { contact: entity({ source: { delimiter: ':', format: 'xml' } }) } },
      [
        'entities.contact.source.format: Invalid option: expected one of "auto"|"csv"|"jsonl"',
        'entities.contact.source.delimiter: Invalid option: expected one of "auto"|","|";"|"\t"|"|"',
      ],
    ],
    ['no entities', { entities: {} }, ['entities: at least one entity is required']],
    [
      'several problems at once, each by path',
      {
        entities: {
          contact: entity({
            fields: { id: { source: 'Id' }, e: { source: 'E', type: 'mail' } },
            updatedAt: 'gone',
          }),
        },
      },
      [
        'entities.contact.fields.e.type: unknown type "mail"',
        'entities.contact.fields.id.required: the key field must be required',
        'entities.contact.updatedAt: field "gone" is not in fields',
      ],
    ],
    [
      'malformed phone settings',
      {
        entities: {
          contact: entity({
            fields: {
              id: { source: 'Id', required: true },
              a: { source: 'A', type: 'phone', validity: 'strict' },
              b: { source: 'B', type: 'phone', regionFrom: '  ' },
              c: { source: 'C', type: 'string', validity: 'possible', regionFrom: 'Country' },
              d: { source: 'D', type: 'phone', validity: 1, regionFrom: 7 },
            },
            updatedAt: undefined,
          }),
        },
      },
      [
        'entities.contact.fields.a.validity: unknown validity "strict" (valid or possible)',
        'entities.contact.fields.b.regionFrom: regionFrom column name is empty',
        'entities.contact.fields.d.validity: unknown validity 1 (valid or possible)',
        'entities.contact.fields.d.regionFrom: Invalid input: expected string, received number',
        'entities.contact.fields.c.validity: validity applies to phone fields only',
        'entities.contact.fields.c.regionFrom: regionFrom applies to phone fields only',
      ],
    ],
    [
      'a Lambda concurrency of 0',
      { lambdaConcurrency: 0, entities: { contact: entity() } },
      ['lambdaConcurrency: lambdaConcurrency must be at least 1'],
    ],
    [
      'a fractional Lambda concurrency',
      { lambdaConcurrency: 2.5, entities: { contact: entity() } },
      ['lambdaConcurrency: lambdaConcurrency must be a whole number'],
    ],
    [
      'a Lambda concurrency above the Distributed Map limit',
      { lambdaConcurrency: 20_000, entities: { contact: entity() } },
      ['lambdaConcurrency: lambdaConcurrency must be at most 10000 (the Distributed Map limit)'],
    ],
    [
      'a Lambda concurrency given as text',
      { lambdaConcurrency: '100', entities: { contact: entity() } },
      ['lambdaConcurrency: lambdaConcurrency must be a number'],
    ],
    [
      'no snapshot kept locally',
      { local: { keepSnapshots: 0 }, entities: { contact: entity() } },
      ['local.keepSnapshots: local.keepSnapshots must be at least 1 (the snapshot just taken)'],
    ],
    [
      'a fractional number of local snapshots',
      { local: { keepSnapshots: 2.5 }, entities: { contact: entity() } },
      ['local.keepSnapshots: local.keepSnapshots must be a whole number'],
    ],
    [
      'local snapshots given as text',
      { local: { keepSnapshots: '3' }, entities: { contact: entity() } },
      ['local.keepSnapshots: local.keepSnapshots must be a number'],
    ],
    [
      'too many local snapshots',
      { local: { keepSnapshots: 20_000 }, entities: { contact: entity() } },
      ['local.keepSnapshots: local.keepSnapshots must be at most 10000'],
    ],
    [
      'a notification address that is no email address',
      { notify: { email: ['ops@example.com', 'ops.example.com'] }, entities: { contact: entity() } },
      ['notify.email.1: "ops.example.com" is not an email address'],
    ],
    [
      'a notification address that is no text',
      { notify: { email: [42] }, entities: { contact: entity() } },
      ['notify.email.0: an email address must be text'],
    ],
    [
      'one notification address given as text, not a list',
      { notify: { email: 'ops@example.com' }, entities: { contact: entity() } },
      ['notify.email: notify.email must be a list of email addresses'],
    ],
    [
      'a notification address listed twice',
      { notify: { email: ['ops@example.com', 'OPS@example.com'] }, entities: { contact: entity() } },
      ['notify.email: notify.email lists an address twice'],
    ],
    [
      'an unknown notification channel',
      { notify: { sms: ['+15550100'] }, entities: { contact: entity() } },
      ['notify: Unrecognized key: "sms"'],
    ],
    [
      'an unknown local setting',
      { local: { keepSnapshot: 3 }, entities: { contact: entity() } },
      ['local: Unrecognized key: "keepSnapshot"'],
    ],
  ])('lists every problem of %s by path', (_name, raw, expected) => {
    // Act
    const issues = configIssues(raw);

    // Assess
    expect(issues).toEqual(expected);
  });

  it.each<[string, unknown, string[] | undefined]>([
    [
      'two addresses',
      { email: ['ops@example.com', 'data-team@example.org'] },
      ['ops@example.com', 'data-team@example.org'],
    ],
    ['notify without email', {}, []],
    ['no notify', undefined, undefined],
  ])('reads the notification addresses of %s', (_what, notify, expected) => {
    // Act
    const config = parseConfig({ ...(notify ? { notify } : {}), entities: { contact: entity() } });

    // Assess
    expect(config.notify?.email).toEqual(expected);
  });

  /** An entity whose field `f` (column F) has the given settings. */
  const withField = (f: Record<string, unknown>, over: Record<string, unknown> = {}) => ({
    entities: {
      contact: entity({
        fields: { id: { source: 'Id', required: true }, f: { source: 'F', ...f } },
        updatedAt: undefined,
        ...over,
      }),
    },
  });

  it.each<[string, unknown, string[]]>([
    [
      'occurrence 0',
      withField({ occurrence: 0 }),
      [
        'entities.contact.fields.f.occurrence: occurrence counts from 1 (the first column of that name is occurrence 1)',
      ],
    ],
    [
      'occurrence 1.5',
      withField({ occurrence: 1.5 }),
      ['entities.contact.fields.f.occurrence: occurrence is a whole number from 1'],
    ],
    [
      'position as text',
      withField({ position: '7' }),
      ['entities.contact.fields.f.position: position is a whole number from 1'],
    ],
    [
      'position 0',
      withField({ position: 0 }),
      ['entities.contact.fields.f.position: position counts from 1 (the first column is position 1)'],
    ],
    [
      'occurrence and position together',
      withField({ occurrence: 2, position: 7 }),
      ['entities.contact.fields.f.position: set occurrence or position, not both'],
    ],
    [
      'aliases not a list',
      withField({ aliases: 'Contact ID' }),
      ['entities.contact.fields.f.aliases: aliases is a list of column names'],
    ],
    [
      'an empty alias',
      withField({ aliases: [' '] }),
      ['entities.contact.fields.f.aliases.0: an alias is empty'],
    ],
    [
      'an alias that repeats the source',
      withField({ aliases: ['G', ' f '] }),
      ['entities.contact.fields.f.aliases.1: alias "f" repeats the source or another alias'],
    ],
    [
      'nullValues not a list',
      withField({ nullValues: 'NULL' }),
      ['entities.contact.fields.f.nullValues: nullValues is a list of strings'],
    ],
    [
      'a null value that is a number',
      withField({ nullValues: [0] }),
      ['entities.contact.fields.f.nullValues.0: a null value is a string'],
    ],
    [
      'an empty null value',
      withField({ nullValues: [''] }),
      ['entities.contact.fields.f.nullValues.0: a null value is empty (an empty cell is already absent)'],
    ],
    [
      'entity nullValues not a list',
      withField({}, { source: { nullValues: { null: true } } }),
      ['entities.contact.source.nullValues: nullValues is a list of strings'],
    ],
    [
      'map not an object',
      withField({ map: ['a'] }),
      ['entities.contact.fields.f.map: map is an object of source text → value'],
    ],
    [
      'a map value that is not a scalar',
      withField({ map: { a: { b: 1 } } }),
      ['entities.contact.fields.f.map.a: map values are strings, numbers or booleans'],
    ],
    [
      'a map with an empty key',
      withField({ map: { ' ': 'x' } }),
      [
        'entities.contact.fields.f.map. : a map key is empty: an empty cell is absent, set `default` for it instead',
      ],
    ],
    [
      'two map keys for the same cell',
      withField({ map: { Won: 'w', ' WON ': 'x' } }),
      ['entities.contact.fields.f.map. WON : map key " WON " is the same cell as "Won"'],
    ],
    [
      'a map key that is a null value',
      withField({ map: { 'N/A': 'x' }, nullValues: ['n/a'] }),
      [
        'entities.contact.fields.f.map.N/A: map key "N/A" is a null value of this field (null values apply first): drop it from one',
      ],
    ],
    [
      'a map value that does not fit the type',
      withField({ type: 'boolean', map: { 'opted out': 'maybe' } }),
      ['entities.contact.fields.f.map.opted out: map value "maybe" is not a valid boolean'],
    ],
    [
      'a delete flag whose required is not a boolean',
      withField({}, { deleteFlag: { source: 'IsDeleted', required: 'no' } }),
      ['entities.contact.deleteFlag.required: Invalid input: expected boolean, received string'],
    ],
  ])('refuses %s', (_name, raw, expected) => {
    // Act
    const issues = configIssues(raw);

    // Assess
    expect(issues).toEqual(expected);
  });

  it.each<[string, Record<string, unknown>, Record<string, unknown>, string[]]>([
    [
      'a string field: the markers and the literal null and None',
      { type: 'string' },
      {},
      ['null', 'none', '#n/a', '[not provided]'],
    ],
    [
      'a number field: the wider list',
      { type: 'number' },
      {},
      ['null', 'none', 'n/a', '#n/a', '[not provided]'],
    ],
    ['a boolean field: none', { type: 'boolean' }, {}, []],
    ['an enum field: none', { type: 'enum', values: ['None', 'Gold'] }, {}, []],
    ['the entity list for every type', { type: 'boolean' }, { source: { nullValues: ['-'] } }, ['-']],
    [
      'the field list over the entity list',
      { type: 'date', nullValues: [] },
      { source: { nullValues: ['-'] } },
      [],
    ],
  ])('null values of %s', (_name, f, over, expected) => {
    // Prepare
    const parsed = parseConfig(withField(f, over)).entities.contact;
    const spec = parsed?.fields.f;
    if (!parsed || !spec) throw new Error('missing field');

    // Act
    const values = effectiveNullValues(parsed, spec);

    // Assess
    expect(values).toEqual(expected);
  });

  it('accepts aliases, occurrence, position, nullValues, map and an optional delete flag column', () => {
    // Act
    const parsed = parseConfig(
      withField(
        { aliases: ['G'], occurrence: 2, nullValues: ['-'], map: { Won: 'won', Lost: 'lost' } },
        { deleteFlag: { source: 'IsDeleted', required: false } },
      ),
    ).entities.contact;

    // Assess
    expect(parsed?.fields.f).toMatchObject({ aliases: ['G'], occurrence: 2, map: { Won: 'won' } });
    expect(parsed?.deleteFlag?.required).toBe(false);
  });

  it('says which file is not JSON or YAML', () => {
    // Act / Assess
    expect(() => parseConfigText('entities: [', 'crm.yaml')).toThrow(/^crm\.yaml is not valid JSON or YAML/);
  });

  it('names the configured entities for an unknown one', () => {
    // Prepare
    const config = parseConfigText(EXAMPLE);

    // Act / Assess
    expect(() => getEntity(config, 'lead')).toThrow(UnknownEntityError);
    expect(() => getEntity(config, 'lead')).toThrow(
      'entity "lead" is not configured (configured: contact, account)',
    );
  });

  it('hashes an entity the same whatever the key order, and differently for another mapping', () => {
    // Prepare
    const a = parseConfig({ entities: { c: entity() } }).entities.c;
    const reordered = parseConfig({
      entities: { c: { updatedAt: 'modified', fields: entity().fields, target: { key: 'id' } } },
    }).entities.c;
    const other = parseConfig({ entities: { c: entity({ writeMode: 'upsert' }) } }).entities.c;
    if (!a || !reordered || !other) throw new Error('missing entity');

    // Act / Assess
    expect(configHash(reordered)).toBe(configHash(a));
    expect(configHash(other)).not.toBe(configHash(a));
  });

  it.each([
    ['LASTMODIFIEDDATE', 'lastmodifieddate'],
    ['  Last Name ', 'last name'],
    ['\u200bRecord ID\ufeff', 'record id'],
  ])('matches column %j as %j', (name, key) => {
    // Act / Assess
    expect(columnKey(name)).toBe(key);
  });
});

describe('names that are Object.prototype members', () => {
  const entityWith = (fields: string, extra = '') =>
    `{"entities":{"contact":{"target":{"key":"id"},"fields":{"id":{"source":"Id","required":true}${fields}}${extra}}}}`;

  it.each<[string, string, string]>([
    [
      'a field __proto__',
      entityWith(',"__proto__":{"source":"X"}'),
      'entities.contact.fields.__proto__: "__proto__" is a reserved name',
    ],
    [
      'a field constructor',
      entityWith(',"constructor":{"source":"X"}'),
      'entities.contact.fields.constructor: "constructor" is a reserved name',
    ],
    [
      'a field toString',
      entityWith(',"toString":{"source":"X"}'),
      'entities.contact.fields.toString: "toString" is a reserved name',
    ],
    [
      'a reference to an entity constructor',
      entityWith(
        ',"accountId":{"source":"AccountId"}',
        ',"references":{"accountId":{"entity":"constructor"}}',
      ),
      'entities.contact.references.accountId.entity: "constructor" is a reserved name',
    ],
    [
      'an entity constructor',
      '{"entities":{"constructor":{"target":{"key":"id"},"fields":{"id":{"source":"Id","required":true}}}}}',
      'entities.constructor: "constructor" is a reserved name',
    ],
  ])('refuses %s by path', (_name, text, issue) => {
    // Act
    const act = () => parseConfigText(text);

    // Assess
    expect(act).toThrow(issue);
  });

  it('accepts the same source column names (they are header text, not config names)', () => {
    // Act
    const config = parseConfigText(
      entityWith(',"proto":{"source":"__proto__"},"ctor":{"source":"constructor"}'),
    );

    // Assess
    expect(Object.keys(config.entities.contact?.fields ?? {})).toEqual(['id', 'proto', 'ctor']);
  });
});

describe('encryption.kmsKey', () => {
  const withKey = (kmsKey: unknown) => ({ encryption: { kmsKey }, entities: { contact: entity() } });
  const KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
  const MRK = 'arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab';

  it.each([
    ['"create"', 'create'],
    ['a key ARN', KEY],
    ['a multi-Region key ARN in another partition', MRK],
  ])('accepts %s', (_name, kmsKey) => {
    // Act
    const config = parseConfig(withKey(kmsKey));

    // Assess
    expect(config.encryption?.kmsKey).toBe(kmsKey);
  });

  it('is optional: no encryption, no key', () => {
    // Act
    const config = parseConfig({ entities: { contact: entity() } });

    // Assess
    expect(config.encryption).toBeUndefined();
  });

  const refusal = (v: string) =>
    `encryption.kmsKey: encryption.kmsKey must be "create" or a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>; not an alias), not "${v}"`;
  it.each<[string, unknown, string[]]>([
    [
      'an alias ARN',
      'arn:aws:kms:eu-west-1:123456789012:alias/crm-sync',
      [refusal('arn:aws:kms:eu-west-1:123456789012:alias/crm-sync')],
    ],
    [
      'a bare key id',
      '1234abcd-12ab-34cd-56ef-1234567890ab',
      [refusal('1234abcd-12ab-34cd-56ef-1234567890ab')],
    ],
    [
      'an account of 11 digits',
      KEY.replace('123456789012', '12345678901'),
      [refusal(KEY.replace('123456789012', '12345678901'))],
    ],
    ['an S3 ARN', 'arn:aws:s3:::bucket', [refusal('arn:aws:s3:::bucket')]],
    ['"Create"', 'Create', [refusal('Create')]],
    ['a number', 42, ['encryption.kmsKey: encryption.kmsKey must be "create" or a KMS key ARN']],
  ])('refuses %s', (_name, kmsKey, expected) => {
    // Act
    const issues = configIssues(withKey(kmsKey));

    // Assess
    expect(issues).toEqual(expected);
  });

  it('refuses an unknown key beside kmsKey, and a missing kmsKey', () => {
    // Act
    const unknown = configIssues({
      encryption: { kmsKey: 'create', alias: 'x' },
      entities: { contact: entity() },
    });
    const missing = configIssues({ encryption: {}, entities: { contact: entity() } });

    // Assess
    expect(unknown).toEqual([expect.stringMatching(/^encryption: Unrecognized key: "alias"/)]);
    expect(missing).toEqual(['encryption.kmsKey: encryption.kmsKey must be "create" or a KMS key ARN']);
  });
});
