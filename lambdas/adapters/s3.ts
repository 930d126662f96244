import { Readable } from 'node:stream';
import {
  type _Object,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  NoSuchKey,
  PutObjectCommand,
  type PutObjectCommandInput,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { s3Client } from './clients';

export interface ObjectRef {
  bucket: string;
  key: string;
  /** Version id of a versioned object; reads then pin this exact version. */
  versionId?: string | undefined;
}

export interface ObjectInfo {
  etag: string;
  versionId: string | undefined;
  size: number;
}

function clean(etag: string | undefined): string {
  return (etag ?? '').replaceAll('"', '');
}

export async function headObject(ref: ObjectRef): Promise<ObjectInfo> {
  const out = await s3Client().send(
    new HeadObjectCommand({ Bucket: ref.bucket, Key: ref.key, VersionId: ref.versionId || undefined }),
  );
  return { etag: clean(out.ETag), versionId: out.VersionId ?? undefined, size: out.ContentLength ?? 0 };
}

/**
 * Streams an object, or the byte range [start, end) of it. The ETag is checked with IfMatch so a
 * file replaced mid-run fails loudly instead of mixing two versions.
 */
export async function readObject(
  ref: ObjectRef,
  range?: { start: number; end: number },
  ifMatch?: string,
): Promise<AsyncIterable<Uint8Array>> {
  if (range && range.end <= range.start) return (async function* () {})();
  const out = await s3Client().send(
    new GetObjectCommand({
      Bucket: ref.bucket,
      Key: ref.key,
      VersionId: ref.versionId || undefined,
      Range: range ? `bytes=${range.start}-${range.end - 1}` : undefined,
      IfMatch: ifMatch ? `"${ifMatch}"` : undefined,
    }),
  );
  if (!out.Body) throw new Error(`s3://${ref.bucket}/${ref.key} has no body`);
  return out.Body as Readable;
}

/**
 * Random access to an object of `size` bytes (as hyparquet reads a Parquet file: its footer, then
 * the column chunks it needs), one ranged GET per slice, pinned to `etag`.
 */
export function objectSlices(
  ref: ObjectRef,
  size: number,
  etag: string | undefined,
): { byteLength: number; slice: (start: number, end?: number) => Promise<ArrayBuffer> } {
  return {
    byteLength: size,
    async slice(start, end = size) {
      const parts: Buffer[] = [];
      for await (const c of await readObject(ref, { start, end }, etag)) parts.push(Buffer.from(c));
      return new Uint8Array(Buffer.concat(parts)).buffer;
    },
  };
}

export async function readText(ref: ObjectRef): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of await readObject(ref)) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks).toString('utf8');
}

export async function readJson<T>(ref: ObjectRef): Promise<T> {
  return JSON.parse(await readText(ref)) as T;
}

/** Reads a text object, or '' when it does not exist (optional side outputs). */
export async function readTextIfExists(ref: ObjectRef): Promise<string> {
  try {
    return await readText(ref);
  } catch (err) {
    if (err instanceof NoSuchKey || (err as { name?: string }).name === 'NoSuchKey') return '';
    throw err;
  }
}

export async function putObject(
  bucket: string,
  key: string,
  body: PutObjectCommandInput['Body'],
  contentType: string,
  contentEncoding?: string,
): Promise<void> {
  await s3Client().send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: body,
      // Said for text and bytes: an empty body otherwise goes without a Content-Length, which S3's
      // client warns about as a stream of unknown length on every empty report object.
      ContentLength: contentLengthOf(body),
      ContentType: contentType,
      ContentEncoding: contentEncoding,
    }),
  );
}

function contentLengthOf(body: PutObjectCommandInput['Body']): number | undefined {
  if (typeof body === 'string') return Buffer.byteLength(body, 'utf8');
  if (body instanceof Uint8Array) return body.byteLength;
  return undefined;
}

export async function putJson(bucket: string, key: string, value: unknown): Promise<void> {
  await putObject(bucket, key, JSON.stringify(value), 'application/json');
}

/**
 * Streams bytes into an object with a multipart upload (bounded memory). When the body fails (a
 * file error found while converting it), that error is thrown, not the upload's answer to it (an
 * aborted upload, or an emulator that cannot abort one).
 */
export async function putStream(
  bucket: string,
  key: string,
  body: AsyncIterable<Uint8Array>,
  contentType: string,
): Promise<{ etag: string }> {
  let failure: { err: unknown } | undefined;
  const watched = async function* (): AsyncGenerator<Uint8Array> {
    try {
      yield* body;
    } catch (err) {
      failure = { err };
      throw err;
    }
  };
  const upload = new Upload({
    client: s3Client(),
    params: { Bucket: bucket, Key: key, Body: Readable.from(watched()), ContentType: contentType },
    queueSize: 2,
    partSize: 8 * 1024 * 1024,
  });
  try {
    const out = await upload.done();
    return { etag: clean(out.ETag) };
  } catch (err) {
    throw failure ? failure.err : err;
  }
}

/**
 * Keys of the objects under a prefix (ListObjects, paged by marker: the local emulator's
 * ListObjectsV2 continuation tokens need a legacy cipher).
 */
export async function listKeys(bucket: string, prefix: string): Promise<string[]> {
  return (await listObjects(bucket, prefix)).map((o) => o.Key);
}

/**
 * Every object under a prefix (those with a key), paged by marker (ListObjects, s3:ListBucket):
 * the local emulator's ListObjectsV2 continuation tokens need a legacy cipher.
 */
export async function listObjects(bucket: string, prefix: string): Promise<Array<_Object & { Key: string }>> {
  const objects: Array<_Object & { Key: string }> = [];
  let marker: string | undefined;
  do {
    const out = await s3Client().send(
      new ListObjectsCommand({ Bucket: bucket, Prefix: prefix, Marker: marker }),
    );
    const contents = out.Contents ?? [];
    for (const o of contents) if (o.Key !== undefined) objects.push({ ...o, Key: o.Key });
    marker = out.IsTruncated ? (out.NextMarker ?? contents.at(-1)?.Key) : undefined;
  } while (marker !== undefined);
  return objects;
}
