import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, ROOT } from './support';

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
});
