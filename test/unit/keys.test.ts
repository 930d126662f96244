import fc from 'fast-check';
import { parseConfig } from '../../lambdas/domain/config';
import {
  entityKeys,
  keyAttributes,
  keyOfItem,
  keyPartOf,
  parentKeyOf,
  recordKey,
  recordKeyFits,
  renderKeyPart,
  splitKey,
  templateProblem,
} from '../../lambdas/domain/keys';
import { bindHeader, mapRecord, notCarriedFields } from '../../lambdas/domain/mapping';
import { PartitionMerger } from '../../lambdas/domain/merge';
import { tableDefinitions } from '../../lambdas/domain/tables';
import { SHARED_TABLE } from '../shared-table';
import { configIssues } from './fixtures';

const OPPORTUNITY = {
  target: { partitionKey: { name: 'pk', value: '{topic}#{createdOn}#{owner}' } },
  fields: {
    topic: { source: 'Topic', required: true },
    createdOn: { source: 'Created On', type: 'datetime', required: true },
    owner: { source: 'Owner', required: true },
    amount: { source: 'Amount', type: 'number' },
    modified: { source: 'Modified', type: 'datetime', required: true },
  },
  updatedAt: 'modified',
} as const;

const CONTACT = {
  target: {
    ...SHARED_TABLE.contact,
    indexes: {
      byEmail: {
        partitionKey: { name: 'gsi1pk', value: 'EMAIL#{email}' },
        sortKey: 'id',
        projection: 'keys',
      },
    },
  },
  fields: {
    id: { source: 'Id', required: true },
    accountId: { source: 'AccountId', required: true },
    email: { source: 'Email', type: 'email' },
    score: { source: 'Score', type: 'integer' },
  },
} as const;

const ACCOUNT = {
  target: { ...SHARED_TABLE.account, indexes: { byScore: { partitionKey: 'region', sortKey: 'score' } } },
  fields: {
    id: { source: 'Id', required: true },
    region: { source: 'Region' },
    score: { source: 'Score', type: 'integer' },
  },
} as const;

describe('key templates', () => {
  it.each([
    ['ACCOUNT#{accountId}', [{ literal: 'ACCOUNT#' }, { field: 'accountId' }], undefined],
    ['{a}#{b}', [{ field: 'a' }, { literal: '#' }, { field: 'b' }], undefined],
    ['METADATA', [{ literal: 'METADATA' }], undefined],
    ['{a}{a}', [{ field: 'a' }, { field: 'a' }], undefined],
    ['A#{a', undefined, 'has a brace outside a {field} placeholder'],
    ['A#{}', undefined, 'has a brace outside a {field} placeholder'],
    ['A#{1a}', undefined, 'has a brace outside a {field} placeholder'],
    ['A}', undefined, 'has a brace outside a {field} placeholder'],
  ])('%p parses as %p (%p)', (template, parts, problem) => {
    // Act
    const found = templateProblem(template);

    // Assess
    if (problem === undefined) {
      expect(found).toBeUndefined();
      expect(keyPartOf({ name: 'pk', value: template }).parts).toEqual(parts);
    } else {
      expect(found).toContain(problem);
    }
  });

  it.each([
    ['a field', 'id', { id: 'c1' }, 'c1'],
    ['a template', { name: 'pk', value: 'ACCOUNT#{accountId}' }, { accountId: 'a1' }, 'ACCOUNT#a1'],
    ['a number and a boolean', { name: 'pk', value: '{n}/{b}' }, { n: 12.5, b: false }, '12.5/false'],
    ['a constant', { name: 'sk', value: 'METADATA' }, {}, 'METADATA'],
    ['a missing value', { name: 'pk', value: 'A#{x}#{y}' }, { x: '1' }, undefined],
    ['a null value', 'id', { id: null }, undefined],
  ])('renders %s', (_what, spec, values: Record<string, string | number | boolean | null>, expected) => {
    // Act
    const out = renderKeyPart(keyPartOf(spec), (f) => values[f]);

    // Assess
    expect(out).toBe(expected);
  });

  it('keeps one string per item: a composite key splits back into its values, whatever they hold', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), (pk, sk, single) => {
        const table = { partition: 'pk', sort: 'sk' };
        const key = recordKey(pk, sk);
        expect(splitKey(key)).toEqual([pk, sk]);
        expect(keyAttributes(table, key)).toEqual({ pk, sk });
        expect(keyOfItem(table, { pk, sk, other: 1 })).toBe(key);
        // A table without a sort key keeps the value as it is, even one that looks like JSON.
        expect(recordKey(single)).toBe(single);
        expect(keyAttributes({ partition: 'id' }, single)).toEqual({ id: single });
      }),
    );
  });

  it.each([
    ['a partition key within 2,048 bytes', { partition: 'id' }, 'x'.repeat(2048), 2048, true],
    ['a partition key over it', { partition: 'id' }, 'é'.repeat(1025), 2048, false],
    ['an empty partition key', { partition: 'id' }, '', 2048, false],
    [
      'a sort key within 1,024 bytes',
      { partition: 'pk', sort: 'sk' },
      recordKey('a', 'x'.repeat(1024)),
      2048,
      true,
    ],
    ['a sort key over it', { partition: 'pk', sort: 'sk' }, recordKey('a', 'x'.repeat(1025)), 2048, false],
    ['an empty sort key', { partition: 'pk', sort: 'sk' }, recordKey('a', ''), 2048, false],
    [
      'a composite key too long for a tombstone',
      { partition: 'pk', sort: 'sk' },
      recordKey('p'.repeat(1200), 's'.repeat(1000)),
      2048,
      false,
    ],
  ])('%s fits: %p', (_what, table, key, max, fits) => {
    // Act / Assess
    expect(recordKeyFits(table, key, max)).toBe(fits);
  });

  it('resolves an entity: its table key, the attributes it adds to items, the entity type', () => {
    // Prepare
    const config = parseConfig({ entities: { contact: CONTACT, account: ACCOUNT } });

    // Act
    const keys = entityKeys(config.entities.contact as never);

    // Assess
    expect(keys.table).toEqual({ partition: 'pk', sort: 'sk' });
    expect(keys.keyFields).toEqual(['accountId', 'id']);
    expect(keys.derived.map((d) => d.name)).toEqual(['pk', 'sk', 'gsi1pk', '_et']);
    expect(keys.entityType).toEqual({ name: '_et', value: 'contact' });
    expect(parentKeyOf(config.entities.account as never, 'a1')).toBe(recordKey('ACCOUNT#a1', 'ACCOUNT#a1'));
  });
});

describe('mapping with key templates', () => {
  const config = parseConfig({ entities: { contact: CONTACT, account: ACCOUNT, opportunity: OPPORTUNITY } });
  const contact = config.entities.contact as never;

  it('adds the key attributes to the item and names the record by its composite key', () => {
    // Prepare
    const binding = bindHeader(['Id', 'AccountId', 'Email', 'Score'], contact);

    // Act
    const full = mapRecord(['c1', 'a1', 'Ann@Example.com', '7'], binding, contact);
    const noEmail = mapRecord(['c2', 'a1', '', ''], binding, contact);
    const noAccount = mapRecord(['c3', '', 'x@example.com', ''], binding, contact);

    // Assess
    expect(full).toEqual({
      ok: true,
      key: recordKey('ACCOUNT#a1', 'CONTACT#c1'),
      item: {
        id: 'c1',
        accountId: 'a1',
        email: 'ann@example.com',
        score: 7,
        pk: 'ACCOUNT#a1',
        sk: 'CONTACT#c1',
        gsi1pk: 'EMAIL#ann@example.com',
        _et: 'contact',
      },
      updatedAt: undefined,
      deleted: false,
    });
    // No email: the index attribute is left out (a sparse index), the item is kept.
    expect(noEmail).toMatchObject({
      ok: true,
      item: { id: 'c2', pk: 'ACCOUNT#a1', sk: 'CONTACT#c2', _et: 'contact' },
    });
    expect(noEmail.ok && 'gsi1pk' in noEmail.item).toBe(false);
    expect(noAccount).toEqual({ ok: false, reasons: ['required:AccountId'] });
  });

  it('does not carry an index attribute whose field the file lacks (a partial export keeps the stored one)', () => {
    // Act / Assess
    expect(notCarriedFields(['Id', 'AccountId', 'Score'], 'csv', contact)).toEqual(['email', 'gsi1pk']);
    expect(notCarriedFields(['Id', 'AccountId', 'Email', 'Score'], 'csv', contact)).toEqual([]);
  });

  it('picks the winner of an id-less export per (topic, created on, owner) as a reference model does', () => {
    // Prepare
    const entity = config.entities.opportunity as never;
    const header = ['Topic', 'Created On', 'Owner', 'Amount', 'Modified'];
    const binding = bindHeader(header, entity);
    const row = fc.record({
      topic: fc.constantFrom('Renewal', 'Upsell', 'Order #12', 'a|b'),
      created: fc.constantFrom('2024-01-05T10:00:00Z', '2024-02-01T09:00:00Z'),
      owner: fc.constantFrom('Ann', 'Bob', 'Zoë'),
      modified: fc.constantFrom('2024-01-01T00:00:00Z', '2024-03-01T00:00:00Z', '2024-06-01T00:00:00Z'),
      amount: fc.integer({ min: 0, max: 999 }),
    });

    fc.assert(
      fc.property(fc.array(row, { maxLength: 40 }), (rows) => {
        // Act: the transform's mapping, then the merge's winner per key.
        const merger = new PartitionMerger();
        rows.forEach((r, i) => {
          const mapped = mapRecord(
            [r.topic, r.created, r.owner, String(r.amount), r.modified],
            binding,
            entity,
          );
          if (!mapped.ok) throw new Error(mapped.reasons.join(','));
          merger.add({ k: mapped.key, l: i + 2, v: mapped.updatedAt ?? '', d: false, i: mapped.item });
        });
        const out = merger.finish(new Map(), 'newer-wins', 'run-1');

        // Assess: the reference model groups by the three values and keeps the newest, the later line on a tie.
        const model = new Map<string, { modified: string; line: number; amount: number }>();
        rows.forEach((r, i) => {
          const id = JSON.stringify([r.topic, r.created, r.owner]);
          const seen = model.get(id);
          if (!seen || r.modified > seen.modified || (r.modified === seen.modified && i + 2 > seen.line)) {
            model.set(id, { modified: r.modified, line: i + 2, amount: r.amount });
          }
        });
        expect(out.puts.map((c) => [c.line, c.item.amount]).sort()).toEqual(
          [...model.values()].map((w) => [w.line, w.amount]).sort(),
        );
        expect(out.superseded).toBe(rows.length - model.size);
      }),
    );
  });
});

describe('numeric keys', () => {
  it('stores a numeric key field as its text (table keys are strings) and types a currency index key as a number', () => {
    // Prepare
    const config = parseConfig({
      entities: {
        order: {
          target: { key: 'orderNo', indexes: { byTotal: { partitionKey: 'customer', sortKey: 'total' } } },
          fields: {
            orderNo: { source: 'Order No', type: 'integer', required: true },
            customer: { source: 'Customer' },
            total: { source: 'Total', type: 'currency' },
          },
        },
      },
    });
    const entity = config.entities.order as never;

    // Act
    const mapped = mapRecord(
      ['00042', 'ACME', '$1,234.50'],
      bindHeader(['Order No', 'Customer', 'Total'], entity),
      entity,
    );
    const [table] = tableDefinitions(config);

    // Assess
    expect(mapped).toMatchObject({
      ok: true,
      key: '42',
      item: { orderNo: '42', customer: 'ACME', total: 1234.5 },
    });
    expect(table?.partition).toEqual({ name: 'orderNo', type: 'S' });
    expect(table?.indexes[0]?.sort).toEqual({ name: 'total', type: 'N' });
  });
});

describe('tables of a config', () => {
  it('makes one table per shared name with the union of its entities’ indexes, and one per entity otherwise', () => {
    // Prepare
    const config = parseConfig({
      entities: { contact: CONTACT, account: ACCOUNT, opportunity: OPPORTUNITY },
    });

    // Act
    const tables = tableDefinitions(config);

    // Assess
    expect(tables).toEqual([
      {
        id: 'table:crm',
        shared: 'crm',
        entities: ['contact', 'account'],
        tableName: undefined,
        partition: { name: 'pk', type: 'S' },
        sort: { name: 'sk', type: 'S' },
        indexes: [
          {
            name: 'byEmail',
            partition: { name: 'gsi1pk', type: 'S' },
            sort: { name: 'id', type: 'S' },
            projection: 'keys',
          },
          {
            name: 'byScore',
            partition: { name: 'region', type: 'S' },
            sort: { name: 'score', type: 'N' },
            projection: 'all',
          },
        ],
      },
      {
        id: 'opportunity',
        shared: undefined,
        entities: ['opportunity'],
        tableName: undefined,
        partition: { name: 'pk', type: 'S' },
        indexes: [],
      },
    ]);
  });
});

describe('key config problems', () => {
  const fields = {
    id: { source: 'Id', required: true },
    accountId: { source: 'AccountId', required: true },
    email: { source: 'Email' },
    active: { source: 'Active', type: 'boolean' },
  };
  const one = (target: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    entities: { contact: { target, fields, ...extra } },
  });

  it.each([
    [
      'neither key nor partitionKey',
      one({}),
      ['entities.contact.target: set target.key or target.partitionKey (one of them)'],
    ],
    [
      'both key and partitionKey',
      one({ key: 'id', partitionKey: 'id' }),
      ['entities.contact.target: set target.key or target.partitionKey (one of them)'],
    ],
    [
      'a template over an unknown field',
      one({ partitionKey: { name: 'pk', value: 'A#{nope}' } }),
      ['entities.contact.target.partitionKey: key field "nope" is not in fields'],
    ],
    [
      'a template over an optional field',
      one({ partitionKey: { name: 'pk', value: 'A#{email}' } }),
      ['entities.contact.fields.email.required: the key field must be required'],
    ],
    [
      'a partition key template without a field',
      one({ partitionKey: { name: 'pk', value: 'ALL' } }),
      [
        'entities.contact.target.partitionKey: a key template names no field: every item would have the same key',
      ],
    ],
    [
      'a stray brace',
      one({ partitionKey: { name: 'pk', value: 'A#{id' } }),
      [
        'entities.contact.target.partitionKey.value: template "A#{id" has a brace outside a {field} placeholder (field names are letters, digits and _)',
      ],
    ],
    [
      'a key attribute named like a field',
      one({ partitionKey: { name: 'email', value: 'A#{id}' } }),
      [
        'entities.contact.target.partitionKey: attribute "email" is a field\'s name: name the key attribute otherwise, or use the field ("email")',
      ],
    ],
    [
      "a key attribute named like crm-sync's own",
      one({ partitionKey: { name: '_v', value: 'A#{id}' } }),
      ['entities.contact.target.partitionKey: attribute "_v" is crm-sync\'s own (_v, _line, _run, _digest)'],
    ],
    [
      'one attribute with two templates',
      one({
        partitionKey: { name: 'pk', value: 'A#{id}' },
        indexes: { inverted: { partitionKey: { name: 'pk', value: 'B#{id}' } } },
      }),
      [
        'entities.contact.target.indexes.inverted.partitionKey: attribute "pk" has two templates ("A#{id}" and "B#{id}")',
      ],
    ],
    [
      'an index on a boolean field',
      one({ key: 'id', indexes: { byActive: { partitionKey: 'active' } } }),
      [
        'entities.contact.target.indexes.byActive.partitionKey: field "active" is a boolean: a key is a string or a number',
      ],
    ],
    [
      'an entity type attribute that is a field',
      one({ key: 'id', entityType: 'email' }),
      [
        'entities.contact.target.entityType: attribute "email" is already a field, a key attribute or crm-sync\'s own',
      ],
    ],
    [
      'a list as a sort key',
      {
        entities: {
          contact: {
            target: { key: 'id', sortKey: 'tags' },
            fields: { ...fields, tags: { source: 'Tags', required: true, list: {} } },
          },
        },
      },
      [
        'entities.contact.target.sortKey: field "tags" is a list: a key is one string or number',
        'entities.contact.fields.tags.list: the key field cannot be a list',
      ],
    ],
    [
      'onInvalid keep on a field that keys a numeric index',
      {
        entities: {
          contact: {
            target: { key: 'id', indexes: { byAmount: { partitionKey: 'amount' } } },
            fields: { ...fields, amount: { source: 'Amount', type: 'currency', onInvalid: 'keep' } },
          },
        },
      },
      [
        'entities.contact.target.indexes.byAmount.partitionKey: field "amount" keys a numeric index: onInvalid "keep" would store text in it (use "drop" or "reject")',
      ],
    ],
    [
      'a key that is a number',
      one({ key: 5 }),
      ['entities.contact.target.key: Invalid input: expected string, received number'],
    ],
    [
      'a template without its value',
      one({ partitionKey: { name: 'pk' } }),
      [
        'entities.contact.target.partitionKey: a key is a field name or { name, value } with a template value',
      ],
    ],
    [
      'a reserved index name',
      {
        entities: {
          contact: {
            target: { key: 'id', indexes: JSON.parse('{"__proto__": {"partitionKey": "email"}}') },
            fields,
          },
        },
      },
      [
        'entities.contact.target.indexes.__proto__: "__proto__" is a reserved name (a JavaScript object property): choose another name',
      ],
    ],
    [
      'a short index name',
      one({ key: 'id', indexes: { ix: { partitionKey: 'email' } } }),
      ['entities.contact.target.indexes.ix: an index name is 3 to 255 letters, digits, _ . -'],
    ],
  ])('%s', (_what, raw, issues) => {
    // Act / Assess
    expect(configIssues(raw)).toEqual(issues);
  });

  it.each([
    [
      'entities of one table keyed differently',
      { account: { ...ACCOUNT, target: { table: 'crm', key: 'id' } }, contact: CONTACT },
      [
        'entities.contact.target.partitionKey: table "crm" is keyed (id) by entity "account": every entity of a table uses its key attributes',
      ],
    ],
    [
      'two entities marked alike',
      {
        contact: CONTACT,
        account: { ...ACCOUNT, target: { ...ACCOUNT.target, entityType: { name: '_et', value: 'contact' } } },
      },
      ['entities.account.target.entityType: entity "contact" marks its items "contact" already'],
    ],
    [
      'an index of one name keyed two ways',
      {
        contact: CONTACT,
        account: {
          ...ACCOUNT,
          target: { ...ACCOUNT.target, indexes: { byEmail: { partitionKey: 'region' } } },
        },
      },
      [
        'entities.account.target.indexes.byEmail: index "byEmail" of table "crm" is keyed otherwise by entity "contact" (same attributes and projection in every entity)',
      ],
    ],
    [
      'an index attribute a number in one entity and a string in another',
      {
        contact: {
          ...CONTACT,
          target: { ...CONTACT.target, indexes: { byRank: { partitionKey: 'email', sortKey: 'score' } } },
        },
        account: {
          ...ACCOUNT,
          fields: { ...ACCOUNT.fields, score: { source: 'Score' } },
        },
      },
      [
        'entities.account.target.indexes: attribute "score" of table "crm" is a string here and a number in entity "contact" (an index key has one type)',
      ],
    ],
    [
      'two entities with one tableName but no shared table',
      {
        a: { target: { key: 'id', tableName: 'people' }, fields: { id: { source: 'Id', required: true } } },
        b: { target: { key: 'id', tableName: 'people' }, fields: { id: { source: 'Id', required: true } } },
      },
      [
        'entities.b.target.tableName: entity "a" has the table "people" too: entities share a table through target.table',
      ],
    ],
    [
      'a reference to an entity keyed on two fields',
      {
        opportunity: OPPORTUNITY,
        note: {
          target: { key: 'id' },
          fields: { id: { source: 'Id', required: true }, opp: { source: 'Opp' } },
          references: { opp: { entity: 'opportunity' } },
        },
      },
      [
        'entities.note.references.opp: entity "opportunity" is keyed by topic, createdOn, owner: a reference names a parent by one value, so its key must read one field',
      ],
    ],
  ])('%s', (_what, entities, issues) => {
    // Act / Assess
    expect(configIssues({ entities })).toEqual(issues);
  });
});
