import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  type GetObjectCommandInput,
  HeadObjectCommand,
  type HeadObjectCommandInput,
  NoSuchKey,
  PutObjectCommand,
  type PutObjectCommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { AwsClientStub } from 'aws-sdk-client-mock';
import { configHash, getEntity, parseConfigText } from '../../../lambdas/domain/config';

/**
 * Shared set-up of the handler tests. Importing this module sets the handlers' environment; the
 * tests then load the handler modules with a dynamic import in `beforeAll` (static imports are
 * hoisted, and the handlers read their environment and Powertools settings when first loaded).
 */
export const CONFIG_FILE = resolve(__dirname, '../../../examples/crm-sync.config.json');
export const BUCKET = 'test-bucket';
export const RUN_ID = 'contact-0123456789abcdef0123';
export const PREFIX = `work/${RUN_ID}/`;
export const SOURCE_KEY = 'inbox/contact/contacts.csv';

Object.assign(process.env, {
  CRM_SYNC_BUCKET: BUCKET,
  CRM_SYNC_LEDGER_TABLE: 'ledger',
  CRM_SYNC_TARGET_TABLES: JSON.stringify({ contact: 'contacts', account: 'accounts' }),
  CRM_SYNC_CONFIG_FILE: CONFIG_FILE,
  POWERTOOLS_LOG_LEVEL: 'SILENT',
  POWERTOOLS_TRACE_ENABLED: 'false',
  POWERTOOLS_METRICS_DISABLED: 'true',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
});

/** Config hash of the `contact` entity of the example config. */
export const CONFIG_HASH = configHash(
  getEntity(parseConfigText(readFileSync(CONFIG_FILE, 'utf8')), 'contact'),
);

/** The header line of examples/data/contacts.csv (a CRLF file), as the CRM exports it. */
export const HEADER =
  readFileSync(resolve(__dirname, '../../../examples/data/contacts.csv'), 'utf8').split(/\r?\n/)[0] ?? '';
export const COLUMNS = HEADER.split(',').map((c) => c.replaceAll('"', ''));

/** One quoted CSV record over `columns`, with valid defaults for the cells not given. */
export function row(cells: Record<string, string>, columns: readonly string[] = COLUMNS): string {
  const base: Record<string, string> = {
    AccountId: '001qP0000002VfKQAU',
    FirstName: 'Ada',
    LastName: 'Lovelace',
    Email: 'ada@example.com',
    HasOptedOutOfEmail: 'false',
    CreatedDate: '2020-01-18T19:48:02.000Z',
    LastModifiedDate: '2021-04-30T04:21:16.000Z',
    IsDeleted: 'false',
  };
  return columns.map((c) => `"${(cells[c] ?? base[c] ?? '').replaceAll('"', '""')}"`).join(',');
}

export function md5(body: Buffer): string {
  return createHash('md5').update(body).digest('hex');
}

function bodyStream(data: Buffer): Readable {
  return Object.assign(Readable.from([data]), {
    transformToString: async (encoding?: BufferEncoding) => data.toString(encoding ?? 'utf8'),
    transformToByteArray: async () => new Uint8Array(data),
  });
}

/**
 * An in-memory bucket behind the S3 mock: GetObject honours Range and IfMatch (and throws
 * NoSuchKey), HeadObject reports ETag and size, PutObject stores with an MD5 ETag.
 */
export class FakeBucket {
  private readonly objects = new Map<string, { body: Buffer; etag: string }>();

  /** Stores an object; returns its ETag (without quotes). */
  store(key: string, body: string | Buffer, bucket = BUCKET): string {
    const buf = typeof body === 'string' ? Buffer.from(body) : body;
    const etag = md5(buf);
    this.objects.set(`${bucket}/${key}`, { body: buf, etag });
    return etag;
  }

  /** An object's text, or undefined when it was never written. */
  find(key: string, bucket = BUCKET): string | undefined {
    return this.objects.get(`${bucket}/${key}`)?.body.toString('utf8');
  }

  /** An object's size in bytes (0 when it was never written). */
  sizeOf(key: string, bucket = BUCKET): number {
    return this.objects.get(`${bucket}/${key}`)?.body.length ?? 0;
  }

  /** An object's text; throws when it was never written. */
  read(key: string, bucket = BUCKET): string {
    const text = this.find(key, bucket);
    if (text === undefined) throw new Error(`s3://${bucket}/${key} was not written`);
    return text;
  }

  /** Empties the bucket and routes the mock's GetObject, HeadObject and PutObject to it. */
  install(s3Mock: AwsClientStub<S3Client>): void {
    this.objects.clear();
    s3Mock.on(GetObjectCommand).callsFake((input: GetObjectCommandInput) => this.getObject(input));
    s3Mock.on(HeadObjectCommand).callsFake((input: HeadObjectCommandInput) => this.headObject(input));
    s3Mock.on(PutObjectCommand).callsFake((input: PutObjectCommandInput) => this.putObject(input));
  }

  private getObject(input: GetObjectCommandInput) {
    const obj = this.objects.get(`${input.Bucket}/${input.Key}`);
    if (!obj) throw new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} });
    if (input.IfMatch !== undefined && input.IfMatch !== `"${obj.etag}"`) {
      throw Object.assign(new Error('At least one of the pre-conditions you specified did not hold'), {
        name: 'PreconditionFailed',
      });
    }
    let data = obj.body;
    if (input.Range !== undefined) {
      const m = /^bytes=(\d+)-(\d+)$/.exec(input.Range);
      if (!m) throw new Error(`unsupported Range ${input.Range}`);
      data = obj.body.subarray(Number(m[1]), Number(m[2]) + 1);
    }
    return { Body: bodyStream(data), ETag: `"${obj.etag}"`, ContentLength: data.length };
  }

  private headObject(input: HeadObjectCommandInput) {
    const obj = this.objects.get(`${input.Bucket}/${input.Key}`);
    if (!obj) throw Object.assign(new Error('NotFound'), { name: 'NotFound' });
    return { ETag: `"${obj.etag}"`, ContentLength: obj.body.length };
  }

  private putObject(input: PutObjectCommandInput) {
    const { Body: body } = input;
    if (typeof body !== 'string' && !(body instanceof Uint8Array)) {
      throw new Error(`unexpected PutObject body for ${input.Key}`);
    }
    return { ETag: `"${this.store(input.Key ?? '', Buffer.from(body), input.Bucket)}"` };
  }
}

/** One Embedded Metric Format record, as Powertools Metrics writes it on stdout. */
export interface EmfRecord {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: Array<{
      Namespace: string;
      Dimensions: string[][];
      Metrics: Array<{ Name: string; Unit: string }>;
    }>;
  };
  [key: string]: unknown;
}

/**
 * The EMF records written on stdout while `act` runs, with the metrics switched on (the handler
 * tests switch them off) and `env` set; stdout is captured, so nothing is printed.
 */
export async function captureEmf(
  act: () => Promise<unknown>,
  env: Readonly<Record<string, string>> = {},
): Promise<EmfRecord[]> {
  const settings = { POWERTOOLS_METRICS_DISABLED: 'false', ...env };
  const before = Object.fromEntries(Object.keys(settings).map((k) => [k, process.env[k]]));
  Object.assign(process.env, settings);
  const written: string[] = [];
  const stdout = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  });
  try {
    await act();
  } finally {
    stdout.mockRestore();
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  return written
    .join('')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as EmfRecord);
}
