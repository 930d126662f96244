import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type CrmSyncConfig, parseConfig } from '../../lambdas/domain/config';
import { PRESETS } from '../../lambdas/domain/presets';
import { runLocalFile } from '../../local/run';
import { ROOT, useLocalStack } from './support';

/**
 * Integration: the real Salesforce exports in ../shared/data/real-exports/salesforce-stomita/
 * (third-party files, used unchanged) through the local stack with the Salesforce preset. Their
 * outcome is written down per reason: every reject or warning is a genuinely bad cell, no value is
 * invented, and a later partial export of the same contacts erases nothing it does not carry.
 */
const DIR = resolve(ROOT, '../shared/data/real-exports/salesforce-stomita');
const file = (name: string): string => {
  const path = join(DIR, name);
  if (!existsSync(path))
    throw new Error(`${path} is missing: the real exports live in ../shared beside the repo`);
  return path;
};
const CONFIG: CrmSyncConfig = parseConfig(PRESETS.salesforce);
const META = ['_v', '_line', '_run', '_digest'];

interface Summary {
  warnings: number;
  topWarnings: Array<{ reason: string; count: number }>;
  missingColumns: string[];
}

describe('real Salesforce exports with the salesforce preset', () => {
  const local = useLocalStack('real-exports', CONFIG);
  const run = (path: string, entity: string, extra: { dryRun?: boolean } = {}) =>
    runLocalFile(local.stack, path, CONFIG, { entity, stateDir: local.stateDir, ...extra });
  const summaryOf = (r: { reports: Record<string, string> }): Summary =>
    JSON.parse(readFileSync(r.reports.summary ?? '', 'utf8')) as Summary;

  it('loads every account, contact and opportunity, with each dropped cell a warning', async () => {
    // Act: parents first, as `local sync` orders them.
    const accounts = await run(file('Account.csv'), 'account');
    const contacts = await run(file('Contact.csv'), 'contact');
    const opportunities = await run(file('Opportunity.csv'), 'opportunity');
    const contactItems = await local.items('contact', { omit: META });
    const accountItems = await local.items('account', { omit: META });

    // Assess: accounts. One phone, `1-496-285-1785`, is read in its row's country (Australia,
    // BillingCountry) where no number reads that way: the cell is dropped, the account loads.
    expect(accounts.status).toBe('SUCCEEDED');
    expect(accounts.reconciliation?.status).toBe('MATCHED');
    expect(accounts.counts).toEqual({
      rows: 83,
      applied: 83,
      unchanged: 0,
      superseded: 0,
      deleted: 0,
      rejected: 0,
    });
    expect(summaryOf(accounts).topWarnings).toEqual([{ reason: 'invalid_phone', count: 1 }]);
    const warnings = readFileSync(accounts.reports.warnings ?? '', 'utf8')
      .trim()
      .split('\r\n');
    expect(warnings).toEqual([
      'line,reason,action,value',
      expect.stringMatching(/^\d+,invalid_phone:Phone,drop,1-496-285-1785$/),
    ]);
    expect(accountItems).toHaveLength(83);

    // Contacts: the fictional numbers (`1-572-069-1592`) have a US number's length and load as
    // E.164; the file has no HasOptedOutOfEmail column, and no item gets a consent flag invented.
    expect(contacts.status).toBe('SUCCEEDED');
    expect(contacts.reconciliation?.status).toBe('MATCHED');
    expect(contacts.counts).toEqual({
      rows: 133,
      applied: 133,
      unchanged: 0,
      superseded: 0,
      deleted: 0,
      rejected: 0,
    });
    expect(summaryOf(contacts).warnings).toBe(0);
    expect(contacts.missingColumns).toEqual(['HasOptedOutOfEmail']);
    expect(contactItems.filter((i) => 'hasOptedOutOfEmail' in i)).toEqual([]);
    expect(contactItems.find((i) => i.id === '003f4000003d6AhAAI')).toMatchObject({
      lastName: 'Brown',
      firstName: 'Emma',
      accountId: '001f4000003NkdeAAC',
      phone: '+15720691592',
      mobilePhone: '+10185093382',
      email: 'sfdcjdemo01@salesforce.com',
      mailingCity: 'South Lake Tahoe(CA)',
      createdAt: '2017-08-04T09:09:50.000Z',
    });
    // Every account loaded, so no contact or opportunity points at a missing one (with the phone
    // rejecting its account, 2 contacts and 8 opportunities were orphans).
    expect(contacts.references).toEqual([
      expect.objectContaining({ field: 'accountId', entity: 'account', checked: 133, orphans: 0 }),
    ]);

    // Opportunities: booleans written 1 / empty, `+0000` offsets.
    expect(opportunities.status).toBe('SUCCEEDED');
    expect(opportunities.reconciliation?.status).toBe('MATCHED');
    expect(opportunities.counts).toMatchObject({ rows: 774, applied: 774, rejected: 0 });
    expect(opportunities.references?.[0]).toMatchObject({ checked: 774, orphans: 0 });
  });

  it('a later report export with five columns updates them and erases nothing else', async () => {
    // Prepare: the usual report export of the same contacts (Id, LastName, Email,
    // LastModifiedDate, IsDeleted), the first three rows edited a day later.
    const full = await local.items('contact', { omit: META });
    const before = full.slice(0, 3);
    const lines = [
      'Id,LastName,Email,LastModifiedDate,IsDeleted',
      ...before.map(
        (c, i) =>
          `${String(c.id)},${String(c.lastName)}-${i},edited${i}@example.com,2030-01-01T00:00:00.000+0000,false`,
      ),
    ];
    const partial = local.write('contact-report.csv', `${lines.join('\n')}\n`);

    // Act
    const result = await run(partial, 'contact');
    const dry = await run(partial, 'contact', { dryRun: true });
    const after = await local.items('contact', { omit: META });

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(result.reconciliation?.status).toBe('MATCHED');
    expect(result.counts).toMatchObject({ rows: 3, applied: 3 });
    expect(result.missingColumns).toContain('FirstName');
    before.forEach((c, i) => {
      expect(after.find((a) => a.id === c.id)).toEqual({
        ...c,
        lastName: `${String(c.lastName)}-${i}`,
        email: `edited${i}@example.com`,
        updatedAt: '2030-01-01T00:00:00.000Z',
      });
    });
    // Every other contact is as the full export left it.
    expect(after.slice(3)).toEqual(full.slice(3));
    expect(dry.counts).toMatchObject({ applied: 0, unchanged: 3 });
  });
});
