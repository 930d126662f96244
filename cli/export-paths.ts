import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { MANIFEST_NAME } from '../lambdas/domain/export-folder';
import { UsageError } from './options';

/**
 * What `run <paths...>` runs: one file as it always did, or a multi-file export (a directory's
 * files, or several files) as one run over its parts, in an export folder named after the
 * directory (or `files-<UTC timestamp>` for a list of files).
 */
export type RunInput =
  | { kind: 'file'; path: string; label: string }
  | { kind: 'export'; files: string[]; name: string; label: string };

/** `_`/`.` names and the manifest are never parts (lambdas/domain/export-folder.ts). */
const isPartName = (name: string) => !name.startsWith('_') && !name.startsWith('.') && name !== MANIFEST_NAME;

/**
 * The run the user's paths name, or a UsageError naming their path: a path that does not exist, a
 * directory with no file, a directory among several paths, two files of one name, a file whose
 * name cannot be a part, or files in folders named after different entities of the config (the
 * layout `<dir>/<entity>/…`) or after another entity than `entity`.
 */
export function runInputOf(
  paths: readonly string[],
  entity: string,
  entities: readonly string[],
  now: Date = new Date(),
): RunInput {
  for (const p of paths) if (!existsSync(p)) throw new UsageError(`file not found: ${p}`);
  const [first] = paths;
  if (first === undefined) throw new UsageError('no file to run');
  if (paths.length === 1 && !statSync(first).isDirectory()) {
    return { kind: 'file', path: resolve(first), label: first };
  }
  if (paths.length === 1) {
    const files = readdirSync(first)
      .filter((n) => isPartName(n) && statSync(join(first, n)).isFile())
      .sort()
      .map((n) => resolve(first, n));
    if (files.length === 0) {
      throw new UsageError(`${first}: the directory holds no file to run (an export's parts are its files)`);
    }
    const name = basename(resolve(first));
    sameEntity([first], entity, entities, (p) => basename(dirname(resolve(p))));
    return { kind: 'export', files, name, label: first };
  }
  const names = new Map<string, string>();
  for (const p of paths) {
    if (statSync(p).isDirectory()) {
      throw new UsageError(`${p} is a directory: run one directory, or a list of files`);
    }
    const name = basename(p);
    if (!isPartName(name)) {
      throw new UsageError(`${p}: a part's name must not start with _ or . nor be ${MANIFEST_NAME}`);
    }
    const other = names.get(name);
    if (other !== undefined) throw new UsageError(`${other} and ${p} have the same name ${name}: rename one`);
    names.set(name, p);
  }
  sameEntity(paths, entity, entities, (p) => basename(dirname(resolve(p))));
  return {
    kind: 'export',
    files: paths.map((p) => resolve(p)),
    name: `files-${compactTimestamp(now)}`,
    label: paths.join(', '),
  };
}

/** A UTC time as a folder name takes it: `20261202T181900Z`. */
export function compactTimestamp(at: Date): string {
  return at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** Paths in folders named after entities of the config must all be in `entity`'s. */
function sameEntity(
  paths: readonly string[],
  entity: string,
  entities: readonly string[],
  folderOf: (path: string) => string,
): void {
  const known = new Set(entities);
  for (const p of paths) {
    const folder = folderOf(p);
    if (known.has(folder) && folder !== entity) {
      throw new UsageError(
        `${p} is in the folder of entity ${folder}, not ${entity}: one run loads one entity's export`,
      );
    }
  }
}
