import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { parseConfigText } from '../../lambdas/domain/config';
import type { FailedRunSummary, RunSummary } from '../../lambdas/domain/report';
import { LocalStack } from '../../local/local-stack';
import { withFailureReport } from '../../local/report';
import { runLocalFile } from '../../local/run';

/**
 * report.html in a real headless browser (Debian's chromium, driven by playwright-core): a page
 * from a real local run renders, shows the numbers of its summary.json, draws its chart, shows a
 * hostile reject cell as text, and logs no error. Outside CI a machine without chromium skips it,
 * saying so; in CI (.ci/run installs chromium) a missing browser fails it.
 */
const ROOT = resolve(__dirname, '../..');
const CONFIG_FILE = join(ROOT, 'examples/crm-sync.config.json');
const CONTACTS = join(ROOT, 'examples/data/contacts.csv');
const CHROMIUM = process.env.CRM_SYNC_CHROMIUM ?? '/usr/bin/chromium';
const IN_CI = process.env.CI === 'true';
const HAVE_BROWSER = existsSync(CHROMIUM);

/** A reject whose cells would run script if the page put them into its HTML unescaped. */
const XSS = '<img src=x onerror=alert(1)>';

if (!HAVE_BROWSER && !IN_CI) {
  process.stderr.write(
    `report-browser.test.ts: SKIPPED, no browser at ${CHROMIUM} (apt-get install -y chromium, or set CRM_SYNC_CHROMIUM); CI fails instead\n`,
  );
}
const describeWithBrowser = HAVE_BROWSER || IN_CI ? describe : describe.skip;

/** What a page did that it should not: console errors and warnings, uncaught errors, dialogs, requests. */
interface PageTrouble {
  console: string[];
  errors: string[];
  dialogs: string[];
  requests: string[];
}

async function openReport(browser: Browser, file: string): Promise<{ page: Page; trouble: PageTrouble }> {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const url = pathToFileURL(file).href;
  const trouble: PageTrouble = { console: [], errors: [], dialogs: [], requests: [] };
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') trouble.console.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => trouble.errors.push(e.message));
  page.on('dialog', (d) => {
    trouble.dialogs.push(d.message());
    void d.dismiss();
  });
  page.on('request', (r) => {
    if (r.url() !== url) trouble.requests.push(r.url());
  });
  const response = await page.goto(url, { waitUntil: 'load' });
  expect(response?.ok()).toBe(true);
  return { page, trouble };
}

/** "3,000" → 3000 */
const number = (text: string | null) => Number((text ?? '').replaceAll(',', '').trim());

describeWithBrowser(`report.html in headless chromium (${CHROMIUM})`, () => {
  const config = parseConfigText(readFileSync(CONFIG_FILE, 'utf8'));
  const stateDir = mkdtempSync(join(tmpdir(), 'crm-sync-report-'));
  let stack: LocalStack | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    if (!HAVE_BROWSER) {
      throw new Error(
        `no browser at ${CHROMIUM}: .ci/run installs Debian's chromium (CI=true, so this fails)`,
      );
    }
    [stack, browser] = await Promise.all([
      LocalStack.start({ stateDir, config, configFile: CONFIG_FILE }),
      chromium.launch({ executablePath: CHROMIUM }),
    ]);
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  it('renders the report of a real run: the summary.json numbers, the chart, escaped samples, no errors', async () => {
    // Prepare: the demo contacts (rejects, duplicates) with a hostile reject first, so it is sampled
    if (!stack || !browser) throw new Error('not started');
    const [header, ...rest] = readFileSync(CONTACTS, 'utf8').split('\r\n');
    const columns = (header ?? '').split(',').map((c) => c.replaceAll('"', ''));
    const hostile: Record<string, string> = {
      Id: '003XSS0000000000AA',
      FirstName: XSS,
      LastName: 'Mallory',
      Email: XSS,
      LastModifiedDate: '2021-04-30T04:21:16.000Z',
      IsDeleted: 'false',
    };
    const row = columns.map((c) => `"${(hostile[c] ?? '').replaceAll('"', '""')}"`).join(',');
    const file = join(stateDir, 'contacts.csv');
    writeFileSync(file, [header, row, ...rest].join('\r\n'));

    // Act
    const result = await runLocalFile(stack, file, config, { entity: 'contact', stateDir });
    const htmlFile = result.reports.html;
    if (!htmlFile || !result.reports.summary)
      throw new Error(`no report.html: ${JSON.stringify(result.reports)}`);
    const summary = JSON.parse(readFileSync(result.reports.summary, 'utf8')) as RunSummary;
    const { page, trouble } = await openReport(browser, htmlFile);

    // Assess: the run, as the page shows it
    expect(summary.counts.rejected).toBeGreaterThan(0);
    expect(summary.duplicateKeys).toBeGreaterThan(0);
    expect(summary.reports.html).toBe(`reports/${summary.runId}/report.html`);
    expect(await page.title()).toContain(summary.runId);
    expect(await page.textContent('[data-field="status"]')).toBe(summary.status);
    expect(await page.textContent('[data-field="reconciliation"]')).toBe(summary.reconciliation.status);
    for (const [bucket, n] of Object.entries(summary.counts)) {
      expect([bucket, number(await page.textContent(`td[data-count="${bucket}"]`))]).toEqual([bucket, n]);
    }
    expect(number(await page.textContent('dd[data-field="rows"]'))).toBe(summary.counts.rows);
    expect(number(await page.textContent('dd[data-field="rejected"]'))).toBe(summary.counts.rejected);
    expect(number(await page.textContent('dd[data-field="duplicateKeys"]'))).toBe(summary.duplicateKeys);
    const reasons = await page.$$eval('#reject-reasons tr[data-reason]', (rows) =>
      rows.map((r) => ({
        reason: r.getAttribute('data-reason'),
        count: Number(
          (r.querySelector('[data-field="reason-count"]')?.textContent ?? '').replaceAll(',', ''),
        ),
      })),
    );
    expect(reasons).toEqual(summary.topReasons);
    const checks = await page.$$eval('#reconciliation tr[data-check]', (rows) =>
      rows.map((r) => r.getAttribute('data-check')),
    );
    expect(checks).toEqual(summary.reconciliation.checks.map((c) => c.name));
    expect(await page.locator('#duplicate-keys tbody tr').count()).toBe(Math.min(20, summary.duplicateKeys));
    expect(await page.locator('#chunk-timings tbody tr').count()).toBe(summary.chunks);

    // The chart: drawn, sized, one stacked segment per non-empty bucket, in proportion.
    const chart = page.locator('svg#counts-chart');
    expect(await chart.isVisible()).toBe(true);
    expect((await chart.boundingBox())?.width).toBeGreaterThan(400);
    const segments = await page.$$eval('svg#counts-chart rect[data-bucket]', (rects) =>
      rects.map((r) => [r.getAttribute('data-bucket'), Number(r.getAttribute('width'))] as const),
    );
    const nonEmpty = Object.entries(summary.counts).filter(([k, n]) => k !== 'rows' && n > 0);
    expect(segments.map(([k]) => k)).toEqual(nonEmpty.map(([k]) => k));
    for (const [bucket, width] of segments) {
      const n = summary.counts[bucket as keyof RunSummary['counts']];
      expect(width).toBeCloseTo((900 * n) / summary.counts.rows, 1);
    }

    // The hostile reject is text on the page, in the invalid_email samples, and made no element.
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.locator('[onerror]').count()).toBe(0);
    const sampleText = await page.locator('table[data-samples="invalid_email"]').textContent();
    expect(sampleText).toContain(XSS);
    expect(sampleText).toContain('003XSS0000000000AA');

    // Nothing went wrong while it rendered: no console error, no uncaught error, no alert, no fetch.
    expect(trouble).toEqual({ console: [], errors: [], dialogs: [], requests: [] });
  });

  it('renders the report of a run that failed at Plan: the error, escaped, and no errors', async () => {
    // Prepare: a header without the required columns, in a file named like an attack (the message
    // names the file; it never quotes the file's cells)
    if (!stack || !browser) throw new Error('not started');
    const file = join(stateDir, `${XSS}.csv`);
    writeFileSync(file, `"Id","FirstName","${XSS}"\r\n"1","Ada","x"\r\n`);

    // Act
    const result = await withFailureReport(
      await runLocalFile(stack, file, config, { entity: 'contact', stateDir }),
      stateDir,
    );
    const { html, summary: summaryFile } = result.reports;
    if (!html || !summaryFile) throw new Error(`no report.html: ${JSON.stringify(result.reports)}`);
    const summary = JSON.parse(readFileSync(summaryFile, 'utf8')) as FailedRunSummary;
    const { page, trouble } = await openReport(browser, html);

    // Assess
    expect(result.status).toBe('FAILED');
    expect(summary).toMatchObject({
      runId: result.runId,
      status: 'FAILED',
      error: { name: 'HeaderMismatchError' },
      chunks: null,
      counts: null,
      reconciliation: null,
    });
    expect(await page.textContent('[data-field="status"]')).toBe('FAILED');
    expect(await page.textContent('[data-field="error-name"]')).toBe('HeaderMismatchError');
    expect(await page.textContent('[data-field="error-message"]')).toBe(summary.error.message);
    expect(summary.error.message).toContain(XSS);
    expect(await page.locator('img').count()).toBe(0);
    expect(trouble).toEqual({ console: [], errors: [], dialogs: [], requests: [] });
  });
});
