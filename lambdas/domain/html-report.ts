/**
 * report.html: one self-contained page a person reads after a run — outcome at a glance, the counts
 * with a chart, the reconciliation checks, the top reject reasons with a few sample lines, duplicate
 * keys, orphans and timings per chunk and partition.
 *
 * Pure: no AWS, no I/O. The page has no script, no external resource (a Content-Security-Policy
 * forbids both), and every interpolated value goes through one tagged template that HTML-escapes it:
 * file names, reasons, keys and sample cells are the customer's data.
 */
import { parseRecord } from './csv';
import { percent } from './mirror';
import type { ReferenceCheck } from './references';
import type { RejectDecision } from './rejects';
import type { FailedRunSummary, RunSummary } from './report';
import { positionLabel } from './row-position';
import { type Counts, sourceName } from './run';

/** Sample reject lines kept per reason: the page shows a few, rejects.csv has them all. */
export const SAMPLES_PER_REASON = 3;
/** Cells of a sample shown from the start of the row (the key is usually first), besides the cells a reason names. */
export const SAMPLE_LEADING_CELLS = 3;
/** A longer cell is cut (the page is for reading, rejects.csv has the whole row). */
export const SAMPLE_CELL_CHARS = 80;
/** Duplicate keys listed on the page (duplicates.csv has them all). */
export const DUPLICATES_SHOWN = 20;
/** Warnings (cells dropped or kept as text) listed on the page; all of them are in warnings.csv. */
export const WARNINGS_SHOWN = 20;
/** Chunks or partitions listed one per row; above this, only the slowest. */
export const STEPS_SHOWN = 50;

// ---------------------------------------------------------------------------------------------------
// Escaping: a tagged template whose interpolations are escaped unless they are SafeHtml it made.

class SafeHtml {
  constructor(readonly value: string) {}
}
type Html = SafeHtml | string | number | null | undefined | false | readonly Html[];

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text as HTML text or as a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

function toHtml(v: Html): string {
  if (v instanceof SafeHtml) return v.value;
  if (Array.isArray(v)) return v.map(toHtml).join('');
  if (v === null || v === undefined || v === false) return '';
  return escapeHtml(String(v));
}

function h(strings: TemplateStringsArray, ...values: Html[]): SafeHtml {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += toHtml(values[i] as Html) + (strings[i + 1] ?? '');
  return new SafeHtml(out);
}

// ---------------------------------------------------------------------------------------------------
// Inputs

/** One cell of a sample reject line, under its column. */
export interface SampleCell {
  column: string;
  value: string;
  /** A reason of the line names this cell (`invalid_email:Email`). */
  named?: boolean | undefined;
}

/** One rejected line as the page shows it: its line number, every reason, and a few cells. */
export interface RejectSample {
  line: number;
  reasons: string[];
  cells: SampleCell[];
}

/** A chunk's or a partition's work, from the maps' results (a run) or the ledger (a failed run). */
export interface StepTiming {
  /** Chunk index or partition number. */
  id: number;
  /** SUCCEEDED, FAILED, PENDING or MISSING (ledger steps); absent: it reported its result. */
  status?: string | undefined;
  /** Rows read (chunks) or keys merged (partitions). */
  rows?: number | undefined;
  rejected?: number | undefined;
  applied?: number | undefined;
  durationMs?: number | undefined;
  error?: string | undefined;
}

export interface ReportInput {
  summary: RunSummary;
  /** Sample reject lines per reason code (RejectSampler.samples()). */
  rejectSamples?: Readonly<Record<string, readonly RejectSample[]>>;
  /** The first duplicate keys, with every line and the winning line. */
  duplicates?: ReadonlyArray<{ key: string; lines: readonly number[]; winner: number }>;
  /** The first warnings (WARNINGS_SHOWN): line, reason, what was stored, the cell. */
  warnings?: ReadonlyArray<{ line: number; reason: string; action: string; value: string }>;
  /** A multi-file export's part names (WorkerJob.files): lines are shown as `part-2.csv:17`. */
  files?: readonly string[] | undefined;
  chunks?: readonly StepTiming[];
  partitions?: readonly StepTiming[];
}

export interface FailureReportInput {
  summary: FailedRunSummary;
  chunks?: readonly StepTiming[];
  partitions?: readonly StepTiming[];
  /** What a person can do next (e.g. the redrive command). */
  nextStep?: string | undefined;
}

// ---------------------------------------------------------------------------------------------------
// Samples: bounded memory while the rejects stream by.

function cut(value: string): string {
  const chars = Array.from(value);
  return chars.length > SAMPLE_CELL_CHARS ? `${chars.slice(0, SAMPLE_CELL_CHARS).join('')}…` : value;
}

/**
 * Keeps the first few reject lines of each reason code (`invalid_email` of `invalid_email:Email`)
 * while every reject of a run streams past: at most SAMPLES_PER_REASON per code, and of each only
 * the leading cells and the cells its reasons name (`:Email`), each cut to SAMPLE_CELL_CHARS.
 */
export class RejectSampler {
  private readonly byReason = new Map<string, RejectSample[]>();
  private readonly columnIndex = new Map<string, number>();

  /**
   * @param columns the file's header (CSV) or `['record']` (JSON Lines)
   * @param delimiter the CSV delimiter; undefined: the raw line is one cell (JSON Lines)
   */
  constructor(
    private readonly columns: readonly string[],
    private readonly delimiter: string | undefined,
    private readonly perReason = SAMPLES_PER_REASON,
  ) {
    columns.forEach((c, i) => {
      const name = c.trim().toLowerCase();
      if (!this.columnIndex.has(name)) this.columnIndex.set(name, i);
    });
  }

  add(reject: { line: number; reasons: readonly string[]; raw: string }): void {
    let sample: RejectSample | undefined;
    for (const code of new Set(reject.reasons.map((r) => r.split(':')[0] ?? r))) {
      let samples = this.byReason.get(code);
      if (!samples) {
        samples = [];
        this.byReason.set(code, samples);
      }
      if (samples.length >= this.perReason) continue;
      // Parsed once, and only while some reason of the line still wants a sample.
      sample ??= this.sample(reject);
      samples.push(sample);
    }
  }

  /** The samples per reason code, in the order the lines came. */
  samples(): Record<string, RejectSample[]> {
    return Object.fromEntries(this.byReason);
  }

  private sample(reject: { line: number; reasons: readonly string[]; raw: string }): RejectSample {
    const parsed = this.delimiter === undefined ? undefined : parseRecord(reject.raw, this.delimiter);
    if (!parsed?.ok) {
      const column = this.delimiter === undefined ? (this.columns[0] ?? 'record') : 'raw line';
      return { line: reject.line, reasons: [...reject.reasons], cells: [{ column, value: cut(reject.raw) }] };
    }
    const wanted = new Set<number>();
    for (let i = 0; i < Math.min(SAMPLE_LEADING_CELLS, this.columns.length); i++) wanted.add(i);
    const named = new Set<number>();
    for (const reason of reject.reasons) {
      // `<code>:<SourceColumn>`: the cell the reason is about.
      const column = reason.split(':')[1];
      const index = column === undefined ? undefined : this.columnIndex.get(column.trim().toLowerCase());
      if (index !== undefined) named.add(index);
    }
    const cells = [...new Set([...wanted, ...named])]
      .sort((a, b) => a - b)
      .map((i) => ({
        column: this.columns[i] ?? `column ${i + 1}`,
        value: cut(parsed.fields[i] ?? ''),
        ...(named.has(i) ? { named: true } : {}),
      }));
    return { line: reject.line, reasons: [...reject.reasons], cells };
  }
}

// ---------------------------------------------------------------------------------------------------
// Formatting

const fmt = (n: number) => n.toLocaleString('en-US');
const plural = (n: number, noun: string) => `${fmt(n)} ${noun}${n === 1 ? '' : 's'}`;

function duration(ms: number | undefined): string {
  if (ms === undefined) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** ISO-8601 to the second, UTC. */
const time = (iso: string) => iso.replace(/\.\d+Z$/, 'Z').replace('T', ' ');

const pct = (part: number, whole: number) => (whole > 0 ? (100 * part) / whole : 0);

/** The buckets of the accounting identity, in its order, with what each means and its colour. */
const BUCKETS: ReadonlyArray<{
  key: Exclude<keyof Counts, 'rows'>;
  label: string;
  meaning: string;
  colour: string;
}> = [
  { key: 'applied', label: 'applied', meaning: 'written to the table', colour: '#2e7d32' },
  {
    key: 'unchanged',
    label: 'unchanged',
    meaning: 'the table already held this content',
    colour: '#90a4ae',
  },
  {
    key: 'superseded',
    label: 'superseded',
    meaning: 'a newer row of the same key exists, in the file or in the table',
    colour: '#1e88e5',
  },
  { key: 'deleted', label: 'deleted', meaning: 'a delete-flag row removed the item', colour: '#8e24aa' },
  { key: 'rejected', label: 'rejected', meaning: 'failed parsing or validation', colour: '#e53935' },
];

// ---------------------------------------------------------------------------------------------------
// Page

const STYLE = `
:root { color-scheme: light; --ok: #2e7d32; --bad: #c62828; --warn: #ef6c00; --muted: #5f6b76; --line: #dde3e8; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  margin: 0; color: #1c2530; background: #f4f6f8; }
main { max-width: 1040px; margin: 0 auto; padding: 24px 20px 48px; }
header h1 { font-size: 22px; margin: 0 0 4px; }
header p { margin: 2px 0; color: var(--muted); overflow-wrap: anywhere; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; margin: 16px 0; }
h2 { font-size: 17px; margin: 0 0 12px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
.badges { display: flex; gap: 8px; flex-wrap: wrap; margin-bottom: 12px; }
.badge { display: inline-block; padding: 3px 10px; border-radius: 999px; font-weight: 600; font-size: 13px;
  letter-spacing: .02em; color: #fff; background: var(--muted); }
.badge.ok { background: var(--ok); } .badge.bad { background: var(--bad); } .badge.warn { background: var(--warn); }
.verdict { font-size: 16px; margin: 0 0 12px; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(130px, 1fr)); gap: 10px; margin: 0; }
.figures div { border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; }
.figures dt { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.figures dd { margin: 2px 0 0; font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.total td { font-weight: 600; border-top: 2px solid #1c2530; }
.identity { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px;
  background: #f4f6f8; padding: 8px 10px; border-radius: 6px; overflow-wrap: anywhere; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
.chart { width: 100%; max-width: 900px; height: auto; display: block; margin: 4px 0 12px; }
.ok-mark { color: var(--ok); font-weight: 700; } .bad-mark { color: var(--bad); font-weight: 700; }
.muted { color: var(--muted); }
code, .cell { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
.cell { white-space: pre-wrap; overflow-wrap: anywhere; }
.cells { display: flex; flex-wrap: wrap; gap: 4px 14px; }
.kv { display: inline-block; } .kv .k { color: var(--muted); font-size: 12px; }
.kv.named .cell { background: #fdecea; outline: 1px solid #f5c2c0; border-radius: 3px; padding: 0 3px; }
table.samples td { font-size: 13px; }
pre.error { white-space: pre-wrap; overflow-wrap: anywhere; background: #fdecea; border: 1px solid #f5c2c0;
  padding: 10px 12px; border-radius: 6px; margin: 0; }
.bar { height: 10px; background: #1e88e5; border-radius: 2px; min-width: 1px; }
.bar.bad { background: var(--bad); }
td.barcell { width: 35%; }
footer { color: var(--muted); font-size: 13px; margin-top: 24px; }
`;

function page(title: string, body: SafeHtml): string {
  return toHtml(h`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="generator" content="crm-sync">
<title>${title}</title>
<style>${new SafeHtml(STYLE)}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`);
}

function header(s: { runId: string; entity: string; source: RunSummary['source'] }): SafeHtml {
  const version = s.source.versionId
    ? ` (version ${s.source.versionId})`
    : s.source.etag
      ? ` (ETag ${s.source.etag})`
      : '';
  return h`<header>
<h1>crm-sync run report: <span data-field="entity">${s.entity}</span></h1>
<p>run <code data-field="runId">${s.runId}</code></p>
<p>file <code data-field="source">${sourceName(s.source)}</code>${version}</p>
</header>`;
}

function badge(text: string, kind: 'ok' | 'bad' | 'warn' | 'plain', field: string): SafeHtml {
  return h`<span class="badge ${kind === 'plain' ? '' : kind}" data-field="${field}">${text}</span>`;
}

function figure(label: string, value: string, field: string): SafeHtml {
  return h`<div><dt>${label}</dt><dd data-field="${field}">${value}</dd></div>`;
}

function outcome(s: RunSummary): SafeHtml {
  const matched = s.reconciliation.status === 'MATCHED';
  const failedChecks = s.reconciliation.checks.filter((c) => !c.ok);
  const verdict = s.dryRun
    ? `Dry run: nothing was written. The counts say what a run of this file would do; diff.csv lists the action per key.`
    : matched
      ? `All ${fmt(s.counts.rows)} rows are accounted for and the table holds exactly what the file said${s.counts.rejected > 0 ? `, less its ${fmt(s.counts.rejected)} rejected rows (rejects.csv)` : ''} (${fmt(s.reconciliation.verifiedKeys)} keys verified).`
      : `Reconciliation found differences: ${failedChecks.map((c) => c.name).join(', ')} failed${s.reconciliation.mismatchedKeyCount > 0 ? `, ${fmt(s.reconciliation.mismatchedKeyCount)} keys differ` : ''}. Do not trust the table until this is resolved.`;
  return h`<section id="outcome" aria-labelledby="outcome-title">
<h2 id="outcome-title">Outcome</h2>
<div class="badges">
${badge(s.status, s.status === 'SUCCEEDED' ? 'ok' : 'bad', 'status')}
${badge(s.reconciliation.status, matched ? 'ok' : 'bad', 'reconciliation')}
${s.dryRun ? badge('DRY RUN', 'warn', 'dryRun') : null}
</div>
<p class="verdict">${verdict}</p>
<dl class="figures">
${figure('rows', fmt(s.counts.rows), 'rows')}
${figure('applied', fmt(s.counts.applied), 'applied')}
${figure('rejected', fmt(s.counts.rejected), 'rejected')}
${figure('duplicate keys', fmt(s.duplicateKeys), 'duplicateKeys')}
${figure('duration', duration(s.durationMs), 'duration')}
</dl>
<p class="muted">started ${time(s.startedAt)} UTC · finished ${time(s.finishedAt)} UTC · ${plural(s.chunks, 'chunk')} · ${plural(s.partitions, 'partition')}</p>
</section>`;
}

/** A stacked bar of the five buckets over all rows, then one labelled bar per bucket. */
function countsChart(c: Counts): SafeHtml {
  const width = 900;
  const labelW = 110;
  const valueW = 90;
  const barW = width - labelW - valueW;
  const rowH = 24;
  const stackH = 28;
  const top = stackH + 18;
  const height = top + BUCKETS.length * rowH + 4;
  const largest = Math.max(1, ...BUCKETS.map((b) => c[b.key]));
  let x = 0;
  const stack = BUCKETS.filter((b) => c[b.key] > 0).map((b) => {
    const w = (width * c[b.key]) / Math.max(1, c.rows);
    const rect = h`<rect x="${x.toFixed(2)}" y="0" width="${w.toFixed(2)}" height="${stackH}" fill="${b.colour}" data-bucket="${b.key}"><title>${b.label}: ${fmt(c[b.key])} (${pct(c[b.key], c.rows).toFixed(1)}%)</title></rect>`;
    x += w;
    return rect;
  });
  const bars = BUCKETS.map((b, i) => {
    const y = top + i * rowH;
    const w = (barW * c[b.key]) / largest;
    return h`<g data-bar="${b.key}">
<text x="0" y="${y + 15}" font-size="13" fill="#1c2530">${b.label}</text>
<rect x="${labelW}" y="${y + 3}" width="${Math.max(w, c[b.key] > 0 ? 1 : 0).toFixed(2)}" height="16" rx="2" fill="${b.colour}"></rect>
<text x="${width}" y="${y + 15}" font-size="13" text-anchor="end" fill="#1c2530">${fmt(c[b.key])}</text>
</g>`;
  });
  const description = BUCKETS.map((b) => `${b.label} ${fmt(c[b.key])}`).join(', ');
  return h`<svg id="counts-chart" class="chart" role="img" aria-labelledby="counts-chart-title counts-chart-desc" viewBox="0 0 ${width} ${height}" xmlns="http://www.w3.org/2000/svg">
<title id="counts-chart-title">Where the ${fmt(c.rows)} rows went</title>
<desc id="counts-chart-desc">${description}</desc>
<rect x="0" y="0" width="${width}" height="${stackH}" fill="#eceff1"></rect>
${stack}
${bars}
</svg>`;
}

function counts(s: RunSummary): SafeHtml {
  const c = s.counts;
  const would = s.dryRun ? ' (would be)' : '';
  const rows = BUCKETS.map(
    (b) => h`<tr>
<td><span class="swatch" style="background:${b.colour}"></span>${b.label}${b.key === 'applied' || b.key === 'deleted' ? would : ''}</td>
<td class="num" data-count="${b.key}">${fmt(c[b.key])}</td>
<td class="num">${pct(c[b.key], c.rows).toFixed(1)}%</td>
<td class="muted">${b.meaning}</td>
</tr>`,
  );
  const sum = BUCKETS.reduce((n, b) => n + c[b.key], 0);
  return h`<section id="counts" aria-labelledby="counts-title">
<h2 id="counts-title">Counts</h2>
${countsChart(c)}
<p class="identity" data-field="identity">rows ${fmt(c.rows)} = applied ${fmt(c.applied)} + unchanged ${fmt(c.unchanged)} + superseded ${fmt(c.superseded)} + deleted ${fmt(c.deleted)} + rejected ${fmt(c.rejected)}${sum === c.rows ? '' : ` (gap ${fmt(c.rows - sum)})`}</p>
<table>
<thead><tr><th>bucket</th><th class="num">rows</th><th class="num">share</th><th>meaning</th></tr></thead>
<tbody>
${rows}
<tr class="total"><td>rows read</td><td class="num" data-count="rows">${fmt(c.rows)}</td><td class="num">100%</td><td class="muted">every data row of the file, in exactly one bucket</td></tr>
</tbody>
</table>
<p class="muted">duplicate keys <span data-field="duplicateKeysCount">${fmt(s.duplicateKeys)}</span> · chunks ${fmt(s.chunks)} · partitions ${fmt(s.partitions)}</p>
</section>`;
}

function reconciliation(s: RunSummary): SafeHtml {
  const r = s.reconciliation;
  const checks = r.checks.map(
    (c) => h`<tr data-check="${c.name}">
<td>${c.ok ? h`<span class="ok-mark" aria-label="passed">✓</span>` : h`<span class="bad-mark" aria-label="failed">✗</span>`}</td>
<td><code>${c.name}</code></td>
<td>${c.detail}</td>
</tr>`,
  );
  const mismatched =
    r.mismatchedKeyCount > 0
      ? h`<h3>Keys that differ (${fmt(r.mismatchedKeyCount)})</h3>
<table id="mismatched-keys">
<thead><tr><th>key</th><th>scope</th><th>problem</th></tr></thead>
<tbody>${r.mismatchedKeys.map((m) => h`<tr><td class="cell">${m.key}</td><td>${m.scope ?? 'run'}</td><td>${m.problem}</td></tr>`)}</tbody>
</table>
<p class="muted">Scope <code>run</code>: a decision of this run; <code>table</code>: an item of the table that no source row explains (added or changed behind crm-sync's back); <code>mirror</code>: an item a mirror run should have deleted.${r.mismatchedKeys.length < r.mismatchedKeyCount ? h` Showing the first ${fmt(r.mismatchedKeys.length)} of ${fmt(r.mismatchedKeyCount)}; all of them are in <a href="mismatches.csv">mismatches.csv</a>.` : null}</p>`
      : null;
  return h`<section id="reconciliation" aria-labelledby="reconciliation-title">
<h2 id="reconciliation-title">Reconciliation: ${r.status}</h2>
<table>
<thead><tr><th></th><th>check</th><th>detail</th></tr></thead>
<tbody>${checks}</tbody>
</table>
${mismatched}
</section>`;
}

function sampleCells(cells: readonly SampleCell[]): SafeHtml {
  return h`<div class="cells">${cells.map(
    (c) =>
      h`<span class="kv${c.named ? ' named' : ''}"><span class="k">${c.column}</span> <span class="cell">${c.value === '' ? h`<span class="muted">(empty)</span>` : c.value}</span></span>`,
  )}</div>`;
}

function rejects(
  s: RunSummary,
  samples: Readonly<Record<string, readonly RejectSample[]>>,
  files: readonly string[] | undefined,
): SafeHtml {
  if (s.counts.rejected === 0) {
    return h`<section id="rejects" aria-labelledby="rejects-title">
<h2 id="rejects-title">Rejects</h2>
<p data-field="no-rejects">No rejects: every row passed parsing and validation.</p>
</section>`;
  }
  const largest = Math.max(1, ...s.topReasons.map((t) => t.count));
  const reasons = s.topReasons.map(
    (t) => h`<tr data-reason="${t.reason}">
<td><code>${t.reason}</code></td>
<td class="num" data-field="reason-count">${fmt(t.count)}</td>
<td class="barcell"><div class="bar bad" style="width:${pct(t.count, largest).toFixed(1)}%"></div></td>
</tr>`,
  );
  const sampled = s.topReasons.filter((t) => (samples[t.reason] ?? []).length > 0);
  const blocks = sampled.map(
    (t) => h`<h3><code>${t.reason}</code> · ${fmt(t.count)} rows</h3>
<table class="samples" data-samples="${t.reason}">
<thead><tr><th class="num">line</th><th>reasons</th><th>cells</th></tr></thead>
<tbody>${(samples[t.reason] ?? []).map(
      (r) =>
        h`<tr class="sample"><td class="num">${positionLabel(r.line, files)}</td><td>${r.reasons.map((x, i) => h`${i > 0 ? ' ' : ''}<code>${x}</code>`)}</td><td>${sampleCells(r.cells)}</td></tr>`,
    )}</tbody>
</table>`,
  );
  return h`<section id="rejects" aria-labelledby="rejects-title">
<h2 id="rejects-title">Rejects: ${fmt(s.counts.rejected)} rows</h2>
<p class="muted">The top reasons (a row may have several). Every rejected line, with all its cells, is in <a href="rejects.csv">rejects.csv</a>.</p>
<table id="reject-reasons">
<thead><tr><th>reason</th><th class="num">rows</th><th></th></tr></thead>
<tbody>${reasons}</tbody>
</table>
${sampled.length > 0 ? h`<p class="muted">Up to ${SAMPLES_PER_REASON} sample lines per reason: the first cells of the line and the cell a reason names (highlighted).</p>${blocks}` : null}
${dateFormats(s)}
</section>`;
}

/** The formats the date columns with date rejects read, and the day/month order decided for them. */
function dateFormats(s: RunSummary): SafeHtml | null {
  const columns = Object.entries(s.dateFormats ?? {});
  if (columns.length === 0) return null;
  return h`<h3>Date columns with rejects</h3>
<table id="date-formats">
<thead><tr><th>column</th><th>day/month order</th><th>formats it reads</th></tr></thead>
<tbody>${columns.map(([column, formats]) => {
    const order = s.dateOrder?.[column];
    return h`<tr data-date-column="${column}"><td><code>${column}</code></td><td>${order ? `${order.order} (${order.decidedBy})` : '–'}</td><td>${formats}</td></tr>`;
  })}</tbody>
</table>
<p class="muted">A value in none of these formats is rejected; set <code>formats</code>, <code>dayFirst</code> or <code>timezone</code> on the field to read what the export writes.</p>`;
}

/** Cells that failed their type in fields that keep the row (onInvalid), and columns the file lacks. */
function warnings(
  s: RunSummary,
  list: NonNullable<ReportInput['warnings']>,
  files: readonly string[] | undefined,
): SafeHtml {
  const missing = s.missingColumns ?? [];
  const count = s.warnings ?? 0;
  const local = Object.entries(s.dateOrder ?? {}).filter(([, d]) => d.localTimes);
  const localPart =
    local.length > 0
      ? h`<p data-field="local-times">Times written without a UTC offset were read in ${local.map(([column, d], i) => h`${i > 0 ? ', ' : ''}<code>${column}</code>: <strong>${d.timezone ?? 'UTC'}</strong>`)}. If the export wrote another zone (the exporting user's), set <code>timezone</code> on the entity or the field.</p>`
      : null;
  const missingPart =
    missing.length > 0
      ? h`<p data-field="missing-columns">The file has no column <strong>${missing.join(', ')}</strong>: no row set ${missing.length === 1 ? 'its field' : 'their fields'}, and items already in the table kept their stored values unless the entity says <code>onMissingColumns: remove</code>.</p>`
      : null;
  if (count === 0) {
    return h`<section id="warnings" aria-labelledby="warnings-title">
<h2 id="warnings-title">Warnings</h2>
${missingPart}
${localPart}
<p data-field="no-warnings">No warnings: no cell was dropped or kept as text.</p>
</section>`;
  }
  const reasons = (s.topWarnings ?? []).map(
    (t) =>
      h`<tr data-warning="${t.reason}"><td><code>${t.reason}</code></td><td class="num">${fmt(t.count)}</td></tr>`,
  );
  return h`<section id="warnings" aria-labelledby="warnings-title">
<h2 id="warnings-title">Warnings: ${fmt(count)} cells</h2>
${missingPart}
${localPart}
<p class="muted">Cells that failed their type in a field whose <code>onInvalid</code> keeps the row: <code>drop</code> stored the row without the field, <code>keep</code> stored the cell's text. Every one is in <a href="warnings.csv">warnings.csv</a>.</p>
<table id="warning-reasons">
<thead><tr><th>reason</th><th class="num">cells</th></tr></thead>
<tbody>${reasons}</tbody>
</table>
${
  list.length > 0
    ? h`<table id="warning-sample" class="samples">
<thead><tr><th class="num">line</th><th>reason</th><th>stored</th><th>cell</th></tr></thead>
<tbody>${list.map((w) => h`<tr class="sample"><td class="num">${positionLabel(w.line, files)}</td><td><code>${w.reason}</code></td><td>${w.action === 'drop' ? 'nothing' : 'the text'}</td><td class="cell">${cut(w.value)}</td></tr>`)}</tbody>
</table>
${list.length < count ? h`<p class="muted">showing the first ${fmt(list.length)} of ${fmt(count)}</p>` : null}`
    : null
}
</section>`;
}

function duplicates(
  s: RunSummary,
  list: NonNullable<ReportInput['duplicates']>,
  files: readonly string[] | undefined,
): SafeHtml {
  if (s.duplicateKeys === 0) {
    return h`<section id="duplicates" aria-labelledby="duplicates-title">
<h2 id="duplicates-title">Duplicate keys</h2>
<p data-field="no-duplicates">No duplicate keys: every key appears on one line of the file.</p>
</section>`;
  }
  return h`<section id="duplicates" aria-labelledby="duplicates-title">
<h2 id="duplicates-title">Duplicate keys: ${fmt(s.duplicateKeys)}</h2>
<p class="muted">Keys on more than one line: the row with the newest updatedAt (then the later line) won, the others count as superseded. All of them are in <a href="duplicates.csv">duplicates.csv</a>.</p>
${
  list.length > 0
    ? h`<table id="duplicate-keys">
<thead><tr><th>key</th><th>lines</th><th class="num">winning line</th></tr></thead>
<tbody>${list.map((d) => h`<tr><td class="cell">${d.key}</td><td>${d.lines.map((l) => positionLabel(l, files)).join(', ')}</td><td class="num">${positionLabel(d.winner, files)}</td></tr>`)}</tbody>
</table>
${list.length < s.duplicateKeys ? h`<p class="muted">showing the first ${fmt(list.length)} of ${fmt(s.duplicateKeys)}</p>` : null}`
    : null
}
</section>`;
}

function references(checks: readonly ReferenceCheck[]): SafeHtml {
  const fields = checks.map(
    (r) => h`<h3><code>${r.field}</code> → ${r.entity}</h3>
<p data-reference="${r.field}">${
      r.orphans === 0
        ? h`All ${fmt(r.checked)} items that hold a value point at an existing ${r.entity} item.`
        : h`${fmt(r.checked)} items hold a value; <strong>${fmt(r.orphans)}</strong> point at ${plural(r.missingParents, `missing ${r.entity} item`)}.`
    }</p>
${
  r.sample.length > 0
    ? h`<table>
<thead><tr><th>missing ${r.entity}</th><th class="num">items</th><th>sample keys</th></tr></thead>
<tbody>${r.sample.map((m) => h`<tr><td class="cell">${m.value}</td><td class="num">${fmt(m.children)}</td><td class="cell">${m.keys.join(', ')}</td></tr>`)}</tbody>
</table>`
    : null
}`,
  );
  const orphans = checks.reduce((n, r) => n + r.orphans, 0);
  return h`<section id="references" aria-labelledby="references-title">
<h2 id="references-title">References: ${orphans === 0 ? 'no orphans' : `${fmt(orphans)} orphans`}</h2>
<p class="muted">Items whose reference field names a parent the parent's table does not hold (the parent may arrive in a later run).${orphans > 0 ? h` All of them are in <a href="orphans.csv">orphans.csv</a>.` : null}</p>
${fields}
</section>`;
}

/** Mirror mode: how much of the target the export leaves out, the limit, and what was done. */
function mirror(m: NonNullable<RunSummary['mirror']>, dryRun: boolean): SafeHtml {
  const verdict = !m.allowed
    ? h`<strong>Refused</strong>: ${m.reason ?? 'above the limit'}`
    : m.candidates === 0
      ? h`The export names every item of the target: nothing to delete.`
      : h`${fmt(m.deleted)} ${dryRun ? 'would be deleted' : 'deleted'}${m.forced ? ' (forced above the limit)' : ''}.`;
  return h`<section id="mirror" aria-labelledby="mirror-title">
<h2 id="mirror-title">Mirror deletes: ${fmt(m.candidates)} of ${fmt(m.targetItems)} items</h2>
<p>A full export replaces the target: items it does not name are deleted when they are at most <span data-field="maxDeleteRatio">${percent(m.maxDeleteRatio)}</span> of the target.</p>
<dl class="figures">
${figure('target items', fmt(m.targetItems), 'mirror-target')}
${figure('absent from the export', fmt(m.candidates), 'mirror-candidates')}
${figure('share', percent(m.ratio), 'mirror-ratio')}
${figure('unreadable keys in rejects', fmt(m.unkeyedRejects), 'mirror-unkeyed')}
</dl>
<p data-field="mirror-verdict">${verdict}${m.candidates > 0 ? h` The keys are in <a href="mirror-deletes.csv">mirror-deletes.csv</a>.` : null}</p>
</section>`;
}

/** The reject gate (CheckRejects): the share of rejected rows, the limit, the top reasons with lines. */
function rejectGate(d: RejectDecision, dryRun: boolean): SafeHtml {
  const verdict = !d.allowed
    ? h`<strong>${dryRun ? 'A run would be refused' : 'Refused'}</strong>: ${d.error ?? ''} — nothing was written to the table.`
    : d.forced
      ? h`Forced: the valid rows were loaded although the limit was passed.`
      : h`Within the limit.`;
  return h`<section id="reject-gate" aria-labelledby="reject-gate-title">
<h2 id="reject-gate-title">Reject gate: ${fmt(d.rejected)} of ${fmt(d.rows)} rows rejected</h2>
<p>A run is refused before it writes anything when every row is rejected, or more than <span data-field="maxRejectRatio">${percent(d.maxRejectRatio)}</span> of them${d.allowEmptyExport ? '' : ', or when the file has no data row'}.</p>
<dl class="figures">
${figure('rows', fmt(d.rows), 'gate-rows')}
${figure('rejected', fmt(d.rejected), 'gate-rejected')}
${figure('share', percent(d.ratio), 'gate-ratio')}
</dl>
<p data-field="gate-verdict">${verdict}</p>
${
  d.topReasons.length > 0
    ? h`<table><thead><tr><th>reason</th><th>rows</th><th>first lines</th></tr></thead><tbody>${d.topReasons.map(
        (r) =>
          h`<tr><td><code>${r.reason}</code></td><td>${fmt(r.count)}</td><td>${r.lines.join(', ')}</td></tr>`,
      )}</tbody></table>`
    : null
}
</section>`;
}

/** The steps to list: all of them, or the slowest STEPS_SHOWN (then in id order). */
function shownSteps(steps: readonly StepTiming[]): StepTiming[] {
  const sorted = [...steps].sort((a, b) => a.id - b.id);
  if (sorted.length <= STEPS_SHOWN) return sorted;
  const slowest = new Set(
    [...sorted].sort((a, b) => (b.durationMs ?? 0) - (a.durationMs ?? 0)).slice(0, STEPS_SHOWN),
  );
  return sorted.filter((s) => slowest.has(s));
}

function stepTable(
  kind: 'chunk' | 'partition',
  steps: readonly StepTiming[],
  columns: ReadonlyArray<{ label: string; value: (s: StepTiming) => number | undefined }>,
): SafeHtml {
  const shown = shownSteps(steps);
  const slowest = Math.max(1, ...steps.map((s) => s.durationMs ?? 0));
  const showStatus = steps.some((s) => s.status !== undefined);
  const showError = steps.some((s) => s.error !== undefined);
  const durations = steps
    .map((s) => s.durationMs)
    .filter((d): d is number => d !== undefined)
    .sort((a, b) => a - b);
  const median = durations[Math.floor((durations.length - 1) / 2)];
  return h`<table id="${kind}-timings">
<thead><tr><th class="num">${kind}</th>${showStatus ? h`<th>status</th>` : null}${columns.map((c) => h`<th class="num">${c.label}</th>`)}<th class="num">time</th><th></th>${showError ? h`<th>error</th>` : null}</tr></thead>
<tbody>${shown.map(
    (s) => h`<tr data-${kind}="${s.id}">
<td class="num">${s.id}</td>${showStatus ? h`<td>${s.status ?? ''}</td>` : null}${columns.map((c) => {
      const v = c.value(s);
      return h`<td class="num">${v === undefined ? '–' : fmt(v)}</td>`;
    })}<td class="num">${duration(s.durationMs)}</td>
<td class="barcell"><div class="bar${s.status === 'FAILED' ? ' bad' : ''}" style="width:${pct(s.durationMs ?? 0, slowest).toFixed(1)}%"></div></td>${showError ? h`<td class="cell">${s.error ?? ''}</td>` : null}
</tr>`,
  )}</tbody>
</table>
<p class="muted">${shown.length < steps.length ? `the ${fmt(shown.length)} slowest of ${fmt(steps.length)} ${kind}s · ` : ''}${durations.length > 0 ? `median ${duration(median)} · slowest ${duration(durations[durations.length - 1])}` : ''}</p>`;
}

const CHUNK_COLUMNS = [
  { label: 'rows', value: (s: StepTiming) => s.rows },
  { label: 'rejected', value: (s: StepTiming) => s.rejected },
];
const PARTITION_COLUMNS = [
  { label: 'keys', value: (s: StepTiming) => s.rows },
  { label: 'applied', value: (s: StepTiming) => s.applied },
];

function timings(chunks: readonly StepTiming[], partitions: readonly StepTiming[]): SafeHtml | null {
  if (chunks.length === 0 && partitions.length === 0) return null;
  return h`<section id="timings" aria-labelledby="timings-title">
<h2 id="timings-title">Timings</h2>
${chunks.length > 0 ? h`<h3>Chunks (transform: parse, map, validate)</h3>${stepTable('chunk', chunks, CHUNK_COLUMNS)}` : null}
${partitions.length > 0 ? h`<h3>Partitions (merge: pick winners, read and write the table)</h3>${stepTable('partition', partitions, PARTITION_COLUMNS)}` : null}
</section>`;
}

function reportFiles(reports: Record<string, string | undefined>): SafeHtml {
  const names = Object.values(reports)
    .filter((k): k is string => typeof k === 'string')
    .map((k) => k.split('/').pop() ?? k);
  return h`<footer>
<p>Reports of this run, beside this page: ${names.map((n, i) => h`${i > 0 ? ', ' : ''}<a href="${n}"><code>${n}</code></a>`)} (summary.json is the machine-readable outcome).</p>
</footer>`;
}

/** The report of a run that reached Reconcile (its summary.json, MATCHED or not). */
export function renderReport(input: ReportInput): string {
  const s = input.summary;
  const body = h`${header(s)}
${outcome(s)}
${counts(s)}
${reconciliation(s)}
${rejects(s, input.rejectSamples ?? {}, input.files)}
${(s.warnings ?? 0) > 0 || (s.missingColumns ?? []).length > 0 || Object.values(s.dateOrder ?? {}).some((d) => d.localTimes) ? warnings(s, input.warnings ?? [], input.files) : null}
${duplicates(s, input.duplicates ?? [], input.files)}
${s.rejects && (!s.rejects.allowed || s.rejects.forced) ? rejectGate(s.rejects, s.dryRun === true) : null}
${s.mirror ? mirror(s.mirror, s.dryRun === true) : null}
${s.references && s.references.length > 0 ? references(s.references) : null}
${timings(input.chunks ?? [], input.partitions ?? [])}
${reportFiles(s.reports)}`;
  const state = s.dryRun ? 'DRY RUN' : `${s.status}, ${s.reconciliation.status}`;
  return page(`crm-sync ${s.entity} run ${s.runId}: ${state}`, body);
}

/** The report of a run that failed before Reconcile: what failed, what was done, what to do. */
export function renderFailureReport(input: FailureReportInput): string {
  const s = input.summary;
  const chunks = input.chunks ?? [];
  const partitions = input.partitions ?? [];
  const chunksDone = chunks.filter((c) => c.status === 'SUCCEEDED').length;
  const progress = s.rejects
    ? `The reject gate stopped the run after the transform (${fmt(s.rejects.rows)} rows read, ${fmt(s.rejects.rejected)} rejected), before anything was written to the table.`
    : s.chunks === null
      ? 'The file was never cut into chunks: the run stopped while claiming or planning it (a header or file problem is reported there), before anything was written to the table.'
      : `The plan cut the file into ${fmt(s.chunks)} chunks; ${fmt(chunksDone)} were transformed and ${fmt(partitions.filter((p) => p.status === 'SUCCEEDED').length)} partitions merged before the run stopped. Nothing was reconciled: the counts of a failed run are not known.`;
  const body = h`${header(s)}
<section id="outcome" aria-labelledby="outcome-title">
<h2 id="outcome-title">Outcome</h2>
<div class="badges">${badge('FAILED', 'bad', 'status')}${badge('NOT RECONCILED', 'warn', 'reconciliation')}${s.dryRun ? badge('DRY RUN', 'warn', 'dryRun') : null}</div>
<p class="verdict">The run failed: <strong data-field="error-name">${s.error.name}</strong>.</p>
<pre class="error" data-field="error-message">${s.error.message}</pre>
<p>${progress}</p>
${input.nextStep ? h`<p data-field="next-step"><strong>Next:</strong> ${input.nextStep}</p>` : null}
<dl class="figures">
${figure('chunks planned', s.chunks === null ? '–' : fmt(s.chunks), 'chunks')}
${figure('duration', duration(s.durationMs), 'duration')}
</dl>
<p class="muted">started ${time(s.startedAt)} UTC · failed ${time(s.finishedAt)} UTC</p>
</section>
${s.rejects ? rejectGate(s.rejects, false) : null}
${s.mirror ? mirror({ ...s.mirror, deleted: 0 }, false) : null}
${timings(chunks, partitions)}
${reportFiles(s.reports)}`;
  return page(`crm-sync ${s.entity} run ${s.runId}: FAILED`, body);
}
