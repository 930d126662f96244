import { CrmSyncError } from '../lambdas/domain/errors';
import { percent } from '../lambdas/domain/mirror';
import type { LocalRunResult } from '../local/local-stack';
import { warningLines } from '../local/report';
import type { LocalSyncResult } from '../local/sync';

/** A progress or notice line: on stderr, so stdout keeps only a command's result. */
export const log = (msg: string) => process.stderr.write(`${msg}\n`);

/** One line of a command's result on stdout. */
export const writeLine = (text: string) => process.stdout.write(`${text}\n`);

/** A command's result on stdout: one JSON line with `--json`, else its person-readable account. */
export function printResult(json: boolean | undefined, value: unknown, describe: () => string): void {
  writeLine(json ? JSON.stringify(value) : describe());
}

/** An error as the CLI prints it: one plain line (with `--debug` or CRM_SYNC_DEBUG, its stack and its causes'). */
export function printError(err: unknown): void {
  const e = err as Error;
  process.stderr.write(`crm-sync: ${e instanceof CrmSyncError ? e.message : `${e.name}: ${e.message}`}\n`);
  if (!process.env.CRM_SYNC_DEBUG) return;
  for (let cause: unknown = e; cause instanceof Error; cause = cause.cause) {
    process.stderr.write(`${cause === e ? '' : 'caused by: '}${cause.stack}\n`);
  }
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

/** A person-readable account of a run. */
export function describeRun(r: LocalRunResult, file: string): string {
  const would = r.dryRun ? 'would be ' : '';
  if (r.status === 'REFUSED') {
    // Nothing ran: the run, its duration and reports stay as they were.
    return [
      `crm-sync redrive of ${file} → ${r.entity}: REFUSED (nothing was run or changed)`,
      `  reason         ${r.error?.message ?? ''}`,
    ].join('\n');
  }
  const lines = [`crm-sync ${r.dryRun ? 'dry run' : 'run'} of ${file} → ${r.entity}: ${r.status}`];
  if (r.earlier)
    lines.push(`  ${(r.earlier.outcome === 'resumed' ? 'resumed' : 'note').padEnd(14)} ${r.earlier.message}`);
  if (r.runId) lines.push(`  run id         ${r.runId}`);
  if (r.dryRun) lines.push('  dry run        nothing was written; diff.csv lists the action per key');
  if (r.counts) {
    const c = r.counts;
    lines.push(
      `  rows           ${fmt(c.rows)}`,
      `    ${would}applied      ${fmt(c.applied)}`,
      `    unchanged    ${fmt(c.unchanged)}`,
      `    superseded   ${fmt(c.superseded)}  (older versions of a key, in the file or in the target)`,
      `    ${would}deleted      ${fmt(c.deleted)}`,
      `    rejected     ${fmt(c.rejected)}`,
      `  duplicate keys ${fmt(r.duplicateKeys)}`,
      `  chunks         ${fmt(r.chunks)} transformed, ${fmt(r.partitions)} partitions merged`,
    );
  }
  if (r.topReasons.length > 0) {
    lines.push(`  top reject reasons: ${r.topReasons.map((t) => `${t.reason} ×${t.count}`).join(', ')}`);
  }
  lines.push(...warningLines(r));
  if (r.reconciliation) {
    lines.push(
      `  reconciliation ${r.reconciliation.status} (${fmt(r.reconciliation.verifiedKeys)} keys verified)`,
    );
    for (const c of r.reconciliation.checks.filter((x) => !x.ok)) lines.push(`    ✗ ${c.name}: ${c.detail}`);
  }
  for (const ref of r.references ?? []) {
    lines.push(
      `  references     ${ref.field} → ${ref.entity}: ${fmt(ref.checked)} checked, ${fmt(ref.orphans)} orphans` +
        (ref.orphans > 0 ? ` (${fmt(ref.missingParents)} missing ${ref.entity} ids, see orphans.csv)` : ''),
    );
  }
  if (r.mirror) {
    const m = r.mirror;
    lines.push(
      `  mirror         ${fmt(m.candidates)} of ${fmt(m.targetItems)} items absent from the export (${percent(m.ratio)}, limit ${percent(m.maxDeleteRatio)}): ` +
        (m.allowed
          ? `${fmt(m.deleted)} ${would}deleted${m.forced ? ' (forced)' : ''}`
          : 'refused, nothing deleted') +
        (m.candidates > 0 ? ', see mirror-deletes.csv' : ''),
    );
  }
  if (r.rejects && (!r.rejects.allowed || r.rejects.forced)) {
    const d = r.rejects;
    lines.push(
      `  reject gate    ${fmt(d.rejected)} of ${fmt(d.rows)} rows rejected (${percent(d.ratio)}, limit ${percent(d.maxRejectRatio)}): ` +
        (d.allowed
          ? 'forced, the valid rows were loaded'
          : `${r.dryRun ? 'a run would be ' : ''}refused, nothing written`),
    );
  }
  if (r.error) lines.push(`  error          ${r.error.name}: ${r.error.message}`);
  if (r.faults) {
    const injected = Object.entries(r.faults).map(([k, n]) => `${k} ×${fmt(n)}`);
    lines.push(`  faults         ${injected.join(', ') || 'none'} (injected)`);
  }
  lines.push(`  time           ${(r.durationMs / 1000).toFixed(1)} s`);
  for (const [name, path] of Object.entries(r.reports)) lines.push(`  ${name.padEnd(14)} ${path}`);
  return lines.join('\n');
}

/** A person-readable line (or run account) per entity of `local sync`. */
export function describeSync(r: LocalSyncResult): string {
  const older =
    r.older > 0 ? ` (${r.older} older export${r.older === 1 ? '' : 's'} not run: newest only)` : '';
  const waiting =
    r.incomplete.length > 0
      ? ` (${r.incomplete.length} export folder${r.incomplete.length === 1 ? '' : 's'} without _SUCCESS or manifest.json not run: ${r.incomplete.slice(0, 3).join(', ')})`
      : '';
  if (r.action === 'empty') return `${r.entity}: no export in inbox/${r.entity}/${waiting}`;
  if (r.action === 'up-to-date' || !r.run)
    return `${r.entity}: up to date, ${r.key} ran as ${r.runId}${older}${waiting}`;
  if (r.action === 'failed')
    return `${r.entity}: FAILED, ${r.run.earlier?.message ?? r.key}${older}${waiting}`;
  return `${describeRun(r.run, r.key ?? '')}${older ? `\n  ${older.trim()}` : ''}${waiting ? `\n  ${waiting.trim()}` : ''}`;
}
