/**
 * A zip archive of one export: yauzl reads its central directory first (at the end of the object,
 * by ranged reads), so the members, their sizes and encryption are known before a byte is
 * decompressed; then the one member is streamed through zlib. Pure domain code: the bytes come
 * through `ObjectRanges`, which the adapter makes (ranged GETs).
 */
import { PassThrough, pipeline, Readable } from 'node:stream';
import { type Entry, fromRandomAccessReaderPromise, RandomAccessReader } from 'yauzl';
import { limited, tooLarge } from './compressed';
import { MalformedFileError } from './errors';

/** Random access to an object of `size` bytes: the bytes of [start, end), streaming. */
export interface ObjectRanges {
  size: number;
  read: (start: number, end: number) => Promise<AsyncIterable<Uint8Array>>;
}

/** yauzl's reader over ObjectRanges; remembers the read errors, which are no fault of the file. */
class RangeReader extends RandomAccessReader {
  readonly failures = new Set<unknown>();

  constructor(private readonly ranges: ObjectRanges) {
    super();
  }

  override _readStreamForRange(start: number, end: number): Readable {
    const out = new PassThrough();
    this.ranges.read(start, end).then(
      (body) =>
        pipeline(Readable.from(body), out, (err) => {
          if (err) this.failures.add(err);
        }),
      (err: unknown) => {
        this.failures.add(err);
        out.destroy(err instanceof Error ? err : new Error(String(err)));
      },
    );
    return out;
  }
}

/** Entries that are no member: folders, and the resource forks macOS's Finder adds (`__MACOSX/`). */
function isMember(entry: Entry): boolean {
  return !entry.fileName.endsWith('/') && !entry.fileName.startsWith('__MACOSX/');
}

/** The one-line MalformedFileError of an archive yauzl refuses, else the error (a failed read). */
function invalid(reader: RangeReader, err: unknown): unknown {
  if (reader.failures.has(err) || err instanceof MalformedFileError) return err;
  const message =
    typeof err === 'object' && err !== null && 'message' in err ? String(err.message) : String(err);
  return new MalformedFileError(`the zip archive is not valid: ${message}`, { cause: err });
}

/** Why a zip archive's members are not one export, or undefined when they are. */
function membersProblem(members: Entry[], all: Entry[]): string | undefined {
  if (all.some((e) => e.fileName === '[Content_Types].xml')) {
    return 'the zip archive is an Office file (an .xlsx or .docx): save the sheet as "CSV UTF-8" and load that';
  }
  if (members.length === 0) return 'the zip archive holds no file';
  if (members.length === 1) return undefined;
  const names = members.slice(0, 3).map((m) => m.fileName);
  const more = members.length > 3 ? `, … ${members.length - 3} more` : '';
  return `the zip archive holds ${members.length} files (${names.join(', ')}${more}): zip one export per archive`;
}

/**
 * The one member of a zip archive: its name (what its format is told by) and its bytes, streaming,
 * at most `limit` of them. A MalformedFileError for an archive of no or several members, an
 * encrypted member, a compression method other than deflate and stored, a member declared or found
 * larger than `limit`, and a cut-off or corrupt archive.
 */
export async function zipMember(
  ranges: ObjectRanges,
  limit: number,
): Promise<{ name: string; bytes: AsyncGenerator<Buffer> }> {
  const reader = new RangeReader(ranges);
  try {
    const zip = await fromRandomAccessReaderPromise(reader, ranges.size, {
      lazyEntries: true,
      autoClose: false,
    });
    const all: Entry[] = [];
    for await (const entry of zip.eachEntry()) all.push(entry);
    const members = all.filter(isMember);
    const problem = membersProblem(members, all);
    const [member] = members;
    if (problem !== undefined || member === undefined) throw new MalformedFileError(problem ?? 'no member');
    if (member.isEncrypted()) {
      throw new MalformedFileError(
        `the zip archive's ${member.fileName} is encrypted: zip it without a password`,
      );
    }
    if (!member.canDecodeFileData()) {
      throw new MalformedFileError(
        `the zip archive's ${member.fileName} is compressed with method ${member.compressionMethod}: only deflate and stored are read`,
      );
    }
    if (member.uncompressedSize > limit) throw tooLarge('zip', limit);
    const stream = await zip.openReadStreamPromise(member);
    return { name: member.fileName, bytes: checked(reader, limited(stream, 'zip', limit)) };
  } catch (err) {
    throw invalid(reader, err);
  }
}

/** The member's bytes; an error yauzl finds on the way (a size or CRC mismatch) as a file error. */
async function* checked(reader: RangeReader, bytes: AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
  try {
    yield* bytes;
  } catch (err) {
    throw invalid(reader, err);
  }
}
