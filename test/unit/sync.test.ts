import { configHash, parseConfig } from '../../lambdas/domain/config';
import { partsDigest } from '../../lambdas/domain/export-folder';
import { deriveRunId } from '../../lambdas/domain/run';
import {
  type InboxObject,
  inboxRunId,
  notAnExport,
  pickExport,
  scheduledExecutionName,
  scheduleExpressionProblem,
  syncOrder,
  timeZoneProblem,
} from '../../lambdas/domain/sync';
import { configIssues } from './fixtures';

const BUCKET = 'data';
const CONTEXT = { bucket: BUCKET, entity: 'contact', configHash: 'aaaaaaaaaaaaaaaa' };
const CHANGED = { ...CONTEXT, configHash: 'bbbbbbbbbbbbbbbb' };

/** An inbox object modified at `minute` past 2026-05-01T00:00Z. */
const obj = (name: string, minute: number, over: Partial<InboxObject> = {}): InboxObject => ({
  key: `inbox/contact/${name}`,
  size: 100,
  lastModified: new Date(Date.UTC(2026, 4, 1, 0, minute)),
  etag: `etag-${name}`,
  ...over,
});

const OLD = obj('contacts-2026-04-30.csv', 1);
const NEW = obj('contacts-2026-05-01.csv', 2);
const runOf = (o: InboxObject, ctx = CONTEXT) => inboxRunId(o, ctx);

describe('pickExport', () => {
  it.each<{
    name: string;
    objects: InboxObject[];
    ran: string[];
    context?: typeof CONTEXT;
    expected: { action: string; key: string | null; older: number; skipped: number; incomplete?: string[] };
  }>([
    {
      name: 'an empty inbox: nothing to run',
      objects: [],
      ran: [],
      expected: { action: 'empty', key: null, older: 0, skipped: 0 },
    },
    {
      name: 'only a folder marker, an empty file and marker files: nothing to run',
      objects: [
        obj('', 9, { size: 0 }),
        obj('empty.csv', 9, { size: 0 }),
        obj('_SUCCESS', 9),
        obj('.DS_Store', 9),
      ],
      ran: [],
      expected: { action: 'empty', key: null, older: 0, skipped: 4 },
    },
    {
      name: 'nothing ran yet: the newest runs, the older one never does',
      objects: [OLD, NEW],
      ran: [],
      expected: { action: 'run', key: NEW.key, older: 1, skipped: 0 },
    },
    {
      name: 'all ran: up to date',
      objects: [NEW, OLD],
      ran: [runOf(OLD), runOf(NEW)],
      expected: { action: 'up-to-date', key: NEW.key, older: 1, skipped: 0 },
    },
    {
      name: 'the newest ran, an older one never did: up to date (newest only)',
      objects: [OLD, NEW],
      ran: [runOf(NEW)],
      expected: { action: 'up-to-date', key: NEW.key, older: 1, skipped: 0 },
    },
    {
      name: 'an older one ran, the newest not: the newest runs',
      objects: [OLD, NEW],
      ran: [runOf(OLD)],
      expected: { action: 'run', key: NEW.key, older: 1, skipped: 0 },
    },
    {
      name: 'the config changed since the newest ran: it runs again under the new config',
      objects: [OLD, NEW],
      ran: [runOf(OLD), runOf(NEW)],
      context: CHANGED,
      expected: { action: 'run', key: NEW.key, older: 1, skipped: 0 },
    },
    {
      name: 'a newer marker file does not hide the newest export',
      objects: [NEW, obj('_SUCCESS', 5, { size: 0 }), obj('.~lock.contacts.csv#', 6)],
      ran: [],
      expected: { action: 'run', key: NEW.key, older: 0, skipped: 2 },
    },
    {
      name: 'equal times: the greater key is the newer export',
      objects: [obj('contacts-2026-05-02.csv', 3), obj('contacts-2026-05-03.csv', 3), obj('b.csv', 3)],
      ran: [],
      expected: { action: 'run', key: 'inbox/contact/contacts-2026-05-03.csv', older: 2, skipped: 0 },
    },
    {
      name: 'a file in a folder without a marker is a part of an incomplete export, not an export',
      objects: [OLD, obj('2026/05/02/contacts.csv', 30)],
      ran: [],
      expected: { action: 'run', key: OLD.key, older: 0, skipped: 0, incomplete: ['inbox/contact/2026/'] },
    },
    {
      name: 'a completed export folder is one export, dated by its _SUCCESS',
      objects: [
        OLD,
        obj('export-1/part-1.csv', 5),
        obj('export-1/part-2.csv', 6),
        obj('export-1/_SUCCESS', 7, { size: 0 }),
      ],
      ran: [],
      expected: { action: 'run', key: 'inbox/contact/export-1/_SUCCESS', older: 1, skipped: 0 },
    },
    {
      name: 'a folder whose parts are newer than a file but whose marker is older: the file is newer',
      objects: [obj('export-1/part-1.csv', 50), obj('export-1/_SUCCESS', 1, { size: 0 }), NEW],
      ran: [],
      expected: { action: 'run', key: NEW.key, older: 1, skipped: 0 },
    },
    {
      name: 'a folder with a manifest and _SUCCESS: the manifest is its trigger',
      objects: [
        obj('export-1/part-1.csv', 5),
        obj('export-1/_SUCCESS', 8, { size: 0 }),
        obj('export-1/manifest.json', 7),
      ],
      ran: [],
      expected: { action: 'run', key: 'inbox/contact/export-1/manifest.json', older: 0, skipped: 0 },
    },
    {
      name: 'a newer folder still being written (no marker yet) is skipped, said so; the completed one runs',
      objects: [
        obj('export-1/part-1.csv', 5),
        obj('export-1/_SUCCESS', 6, { size: 0 }),
        obj('export-2/part-1.csv', 40),
      ],
      ran: [],
      expected: {
        action: 'run',
        key: 'inbox/contact/export-1/_SUCCESS',
        older: 0,
        skipped: 0,
        incomplete: ['inbox/contact/export-2/'],
      },
    },
    {
      name: 'only an incomplete folder: nothing to run',
      objects: [obj('export-2/part-1.csv', 40), obj('export-2/', 40, { size: 0 })],
      ran: [],
      expected: { action: 'empty', key: null, older: 0, skipped: 0, incomplete: ['inbox/contact/export-2/'] },
    },
  ])('$name', async ({ objects, ran, context, expected }) => {
    // Prepare
    const asked: string[] = [];
    const hasRun = (runId: string) => {
      asked.push(runId);
      return ran.includes(runId);
    };

    // Act
    const pick = await pickExport(objects, context ?? CONTEXT, hasRun);

    // Assess
    expect({
      action: pick.action,
      key: pick.object?.key ?? null,
      older: pick.older,
      skipped: pick.skipped,
      incomplete: pick.incomplete,
    }).toEqual({ incomplete: [], ...expected });
    // The ledger is asked about the newest export only.
    expect(asked).toEqual(pick.runId ? [pick.runId] : []);
  });

  it('does not depend on the order of the listing', async () => {
    // Prepare
    const objects = [obj('a.csv', 3), obj('b.csv', 3), obj('c.csv', 2), obj('d.csv', 3, { etag: 'x' })];
    const picks = new Set<string>();

    // Act
    for (let i = 0; i < objects.length; i++) {
      const rotated = [...objects.slice(i), ...objects.slice(0, i)].reverse();
      picks.add((await pickExport(rotated, CONTEXT, () => false)).object?.key ?? '');
    }

    // Assess
    expect([...picks]).toEqual(['inbox/contact/d.csv']);
  });

  it('derives the run id as ClaimRun does: the version id when there is one, else the ETag (unquoted)', () => {
    // Prepare
    const versioned = obj('a.csv', 1, { versionId: 'v1', etag: '"e1"' });
    const unversioned = obj('a.csv', 1, { etag: '"e1"' });

    // Act
    const ids = [runOf(versioned), runOf(unversioned)];

    // Assess
    expect(ids).toEqual([
      deriveRunId(
        { bucket: BUCKET, key: versioned.key, versionId: 'v1', etag: 'e1' },
        'contact',
        CONTEXT.configHash,
      ),
      deriveRunId({ bucket: BUCKET, key: versioned.key, etag: 'e1' }, 'contact', CONTEXT.configHash),
    ]);
    expect(ids[0]).not.toEqual(ids[1]);
  });

  it.each([
    ['inbox/contact/', 0, 'folder'],
    ['inbox/contact/a.csv', 0, 'empty'],
    ['inbox/contact/.hidden.csv', 5, 'hidden'],
    ['inbox/contact/_SUCCESS', 5, 'hidden'],
    ['inbox/contact/a.csv', 5, undefined],
    ['inbox/contact/contacts.export', 5, undefined],
    ['inbox/contact/Contact.csv.gz', 5, undefined],
    ['inbox/contact/WE_00D_1.zip', 5, undefined],
    ['inbox/contact/x/_tmp/a.csv', 5, undefined],
  ])('notAnExport(%s, %d bytes) = %s', (key, size, expected) => {
    expect(notAnExport({ key, size })).toBe(expected);
  });
});

describe('scheduledExecutionName', () => {
  it('is the run id and the tick to the minute, a valid execution name of at most 80 characters', () => {
    // Prepare
    const runId = `${'e'.repeat(40)}-${'0'.repeat(20)}`;

    // Act
    const name = scheduledExecutionName(runId, new Date('2026-05-01T02:00:59.999Z'));

    // Assess
    expect(name).toBe(`${runId}-20260501T0200Z`);
    expect(name.length).toBeLessThanOrEqual(80);
    expect(name).toMatch(/^[A-Za-z0-9_-]+$/);
  });
});

describe('syncOrder', () => {
  it('runs referenced entities first, otherwise config order', () => {
    expect(
      syncOrder({
        contact: { references: { accountId: { entity: 'account' } } },
        lead: {},
        account: {},
        opportunity: { references: { contactId: { entity: 'contact' } } },
      }),
    ).toEqual(['account', 'contact', 'lead', 'opportunity']);
  });

  it('keeps every entity once when references form a cycle', () => {
    const order = syncOrder({
      a: { references: { b: { entity: 'b' } } },
      b: { references: { a: { entity: 'a' } } },
    });
    expect([...order].sort()).toEqual(['a', 'b']);
  });
});

describe('schedule expressions', () => {
  it.each([
    'rate(1 minute)',
    'rate(5 minutes)',
    'rate(1 hour)',
    'rate(12 hours)',
    'rate(1 day)',
    'cron(0 2 * * ? *)',
    'cron(0/15 * * * ? *)',
    'cron(30 6 ? * MON-FRI *)',
    'cron(0 8 1 JAN,JUL ? 2026-2030)',
    'cron(0 12 L * ? *)',
    'cron(0 12 15W * ? *)',
    'cron(0 9 ? * 2#1 *)',
    'cron(0 9 ? * 6L *)',
  ])('accepts %s', (expr) => {
    expect(scheduleExpressionProblem(expr)).toBeUndefined();
  });

  it.each([
    ['at(2026-05-01T00:00:00)', /one-time at\(\.\.\.\) schedules are not supported/],
    ['rate(1 hours)', /write rate\(1 hour\), singular for 1/],
    ['rate(2 hour)', /write rate\(2 hours\), plural above 1/],
    ['rate(0 minutes)', /at least 1/],
    ['rate(1 week)', /is not a rate/],
    ['every hour', /is not a schedule expression: write rate\(1 hour\) or cron\(0 2 \* \* \? \*\)/],
    ['cron(0 2 * * *)', /cron needs 6 fields .* got 5/],
    ['cron(0 2 * * MON *)', /one of day-of-month and day-of-week must be \?/],
    ['cron(0 2 ? * ? *)', /one of day-of-month and day-of-week must be \?/],
    ['cron(60 2 * * ? *)', /minutes 60 is out of range 0-59/],
    ['cron(0 24 * * ? *)', /hours 24 is out of range 0-23/],
    ['cron(0 2 * 13 ? *)', /month 13 is out of range 1-12/],
    ['cron(0 2 ? * FOO *)', /"FOO" is not a valid day-of-week value/],
    ['cron(0/0 2 * * ? *)', /step must be at least 1/],
  ])('refuses %s with a clear message', (expr, message) => {
    expect(scheduleExpressionProblem(expr)).toMatch(message);
  });

  it.each(['UTC', 'Europe/Berlin', 'America/Argentina/Buenos_Aires', 'Etc/GMT+5'])(
    'accepts the time zone %s',
    (tz) => {
      expect(timeZoneProblem(tz)).toBeUndefined();
    },
  );

  it.each([
    ['Mars/Olympus', /unknown time zone "Mars\/Olympus"/],
    ['europe/berlin', /write the time zone as "Europe\/Berlin"/],
    ['+01:00', /not an IANA time zone name/],
    ['', /not an IANA time zone name/],
  ])('refuses the time zone %j', (tz, message) => {
    expect(timeZoneProblem(tz)).toMatch(message);
  });
});

describe('config: schedule', () => {
  const entity = (over: Record<string, unknown> = {}) => ({
    target: { key: 'id' },
    fields: { id: { source: 'Id', required: true } },
    ...over,
  });

  it('has no schedule by default; takes a schedule and a time zone', () => {
    // Act
    const config = parseConfig({
      entities: {
        a: entity(),
        b: entity({ schedule: ' cron(0 2 * * ? *) ', scheduleTimezone: 'Europe/Berlin' }),
      },
    });

    // Assess
    expect(config.entities.a?.schedule).toBeUndefined();
    expect(config.entities.a?.scheduleTimezone).toBeUndefined();
    expect(config.entities.b).toMatchObject({
      schedule: 'cron(0 2 * * ? *)',
      scheduleTimezone: 'Europe/Berlin',
    });
  });

  it('lists every schedule problem by path', () => {
    expect(
      configIssues({
        entities: {
          a: entity({ schedule: 'rate(1 hours)' }),
          b: entity({ schedule: 'cron(0 2 * * ? *)', scheduleTimezone: 'Berlin' }),
          c: entity({ scheduleTimezone: 'UTC' }),
        },
      }),
    ).toEqual([
      'entities.a.schedule: write rate(1 hour), singular for 1',
      'entities.b.scheduleTimezone: unknown time zone "Berlin" (an IANA name such as "Europe/Berlin" or "UTC")',
      'entities.c.scheduleTimezone: scheduleTimezone needs a schedule',
    ]);
  });

  it('leaves the schedule out of the config hash: changing when a sync runs makes no new run ids', () => {
    // Prepare
    const plain = parseConfig({ entities: { a: entity() } });
    const scheduled = parseConfig({
      entities: { a: entity({ schedule: 'rate(1 hour)', scheduleTimezone: 'UTC' }) },
    });
    const remapped = parseConfig({
      entities: { a: entity({ fields: { id: { source: 'ID', required: true } } }) },
    });

    // Act
    const [h1, h2, h3] = [plain, scheduled, remapped].map((c) => configHash(c.entities.a as never));

    // Assess
    expect(h2).toBe(h1);
    expect(h3).not.toBe(h1);
  });
});

describe('pickExport of an export folder: the run id ClaimRun derives', () => {
  const part1 = obj('export-1/part-1.csv', 5);
  const part2 = obj('export-1/part-2.csv', 6);
  const marker = obj('export-1/_SUCCESS', 7, { size: 0, versionId: 'vm' });
  const manifest = obj('export-1/manifest.json', 7, { versionId: 'vj' });
  const digestOf = (...parts: InboxObject[]) =>
    partsDigest(parts.map((p) => ({ key: p.key, size: p.size, etag: p.etag ?? '' })));

  it.each<[string, InboxObject[], InboxObject, string | undefined, (() => string) | undefined]>([
    [
      '_SUCCESS: the marker and the digest of the parts in key order',
      [part2, marker, part1],
      marker,
      digestOf(part1, part2),
      undefined,
    ],
    [
      'manifest.json: the parts in the manifest’s order',
      [part1, part2, manifest],
      manifest,
      digestOf(part2, part1),
      () => '{"parts": ["part-2.csv", "part-1.csv"]}',
    ],
    [
      'a malformed manifest: no digest (ClaimRun fails the run, naming it)',
      [part1, part2, manifest],
      manifest,
      undefined,
      () => '{"parts": []}',
    ],
  ])('%s', async (_name, objects, trigger, digest, manifestText) => {
    // Prepare
    const read = jest.fn(async () => manifestText?.() ?? '');

    // Act
    const pick = await pickExport(objects, CONTEXT, () => false, read);

    // Assess
    expect(pick.object?.key).toBe(trigger.key);
    expect(pick.runId).toBe(
      deriveRunId(
        { bucket: BUCKET, key: trigger.key, versionId: trigger.versionId },
        'contact',
        CONTEXT.configHash,
        undefined,
        digest,
      ),
    );
    expect(read).toHaveBeenCalledTimes(manifestText ? 1 : 0);
  });

  it('up to date until a part changes: the run id follows the parts', async () => {
    // Prepare
    const ran = (await pickExport([part1, part2, marker], CONTEXT, () => false)).runId ?? '';

    // Act
    const same = await pickExport([part1, part2, marker], CONTEXT, (id) => id === ran);
    const changed = await pickExport(
      [part1, { ...part2, etag: 'etag-new' }, marker],
      CONTEXT,
      (id) => id === ran,
    );

    // Assess
    expect(same.action).toBe('up-to-date');
    expect(changed.action).toBe('run');
  });
});
