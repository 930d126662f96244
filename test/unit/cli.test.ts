import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Command, CommanderError } from 'commander';
import { buildCli } from '../../cli/main';

const ROOT = join(__dirname, '../..');

/** The CLI in this process: what it writes, and the commander error it would exit with. */
function parse(args: string[]): { stdout: string; stderr: string; error: CommanderError | undefined } {
  const program = buildCli();
  let stdout = '';
  let stderr = '';
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  for (const c of all(program)) {
    c.exitOverride().configureOutput({
      writeOut: (s) => {
        stdout += s;
      },
      writeErr: (s) => {
        stderr += s;
      },
    });
  }
  try {
    program.parse(args, { from: 'user' });
    return { stdout, stderr, error: undefined };
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    return { stdout, stderr, error: err };
  }
}

describe('crm-sync CLI: usage', () => {
  it('--version prints the version of package.json', () => {
    // Prepare
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

    // Act
    const { stdout, stderr, error } = parse(['--version']);

    // Assess
    expect({ stdout, stderr, code: error?.code, exitCode: error?.exitCode }).toEqual({
      stdout: `${version}\n`,
      stderr: '',
      code: 'commander.version',
      exitCode: 0,
    });
  });

  it.each([
    { args: ['local', 'run', 'contacts.csv'], option: '--entity <name>' },
    { args: ['local', 'diff', 'contacts.csv'], option: '--entity <name>' },
    { args: ['local', 'export'], option: '--entity <name>' },
    { args: ['local', 'restore', 'snap-1'], option: '--entity <name>' },
    { args: ['estimate', '--rows', '10', '--avg-bytes', '100'], option: '--entity <name>' },
    { args: ['config', 'init'], option: '--preset <name>' },
  ])('$args without $option: one plain line on stderr, exit 1, nothing run', ({ args, option }) => {
    // Act
    const { stdout, stderr, error } = parse(args);

    // Assess
    expect({ stdout, stderr, code: error?.code, exitCode: error?.exitCode }).toEqual({
      stdout: '',
      stderr: `error: required option '${option}' not specified\n`,
      code: 'commander.missingMandatoryOptionValue',
      exitCode: 1,
    });
  });

  it.each([
    {
      args: ['local', 'runs', '--limit', '0'],
      first: "error: option '--limit <n>' argument '0' is invalid.",
    },
    { args: ['nope'], first: "error: unknown command 'nope'" },
    {
      args: ['local', 'run', 'contacts.csv', '--entity', 'contact', '--bogus'],
      first: "error: unknown option '--bogus'",
    },
  ])('$args: the error, then the help of the command (exit 1)', ({ args, first }) => {
    // Act
    const { stderr, error } = parse(args);

    // Assess
    expect(error?.exitCode).toBe(1);
    expect(stderr.split('\n')[0]).toContain(first);
    expect(stderr).toContain('\nUsage: crm-sync');
  });
});
