import { MalformedFileError } from '../../lambdas/domain/errors';
import { type ObjectRanges, zipMember } from '../../lambdas/domain/zip';
import { zipArchive } from './zip-archive';

/** Unit: the one member of a zip archive, read by ranges (its central directory first), and its guards. */

const CSV = 'Id,Name\n1,Ada\n2,Grace\n';

function ranges(bytes: Buffer): ObjectRanges & { reads: Array<[number, number]> } {
  const reads: Array<[number, number]> = [];
  return {
    size: bytes.length,
    reads,
    async read(start, end) {
      reads.push([start, end]);
      return (async function* () {
        yield bytes.subarray(start, end);
      })();
    },
  };
}

async function text(source: AsyncIterable<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const p of source) parts.push(p);
  return Buffer.concat(parts).toString('utf8');
}

describe('zipMember', () => {
  it.each<[string, Buffer, string]>([
    ['a deflated member', zipArchive([{ name: 'contacts.csv', data: CSV }]), 'contacts.csv'],
    ['a stored member', zipArchive([{ name: 'contacts.jsonl', data: CSV, stored: true }]), 'contacts.jsonl'],
    [
      'a member beside a folder and macOS resource forks',
      zipArchive([
        { name: 'export/', data: '', stored: true },
        { name: 'export/contacts.csv', data: CSV },
        { name: '__MACOSX/export/._contacts.csv', data: 'xattr' },
      ]),
      'export/contacts.csv',
    ],
  ])('reads %s with its name', async (_name, bytes, name) => {
    // Act
    const member = await zipMember(ranges(bytes), 1e9);

    // Assess
    expect(member.name).toBe(name);
    expect(await text(member.bytes)).toBe(CSV);
  });

  it('reads the central directory by ranges, not the whole archive at once', async () => {
    // Prepare
    const bytes = zipArchive([{ name: 'contacts.csv', data: CSV.repeat(10_000), stored: true }]);
    const source = ranges(bytes);

    // Act
    const member = await zipMember(source, 1e9);
    await text(member.bytes);

    // Assess
    expect(source.reads.every(([start, end]) => !(start === 0 && end === bytes.length))).toBe(true);
    expect(source.reads.length).toBeGreaterThan(1);
  });

  const good = zipArchive([{ name: 'contacts.csv', data: CSV.repeat(200) }]);
  const corrupt = Buffer.from(good);
  corrupt.fill(0xff, 50, 80);
  it.each<[string, Buffer, number, string]>([
    [
      'several members',
      zipArchive([
        { name: 'a.csv', data: CSV },
        { name: 'b.csv', data: CSV },
        { name: 'c.csv', data: CSV },
        { name: 'd.csv', data: CSV },
      ]),
      1e9,
      'the zip archive holds 4 files (a.csv, b.csv, c.csv, … 1 more): zip one export per archive',
    ],
    ['no member', zipArchive([]), 1e9, 'the zip archive holds no file'],
    [
      'an Excel workbook',
      zipArchive([
        { name: '[Content_Types].xml', data: '<Types/>' },
        { name: 'xl/workbook.xml', data: '<workbook/>' },
      ]),
      1e9,
      'the zip archive is an Office file (an .xlsx or .docx)',
    ],
    [
      'an encrypted member',
      zipArchive([{ name: 'contacts.csv', data: CSV, encrypted: true }]),
      1e9,
      "the zip archive's contacts.csv is encrypted: zip it without a password",
    ],
    ['a member past the limit (a zip bomb)', good, 100, 'the zip file decompresses to more than 100 bytes'],
    [
      'a cut-off archive (no central directory)',
      good.subarray(0, good.length - 40),
      1e9,
      'the zip archive is not valid: ',
    ],
    ['corrupt deflate data', corrupt, 1e9, 'the zip file is not valid: '],
  ])('fails %s with one line', async (_name, bytes, limit, message) => {
    // Act
    const err = await zipMember(ranges(bytes), limit)
      .then((m) => text(m.bytes))
      .catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(MalformedFileError);
    expect((err as Error).message).toContain(message);
    expect((err as Error).message).not.toContain('\n');
  });

  it('passes on a failed read as it is (not a file error)', async () => {
    // Prepare
    const bytes = zipArchive([{ name: 'contacts.csv', data: CSV }]);
    const failing: ObjectRanges = {
      size: bytes.length,
      read: async () => {
        throw new Error('socket hang up');
      },
    };

    // Act
    const err = await zipMember(failing, 1e9).catch((e: unknown) => e);

    // Assess
    expect(err).not.toBeInstanceOf(MalformedFileError);
    expect((err as Error).message).toBe('socket hang up');
  });
});
