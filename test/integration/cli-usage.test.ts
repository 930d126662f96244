import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, ROOT } from './support';

const CONTACTS = join(ROOT, 'examples/data/contacts.csv');
const CONFIG = join(ROOT, 'examples/crm-sync.config.json');

/** The entry points a new user types first, through bin/crm-sync.js; none starts the local stack. */
describe('crm-sync CLI, usage', () => {
  it('`crm-sync` alone prints the help on stdout and exits 0', async () => {
    // Act
    const r = await cli([]);

    // Assess
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^Usage: crm-sync \[options\] \[command\]\n/);
    expect(r.stdout).toContain('-V, --version');
    expect(r.stdout).toContain('local ');
  });

  it('`crm-sync --version` prints the version of package.json and exits 0', async () => {
    // Prepare
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

    // Act
    const r = await cli(['--version']);

    // Assess
    expect(r).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('a missing required option is one plain line on stderr and exit 1', async () => {
    // Act
    const r = await cli(['local', 'run', join(ROOT, 'examples/data/contacts.csv')]);

    // Assess
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr: "error: required option '--entity <name>' not specified\n",
    });
  });

  const EMPTY = mkdtempSync(join(tmpdir(), 'crm-sync-empty-'));
  const MISSING = join(EMPTY, 'no-such-part.csv');
  it.each([
    [
      'an empty directory',
      [EMPTY],
      `${EMPTY}: the directory holds no file to run (an export's parts are its files)`,
    ],
    ['a file that does not exist, among files', [CONTACTS, MISSING], `file not found: ${MISSING}`],
  ])(
    '`local run` of %s is one plain line naming the path, exit 1, no stack started',
    async (_name, paths, message) => {
      // Act
      const r = await cli(['local', 'run', ...paths, '--entity', 'contact', '--config', CONFIG]);

      // Assess
      expect(r).toEqual({ code: 1, stdout: '', stderr: `crm-sync: ${message}\n` });
    },
  );

  it('`local diff` of a directory with no file is one plain line, exit 1', async () => {
    // Act
    const r = await cli(['local', 'diff', EMPTY, '--entity', 'contact', '--config', CONFIG]);

    // Assess
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr: `crm-sync: ${EMPTY}: the directory holds no file to run (an export's parts are its files)\n`,
    });
  });
});
