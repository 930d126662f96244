import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Entries of the shared definition cache unused for this long are removed (each code change adds one). */
const STALE_MS = 7 * 24 * 3600 * 1000;

/**
 * Runs once before all suites (jest `globalSetup`), in the process that then starts the workers, so
 * what it sets in process.env reaches every suite, worker and CLI process they spawn: every local
 * stack of the run reads and writes one cache of synthesized definitions (local/asl.ts), and a
 * definition is synthesized once per hash for all suites (and for later runs), not once per state dir.
 */
export default function globalSetup(): void {
  // Set to the empty string: no shared cache (each state dir synthesizes its own, as the CLI does).
  if (process.env.CRM_SYNC_DEFINITION_CACHE === '') return;
  const dir = process.env.CRM_SYNC_DEFINITION_CACHE ?? join(tmpdir(), 'crm-sync-definitions');
  process.env.CRM_SYNC_DEFINITION_CACHE = dir;
  mkdirSync(dir, { recursive: true });
  const now = Date.now();
  for (const name of readdirSync(dir)) {
    const file = join(dir, name);
    try {
      if (now - statSync(file).mtimeMs > STALE_MS) rmSync(file, { force: true });
    } catch {
      // Removed by a concurrent run: nothing to do.
    }
  }
}
