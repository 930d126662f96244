import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { listInbox } from '../lambdas/adapters/inbox';
import { readText } from '../lambdas/adapters/s3';
import { type CrmSyncConfig, configHash, getEntity } from '../lambdas/domain/config';
import { type InboxObject, newestFirst, notAnExport, pickExport, syncOrder } from '../lambdas/domain/sync';
import type { LocalRunResult, LocalStack } from './local-stack';
import { runLocalObject } from './run';
import { localLedger } from './runs';

export interface LocalSyncOptions {
  /** Only this entity (default: every entity, referenced entities first). */
  entity?: string | undefined;
  stateDir: string;
  /**
   * A folder with one sub-folder per entity (`<dir>/contact/…`): the newest file of each is copied
   * into the local inbox first, unless the inbox already holds it unchanged.
   */
  inboxDir?: string | undefined;
  onProgress?: ((message: string) => void) | undefined;
}

/** What `crm-sync local sync --json` prints per entity. */
export interface LocalSyncResult {
  entity: string;
  /**
   * `ran`: the newest export ran now; `resumed`: its run had been interrupted (a crash, Ctrl-C) and
   * was resumed now; `failed`: its run had failed and was not run again (`run` says why);
   * `up-to-date`: its run had succeeded; `empty`: no export in the inbox.
   */
  action: 'ran' | 'resumed' | 'failed' | 'up-to-date' | 'empty';
  /** The newest export (its inbox key), or null. */
  key: string | null;
  runId: string | null;
  /** Older exports in the inbox, which a sync never runs. */
  older: number;
  /** Objects of the inbox that are not exports (folder markers, empty, hidden files). */
  skipped: number;
  /** Export folders with neither `_SUCCESS` nor `manifest.json`: not complete, not run. */
  incomplete: string[];
  /** The file of the inbox folder copied into the local inbox by this sync, or null. */
  uploaded: string | null;
  /** The run (action `ran`): its summary, as `local run --json` prints it. */
  run: LocalRunResult | null;
}

/** The newest file of `<dir>/<entity>/` that is an export (same rules as the inbox), by mtime. */
function newestFile(dir: string, entity: string): { path: string; object: InboxObject } | undefined {
  const folder = join(dir, entity);
  if (!existsSync(folder)) return undefined;
  const files = readdirSync(folder, { withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => {
      const path = join(folder, d.name);
      const st = statSync(path);
      return { path, object: { key: `inbox/${entity}/${d.name}`, size: st.size, lastModified: st.mtime } };
    })
    .filter((f) => notAnExport(f.object) === undefined);
  return files.sort((a, b) => newestFirst(a.object, b.object))[0];
}

/**
 * `crm-sync local sync`: for each entity, the newest export of its local inbox runs unless the
 * ledger holds its run — the same pick (lambdas/domain/sync.ts) as the AWS schedule's, through the
 * same local run path as `local run`. The local bucket is not versioned: ETags identify runs.
 */
export async function syncLocal(
  stack: LocalStack,
  config: CrmSyncConfig,
  options: LocalSyncOptions,
): Promise<LocalSyncResult[]> {
  const ledger = localLedger();
  const entities = options.entity === undefined ? syncOrder(config.entities) : [options.entity];
  const results: LocalSyncResult[] = [];
  for (const name of entities) {
    const entity = getEntity(config, name);
    const prefix = `inbox/${name}/`;
    let objects = await listInbox(stack.bucket, prefix, { versions: false });
    let uploaded: string | null = null;
    const file = options.inboxDir === undefined ? undefined : newestFile(options.inboxDir, name);
    if (file) {
      const held = objects.find((o) => o.key === file.object.key);
      const unchanged =
        held !== undefined &&
        held.size === file.object.size &&
        held.lastModified.getTime() >= Math.floor(file.object.lastModified.getTime() / 1000) * 1000;
      if (!unchanged) {
        options.onProgress?.(`${name}: copying ${basename(file.path)} into ${prefix}`);
        await stack.upload(file.path, name);
        uploaded = file.path;
        objects = await listInbox(stack.bucket, prefix, { versions: false });
      }
    }
    const pick = await pickExport(
      objects,
      { bucket: stack.bucket, entity: name, configHash: configHash(entity) },
      async (runId) => (await ledger.getRun(runId)) !== undefined,
      (o) => readText({ bucket: stack.bucket, key: o.key }),
    );
    for (const folder of pick.incomplete) {
      options.onProgress?.(`${name}: ${folder} has no _SUCCESS or manifest.json: not complete, not run`);
    }
    const base = {
      entity: name,
      key: pick.object?.key ?? null,
      runId: pick.runId,
      older: pick.older,
      skipped: pick.skipped,
      incomplete: pick.incomplete,
      uploaded,
    };
    // Up to date only when the newest export's run succeeded: an interrupted run is resumed, a
    // failed one reported (runLocalObject decides).
    const held = pick.action === 'up-to-date' ? await ledger.getRun(pick.runId) : undefined;
    if (pick.action !== 'run' && (held === undefined || held.status === 'SUCCEEDED')) {
      options.onProgress?.(
        pick.action === 'empty'
          ? `${name}: no export in ${prefix}`
          : `${name}: up to date (${pick.object.key})`,
      );
      results.push({ ...base, action: pick.action, run: null });
      continue;
    }
    const object = pick.object;
    if (!object) continue; // (an empty pick has no run, handled above)
    if (!held) options.onProgress?.(`\n▶ ${name}: running ${object.key}`);
    const run = await runLocalObject(stack, { key: object.key, etag: object.etag ?? '' }, config, {
      entity: name,
      stateDir: options.stateDir,
      runId: pick.runId,
    });
    const outcome = run.earlier?.outcome;
    const action = outcome === 'resumed' ? 'resumed' : outcome === 'failed-before' ? 'failed' : 'ran';
    results.push({ ...base, runId: run.runId ?? pick.runId, action, run });
  }
  return results;
}
