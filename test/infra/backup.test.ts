import type { CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { CrmSyncStack } from '../../lib/crm-sync-stack';
import { runDistributedMap } from '../../local/distributed-map';
import { type AslState, asArray, config, configFile, must, newApp } from './support';

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}

describe('Snapshot and Restore state machines', () => {
  let stack: CrmSyncStack;
  let template: Template;
  const id = (c: IConstruct) => stack.getLogicalId((c.node.defaultChild ?? c) as CfnElement);

  beforeAll(() => {
    stack = new CrmSyncStack(newApp(), 'CrmSync', { config, configFile });
    template = Template.fromStack(stack);
  });

  function definition(machine: IConstruct): { StartAt: string; States: Record<string, AslState> } {
    const body = must(template.toJSON().Resources[id(machine)], 'machine').Properties.DefinitionString;
    const join = body['Fn::Join'] as [string, unknown[]];
    return JSON.parse(join[1].map((p) => (typeof p === 'string' ? p : '#TOKEN')).join(join[0]));
  }

  /** The states from StartAt following Next. */
  function path(def: { StartAt: string; States: Record<string, AslState> }): string[] {
    const out: string[] = [];
    for (let name: string | undefined = def.StartAt; name; name = def.States[name]?.Next) out.push(name);
    return out;
  }

  function statementsOf(role: IConstruct): Statement[] {
    const roleId = id(role);
    return Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p.Properties.Roles ?? []).includes(`"${roleId}"`))
      .flatMap((p) => asArray<Statement>(p.Properties.PolicyDocument.Statement));
  }

  const targets = () => Object.values(stack.targetTables).map((t) => id(t));
  const writesTargets = (role: IConstruct) =>
    statementsOf(role).filter(
      (s) =>
        asArray(s.Action).some((a) => /^dynamodb:(PutItem|BatchWriteItem|UpdateItem|DeleteItem)$/.test(a)) &&
        targets().some((t) => JSON.stringify(s.Resource).includes(`"${t}"`)),
    );
  const objectPrefixes = (role: IConstruct, action: RegExp) =>
    statementsOf(role)
      .filter((s) => asArray(s.Action).some((a) => action.test(a)))
      .flatMap((s) => asArray(s.Resource))
      .map((r) => JSON.stringify(r).match(/"\/([a-z]+)\/\*"/)?.[1])
      .filter((p): p is string => p !== undefined)
      .sort();

  it('Snapshot: PrepareSnapshot → ExportSegments → FinishSnapshot, any failure → AbortSnapshot → SnapshotFailed', () => {
    // Act
    const def = definition(stack.backup.snapshotMachine);

    // Assess
    expect(path(def)).toEqual(['PrepareSnapshot', 'ExportSegments', 'FinishSnapshot', 'SnapshotSucceeded']);
    for (const name of ['PrepareSnapshot', 'ExportSegments', 'FinishSnapshot']) {
      expect(def.States[name]?.Catch).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'AbortSnapshot' },
      ]);
    }
    expect(def.States.AbortSnapshot?.Next).toBe('SnapshotFailed');
    expect(def.States.SnapshotFailed?.Type).toBe('Fail');
  });

  it('Restore: every part is verified (VerifyParts) before LoadParts writes, then CheckTarget and FinishRestore', () => {
    // Act
    const def = definition(stack.backup.restoreMachine);

    // Assess
    expect(path(def)).toEqual([
      'PrepareRestore',
      'VerifyParts',
      'LoadParts',
      'CheckTarget',
      'FinishRestore',
      'RestoreSucceeded',
    ]);
    for (const name of ['PrepareRestore', 'VerifyParts', 'LoadParts', 'CheckTarget', 'FinishRestore']) {
      expect(def.States[name]?.Catch?.[0]?.Next).toBe('AbortRestore');
    }
  });

  it.each([
    ['snapshot', 'ExportSegments', 'ExportSegment', 'segment', '$.snapshot'],
    ['restore', 'VerifyParts', 'VerifyPart', 'verify', '$.restore'],
    ['restore', 'LoadParts', 'LoadPart', 'load', '$.restore'],
    ['restore', 'CheckTarget', 'CheckSegment', 'check', '$.restore'],
  ])(
    '%s: %s is a Distributed Map of STANDARD children, one segment each, over the job’s segment list',
    (machine, mapName, inner, action, job) => {
      // Prepare
      const def = definition(
        machine === 'snapshot' ? stack.backup.snapshotMachine : stack.backup.restoreMachine,
      );

      // Act
      const map = must(def.States[mapName], mapName);

      // Assess
      expect(map.ItemProcessor?.ProcessorConfig).toEqual({ Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' });
      expect(map.ItemsPath).toBe(`${job}.segmentList`);
      expect(map.ItemReader).toBeUndefined();
      expect(map.ItemBatcher).toEqual({ MaxItemsPerBatch: 1, BatchInput: { action, 'job.$': job } });
      expect(map.ResultPath).toBeNull();
      // The children's outputs go to S3, not into the state
      expect(must(map.ResultWriter, 'ResultWriter').Resource).toMatch(/s3:putObject$/);
      expect(map.ResultWriter?.Parameters).toMatchObject({ Prefix: 'work/map-results' });
      const worker = must(map.ItemProcessor?.States[inner], inner);
      // The function's 600 s, and 5 s for its own timeout to end the attempt first.
      expect(worker.TimeoutSeconds).toBe(605);
      expect(worker.Retry?.find((r) => r.ErrorEquals.includes('TargetNotEmptyError'))?.MaxAttempts).toBe(0);
    },
  );

  it.each([
    ['snapshot', 'PrepareSnapshot'],
    ['restore', 'PrepareRestore'],
  ])(
    '%s waits for a busy entity like ClaimRun (EntityBusyError before the catch-all retry)',
    (machine, name) => {
      // Prepare
      const def = definition(
        machine === 'snapshot' ? stack.backup.snapshotMachine : stack.backup.restoreMachine,
      );

      // Act
      const retry = must(def.States[name]?.Retry, `${name}.Retry`);
      const busy = retry.findIndex((r) => r.ErrorEquals.includes('EntityBusyError'));
      const all = retry.findIndex((r) => r.ErrorEquals.includes('States.ALL'));

      // Assess
      expect(busy).toBeGreaterThanOrEqual(0);
      expect(retry[busy]?.MaxAttempts).toBe(30);
      expect(busy).toBeLessThan(all);
      expect(def.States[name]?.Parameters).toMatchObject({
        'input.$': '$$.Execution.Input',
        execution: { 'name.$': '$$.Execution.Name', 'startTime.$': '$$.Execution.StartTime' },
      });
    },
  );

  it('only the restore function writes the target tables; the snapshot function only reads them', () => {
    // Act
    const snapshotWrites = writesTargets(stack.backup.snapshotFunction.role);
    const restoreWrites = writesTargets(stack.backup.restoreFunction.role);

    // Assess
    expect(snapshotWrites).toEqual([]);
    expect(restoreWrites.length).toBeGreaterThan(0);
    for (const t of targets()) expect(JSON.stringify(restoreWrites)).toContain(`"${t}"`);
  });

  it('the snapshot function writes snapshots/* and work/*; the restore function only reads snapshots/*', () => {
    // Act
    const snapshotPuts = objectPrefixes(stack.backup.snapshotFunction.role, /^s3:PutObject$/);
    const restorePuts = objectPrefixes(stack.backup.restoreFunction.role, /^s3:PutObject$/);
    const restoreReads = objectPrefixes(stack.backup.restoreFunction.role, /^s3:GetObject\*?$/);

    // Assess
    expect(snapshotPuts).toEqual(['snapshots', 'work']);
    expect(restorePuts).toEqual(['work']);
    expect(restoreReads).toEqual(['snapshots', 'work']);
  });

  it('no statement of the backup roles grants `*` or `service:*`; the machines only write their Map results', () => {
    // Prepare
    const roles = [
      stack.backup.snapshotFunction.role,
      stack.backup.restoreFunction.role,
      stack.backup.snapshotMachine.role,
      stack.backup.restoreMachine.role,
    ];

    // Act
    const actions = roles.flatMap((r) => statementsOf(r).flatMap((s) => asArray(s.Action)));
    const machineS3 = [stack.backup.snapshotMachine.role, stack.backup.restoreMachine.role].flatMap((r) =>
      statementsOf(r).flatMap((s) => asArray(s.Action).filter((a) => a.startsWith('s3:'))),
    );

    // Assess
    expect(actions.length).toBeGreaterThan(10);
    expect(actions.filter((a) => a === '*' || a.endsWith(':*'))).toEqual([]);
    // CDK's ResultWriter grant, for the children's results under work/map-results/
    expect([...new Set(machineS3)].sort()).toEqual([
      's3:AbortMultipartUpload',
      's3:GetObject',
      's3:ListMultipartUploadParts',
      's3:PutObject',
    ]);
  });

  it('every Distributed Map of every state machine in the template writes its children’s results to S3', () => {
    // Prepare
    const machines = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
    const maps: Array<{ name: string; state: AslState }> = [];
    const walk = (states: Record<string, AslState>) => {
      for (const [name, state] of Object.entries(states)) {
        if (
          state.Type === 'Map' &&
          JSON.stringify(state.ItemProcessor?.ProcessorConfig ?? {}).includes('DISTRIBUTED')
        )
          maps.push({ name, state });
        if (state.ItemProcessor) walk(state.ItemProcessor.States);
      }
    };

    // Act
    for (const m of machines) {
      const body = m.Properties.DefinitionString as string | { 'Fn::Join': [string, unknown[]] };
      const text =
        typeof body === 'string'
          ? body
          : body['Fn::Join'][1].map((p) => (typeof p === 'string' ? p : '#TOKEN')).join(body['Fn::Join'][0]);
      walk((JSON.parse(text) as { States: Record<string, AslState> }).States);
    }

    // Assess: without a ResultWriter a Map's result is the array of its children's outputs, in the
    // state (256 KiB at most, whatever its ResultPath); with one, only the results' manifest
    expect(maps.length).toBeGreaterThanOrEqual(10);
    expect(maps.filter((m) => !m.state.ResultWriter).map((m) => m.name)).toEqual([]);
    for (const m of maps) {
      expect(m.state.ResultWriter?.Resource).toMatch(/s3:putObject$/);
      expect(m.state.ResultWriter?.Parameters).toMatchObject({ Prefix: expect.stringMatching(/^work\//) });
    }
  });

  it('a snapshot’s ExportSegments output is the same small size for 10 and 1,000 segments (the children’s outputs are in S3)', async () => {
    // Prepare: the synthesized Map state, run by the local Distributed Map; each child answers ~0.5 KB
    const state = must(definition(stack.backup.snapshotMachine).States.ExportSegments, 'ExportSegments');
    const objects = new Map<string, string>();
    const exportSegments = async (segments: number) =>
      runDistributedMap({
        stateName: 'ExportSegments',
        state: state as unknown as Record<string, unknown>,
        input: {
          snapshot: { table: 't', segments, segmentList: Array.from({ length: segments }, (_, i) => i) },
        },
        context: {},
        store: {
          getText: (bucket, key) => Promise.resolve(objects.get(`${bucket}/${key}`) ?? ''),
          putText: (bucket, key, text) => Promise.resolve(void objects.set(`${bucket}/${key}`, text)),
        },
        executionArn: 'arn:aws:states:eu-west-1:000000000000:execution:Snapshot:e1',
        processConcurrency: 50,
        runChild: (_processor, input) => {
          const segment = (input as { Items: number[] }).Items[0];
          return Promise.resolve({ segments: [{ segment, items: 1_000, note: 'x'.repeat(480) }] });
        },
      });

    // Act
    const small = JSON.stringify(await exportSegments(10));
    const large = JSON.stringify(await exportSegments(1_000));

    // Assess: constant and tiny, while 1,000 outputs of ~0.5 KB are ~500 KB, past the 256 KiB limit
    expect(large.length).toBe(small.length);
    expect(large.length).toBeLessThan(1_024);
    const results = [...objects.entries()].filter(
      ([k]) => k.includes('/work/map-results/') && k.endsWith('SUCCEEDED_0.json'),
    );
    expect(results.map(([, text]) => (JSON.parse(text) as unknown[]).length).sort((a, b) => a - b)).toEqual([
      10, 1_000,
    ]);
  });

  it('outputs the two state machine ARNs for `aws stepfunctions start-execution`', () => {
    // Act
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    const values = Object.values(outputs).map((o) => JSON.stringify(o.Value));

    // Assess
    expect(values).toEqual(
      expect.arrayContaining([
        JSON.stringify({ Ref: id(stack.backup.snapshotMachine) }),
        JSON.stringify({ Ref: id(stack.backup.restoreMachine) }),
      ]),
    );
  });
});
