import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  REJECT_REASONS,
  type RejectCode,
  rejectCode,
  rejectReason,
} from '../../lambdas/domain/reject-reasons';

const ROOT = join(__dirname, '..', '..');
const PRODUCERS = ['csv', 'jsonl', 'mapping', 'normalize', 'chunk'].map((m) =>
  readFileSync(join(ROOT, 'lambdas', 'domain', `${m}.ts`), 'utf8'),
);

describe('Reject reasons: one catalog of codes', () => {
  it.each([
    [['invalid_email'], 'invalid_email'],
    [['required', 'Email'], 'required:Email'],
    [['column_count', 5, 4], 'column_count:5:4'],
  ] as Array<[[RejectCode, ...Array<string | number>], string]>)(
    'writes %j as %s',
    ([code, ...details], reason) => {
      // Act / Assess
      expect(rejectReason(code, ...details)).toBe(reason);
    },
  );

  it.each([
    ['invalid_email', 'invalid_email'],
    ['required:Email', 'required'],
    ['column_count:5:4', 'column_count'],
    ['duplicate_key:a:b', 'duplicate_key'],
  ])('reads the code of %s as %s', (reason, code) => {
    // Act / Assess
    expect(rejectCode(reason)).toBe(code);
  });

  it.each(Object.keys(REJECT_REASONS))(
    '%s is produced by a parser, the mapping, a type or the chunk',
    (code) => {
      // Prepare: the producers name their codes as literals (typed RejectCode)
      const literal = new RegExp(`['"]${code}['"]`);
      // Act
      const producers = PRODUCERS.filter((source) => literal.test(source));
      // Assess
      expect(producers.length).toBeGreaterThan(0);
    },
  );

  it("README's table of reject reasons lists every code of the catalog and no other", () => {
    // Prepare
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(
      readme.indexOf('### Reject reasons'),
      readme.indexOf('\n## ', readme.indexOf('### Reject reasons')),
    );
    // Act
    const listed = [...section.matchAll(/^\| `([a-z_0-9]+)` +\|/gm)].map((m) => m[1]);
    // Assess
    expect(listed.sort()).toEqual(Object.keys(REJECT_REASONS).sort());
  });
});
