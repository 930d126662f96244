import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { columnKey, configHash, getEntity, parseConfig, parseConfigText } from '../../lambdas/domain/config';
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
  ])('lists every problem of %s by path', (_name, raw, expected) => {
    // Act
    const issues = configIssues(raw);

    // Assess
    expect(issues).toEqual(expected);
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
  ])('matches column %j as %j', (name, key) => {
    // Act / Assess
    expect(columnKey(name)).toBe(key);
  });
});
