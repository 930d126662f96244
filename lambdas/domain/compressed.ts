/**
 * Compressed exports (Salesforce's weekly export, Airbyte and AppFlow S3 output): a gzip file, or a
 * zip archive of one member, found by its first bytes whatever the name. Plan decompresses it once,
 * streaming, into a copy under the run's work prefix; the rest of the run reads the copy as any
 * export (its encoding and format are found in the copy's first bytes). Pure domain code: the
 * compressed bytes come as a stream (gzip) or as ranges of the object (zip, read by the adapter).
 */
import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { MalformedFileError } from './errors';

/** How an export is compressed, from its first bytes; undefined: not compressed (or not a kind read here). */
export type Compression = 'gzip' | 'zip';

/** gzip: ID1 ID2 and CM = 8 (deflate), RFC 1952; zip: a local file header, or the end of an empty archive. */
const GZIP = [0x1f, 0x8b, 0x08];
const ZIP = [0x50, 0x4b, 0x03, 0x04];
const EMPTY_ZIP = [0x50, 0x4b, 0x05, 0x06];

const startsWith = (head: Uint8Array, magic: readonly number[]): boolean =>
  head.length >= magic.length && magic.every((b, i) => head[i] === b);

export function compressionOf(head: Uint8Array): Compression | undefined {
  if (startsWith(head, GZIP)) return 'gzip';
  if (startsWith(head, ZIP) || startsWith(head, EMPTY_ZIP)) return 'zip';
  return undefined;
}

/** The default of `source.maxDecompressionRatio`: a member may be 100 times its compressed file. */
export const DEFAULT_DECOMPRESSION_RATIO = 100;

/** A compressed file of any size may decompress to this much (small files compress the most). */
export const MIN_DECOMPRESSED_LIMIT = 64 * 1024 * 1024;

/** The most bytes a compressed file of `compressedBytes` may decompress to (the zip bomb guard). */
export function decompressedLimit(compressedBytes: number, ratio = DEFAULT_DECOMPRESSION_RATIO): number {
  return Math.max(MIN_DECOMPRESSED_LIMIT, compressedBytes * ratio);
}

/** The MalformedFileError of a member past `limit` bytes. */
export function tooLarge(kind: Compression, limit: number): MalformedFileError {
  return new MalformedFileError(
    `the ${kind} file decompresses to more than ${limit} bytes (source.maxDecompressionRatio ` +
      `times its size, at least ${MIN_DECOMPRESSED_LIMIT}): is it a zip bomb? Raise the ratio for a real export`,
  );
}

/** A zlib error (Z_BUF_ERROR: the data ends early, Z_DATA_ERROR: bytes that are not deflate). */
function zlibCode(err: unknown): string | undefined {
  const code = typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
  return typeof code === 'string' && code.startsWith('Z_') ? code : undefined;
}

/** The one-line MalformedFileError of a zlib error, else the error itself (a read that failed). */
export function inflateError(kind: Compression, err: unknown): unknown {
  const code = zlibCode(err);
  if (code === undefined) return err;
  const message =
    typeof err === 'object' && err !== null && 'message' in err ? String(err.message) : String(err);
  return code === 'Z_BUF_ERROR'
    ? new MalformedFileError(`the ${kind} file is cut off: it ends before its compressed data does`, {
        cause: err,
      })
    : new MalformedFileError(`the ${kind} file is not valid: ${message}`, { cause: err });
}

/**
 * The decompressed bytes of `source`, at most `limit` of them. Counts every byte; on past the
 * limit, a cut-off or corrupt member it stops with a MalformedFileError.
 */
export async function* limited(
  inflated: AsyncIterable<Uint8Array>,
  kind: Compression,
  limit: number,
): AsyncGenerator<Buffer> {
  let bytes = 0;
  try {
    for await (const piece of inflated) {
      bytes += piece.length;
      if (bytes > limit) throw tooLarge(kind, limit);
      yield Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    }
  } catch (err) {
    throw inflateError(kind, err);
  }
}

/**
 * The decompressed bytes of a gzip file, streaming. Every member of a concatenation (`cat a.gz b.gz`,
 * as RFC 1952 allows) is read: zlib goes on after a member's trailer when another member follows.
 * Trailing bytes that are not a member fail (`incorrect header check`), zero padding is ignored.
 */
export function gunzip(source: AsyncIterable<Uint8Array>, limit: number): AsyncGenerator<Buffer> {
  const inflate = createGunzip();
  // pipeline: an error of the source destroys the inflater with it, so the reader below sees it.
  pipeline(Readable.from(source), inflate, () => {});
  return limited(inflate, 'gzip', limit);
}

/** The name a gzip file's member goes by: the file's name without `.gz`/`.gzip` (`contacts.csv`). */
export function gunzippedName(key: string): string {
  return key.replace(/\.(gz|gzip)$/i, '');
}
