import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { listInbox } from '../lambdas/adapters/inbox';
import { readText } from '../lambdas/adapters/s3';
import { type CrmSyncConfig, configHash, getEntity } from '../lambdas/domain/config';
import { MANIFEST_NAME, SUCCESS_MARKER } from '../lambdas/domain/export-folder';
import { type InboxObject, newestFirst, notAnExport, pickExport, syncOrder } from '../lambdas/domain/sync';
import { deleteLocalFolder } from './emulators';
import type { LocalRunResult, LocalStack } from './local-stack';
import { runLocalObject } from './run';
import { localLedger } from './runs';

export interface LocalSyncOptions {
  /** Only this entity (default: every entity, referenced entities first). */
  entity?: string | undefined;
  stateDir: string;
  /**
   * A folder with one sub-folder per entity (`<dir>/contact/…`): the newest export of each (a file,
   * or an export folder `<dir>/contact/<export>/` with its parts and marker) is copied into the
   * local inbox first, unless the inbox already holds it unchanged.
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
  /** The file (or export folder) of the inbox folder copied into the local inbox by this sync, or null. */
  uploaded: string | null;
  /** The run (action `ran`): its summary, as `local run --json` prints it. */
  run: LocalRunResult | null;
}

/** An export of `<dir>/<entity>/` as `--inbox` copies it: a file, or an export folder's files. */
interface LocalExport {
  /** The file, or the folder (its files are copied into `inbox/<entity>/<folder>/`). */
  path: string;
  folder: boolean;
  /** What the inbox holds once copied: the file, or the folder's files, its marker last. */
  copies: Array<{ path: string; object: InboxObject }>;
  /** The file, or the folder's manifest (when it has one) else its `_SUCCESS`: its date is the export's. */
  dated: InboxObject;
}

const objectOf = (path: string, key: string): InboxObject => {
  const st = statSync(path);
  return { key, size: st.size, lastModified: st.mtime };
};

/**
 * An export folder `<dir>/<entity>/<name>/` as the inbox would see it (lambdas/domain/sync.ts):
 * complete with `_SUCCESS` or `manifest.json`, dated by the manifest (else the marker), its files
 * the parts (not `_`/`.` names nor subfolders), the manifest, then `_SUCCESS`. Undefined without a marker.
 */
function localFolder(folder: string, entity: string, name: string): LocalExport | undefined {
  const prefix = `inbox/${entity}/${name}/`;
  const files = readdirSync(folder, { withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => d.name)
    .sort();
  const copy = (n: string) => ({ path: join(folder, n), object: objectOf(join(folder, n), `${prefix}${n}`) });
  const markers = [MANIFEST_NAME, SUCCESS_MARKER].filter((n) => files.includes(n)).map(copy);
  const [dated] = markers;
  if (!dated) return undefined;
  const parts = files
    .filter((n) => !n.startsWith('_') && !n.startsWith('.') && n !== MANIFEST_NAME)
    .map(copy);
  return { path: folder, folder: true, copies: [...parts, ...markers.reverse()], dated: dated.object };
}

/**
 * The newest export of `<dir>/<entity>/` (same rules as the inbox): a file, or an export folder
 * with `_SUCCESS` or `manifest.json`, by mtime (a folder's: its manifest's, else its marker's).
 */
function newestExport(dir: string, entity: string): LocalExport | undefined {
  const folder = join(dir, entity);
  if (!existsSync(folder)) return undefined;
  const exports = readdirSync(folder, { withFileTypes: true }).flatMap((d): LocalExport[] => {
    const path = join(folder, d.name);
    if (d.isDirectory()) {
      const exp = localFolder(path, entity, d.name);
      return exp ? [exp] : [];
    }
    if (!d.isFile()) return [];
    const object = objectOf(path, `inbox/${entity}/${d.name}`);
    return notAnExport(object) === undefined
      ? [{ path, folder: false, copies: [{ path, object }], dated: object }]
      : [];
  });
  return exports.sort((a, b) => newestFirst(a.dated, b.dated))[0];
}

/** The inbox holds `object` as copied (its size, and not older than the local file, to the second). */
function holds(objects: readonly InboxObject[], object: InboxObject): boolean {
  const held = objects.find((o) => o.key === object.key);
  return (
    held !== undefined &&
    held.size === object.size &&
    held.lastModified.getTime() >= Math.floor(object.lastModified.getTime() / 1000) * 1000
  );
}

/**
 * Copies an export into the local inbox: a file, or an export folder, whose inbox folder is
 * emptied first (a part removed from the folder is not the export's anymore), its parts copied,
 * then its manifest and `_SUCCESS`, last, as an exporter writes them.
 */
async function copyExport(stack: LocalStack, entity: string, exp: LocalExport): Promise<void> {
  if (!exp.folder) {
    await stack.upload(exp.path, entity);
    return;
  }
  const name = basename(exp.path);
  deleteLocalFolder(stack.stateDir, stack.bucket, `inbox/${entity}/${name}/`);
  for (const { path, object } of exp.copies) {
    if (object.size > 0) await stack.upload(path, entity, { folder: name });
    else
      await stack.s3Client.send(
        new PutObjectCommand({ Bucket: stack.bucket, Key: object.key, Body: new Uint8Array() }),
      );
  }
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
    const exp = options.inboxDir === undefined ? undefined : newestExport(options.inboxDir, name);
    if (exp && !exp.copies.every((c) => holds(objects, c.object))) {
      const what = exp.folder ? `${basename(exp.path)}/` : basename(exp.path);
      options.onProgress?.(`${name}: copying ${what} into ${prefix}`);
      await copyExport(stack, name, exp);
      uploaded = exp.path;
      objects = await listInbox(stack.bucket, prefix, { versions: false });
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
