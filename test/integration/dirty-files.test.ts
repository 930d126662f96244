import { type CrmSyncConfig, parseConfig } from '../../lambdas/domain/config';
import { runLocalFile } from '../../local/run';
import { readCsv } from './reference';
import { useLocalStack } from './support';

/**
 * Integration: dirty files through the real state machine on the local stack. Every case of a bad
 * row is in one crafted file whose expected outcome per line is written down here, so every row
 * must be accounted for exactly once and every reject must carry the expected reason.
 */

const FIELDS = {
  id: { source: 'Id', required: true },
  name: { source: 'Name', required: true, transforms: ['trim', 'collapseSpaces'] },
  email: { source: 'Email', type: 'email' },
  phone: { source: 'Phone', type: 'phone', region: 'US' },
  note: { source: 'Note', transforms: [] },
  score: { source: 'Score', type: 'integer' },
  updatedAt: { source: 'Modified', type: 'datetime', required: true },
};
const ENTITY = {
  target: { key: 'id' },
  // The files here are dirt on purpose: the reject gate (reject-gate.test.ts) must not stop them.
  maxRejectRatio: 1,
  fields: FIELDS,
  updatedAt: 'updatedAt',
  deleteFlag: { source: 'IsDeleted' },
  partitionRows: 100,
  source: { chunkBytes: 1024, maxFieldBytes: 2048 },
};
const CONFIG: CrmSyncConfig = parseConfig({
  entities: {
    person: ENTITY,
    'person-jsonl': ENTITY,
    'person-latin': { ...ENTITY, source: { ...ENTITY.source, encoding: 'windows-1252' } },
  },
});

const HEADER = 'Id,Name,Email,Phone,Note,Score,Modified,IsDeleted';
const T1 = '2024-01-01T00:00:00Z';
const T2 = '2024-06-01T00:00:00Z';
const T0 = '2023-01-01T00:00:00Z';

type Outcome =
  | { kind: 'won' }
  | { kind: 'lost' }
  | { kind: 'absent-delete' }
  | { kind: 'reject'; reasons: string };
interface Line {
  text: string;
  ending: string;
  outcome: Outcome;
}
const won: Outcome = { kind: 'won' };
const lost: Outcome = { kind: 'lost' };
const reject = (reasons: string): Outcome => ({ kind: 'reject', reasons });
const line = (text: string, outcome: Outcome, ending = '\r\n'): Line => ({ text, ending, outcome });
const huge = 'x'.repeat(3000);

/** The dirty file, line by line, with the outcome each record must have. */
const DIRTY: Line[] = [
  line('p01,Ada Lovelace,ada@example.com,+1 415 555 0100,plain,1,2024-01-01T00:00:00Z,false', lost),
  line('p02,Bob,bob@example.com,,5" monitor,2,2024-01-01T00:00:00Z,false', lost, '\n'),
  line('p03,Cy,,,"a"b,3,2024-01-01T00:00:00Z,false', reject('invalid_quote')),
  line('p04,Di,,,"quoted, with ""quotes""\r\nand a new line",4,2024-01-01T00:00:00Z,false', won, '\r'),
  line('p05,Ragged', reject('column_count:8:2')),
  line('p06,Too,many,,,,,,columns', reject('column_count:8:9')),
  line('', won, '\r\n'), // a blank line: no record (outcome unused)
  line(`p07,Huge,,,${huge},7,2024-01-01T00:00:00Z,false`, reject('field_too_large:Note')),
  line('p08,Formula,,,"=HYPERLINK(""http://x"")",8,2024-01-01T00:00:00Z,false', won),
  line('p09,Bad Email,bad@,,+SUM(1),9,2024-01-01T00:00:00Z,false', reject('invalid_email:Email')),
  line('p10,Bad Phone,,12,-1,10,2024-01-01T00:00:00Z,false', reject('invalid_phone:Phone')),
  line('p11,Bad Date,,,@me,11,31/02/2024,false', reject('invalid_datetime:Modified')),
  line('p12,,,,,12,2024-01-01T00:00:00Z,false', reject('required:Name')),
  line('p13,Zoë 😀 עברית,,,"e\u0301\u202etxet\u202c\u200d👩‍👩‍👧 ﷽",13,2024-01-01T00:00:00Z,false', won),
  line('p14,Bad Score,,,,abc,2024-01-01T00:00:00Z,false', reject('invalid_integer:Score')),
  line('p15,Gone,,,,,2024-01-01T00:00:00Z,true', { kind: 'absent-delete' }),
  ...Array.from({ length: 30 }, (_, i) =>
    line(
      `f${String(i).padStart(2, '0')},Filler ${i},f${i}@example.com,,filler,${i},${T1},false`,
      i < 3 ? lost : won,
    ),
  ),
  line(`p01,Ada Older,,,,1,${T0},false`, lost),
  line(`p01,Ada Newest,,,,1,${T2},false`, won),
  line(`p02,Bob Newer,,,6" ruler,2,${T2},false`, won),
  line(`f00,Filler Newer,,,,0,${T2},false`, won),
  line(`f01,Filler Newer,,,,1,${T2},false`, won),
  line(`f02,Filler Newer,,,,2,${T2},false`, won, ''),
];

/** Joins the lines (after a BOM and the header) into the file's bytes, and numbers each record. */
function build(lines: Line[]): { bytes: Buffer; records: Array<Line & { lineNo: number }> } {
  let text = `\uFEFF${HEADER}\r\n`;
  let lineNo = 2;
  const records: Array<Line & { lineNo: number }> = [];
  for (const l of lines) {
    if (l.text !== '') records.push({ ...l, lineNo });
    text += l.text + l.ending;
    lineNo += (l.text.match(/\r\n|\r|\n/g)?.length ?? 0) + (l.ending === '' ? 0 : 1);
  }
  return { bytes: Buffer.from(text, 'utf8'), records };
}

describe('dirty files through the local stack', () => {
  const local = useLocalStack('dirty', CONFIG);
  const stateDir = local.stateDir;
  const write = (name: string, bytes: Buffer | string): string => local.write(name, bytes);
  /** The items by key, without crm-sync's own attributes. */
  const exportTable = async (entity: string) =>
    new Map(
      (await local.items(entity, { omit: ['_v', '_line', '_run', '_digest'] })).map((i) => [String(i.id), i]),
    );

  it('accounts for every row of a dirty CSV exactly once, with the expected reason per reject', async () => {
    // Prepare
    const { bytes, records } = build(DIRTY);
    const file = write('dirty.csv', bytes);
    const expectedRejects = records.filter((r) => r.outcome.kind === 'reject');
    const winners = records.filter((r) => r.outcome.kind === 'won');

    // Act
    const result = await runLocalFile(local.stack, file, CONFIG, { entity: 'person', stateDir });

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(result.reconciliation?.status).toBe('MATCHED');
    expect(result.chunks).toBeGreaterThan(2);
    const c = result.counts;
    expect(c).toEqual({
      rows: records.length,
      applied: winners.length,
      unchanged: records.filter((r) => r.outcome.kind === 'absent-delete').length,
      superseded: records.filter((r) => r.outcome.kind === 'lost').length,
      deleted: 0,
      rejected: expectedRejects.length,
    });
    const [header, ...rejectRows] = readCsv(result.reports.rejects as string);
    expect(header?.cells).toEqual(['line', 'reasons', ...HEADER.split(',')]);
    expect(rejectRows.map((r) => [Number(r.cells[0]), r.cells[1]])).toEqual(
      expectedRejects.map((r) => [r.lineNo, (r.outcome as { reasons: string }).reasons]),
    );
    // Formula-like cells are escaped in the report; the values themselves are kept.
    const byId = new Map(rejectRows.map((r) => [r.cells[2], r.cells]));
    expect(byId.get('p09')?.[6]).toBe("'+SUM(1)");
    expect(byId.get('p10')?.[6]).toBe("'-1");
    expect(byId.get('p11')?.[6]).toBe("'@me");

    const table = await exportTable('person');
    expect([...table.keys()].sort()).toEqual(winners.map((r) => r.text.split(',')[0]).sort());
    expect(table.get('p01')).toMatchObject({ name: 'Ada Newest', updatedAt: '2024-06-01T00:00:00.000Z' });
    expect(table.get('p02')?.note).toBe('6" ruler');
    expect(table.get('p04')?.note).toBe('quoted, with "quotes"\r\nand a new line');
    expect(table.get('p08')?.note).toBe('=HYPERLINK("http://x")');
    expect(table.get('p13')).toMatchObject({
      name: 'Zoë 😀 עברית',
      note: 'e\u0301\u202etxet\u202c\u200d👩‍👩‍👧 ﷽',
    });
    expect(table.get('p01')?.phone).toBeUndefined();
  });

  it('loads the same rows from JSON Lines into the same items as from CSV', async () => {
    // Prepare: the clean rows of the dirty file, as JSON objects (numbers and booleans as JSON).
    const clean = build(DIRTY).records.filter((r) => r.outcome.kind !== 'reject');
    const columns = HEADER.split(',');
    const csvRows = readCsv(
      write('clean-source.csv', `${HEADER}\r\n${clean.map((r) => r.text).join('\r\n')}\r\n`),
    );
    const objects = csvRows.slice(1).map((r) => {
      const o: Record<string, unknown> = {};
      columns.forEach((col, i) => {
        const cell = r.cells[i] ?? '';
        if (cell === '') return;
        if (col === 'Score') o[col] = Number(cell);
        else if (col === 'IsDeleted') o[col] = cell === 'true';
        else o[col] = cell;
      });
      return o;
    });
    const jsonl = write('people.jsonl', `${objects.map((o) => JSON.stringify(o)).join('\n')}\n`);
    const csv = write('people.csv', `${HEADER}\r\n${clean.map((r) => r.text).join('\r\n')}\r\n`);

    // Act
    const fromCsv = await runLocalFile(local.stack, csv, CONFIG, { entity: 'person-jsonl', stateDir });
    const csvItems = await exportTable('person-jsonl');
    const fromJsonl = await runLocalFile(local.stack, jsonl, CONFIG, {
      entity: 'person-jsonl',
      stateDir,
      rerun: 'jsonl',
    });

    // Assess: the JSONL run finds every item already there with the same content.
    expect(fromCsv.status).toBe('SUCCEEDED');
    expect(fromJsonl.status).toBe('SUCCEEDED');
    expect(fromJsonl.reconciliation?.status).toBe('MATCHED');
    const csvCounts = fromCsv.counts;
    if (!csvCounts) throw new Error('the CSV run has no counts');
    expect(csvCounts.applied).toBeGreaterThan(30);
    expect(fromJsonl.counts).toEqual({
      ...csvCounts,
      applied: 0,
      unchanged: csvCounts.applied + csvCounts.unchanged,
    });
    expect(await exportTable('person-jsonl')).toEqual(csvItems);
  });

  it('reads a Windows-1252 export when the entity says so, and fails it at Plan naming the line when not', async () => {
    // Prepare
    const text = `${HEADER}\r\nw1,René Müller,,,“quoted” € café,1,${T1},false\r\nw2,Plain,,,,2,${T1},false\r\n`;
    const file = write('latin.csv', encode1252(text));

    // Act
    const good = await runLocalFile(local.stack, file, CONFIG, { entity: 'person-latin', stateDir });
    const bad = await runLocalFile(local.stack, file, CONFIG, { entity: 'person', stateDir, rerun: 'latin' });

    // Assess
    expect(good.status).toBe('SUCCEEDED');
    expect(good.counts).toMatchObject({ rows: 2, applied: 2, rejected: 0 });
    const items = await exportTable('person-latin');
    expect(items.get('w1')).toMatchObject({ name: 'René Müller', note: '“quoted” € café' });
    expect(bad.status).toBe('FAILED');
    expect(bad.error?.name).toBe('MalformedFileError');
    expect(bad.error?.message).toMatch(
      /latin\.csv: line 2, byte offset \d+: the file is not valid UTF-8 \(bytes 0xE9 0x20\); it is probably Windows-1252/,
    );
  });

  it('fails a file whose last quote never closes at Plan, before writing anything', async () => {
    // Prepare
    const file = write(
      'unclosed.csv',
      `${HEADER}\r\nu1,Ok,,,,1,${T1},false\r\nu2,Open,,,"never closed,2,${T1},false\r\nu3,x,,,,3,${T1},false\r\n`,
    );
    const before = await exportTable('person');

    // Act
    const result = await runLocalFile(local.stack, file, CONFIG, { entity: 'person', stateDir });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error?.name).toBe('MalformedFileError');
    expect(result.error?.message).toContain('unclosed.csv: line 3: quoted field is never closed');
    expect(await exportTable('person')).toEqual(before);
  });
});

/** Windows-1252 bytes of text (the characters used above only). */
function encode1252(text: string): Buffer {
  const special: Record<string, number> = { '€': 0x80, '“': 0x93, '”': 0x94 };
  return Buffer.from(
    [...text].map((ch) => {
      const code = special[ch] ?? ch.codePointAt(0) ?? 0;
      if (code > 0xff) throw new Error(`not in Windows-1252: ${ch}`);
      return code;
    }),
  );
}
