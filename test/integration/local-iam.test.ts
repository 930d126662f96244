import { type CrmSyncConfig, parseConfig } from '../../lambdas/domain/config';
import type { LocalIam } from '../../local/iam';
import { runLocalFile } from '../../local/run';
import { useLocalStack } from './support';

/**
 * Integration: IAM is enforced in local runs. A stack whose transform role cannot read Plan's UTF-8
 * copy of a transcoded export (work/<runId>/source.utf8.*) fails a UTF-16 run with AccessDenied, as
 * AWS would; the stack as synthesized runs it. With a customer-managed key in the config, the
 * key's use is checked too: a merge role without its KMS statements fails the run.
 */

const CONFIG: CrmSyncConfig = parseConfig({
  entities: {
    person: {
      target: { key: 'id' },
      fields: {
        id: { source: 'Id', required: true },
        name: { source: 'Name' },
        updatedAt: { source: 'Modified', type: 'datetime', required: true },
      },
      updatedAt: 'updatedAt',
    },
  },
});

const CSV = 'Id,Name,Modified\r\n1,Zoë,2024-01-01T00:00:00Z\r\n2,Łukasz,2024-01-01T00:00:00Z\r\n';
const utf16 = (text: string) => Buffer.from(`\ufeff${text}`, 'utf16le');

/** The roles without the statements that grant the transform function the transcoded copy. */
function withoutTranscodedRead(iam: LocalIam): LocalIam {
  const role = iam.functions.transform;
  if (!role) throw new Error('no transform role');
  const copy = structuredClone(iam);
  const transform = copy.roles[role];
  if (!transform) throw new Error('no transform role');
  transform.policies = transform.policies.map((p) => ({
    ...p,
    policy: {
      ...p.policy,
      Statement: (p.policy.Statement as Array<{ Resource?: unknown }>).filter(
        (s) => !JSON.stringify(s.Resource ?? '').includes('source.utf8'),
      ),
    },
  }));
  return copy;
}

describe('IAM enforced in local runs', () => {
  let defective = true;
  const local = useLocalStack('local-iam', CONFIG, {
    iam: { enforce: true, policies: (iam) => (defective ? withoutTranscodedRead(iam) : iam) },
  });

  it('fails a UTF-16 run with AccessDenied naming s3:GetObject on the UTF-8 copy when the transform role lacks it', async () => {
    // Prepare
    defective = true;
    const file = local.write('people-utf16.csv', utf16(CSV));

    // Act
    const result = await runLocalFile(local.stack, file, CONFIG, {
      entity: 'person',
      stateDir: local.stateDir,
    });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error?.message).toMatch(
      /assumed-role\/CrmSync-TransformFunctionRole\w+\/crm-sync-transform is not authorized to perform: s3:GetObject on resource: arn:aws:s3:::crm-sync-local\/work\/[^/]+\/source\.utf8\.csv because no identity-based policy allows the s3:GetObject action/,
    );
    expect(await local.items('person')).toEqual([]);
  });

  it('runs the same file with the roles as synthesized', async () => {
    // Prepare
    defective = false;
    const file = local.write('people-utf16-again.csv', utf16(CSV.replaceAll('2024-01-01', '2024-01-02')));

    // Act
    const result = await runLocalFile(local.stack, file, CONFIG, {
      entity: 'person',
      stateDir: local.stateDir,
    });

    // Assess
    expect(result.error).toBeUndefined();
    expect(result.status).toBe('SUCCEEDED');
    expect((await local.items('person', { omit: ['_meta', 'updatedAt'] })).map((i) => i.name)).toEqual([
      'Zoë',
      'Łukasz',
    ]);
  });
});

/** The roles without the merge function's KMS statements. */
function withoutMergeKey(iam: LocalIam): LocalIam {
  const role = iam.functions.merge;
  const copy = structuredClone(iam);
  const merge = role === undefined ? undefined : copy.roles[role];
  if (!merge) throw new Error('no merge role');
  merge.policies = merge.policies.map((p) => ({
    ...p,
    policy: {
      ...p.policy,
      Statement: (p.policy.Statement as Array<{ Action?: unknown }>).filter(
        (s) => !JSON.stringify(s.Action ?? '').includes('kms:'),
      ),
    },
  }));
  return copy;
}

describe('IAM enforced in local runs, with a customer-managed key', () => {
  const ENCRYPTED: CrmSyncConfig = { ...CONFIG, encryption: { kmsKey: 'create' } };
  let defective = true;
  const local = useLocalStack('local-iam-kms', ENCRYPTED, {
    iam: { enforce: true, policies: (iam) => (defective ? withoutMergeKey(iam) : iam) },
  });

  it('fails a run with AccessDenied naming the key when the merge role may not use it', async () => {
    // Prepare
    defective = true;
    const file = local.write('people.csv', CSV);

    // Act
    const result = await runLocalFile(local.stack, file, ENCRYPTED, {
      entity: 'person',
      stateDir: local.stateDir,
    });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error?.message).toMatch(
      /assumed-role\/CrmSync-MergeFunctionRole\w+\/crm-sync-merge is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:us-east-1:000000000000:key\//,
    );
    expect(await local.items('person')).toEqual([]);
  });

  it('runs the same file with the roles as synthesized (every use of the key granted)', async () => {
    // Prepare
    defective = false;
    const file = local.write('people-again.csv', CSV.replaceAll('2024-01-01', '2024-01-02'));

    // Act
    const result = await runLocalFile(local.stack, file, ENCRYPTED, {
      entity: 'person',
      stateDir: local.stateDir,
    });

    // Assess
    expect(result.error).toBeUndefined();
    expect(result.status).toBe('SUCCEEDED');
    expect(await local.items('person', { omit: ['_meta', 'updatedAt'] })).toHaveLength(2);
  });
});
