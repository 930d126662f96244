import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseConfigText } from '../../lambdas/domain/config';
import { LocalStack } from '../../local/local-stack';
import { runLocalFile } from '../../local/run';
import { expectedContacts, readCsv } from './reference';

const ROOT = resolve(__dirname, '../..');
const CONFIG_FILE = join(ROOT, 'examples/crm-sync.config.json');
const CONTACTS = join(ROOT, 'examples/data/contacts.csv');
const ACCOUNTS = join(ROOT, 'examples/data/accounts.csv');

/** Integration: the synthesized state machine on the embedded stack (dynalite, s3rver, local Step Functions). */
describe('local run of the synthesized state machine', () => {
  const config = parseConfigText(readFileSync(CONFIG_FILE, 'utf8'));
  const stateDir = mkdtempSync(join(tmpdir(), 'crm-sync-it-'));
  let stack: LocalStack;

  const exportTable = async (entity: string) => {
    const { scanTable } =
      require('../../lambdas/adapters/dynamodb') as typeof import('../../lambdas/adapters/dynamodb');
    const items = new Map<string, Record<string, unknown>>();
    for await (const page of scanTable(stack.tableOf(entity)))
      for (const it of page) items.set(String(it.id), it);
    return items;
  };

  beforeAll(async () => {
    stack = await LocalStack.start({ stateDir, config, configFile: CONFIG_FILE });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('loads a dirty contacts export: counts add up, winners are the newest rows, rejects have reasons', async () => {
    // Prepare
    await runLocalFile(stack, ACCOUNTS, config, { entity: 'account', stateDir });

    // Act
    const result = await runLocalFile(stack, CONTACTS, config, { entity: 'contact', stateDir });

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(result.reconciliation?.status).toBe('MATCHED');
    const c = result.counts;
    if (!c) throw new Error('no counts');
    expect(c.rows).toBe(3000);
    expect(c.applied + c.unchanged + c.superseded + c.deleted + c.rejected).toBe(c.rows);
    // The generator's truth for seed 42: 126 bad rows, 91 duplicates, 18 deletes of keys never loaded.
    expect(c).toEqual({
      rows: 3000,
      applied: 2765,
      unchanged: 18,
      superseded: 91,
      deleted: 0,
      rejected: 126,
    });
    expect(result.chunks).toBeGreaterThan(1);

    const rejectsCsv = readCsv(result.reports.rejects as string);
    const [header, ...rejects] = rejectsCsv;
    expect(header?.cells.slice(0, 3)).toEqual(['line', 'reasons', 'Id']);
    expect(rejects).toHaveLength(126);
    for (const r of rejects) expect(r.cells[1]).toMatch(/^[a-z_]+:[A-Za-z]+/);
    for (const r of rejects) for (const cell of r.cells) expect(cell).not.toMatch(/^[=+\-@]/);

    const rejectedLines = new Set(rejects.map((r) => Number(r.cells[0])));
    const expected = expectedContacts(CONTACTS, rejectedLines);
    const actual = await exportTable('contact');
    expect(actual.size).toBe(expected.size);
    for (const [id, row] of expected) {
      const item = actual.get(id);
      expect(item).toBeDefined();
      expect(item?.updatedAt).toBe(new Date(row.LastModifiedDate as string).toISOString());
      expect(item?.title ?? '').toBe((row.Title as string).trim());
    }

    // References: every contact's AccountId is looked up in the accounts table; orphans are counted.
    const [accountHeader, ...accountRows] = readCsv(ACCOUNTS);
    const idColumn = accountHeader?.cells.indexOf('Id') ?? -1;
    const accountIds = new Set(accountRows.map((r) => r.cells[idColumn]));
    const pointing = [...expected.values()].map((r) => (r.AccountId as string).trim()).filter(Boolean);
    const orphans = pointing.filter((a) => !accountIds.has(a));
    expect(result.references).toEqual([
      expect.objectContaining({
        field: 'accountId',
        entity: 'account',
        checked: pointing.length,
        orphans: orphans.length,
        missingParents: new Set(orphans).size,
      }),
    ]);
  });

  it('changes nothing when the same file runs again, and ends a duplicate trigger as a no-op', async () => {
    // Prepare
    const before = await exportTable('contact');

    // Act
    const duplicate = await runLocalFile(stack, CONTACTS, config, { entity: 'contact', stateDir });
    const rerun = await runLocalFile(stack, CONTACTS, config, {
      entity: 'contact',
      stateDir,
      rerun: 'again',
    });

    // Assess
    expect(duplicate.status).toBe('DUPLICATE_TRIGGER');
    expect(rerun.status).toBe('SUCCEEDED');
    expect(rerun.counts).toEqual({
      rows: 3000,
      applied: 0,
      unchanged: 2783,
      superseded: 91,
      deleted: 0,
      rejected: 126,
    });
    expect(await exportTable('contact')).toEqual(before);
  });

  it('fails at Plan with a clear error and writes nothing when the header lacks a required column', async () => {
    // Prepare
    const lines = readFileSync(CONTACTS, 'utf8').split('\r\n');
    const bad = join(stateDir, 'no-lastname.csv');
    writeFileSync(
      bad,
      lines
        .map((l) => l.replace(',"LastName"', ',"Surname"'))
        .slice(0, 20)
        .join('\r\n'),
    );
    const before = await exportTable('contact');

    // Act
    const result = await runLocalFile(stack, bad, config, { entity: 'contact', stateDir });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error?.name).toBe('HeaderMismatchError');
    expect(result.error?.message).toContain('no-lastname.csv');
    expect(result.error?.message).toContain('LastName');
    expect(await exportTable('contact')).toEqual(before);
  });

  it('lets a newer export update and delete, and never lets older rows overwrite newer ones', async () => {
    // Prepare: one contact updated (newer), one deleted (newer), one stale (older than stored).
    const [header, ...rows] = readCsv(CONTACTS);
    const stored = await exportTable('contact');
    const live = rows.filter((r) => stored.has(r.cells[0] as string) && r.cells[18] === 'false');
    const pick = (i: number) => live[i]?.cells.slice() ?? [];
    const updated = pick(10);
    updated[7] = 'Chief Data Officer';
    updated[17] = '2030-01-01T00:00:00.000Z';
    const deleted = pick(20);
    deleted[17] = '2030-01-01T00:00:00.000Z';
    deleted[18] = 'true';
    const stale = pick(30);
    stale[7] = 'Stale Title';
    stale[17] = '2001-01-01T00:00:00.000Z';
    const q = (cells: string[]) => cells.map((c) => `"${c.replaceAll('"', '""')}"`).join(',');
    const delta = join(stateDir, 'delta.csv');
    writeFileSync(delta, `${[header?.cells ?? [], updated, deleted, stale].map(q).join('\r\n')}\r\n`);

    // Act
    const result = await runLocalFile(stack, delta, config, { entity: 'contact', stateDir });

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(result.counts).toEqual({
      rows: 3,
      applied: 1,
      unchanged: 0,
      superseded: 1,
      deleted: 1,
      rejected: 0,
    });
    const after = await exportTable('contact');
    expect(after.get(updated[0] as string)?.title).toBe('Chief Data Officer');
    expect(after.has(deleted[0] as string)).toBe(false);
    expect(after.get(stale[0] as string)?.title).toBe(stored.get(stale[0] as string)?.title);
  });
});
