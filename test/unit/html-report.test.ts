import {
  escapeHtml,
  RejectSampler,
  type ReportInput,
  renderFailureReport,
  renderReport,
  SAMPLE_CELL_CHARS,
  SAMPLES_PER_REASON,
  STEPS_SHOWN,
} from '../../lambdas/domain/html-report';
import type { FailedRunSummary, RunSummary } from '../../lambdas/domain/report';
import { rowOrdinal } from '../../lambdas/domain/row-position';

const RUN_ID = 'contact-0123456789abcdef0123';
const XSS = `<img src=x onerror=alert(1)>"'&`;
const XSS_ESCAPED = '&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;';

function summary(overrides: Partial<RunSummary> = {}): RunSummary {
  return {
    runId: RUN_ID,
    entity: 'contact',
    status: 'SUCCEEDED',
    source: { bucket: 'crm-bucket', key: 'inbox/contact/contacts.csv', etag: 'abc' },
    counts: { rows: 3000, applied: 2765, unchanged: 18, superseded: 91, deleted: 0, rejected: 126 },
    duplicateKeys: 91,
    chunks: 4,
    partitions: 1,
    topReasons: [
      { reason: 'invalid_email', count: 56 },
      { reason: 'required', count: 30 },
    ],
    reconciliation: {
      status: 'MATCHED',
      checks: [
        { name: 'accounting', ok: true, detail: 'rows 3000 = applied 2765 + …' },
        { name: 'content', ok: true, detail: '2783 keys verified against the target, 0 differ' },
      ],
      verifiedKeys: 2783,
      mismatchedKeys: [],
      mismatchedKeyCount: 0,
    },
    reports: {
      summary: `reports/${RUN_ID}/summary.json`,
      rejects: `reports/${RUN_ID}/rejects.csv`,
      duplicates: `reports/${RUN_ID}/duplicates.csv`,
      html: `reports/${RUN_ID}/report.html`,
    },
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:00:02.500Z',
    durationMs: 2500,
    ...overrides,
  };
}

const CLEAN_COUNTS = { rows: 10, applied: 10, unchanged: 0, superseded: 0, deleted: 0, rejected: 0 };

function input(overrides: Partial<ReportInput> = {}): ReportInput {
  return {
    summary: summary(),
    rejectSamples: {
      invalid_email: [
        {
          line: 15,
          reasons: ['invalid_email:Email'],
          cells: [
            { column: 'Id', value: '003A' },
            { column: 'Email', value: 'not-an-email', named: true },
          ],
        },
      ],
    },
    duplicates: [{ key: '003B', lines: [3, 1700], winner: 1700 }],
    chunks: [
      { id: 1, rows: 52, rejected: 1, durationMs: 180 },
      { id: 0, rows: 948, rejected: 37, durationMs: 212 },
    ],
    partitions: [{ id: 0, rows: 2823, applied: 2765, durationMs: 1100 }],
    ...overrides,
  };
}

const sectionIds = (html: string) => [...html.matchAll(/<section id="([a-z-]+)"/g)].map((m) => m[1]);

describe('renderReport of a multi-file export: rows named by part and line', () => {
  it.each([
    [
      'a single file: line numbers',
      undefined,
      ['<td class="num">15</td>', '3, 1700', '<td class="num">1700</td>'],
    ],
    [
      'parts: part name and line',
      ['part-1.csv', 'part-2.csv'],
      [
        '<td class="num">part-1.csv:15</td>',
        'part-1.csv:3, part-2.csv:1700',
        '<td class="num">part-2.csv:1700</td>',
      ],
    ],
  ])('%s', (_name, files, shown) => {
    // Prepare: the ordinals of a multi-file export (part × 2^32 + line) in the samples.
    const second = rowOrdinal(files === undefined ? 0 : 1, 1700);
    const html = renderReport(
      input({
        files,
        duplicates: [{ key: '003B', lines: [3, second], winner: second }],
        warnings: [{ line: 15, reason: 'invalid_phone:Phone', action: 'drop', value: 'x' }],
        summary: summary({ warnings: 1 }),
      }),
    );

    // Assess
    for (const text of shown) expect(html).toContain(text);
  });
});

describe('renderReport: warnings, missing columns, date formats, the file as named', () => {
  it('lists the cells dropped or kept as text, escaped, and the columns the file lacks', () => {
    // Act
    const html = renderReport(
      input({
        summary: summary({
          warnings: 2,
          topWarnings: [{ reason: 'invalid_phone', count: 2 }],
          missingColumns: ['HasOptedOutOfEmail', 'Title'],
          reports: { summary: 's', warnings: `reports/${RUN_ID}/warnings.csv` },
        }),
        warnings: [
          { line: 4, reason: 'invalid_phone:Phone', action: 'drop', value: XSS },
          { line: 9, reason: 'invalid_phone:Phone', action: 'keep', value: 'call me' },
        ],
      }),
    );

    // Assess
    expect(sectionIds(html)).toContain('warnings');
    expect(html).toContain('<h2 id="warnings-title">Warnings: 2 cells</h2>');
    expect(html).toContain('<strong>HasOptedOutOfEmail, Title</strong>');
    expect(html).toContain(`<td class="cell">${XSS_ESCAPED}</td>`);
    expect(html).not.toContain(XSS);
    expect(html).toContain('<td>nothing</td>');
    expect(html).toContain('<td>the text</td>');
    expect(html).toContain('<a href="warnings.csv"><code>warnings.csv</code></a>');
  });

  it('has no warnings section when there is nothing to say, and one for missing columns alone', () => {
    const none = renderReport(input({ summary: summary({ warnings: 0, missingColumns: [] }) }));
    const missing = renderReport(input({ summary: summary({ warnings: 0, missingColumns: ['Phone'] }) }));
    expect(sectionIds(none)).not.toContain('warnings');
    expect(sectionIds(missing)).toContain('warnings');
    expect(missing).toContain('data-field="no-warnings"');
  });

  it('names the formats a date column with rejects reads, and its day/month order', () => {
    // Act
    const html = renderReport(
      input({
        summary: summary({
          dateFormats: { LastModifiedDate: 'ISO-8601, M/d/yyyy, M/d/yy h:mm a' },
          dateOrder: {
            LastModifiedDate: { order: 'month-first', decidedBy: 'values' },
            'Modified On': { order: 'month-first', decidedBy: 'values', localTimes: true, timezone: 'UTC' },
          },
        }),
      }),
    );

    // Assess
    expect(html).toContain(
      '<p data-field="local-times">Times written without a UTC offset were read in <code>Modified On</code>: <strong>UTC</strong>.',
    );
    expect(html).toContain(
      '<tr data-date-column="LastModifiedDate"><td><code>LastModifiedDate</code></td><td>month-first (values)</td><td>ISO-8601, M/d/yyyy, M/d/yy h:mm a</td></tr>',
    );
  });

  it('names the file by its label (a local path) when the run has one, else by its S3 URL', () => {
    const labelled = renderReport(
      input({
        summary: summary({ source: { bucket: 'b', key: 'inbox/contact/c.csv', label: '/home/ann/c.csv' } }),
      }),
    );
    const plain = renderReport(input());
    expect(labelled).toContain('<code data-field="source">/home/ann/c.csv</code>');
    expect(plain).toContain('<code data-field="source">s3://crm-bucket/inbox/contact/contacts.csv</code>');
  });
});

describe('renderReport', () => {
  it('renders one self-contained page: no script, no external resource, a CSP that forbids both', () => {
    // Act
    const html = renderReport(input());

    // Assess
    expect(html).toMatch(/^<!DOCTYPE html>\n<html lang="en">/);
    expect(html).toContain('<meta charset="utf-8">');
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"`);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\(/i);
    // The only URL is the SVG namespace; links are relative, to the files beside the page.
    expect([...html.matchAll(/https?:\/\/[^"\s]+/g)].map((m) => m[0])).toEqual([
      'http://www.w3.org/2000/svg',
    ]);
    expect([...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]).sort()).toEqual([
      'duplicates.csv',
      'duplicates.csv',
      'rejects.csv',
      'rejects.csv',
      'report.html',
      'summary.json',
    ]);
  });

  it('shows the numbers of the summary: badges, figures, every bucket, the identity and the reasons', () => {
    // Act
    const html = renderReport(input());

    // Assess
    expect(html).toContain('<span class="badge ok" data-field="status">SUCCEEDED</span>');
    expect(html).toContain('<span class="badge ok" data-field="reconciliation">MATCHED</span>');
    expect(html).toContain('<dd data-field="rows">3,000</dd>');
    expect(html).toContain('<dd data-field="duration">2.5 s</dd>');
    for (const [bucket, n] of [
      ['rows', '3,000'],
      ['applied', '2,765'],
      ['unchanged', '18'],
      ['superseded', '91'],
      ['deleted', '0'],
      ['rejected', '126'],
    ])
      expect(html).toContain(`data-count="${bucket}">${n}</td>`);
    expect(html).toContain(
      'rows 3,000 = applied 2,765 + unchanged 18 + superseded 91 + deleted 0 + rejected 126</p>',
    );
    expect(html).toContain('<td class="num" data-field="reason-count">56</td>');
    expect(html).toContain(
      '<span class="kv named"><span class="k">Email</span> <span class="cell">not-an-email',
    );
    expect(html).toContain('<td class="cell">003B</td><td>3, 1700</td><td class="num">1700</td>');
  });

  it('draws the counts chart: one stacked rect per non-empty bucket, one bar per bucket', () => {
    // Act
    const html = renderReport(input());

    // Assess
    const chart = html.slice(html.indexOf('<svg id="counts-chart"'), html.indexOf('</svg>'));
    expect([...chart.matchAll(/data-bucket="(\w+)"/g)].map((m) => m[1])).toEqual([
      'applied',
      'unchanged',
      'superseded',
      'rejected',
    ]);
    expect([...chart.matchAll(/data-bar="(\w+)"/g)].map((m) => m[1])).toEqual([
      'applied',
      'unchanged',
      'superseded',
      'deleted',
      'rejected',
    ]);
    expect(chart).toContain('role="img"');
    // The stacked widths add up to the chart's width (900).
    const widths = [...chart.matchAll(/ width="([\d.]+)" height="28" fill="#[0-9a-f]+" data-bucket=/g)];
    expect(widths.reduce((n, m) => n + Number(m[1]), 0)).toBeCloseTo(900, 0);
  });

  const mismatched: Partial<RunSummary> = {
    status: 'FAILED',
    reconciliation: {
      status: 'MISMATCHED',
      checks: [{ name: 'content', ok: false, detail: '5 keys verified against the target, 1 differ' }],
      verifiedKeys: 5,
      mismatchedKeys: [{ key: 'K1', problem: 'missing' }],
      mismatchedKeyCount: 1,
    },
  };
  it.each<[string, Partial<ReportInput>, string[], string[], string[]]>([
    [
      'a run with rejects, duplicates and timings',
      {},
      ['outcome', 'counts', 'reconciliation', 'rejects', 'duplicates', 'timings'],
      ['id="reject-reasons"', 'data-samples="invalid_email"', 'id="duplicate-keys"', 'id="chunk-timings"'],
      ['data-field="no-rejects"', 'data-field="no-duplicates"', 'id="mismatched-keys"', 'DRY RUN'],
    ],
    [
      'a clean run: no rejects and no duplicates said plainly, no timings given',
      {
        summary: summary({ counts: CLEAN_COUNTS, duplicateKeys: 0, topReasons: [] }),
        rejectSamples: {},
        duplicates: [],
        chunks: [],
        partitions: [],
      },
      ['outcome', 'counts', 'reconciliation', 'rejects', 'duplicates'],
      ['No rejects: every row passed parsing and validation.', 'No duplicate keys'],
      ['id="reject-reasons"', 'id="duplicate-keys"', 'id="timings"', 'id="references"'],
    ],
    [
      'a mismatched run: the keys that differ, a red badge',
      { summary: summary(mismatched) },
      ['outcome', 'counts', 'reconciliation', 'rejects', 'duplicates', 'timings'],
      [
        'id="mismatched-keys"',
        '<span class="badge bad" data-field="reconciliation">MISMATCHED</span>',
        'Reconciliation found differences: content failed, 1 keys differ',
        '<span class="bad-mark" aria-label="failed">✗</span>',
      ],
      ['the table holds exactly what the file said'],
    ],
    [
      'a run with references: the orphans section',
      {
        summary: summary({
          references: [
            {
              field: 'accountId',
              entity: 'account',
              checked: 3,
              orphans: 2,
              missingParents: 1,
              sample: [{ value: 'A9', children: 2, keys: ['K3', 'K4'] }],
            },
          ],
        }),
      },
      ['outcome', 'counts', 'reconciliation', 'rejects', 'duplicates', 'references', 'timings'],
      ['References: 2 orphans', '<td class="cell">A9</td><td class="num">2</td><td class="cell">K3, K4</td>'],
      [],
    ],
    [
      'a dry run',
      { summary: summary({ dryRun: true }) },
      ['outcome', 'counts', 'reconciliation', 'rejects', 'duplicates', 'timings'],
      ['DRY RUN', 'Dry run: nothing was written.', 'applied (would be)'],
      [],
    ],
  ])('%s', (_name, overrides, sections, present, absent) => {
    // Act
    const html = renderReport(input(overrides));

    // Assess
    expect(sectionIds(html)).toEqual(sections);
    for (const p of present) expect(html).toContain(p);
    for (const a of absent) expect(html).not.toContain(a);
  });

  const hostile = (where: string, overrides: () => Partial<ReportInput>) => [where, overrides] as const;
  it.each([
    hostile('the source key', () => ({
      summary: summary({ source: { bucket: 'b', key: `inbox/${XSS}.csv` } }),
    })),
    hostile('the entity and run id', () => ({ summary: summary({ entity: XSS, runId: XSS }) })),
    hostile('a reason', () => ({
      summary: summary({ topReasons: [{ reason: XSS, count: 1 }] }),
      rejectSamples: { [XSS]: [{ line: 1, reasons: [XSS], cells: [] }] },
    })),
    hostile('a sample cell and its column', () => ({
      rejectSamples: {
        invalid_email: [{ line: 1, reasons: ['invalid_email:Email'], cells: [{ column: XSS, value: XSS }] }],
      },
    })),
    hostile('a duplicate key', () => ({ duplicates: [{ key: XSS, lines: [1, 2], winner: 2 }] })),
    hostile('a mismatched key and a check detail', () => ({
      summary: summary({
        reconciliation: {
          status: 'MISMATCHED',
          checks: [{ name: 'content', ok: false, detail: XSS }],
          verifiedKeys: 1,
          mismatchedKeys: [{ key: XSS, problem: XSS }],
          mismatchedKeyCount: 1,
        },
      }),
    })),
    hostile('an orphan value and its keys', () => ({
      summary: summary({
        references: [
          {
            field: 'accountId',
            entity: 'account',
            checked: 1,
            orphans: 1,
            missingParents: 1,
            sample: [{ value: XSS, children: 1, keys: [XSS] }],
          },
        ],
      }),
    })),
    hostile('a chunk error', () => ({ chunks: [{ id: 0, status: 'FAILED', error: XSS }] })),
  ])('escapes %s', (_where, overrides) => {
    // Act
    const html = renderReport(input(overrides()));

    // Assess
    expect(html).toContain(XSS_ESCAPED);
    expect(html).not.toContain('<img');
    expect(html).not.toMatch(/onerror=alert\(1\)>/);
  });

  it(`lists the ${STEPS_SHOWN} slowest chunks of a run with more, in chunk order`, () => {
    // Prepare: chunk i takes i ms
    const chunks = Array.from({ length: STEPS_SHOWN + 10 }, (_, i) => ({ id: i, rows: 1, durationMs: i }));

    // Act
    const html = renderReport(input({ chunks }));

    // Assess
    const shown = [...html.matchAll(/data-chunk="(\d+)"/g)].map((m) => Number(m[1]));
    expect(shown).toEqual(Array.from({ length: STEPS_SHOWN }, (_, i) => i + 10));
    expect(html).toContain(`the ${STEPS_SHOWN} slowest of ${STEPS_SHOWN + 10} chunks`);
  });
});

describe('renderFailureReport', () => {
  const failed: FailedRunSummary = {
    runId: RUN_ID,
    entity: 'contact',
    status: 'FAILED',
    source: { bucket: 'b', key: 'inbox/contact/bad.csv' },
    error: { name: 'HeaderMismatchError', message: `header is missing required columns: ${XSS}` },
    chunks: null,
    counts: null,
    reconciliation: null,
    reports: { summary: `reports/${RUN_ID}/summary.json`, html: `reports/${RUN_ID}/report.html` },
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:00:00.300Z',
    durationMs: 300,
  };

  it.each<[string, Parameters<typeof renderFailureReport>[0], string[], string[]]>([
    [
      'a run that failed at Plan: the error, escaped, and no chunks',
      { summary: failed, nextStep: `run it again ${XSS}` },
      ['HeaderMismatchError', `header is missing required columns: ${XSS_ESCAPED}`, 'never cut into chunks'],
      ['id="timings"', '<img'],
    ],
    [
      'a run that failed in a map: its chunks with status and error',
      {
        summary: {
          ...failed,
          chunks: 2,
          error: { name: 'States.ExceedToleratedFailureThreshold', message: 'x' },
        },
        chunks: [
          { id: 0, status: 'SUCCEEDED', rows: 5, durationMs: 10 },
          { id: 1, status: 'FAILED', durationMs: 20, error: 'Error: boom' },
        ],
      },
      ['1 were transformed', 'data-chunk="1"', '<td>FAILED</td>', 'Error: boom', 'id="timings"'],
      ['Next:'],
    ],
  ])('%s', (_name, failure, present, absent) => {
    // Act
    const html = renderFailureReport(failure);

    // Assess
    expect(html).toContain('<span class="badge bad" data-field="status">FAILED</span>');
    expect(html).not.toMatch(/<script|<img/);
    for (const p of present) expect(html).toContain(p);
    for (const a of absent) expect(html).not.toContain(a);
  });
});

describe('RejectSampler', () => {
  const COLUMNS = ['Id', 'FirstName', 'LastName', 'Email', 'Phone', 'Title'];
  const csvLine = (cells: string[]) => cells.map((c) => `"${c.replaceAll('"', '""')}"`).join(',');

  it(`keeps ${SAMPLES_PER_REASON} lines per reason code: the leading cells and the cells the reasons name`, () => {
    // Prepare
    const sampler = new RejectSampler(COLUMNS, ',');

    // Act
    for (let line = 2; line < 10; line++) {
      sampler.add({
        line,
        reasons: ['invalid_email:Email', 'invalid_phone:PHONE'],
        raw: csvLine([`00${line}`, 'Ada', 'Lovelace', 'not-an-email', '12', '=HYPERLINK("x")']),
      });
    }
    sampler.add({
      line: 20,
      reasons: ['required:LastName'],
      raw: csvLine(['020', 'Bob', '', 'b@x.io', '', '']),
    });

    // Assess
    const samples = sampler.samples();
    expect(Object.keys(samples)).toEqual(['invalid_email', 'invalid_phone', 'required']);
    expect(samples.invalid_email?.map((s) => s.line)).toEqual([2, 3, 4]);
    expect(samples.invalid_phone?.map((s) => s.line)).toEqual([2, 3, 4]);
    expect(samples.invalid_email?.[0]).toEqual({
      line: 2,
      reasons: ['invalid_email:Email', 'invalid_phone:PHONE'],
      cells: [
        { column: 'Id', value: '002' },
        { column: 'FirstName', value: 'Ada' },
        { column: 'LastName', value: 'Lovelace' },
        { column: 'Email', value: 'not-an-email', named: true },
        { column: 'Phone', value: '12', named: true },
      ],
    });
    expect(samples.required?.[0]?.cells.find((c) => c.column === 'LastName')).toEqual({
      column: 'LastName',
      value: '',
      named: true,
    });
  });

  it.each<[string, string[], string | undefined, string, Array<{ column: string; value: string }>]>([
    [
      'a long cell is cut',
      ['Id'],
      ',',
      `"${'x'.repeat(200)}"`,
      [{ column: 'Id', value: `${'x'.repeat(SAMPLE_CELL_CHARS)}…` }],
    ],
    [
      'a JSON Lines record is one cell',
      ['record'],
      undefined,
      '{"id":"1"}',
      [{ column: 'record', value: '{"id":"1"}' }],
    ],
    [
      'a line that does not parse is shown raw',
      ['Id', 'Name'],
      ',',
      '"a"b,c',
      [{ column: 'raw line', value: '"a"b,c' }],
    ],
    [
      'a cell of emoji is cut by characters, not UTF-16 units',
      ['Id'],
      ',',
      '😀'.repeat(100),
      [{ column: 'Id', value: `${'😀'.repeat(SAMPLE_CELL_CHARS)}…` }],
    ],
  ])('%s', (_name, columns, delimiter, raw, cells) => {
    // Prepare
    const sampler = new RejectSampler(columns, delimiter);

    // Act
    sampler.add({ line: 7, reasons: ['invalid_quote'], raw });

    // Assess
    expect(sampler.samples().invalid_quote?.[0]?.cells).toEqual(cells);
  });
});

describe('escapeHtml', () => {
  it.each([
    ['<b>', '&lt;b&gt;'],
    [`"'`, '&quot;&#39;'],
    ['a & b', 'a &amp; b'],
    ['plain ünïcödé', 'plain ünïcödé'],
  ])('%j → %j', (text, escaped) => {
    expect(escapeHtml(text)).toBe(escaped);
  });
});
