import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  type IamRequest,
  iamRequestsOf,
  keyRequestsOf,
  type LocalIam,
  LocalIamEnforcer,
  LocalIamSettingError,
  localIamEnabled,
  UnmappedCommandError,
} from '../../local/iam';

const WHERE = { region: 'us-east-1', account: '000000000000' };
const B = 'arn:aws:s3:::data';
const TABLE = 'arn:aws:dynamodb:us-east-1:000000000000:table';

describe('iamRequestsOf: every command the adapters send', () => {
  it.each<[string, 's3' | 'dynamodb', string, Record<string, unknown>, IamRequest[]]>([
    [
      'GetObject',
      's3',
      'GetObjectCommand',
      { Bucket: 'data', Key: 'work/r/a.json' },
      [{ action: 's3:GetObject', resource: `${B}/work/r/a.json` }],
    ],
    [
      'GetObject of a version',
      's3',
      'GetObjectCommand',
      { Bucket: 'data', Key: 'inbox/x.csv', VersionId: 'v1' },
      [{ action: 's3:GetObjectVersion', resource: `${B}/inbox/x.csv` }],
    ],
    [
      'HeadObject',
      's3',
      'HeadObjectCommand',
      { Bucket: 'data', Key: 'inbox/x.csv' },
      [{ action: 's3:GetObject', resource: `${B}/inbox/x.csv` }],
    ],
    [
      'PutObject',
      's3',
      'PutObjectCommand',
      { Bucket: 'data', Key: 'work/r/p' },
      [{ action: 's3:PutObject', resource: `${B}/work/r/p` }],
    ],
    [
      'CreateMultipartUpload',
      's3',
      'CreateMultipartUploadCommand',
      { Bucket: 'data', Key: 'reports/r/x' },
      [{ action: 's3:PutObject', resource: `${B}/reports/r/x` }],
    ],
    [
      'UploadPart',
      's3',
      'UploadPartCommand',
      { Bucket: 'data', Key: 'reports/r/x', PartNumber: 2 },
      [{ action: 's3:PutObject', resource: `${B}/reports/r/x` }],
    ],
    [
      'CompleteMultipartUpload',
      's3',
      'CompleteMultipartUploadCommand',
      { Bucket: 'data', Key: 'reports/r/x' },
      [{ action: 's3:PutObject', resource: `${B}/reports/r/x` }],
    ],
    [
      'AbortMultipartUpload',
      's3',
      'AbortMultipartUploadCommand',
      { Bucket: 'data', Key: 'reports/r/x' },
      [{ action: 's3:AbortMultipartUpload', resource: `${B}/reports/r/x` }],
    ],
    [
      'DeleteObject',
      's3',
      'DeleteObjectCommand',
      { Bucket: 'data', Key: 'work/a' },
      [{ action: 's3:DeleteObject', resource: `${B}/work/a` }],
    ],
    [
      'DeleteObjects, per key',
      's3',
      'DeleteObjectsCommand',
      { Bucket: 'data', Delete: { Objects: [{ Key: 'a' }, { Key: 'b', VersionId: 'v' }] } },
      [
        { action: 's3:DeleteObject', resource: `${B}/a` },
        { action: 's3:DeleteObjectVersion', resource: `${B}/b` },
      ],
    ],
    [
      'ListObjects with a prefix',
      's3',
      'ListObjectsCommand',
      { Bucket: 'data', Prefix: 'work/r/' },
      [{ action: 's3:ListBucket', resource: B, context: { 's3:prefix': 'work/r/' } }],
    ],
    [
      'ListObjectsV2 without a prefix',
      's3',
      'ListObjectsV2Command',
      { Bucket: 'data' },
      [{ action: 's3:ListBucket', resource: B }],
    ],
    [
      'ListObjectVersions',
      's3',
      'ListObjectVersionsCommand',
      { Bucket: 'data', Prefix: 'inbox/p/' },
      [{ action: 's3:ListBucketVersions', resource: B, context: { 's3:prefix': 'inbox/p/' } }],
    ],
    [
      'CopyObject',
      's3',
      'CopyObjectCommand',
      { Bucket: 'data', Key: 'work/b', CopySource: 'data/inbox/a%20b.csv' },
      [
        { action: 's3:GetObject', resource: `${B}/inbox/a b.csv` },
        { action: 's3:PutObject', resource: `${B}/work/b` },
      ],
    ],
    [
      'GetItem',
      'dynamodb',
      'GetItemCommand',
      { TableName: 'ledger' },
      [{ action: 'dynamodb:GetItem', resource: `${TABLE}/ledger` }],
    ],
    [
      'PutItem',
      'dynamodb',
      'PutItemCommand',
      { TableName: 'ledger' },
      [{ action: 'dynamodb:PutItem', resource: `${TABLE}/ledger` }],
    ],
    [
      'UpdateItem',
      'dynamodb',
      'UpdateItemCommand',
      { TableName: 'ledger' },
      [{ action: 'dynamodb:UpdateItem', resource: `${TABLE}/ledger` }],
    ],
    [
      'DeleteItem',
      'dynamodb',
      'DeleteItemCommand',
      { TableName: 'ledger' },
      [{ action: 'dynamodb:DeleteItem', resource: `${TABLE}/ledger` }],
    ],
    [
      'DescribeTable',
      'dynamodb',
      'DescribeTableCommand',
      { TableName: 'contacts' },
      [{ action: 'dynamodb:DescribeTable', resource: `${TABLE}/contacts` }],
    ],
    [
      'Scan',
      'dynamodb',
      'ScanCommand',
      { TableName: 'contacts', Limit: 1 },
      [{ action: 'dynamodb:Scan', resource: `${TABLE}/contacts` }],
    ],
    [
      'Query on an index',
      'dynamodb',
      'QueryCommand',
      { TableName: 'contacts', IndexName: 'byEmail' },
      [{ action: 'dynamodb:Query', resource: `${TABLE}/contacts/index/byEmail` }],
    ],
    [
      'BatchWriteItem, per table',
      'dynamodb',
      'BatchWriteItemCommand',
      { RequestItems: { a: [], b: [] } },
      [
        { action: 'dynamodb:BatchWriteItem', resource: `${TABLE}/a` },
        { action: 'dynamodb:BatchWriteItem', resource: `${TABLE}/b` },
      ],
    ],
    [
      'BatchGetItem',
      'dynamodb',
      'BatchGetItemCommand',
      { RequestItems: { a: { Keys: [] } } },
      [{ action: 'dynamodb:BatchGetItem', resource: `${TABLE}/a` }],
    ],
    [
      'TransactWriteItems, per table and kind',
      'dynamodb',
      'TransactWriteItemsCommand',
      {
        TransactItems: [
          { Put: { TableName: 'a' } },
          { Put: { TableName: 'a' } },
          { ConditionCheck: { TableName: 'b' } },
        ],
      },
      [
        { action: 'dynamodb:PutItem', resource: `${TABLE}/a` },
        { action: 'dynamodb:ConditionCheckItem', resource: `${TABLE}/b` },
      ],
    ],
  ])('%s', (_, service, command, input, expected) => {
    // Act
    const requests = iamRequestsOf(service, command, input, WHERE);

    // Assess
    expect(requests).toEqual(expected);
  });

  it.each<['s3' | 'dynamodb', string]>([
    ['s3', 'PutBucketPolicyCommand'],
    ['dynamodb', 'CreateTableCommand'],
  ])('fails loudly on an unmapped %s command (%s)', (service, command) => {
    // Act / Assess
    expect(() => iamRequestsOf(service, command, {}, WHERE)).toThrow(UnmappedCommandError);
    expect(() => iamRequestsOf(service, command, {}, WHERE)).toThrow(command);
  });
});

describe('keyRequestsOf: the KMS use of a command on data encrypted with a customer-managed key', () => {
  const KEY = 'arn:aws:kms:us-east-1:000000000000:key/00000000-0000-4000-8000-000000000000';
  const decrypt = [{ action: 'kms:Decrypt', resource: KEY }];
  const encrypt = [...decrypt, { action: 'kms:GenerateDataKey', resource: KEY }];

  it.each<[string, IamRequest[]]>([
    ['GetObjectCommand', decrypt],
    ['HeadObjectCommand', []],
    ['PutObjectCommand', encrypt],
    ['CreateMultipartUploadCommand', encrypt],
    ['UploadPartCommand', encrypt],
    ['CompleteMultipartUploadCommand', encrypt],
    ['AbortMultipartUploadCommand', []],
    ['CopyObjectCommand', encrypt],
    ['ListObjectsV2Command', []],
    ['DeleteObjectCommand', []],
    ['GetItemCommand', decrypt],
    ['QueryCommand', decrypt],
    ['ScanCommand', decrypt],
    ['BatchGetItemCommand', decrypt],
    ['PutItemCommand', encrypt],
    ['UpdateItemCommand', encrypt],
    ['DeleteItemCommand', encrypt],
    ['BatchWriteItemCommand', encrypt],
    ['TransactWriteItemsCommand', encrypt],
    ['DescribeTableCommand', []],
  ])('%s', (command, expected) => {
    // Act
    const requests = keyRequestsOf(command, KEY);

    // Assess
    expect(requests).toEqual(expected);
  });
});

/** A small stack: a worker that reads inbox/*, writes work/*, lists work/ only, and gets ledger items. */
const IAM: LocalIam = {
  roles: {
    WorkerRole: {
      name: 'CrmSync-WorkerRole',
      arn: 'arn:aws:iam::000000000000:role/CrmSync-WorkerRole',
      policies: [
        {
          name: 'WorkerPolicy',
          policy: {
            Version: '2012-10-17',
            Statement: [
              { Effect: 'Allow', Action: ['s3:GetObject*'], Resource: `${B}/inbox/*` },
              { Effect: 'Allow', Action: 's3:PutObject', Resource: `${B}/work/*` },
              { Effect: 'Allow', Action: 's3:GetObject', Resource: `${B}/work/r/parts/*` },
              {
                Effect: 'Allow',
                Action: 's3:ListBucket',
                Resource: B,
                Condition: { StringLike: { 's3:prefix': ['work/*'] } },
              },
              { Effect: 'Allow', Action: ['dynamodb:GetItem'], Resource: `${TABLE}/ledger` },
            ],
          },
        },
      ],
    },
  },
  functions: { transform: 'WorkerRole' },
  machines: {},
};

describe('LocalIamEnforcer', () => {
  let enforcer: LocalIamEnforcer;
  beforeAll(async () => {
    enforcer = await LocalIamEnforcer.create(IAM, WHERE);
  });

  it.each<[string, IamRequest, boolean]>([
    [
      'allows a granted action on a granted object',
      { action: 's3:GetObject', resource: `${B}/inbox/a.csv` },
      true,
    ],
    [
      'allows a wildcard action (s3:GetObject*)',
      { action: 's3:GetObjectVersion', resource: `${B}/inbox/a.csv` },
      true,
    ],
    ['denies an action no statement names', { action: 's3:DeleteObject', resource: `${B}/work/a` }, false],
    [
      'denies a granted action on another resource',
      { action: 's3:GetObject', resource: `${B}/work/r/source.utf8.csv` },
      false,
    ],
    [
      'denies a granted action on another table',
      { action: 'dynamodb:GetItem', resource: `${TABLE}/contacts` },
      false,
    ],
    [
      'allows ListBucket under the granted prefix',
      { action: 's3:ListBucket', resource: B, context: { 's3:prefix': 'work/r/' } },
      true,
    ],
    [
      'denies ListBucket under another prefix',
      { action: 's3:ListBucket', resource: B, context: { 's3:prefix': 'inbox/' } },
      false,
    ],
    ['denies ListBucket without a prefix', { action: 's3:ListBucket', resource: B }, false],
  ])('%s', (_, request, allowed) => {
    // Act
    const decision = enforcer.allows('WorkerRole', request);

    // Assess
    expect(decision).toBe(allowed);
  });

  it('caches decisions per role, action, resource and condition context', () => {
    // Prepare
    const before = enforcer.evaluations;
    const listWork = { action: 's3:ListBucket', resource: B, context: { 's3:prefix': 'work/x/' } };
    const listInbox = { action: 's3:ListBucket', resource: B, context: { 's3:prefix': 'inbox/x/' } };

    // Act
    const decisions = [listWork, listWork, listInbox, listInbox].map((r) => enforcer.allows('WorkerRole', r));

    // Assess
    expect(decisions).toEqual([true, true, false, false]);
    expect(enforcer.evaluations - before).toBe(2);
  });

  it("denies an SDK call made as a role with the service's AccessDenied error, and leaves the user's calls alone", async () => {
    // Prepare: the clients answer every call here (no network), after the IAM check.
    const answered: string[] = [];
    const s3 = new S3Client({
      region: WHERE.region,
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    });
    const dynamodb = new DynamoDBClient({
      region: WHERE.region,
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    });
    for (const client of [s3, dynamodb]) {
      (client.middlewareStack as unknown as { add(mw: never, options: never): void }).add(
        ((_next: unknown, context: { commandName: string }) => async () => {
          answered.push(context.commandName);
          return { output: { $metadata: {} }, response: {} };
        }) as never,
        { step: 'finalizeRequest', priority: 'low' } as never,
      );
    }
    enforcer.install({ s3, dynamodb });
    const worker = { role: 'WorkerRole', session: 'crm-sync-transform' };
    const principal = 'arn:aws:sts::000000000000:assumed-role/CrmSync-WorkerRole/crm-sync-transform';

    // Act
    const s3Denied = enforcer
      .runAs(worker, () => s3.send(new GetObjectCommand({ Bucket: 'data', Key: 'work/r/source.utf8.csv' })))
      .catch((e: unknown) => e);
    const dynamoDenied = enforcer
      .runAs(worker, () => dynamodb.send(new PutItemCommand({ TableName: 'ledger', Item: {} })))
      .catch((e: unknown) => e);
    await enforcer.runAs(worker, () => dynamodb.send(new GetItemCommand({ TableName: 'ledger', Key: {} })));
    await s3.send(new GetObjectCommand({ Bucket: 'data', Key: 'anything' }));
    enforcer.uninstall();

    // Assess
    expect(await s3Denied).toMatchObject({
      name: 'AccessDenied',
      $metadata: { httpStatusCode: 403 },
      message: `User: ${principal} is not authorized to perform: s3:GetObject on resource: ${B}/work/r/source.utf8.csv because no identity-based policy allows the s3:GetObject action`,
    });
    expect(await dynamoDenied).toMatchObject({
      name: 'AccessDeniedException',
      message: `User: ${principal} is not authorized to perform: dynamodb:PutItem on resource: ${TABLE}/ledger because no identity-based policy allows the dynamodb:PutItem action`,
    });
    expect(answered).toEqual(['GetItemCommand', 'GetObjectCommand']);
  });
});

describe('LocalIamEnforcer: a missing object', () => {
  it.each([
    [
      'may list under the key (s3:prefix work/*): NoSuchKey, as S3 answers',
      'work/r/parts/p0001.jsonl',
      'NoSuchKey',
    ],
    ['may not list there: AccessDenied, as S3 answers', 'inbox/missing.csv', 'AccessDenied'],
  ])('a role that %s', async (_what, key, expected) => {
    // Prepare: the client answers every GetObject with NoSuchKey, after the IAM check
    const enforcer = await LocalIamEnforcer.create(IAM, WHERE);
    const s3 = new S3Client({
      region: WHERE.region,
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    });
    const dynamodb = new DynamoDBClient({
      region: WHERE.region,
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    });
    (s3.middlewareStack as unknown as { add(mw: never, options: never): void }).add(
      (() => async () => {
        throw Object.assign(new Error('The specified key does not exist.'), { name: 'NoSuchKey' });
      }) as never,
      { step: 'finalizeRequest', priority: 'low' } as never,
    );
    enforcer.install({ s3, dynamodb });

    // Act
    const error = await enforcer
      .runAs({ role: 'WorkerRole', session: 'crm-sync-merge' }, () =>
        s3.send(new GetObjectCommand({ Bucket: 'data', Key: key })),
      )
      .catch((e: unknown) => e);
    enforcer.uninstall();

    // Assess
    expect(error).toMatchObject({ name: expected });
  });
});

describe('localIamEnabled (CRM_SYNC_LOCAL_IAM)', () => {
  it.each<[string | undefined, boolean]>([
    [undefined, true],
    ['', true],
    ['on', true],
    ['OFF', false],
    [' off ', false],
  ])('%p → %p', (value, enabled) => {
    // Act / Assess
    expect(localIamEnabled(value === undefined ? {} : { CRM_SYNC_LOCAL_IAM: value })).toBe(enabled);
  });

  it.each(['0', 'false', 'disabled'])('rejects %p with a message naming the setting', (value) => {
    // Act / Assess
    expect(() => localIamEnabled({ CRM_SYNC_LOCAL_IAM: value })).toThrow(LocalIamSettingError);
    expect(() => localIamEnabled({ CRM_SYNC_LOCAL_IAM: value })).toThrow(
      /CRM_SYNC_LOCAL_IAM must be "on" or "off"/,
    );
  });
});
