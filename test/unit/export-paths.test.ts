import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runInputOf } from '../../cli/export-paths';
import { UsageError } from '../../cli/options';

const root = mkdtempSync(join(tmpdir(), 'crm-sync-paths-'));
const at = (...p: string[]) => join(root, ...p);
const file = (path: string) => {
  mkdirSync(resolve(path, '..'), { recursive: true });
  writeFileSync(path, 'Id\n1\n');
  return path;
};
file(at('one.csv'));
file(at('export-1', 'part-2.csv'));
file(at('export-1', 'part-1.csv'));
file(at('export-1', '_SUCCESS'));
file(at('export-1', '.DS_Store'));
file(at('export-1', 'manifest.json'));
mkdirSync(at('export-1', 'sub'), { recursive: true });
mkdirSync(at('empty'), { recursive: true });
file(at('empty-but-markers', '_SUCCESS'));
file(at('account', 'a.csv'));
file(at('contact', 'c.csv'));
file(at('contact', 'd.csv'));
file(at('other', 'a.csv'));
file(at('_hidden.csv'));
const ENTITIES = ['account', 'contact'];
const NOW = new Date('2026-12-02T17:30:05.123Z');

describe('run <paths...>: what the paths run', () => {
  it.each([
    [
      'one file: the file alone',
      [at('one.csv')],
      { kind: 'file', path: at('one.csv'), label: at('one.csv') },
    ],
    [
      'a directory: its files but markers, hidden files and subfolders, in name order, named after it',
      [at('export-1')],
      {
        kind: 'export',
        files: [at('export-1', 'part-1.csv'), at('export-1', 'part-2.csv')],
        name: 'export-1',
        label: at('export-1'),
      },
    ],
    [
      'several files: in the order given, a timestamped export',
      [at('contact', 'd.csv'), at('contact', 'c.csv')],
      {
        kind: 'export',
        files: [at('contact', 'd.csv'), at('contact', 'c.csv')],
        name: 'files-20261202T173005Z',
        label: `${at('contact', 'd.csv')}, ${at('contact', 'c.csv')}`,
      },
    ],
    [
      "a directory in the entity's folder",
      [at('contact')],
      {
        kind: 'export',
        files: [at('contact', 'c.csv'), at('contact', 'd.csv')],
        name: 'contact',
        label: at('contact'),
      },
    ],
  ])('%s', (_name, paths, expected) => {
    expect(runInputOf(paths, 'contact', ENTITIES, NOW)).toEqual(expected);
  });

  it.each([
    ['a file that does not exist', [at('one.csv'), at('nope.csv')], `file not found: ${at('nope.csv')}`],
    [
      'an empty directory',
      [at('empty')],
      `${at('empty')}: the directory holds no file to run (an export's parts are its files)`,
    ],
    [
      'a directory of markers only',
      [at('empty-but-markers')],
      `${at('empty-but-markers')}: the directory holds no file to run (an export's parts are its files)`,
    ],
    [
      'a directory among files',
      [at('one.csv'), at('export-1')],
      `${at('export-1')} is a directory: run one directory, or a list of files`,
    ],
    [
      'two files of one name',
      [at('account', 'a.csv'), at('other', 'a.csv')],
      `${at('account', 'a.csv')} and ${at('other', 'a.csv')} have the same name a.csv: rename one`,
    ],
    [
      'a name that cannot be a part',
      [at('one.csv'), at('_hidden.csv')],
      `${at('_hidden.csv')}: a part's name must not start with _ or . nor be manifest.json`,
    ],
    [
      'files of mixed entities',
      [at('contact', 'c.csv'), at('account', 'a.csv')],
      `${at('account', 'a.csv')} is in the folder of entity account, not contact: one run loads one entity's export`,
    ],
    ['no path', [], 'no file to run'],
  ])('%s: a one-line UsageError naming the path', (_name, paths, message) => {
    const run = () => runInputOf(paths, 'contact', ENTITIES, NOW);
    expect(run).toThrow(UsageError);
    expect(run).toThrow(message);
  });
});
