import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { putStream } from '../../lambdas/adapters/s3';
import { MalformedFileError } from '../../lambdas/domain/errors';

/** Adapter: putStream throws the body's own error when the body fails, whatever the abort answers. */

const s3Mock = mockClient(S3Client);
const MiB = 1024 * 1024;

describe('putStream', () => {
  beforeEach(() => {
    s3Mock.reset();
    s3Mock.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u1' });
    s3Mock.on(UploadPartCommand).resolves({ ETag: '"p"' });
  });

  it.each([
    ['the abort succeeds', undefined],
    [
      'the abort fails (an emulator without it)',
      new S3ServiceException({ name: 'MethodNotAllowed', $fault: 'client', $metadata: {} }),
    ],
  ])('throws the body error when %s', async (_name, abortError) => {
    // Prepare: more than one 8 MiB part, then the file error.
    if (abortError) s3Mock.on(AbortMultipartUploadCommand).rejects(abortError);
    else s3Mock.on(AbortMultipartUploadCommand).resolves({});
    const body = async function* (): AsyncGenerator<Buffer> {
      yield Buffer.alloc(9 * MiB);
      throw new MalformedFileError('the gzip file is cut off: it ends before its compressed data does');
    };

    // Act
    const err = await putStream('b', 'work/r/source.decompressed', body(), 'text/csv').catch(
      (e: unknown) => e,
    );

    // Assess
    expect(err).toBeInstanceOf(MalformedFileError);
    expect((err as Error).message).toBe('the gzip file is cut off: it ends before its compressed data does');
  });
});
