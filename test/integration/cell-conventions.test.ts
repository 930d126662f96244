import { parseConfig } from '../../lambdas/domain/config';
import { runLocalFile } from '../../local/run';
import { readCsv } from './reference';
import { useLocalStack } from './support';

/**
 * A HubSpot-style multi-object export (contacts with their company) through the synthesized state
 * machine on the local stack: the contact id under `Record ID - Contact` (an alias), `Phone Number`
 * twice (contact first, company second: `occurrence`), `[not provided]` placeholders, an id that a
 * spreadsheet wrote as `1.11015E+11`, zero-width spaces, and a picklist mapped to stored values.
 */
const config = parseConfig({
  entities: {
    contacts: {
      target: { key: 'id' },
      source: { chunkBytes: 1024 },
      // 2 of the 5 rows are Excel-mangled ids on purpose: above the default reject gate.
      maxRejectRatio: 0.5,
      fields: {
        id: { source: 'Record ID', aliases: ['Record ID - Contact'], required: true },
        firstName: { source: 'First Name' },
        email: { source: 'Email', type: 'email' },
        phone: { source: 'Phone Number', type: 'phone', region: 'US', occurrence: 1 },
        companyId: { source: 'Record ID - Company' },
        companyPhone: { source: 'Phone Number', type: 'phone', region: 'US', occurrence: 2 },
        stage: {
          source: 'Lifecycle Stage',
          map: { Customer: 'customer', 'Marketing Qualified Lead': 'mql' },
        },
        updatedAt: { source: 'Last Modified Date', type: 'datetime', required: true },
      },
      updatedAt: 'updatedAt',
      references: { companyId: { entity: 'companies' } },
    },
    companies: { target: { key: 'id' }, fields: { id: { source: 'Record ID', required: true } } },
  },
});

const HEADER = [
  'Record ID - Contact',
  'First Name',
  'Email',
  'Phone Number',
  'Lifecycle Stage',
  'Last Modified Date',
  'Record ID - Company',
  'Company name',
  'Phone Number',
].join(',');

const ROWS = [
  // line 2: clean
  '101,Ada,ada@example.com,(206) 249-1750,Customer,2024-03-05 10:22:33,9001,Acme,+1 206 688 0480',
  // line 3: placeholders in optional typed fields read as absent
  '102,Grace,[not provided],[not provided],Marketing Qualified Lead,2024-03-05 10:22:33,9001,Acme,[not provided]',
  // line 4: the contact id mangled by a spreadsheet
  '1.11015E+11,Alan,alan@example.com,,Customer,2024-03-05 10:22:33,9002,Initech,',
  // line 5: zero-width spaces around the id and inside the name
  '\u200b103\u200b,Kat\u200bherine,kj@example.com,,Lead,2024-03-05 10:22:33,,,',
  // line 6: the company id mangled (decimal comma, quoted)
  '104,Edsger,ed@example.com,,Customer,2024-03-05 10:22:33,"9,00301E+11",Globex,',
];

describe('cell and header conventions of real exports through the local stack', () => {
  const fixture = useLocalStack('cells', config);

  it('binds the repeated and aliased columns and settles every row as expected', async () => {
    // Prepare
    const file = fixture.write('hubspot-contacts-companies.csv', `${HEADER}\r\n${ROWS.join('\r\n')}\r\n`);

    // Act
    const result = await runLocalFile(fixture.stack, file, config, {
      entity: 'contacts',
      stateDir: fixture.stateDir,
    });
    const items = await fixture.items('contacts', { omit: ['_run', '_line', '_v', '_hash', '_runId'] });

    // Assess
    expect({ status: result.status, error: result.error }).toEqual({ status: 'SUCCEEDED', error: undefined });
    expect(result.counts).toMatchObject({ rows: 5, applied: 3, rejected: 2 });
    const byId = new Map(items.map((i) => [String(i.id), i]));
    expect([...byId.keys()]).toEqual(['101', '102', '103']);
    expect(byId.get('101')).toMatchObject({
      firstName: 'Ada',
      email: 'ada@example.com',
      phone: '+12062491750',
      companyId: '9001',
      companyPhone: '+12066880480',
      stage: 'customer',
      updatedAt: '2024-03-05T10:22:33.000Z',
    });
    expect(byId.get('102')).toMatchObject({ firstName: 'Grace', stage: 'mql', companyId: '9001' });
    for (const absent of ['email', 'phone', 'companyPhone'])
      expect(byId.get('102')).not.toHaveProperty(absent);
    expect(byId.get('103')).toMatchObject({ firstName: 'Katherine', stage: 'Lead' });
    expect(byId.get('103')).not.toHaveProperty('companyId');

    const [, ...rejects] = readCsv(result.reports.rejects as string);
    expect(rejects.map((r) => [Number(r.cells[0]), r.cells[1]])).toEqual([
      [4, 'excel_mangled_id:Record ID'],
      [6, 'excel_mangled_id:Record ID - Company'],
    ]);
  });
});
