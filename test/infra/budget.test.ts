import { Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { CrmSyncStack } from '../../lib/crm-sync-stack';
import { SyncStateMachine } from '../../lib/sync-state-machine';
import { type AslState, config, configFile, must, newApp, statementsOfRole } from './support';

type Json = Record<string, unknown>;

/** An EXPRESS child execution (a Distributed Map's child) ends after 5 minutes at most. */
const EXPRESS_SECONDS = 300;

/**
 * Throttling: the Invoke call was refused, the function did not run, so a retry of one costs its
 * delay only. Lambda's other service errors may come after the function ran: they count as attempts.
 */
const NOT_RUN_ERRORS = new Set(['Lambda.TooManyRequestsException']);
/** Every Lambda error a task retries longer than the catch-all (throttling at least). */
const SERVICE_ERRORS = NOT_RUN_ERRORS;

interface Definition {
  States: Record<string, AslState>;
}

/**
 * Parses a DefinitionString: `Fn::Join` parts are joined, a function's `Fn::GetAtt [id, Arn]`
 * becomes `lambda:<id>` (so a Task names the function it invokes), any other token a placeholder.
 */
function parseDefinition(definition: unknown): Definition {
  if (typeof definition === 'string') return JSON.parse(definition) as Definition;
  const join = (definition as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (!join) throw new Error(`unexpected DefinitionString: ${JSON.stringify(definition)}`);
  const [separator, parts] = join;
  const text = parts
    .map((p) => {
      if (typeof p === 'string') return p;
      const att = (p as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt'];
      return att?.[1] === 'Arn' ? `lambda:${att[0]}` : '#{TOKEN}';
    })
    .join(separator);
  return JSON.parse(text) as Definition;
}

/** Every state of a definition, those of its Maps' processors included, with the Map it runs in. */
function allStates(
  states: Record<string, AslState>,
  inMap?: AslState,
): Array<{ name: string; state: AslState; inMap: AslState | undefined }> {
  return Object.entries(states).flatMap(([name, state]) => [
    { name, state, inMap },
    ...(state.ItemProcessor ? allStates(state.ItemProcessor.States, state) : []),
  ]);
}

/** The function a Task invokes (its logical id), or undefined for other Tasks. */
function invokedFunction(state: AslState): string | undefined {
  if (state.Type !== 'Task') return undefined;
  const named = (state.Parameters as Json | undefined)?.FunctionName;
  const ref = state.Resource?.endsWith(':lambda:invoke') ? String(named ?? '') : (state.Resource ?? '');
  return /^lambda:(\w+)/.exec(ref)?.[1];
}

/** The delays of a retrier at their maximum: interval × backoffRate^n, capped by MaxDelaySeconds. */
function delays(retry: NonNullable<AslState['Retry']>[number]): number[] {
  const attempts = retry.MaxAttempts ?? 3;
  const interval = retry.IntervalSeconds ?? 1;
  const rate = retry.BackoffRate ?? 2;
  const cap = retry.MaxDelaySeconds ?? Number.POSITIVE_INFINITY;
  return Array.from({ length: attempts }, (_, n) => Math.min(interval * rate ** n, cap));
}

/**
 * The longest a Task can take: its first attempt and every retry of a retrier that may have run
 * the function each last to the Task's TimeoutSeconds; retries of the Lambda service errors only
 * wait (the invocation was refused); every delay at its maximum (FULL jitter only shortens it).
 * Retriers count their attempts separately, so the attempts are 1 + the sum of their MaxAttempts.
 */
function worstCaseSeconds(task: AslState): number {
  const attempt = must(task.TimeoutSeconds, 'TimeoutSeconds');
  let total = attempt;
  for (const retry of task.Retry ?? []) {
    const waits = delays(retry);
    total += waits.reduce((a, b) => a + b, 0);
    const serviceOnly = retry.ErrorEquals.every((e) => NOT_RUN_ERRORS.has(e));
    if (!serviceOnly) total += waits.length * attempt;
  }
  return total;
}

describe('retry budgets of the synthesized template', () => {
  let template: Template;
  let definitions: Record<string, Definition>;
  let timeouts: Record<string, number>;

  beforeAll(() => {
    const stack = new CrmSyncStack(newApp(), 'CrmSync', { config, configFile });
    template = Template.fromStack(stack);
    definitions = Object.fromEntries(
      Object.entries(template.findResources('AWS::StepFunctions::StateMachine')).map(([id, r]) => [
        id,
        parseDefinition(r.Properties.DefinitionString),
      ]),
    );
    timeouts = Object.fromEntries(
      Object.entries(template.findResources('AWS::Lambda::Function')).map(([id, r]) => [
        id,
        Number(r.Properties.Timeout ?? 3),
      ]),
    );
  });

  function lambdaTasks() {
    return Object.entries(definitions).flatMap(([machine, d]) =>
      allStates(d.States)
        .map((s) => ({ ...s, machine, fn: invokedFunction(s.state) }))
        .filter((s): s is typeof s & { fn: string } => s.fn !== undefined),
    );
  }

  it('every EXPRESS child of a Distributed Map ends within 5 minutes, whatever its retriers do', () => {
    // Prepare
    const maps = Object.values(definitions).flatMap((d) =>
      allStates(d.States).filter(
        ({ state }) =>
          state.ItemProcessor?.ProcessorConfig?.Mode === 'DISTRIBUTED' &&
          state.ItemProcessor.ProcessorConfig.ExecutionType === 'EXPRESS',
      ),
    );

    // Act: the tasks of a child run one after the other, so their worst cases add up.
    const worst = Object.fromEntries(
      maps.map(({ name, state }) => [
        name,
        allStates(must(state.ItemProcessor, name).States)
          .filter((s) => s.state.Type === 'Task')
          .reduce((sum, s) => sum + worstCaseSeconds(s.state), 0),
      ]),
    );

    // Assess
    expect(Object.keys(worst).sort()).toEqual(
      [
        'MergePartitions',
        'PlanMirrorDeletes',
        'ScanTargetSegments',
        'TransformChunks',
        'VerifyPartitions',
        'VerifyPartitionsByKey',
      ].sort(),
    );
    const over = Object.entries(worst).filter(([, seconds]) => !(seconds < EXPRESS_SECONDS));
    expect(over).toEqual([]);
    // Three attempts of 65 s, 47 s of throttling delays and the transient delays of 2 and 4 s.
    expect(worst['TransformChunks']).toBe(248);
  });

  it('every Task that invokes a Lambda function waits longer than the function may run', () => {
    // Act
    const tasks = lambdaTasks().map(({ machine, name, state, fn }) => ({
      task: `${machine}/${name}`,
      taskTimeout: must(state.TimeoutSeconds, `${name}.TimeoutSeconds`),
      functionTimeout: must(timeouts[fn], `timeout of ${fn}`),
    }));

    // Assess
    expect(tasks.length).toBeGreaterThanOrEqual(20);
    const tooShort = tasks.filter((t) => t.taskTimeout <= t.functionTimeout);
    expect(tooShort).toEqual([]);
  });

  it('every Lambda task retries throttling and Lambda service errors longer, before the catch-all', () => {
    // Act
    const findings = lambdaTasks().map(({ machine, name, state }) => {
      const retry = state.Retry ?? [];
      const service = retry.findIndex((r) => [...SERVICE_ERRORS].every((e) => r.ErrorEquals.includes(e)));
      const catchAll = retry.findIndex((r) => r.ErrorEquals.includes('States.ALL'));
      return {
        task: `${machine}/${name}`,
        before: service >= 0 && service < catchAll,
        more: (retry[service]?.MaxAttempts ?? 0) > (retry[catchAll]?.MaxAttempts ?? 0),
        jitter: retry[service]?.JitterStrategy,
      };
    });

    // Assess
    expect(findings.length).toBeGreaterThanOrEqual(20);
    expect(findings.filter((f) => !f.before || !f.more || f.jitter !== 'FULL')).toEqual([]);
  });

  describe('the merge loop', () => {
    function syncStates(): Record<string, AslState> {
      const sync = Object.values(definitions).find((d) => d.States['MergePartitions'] !== undefined);
      return must(sync, 'the sync state machine').States;
    }

    it('runs the merge Map again over the partitions CheckMerge leaves, until none is left', () => {
      // Prepare
      const states = syncStates();

      // Act
      const start = must(states['StartMerge'], 'StartMerge');
      const map = must(states['MergePartitions'], 'MergePartitions');
      const check = must(states['CheckMerge'], 'CheckMerge');
      const choice = must(states['IsMergeDone'], 'IsMergeDone');

      // Assess: StartMerge → MergePartitions → CheckMerge → IsMergeDone → (MergePartitions | VerifyPartitions)
      expect(start).toMatchObject({
        Type: 'Pass',
        Next: 'MergePartitions',
        ResultPath: '$.mergeLoop',
        Parameters: { 'manifestKey.$': '$.plan.partitionsKey', pass: 1, stalled: 0 },
      });
      expect(map.ItemReader?.Parameters).toMatchObject({ 'Key.$': '$.mergeLoop.manifestKey' });
      expect(map).toMatchObject({ Next: 'CheckMerge', ResultPath: '$.mergePass' });
      expect(check).toMatchObject({ Type: 'Task', Next: 'IsMergeDone', ResultPath: '$.mergeLoop' });
      expect(check.Parameters).toMatchObject({
        action: 'check-merge',
        'pass.$': '$.mergePass',
        'loop.$': '$.mergeLoop',
      });
      expect(choice.Choices).toEqual([
        { Variable: '$.mergeLoop.done', BooleanEquals: false, Next: 'MergePartitions' },
      ]);
      expect(choice.Default).toBe('VerifyPartitions');
      // Reconcile counts every pass's results (the partitions a pass left report in a later one).
      expect(must(states['Reconcile'], 'Reconcile').Parameters?.['merge.$']).toBe('$.mergeLoop.results');
    });

    it('bounds the passes without progress: MergeStalledError is not retried', () => {
      // Act
      const retry = must(syncStates()['CheckMerge'], 'CheckMerge').Retry ?? [];

      // Assess
      expect(retry[0]).toMatchObject({ MaxAttempts: 0 });
      expect(retry[0]?.ErrorEquals).toContain('MergeStalledError');
    });

    it('CheckMerge runs in the reconcile function, which may write the work prefix; the Map reads it', () => {
      // Prepare
      const states = syncStates();
      const fn = must(invokedFunction(must(states['CheckMerge'], 'CheckMerge')), 'CheckMerge function');
      const reconcileFn = must(invokedFunction(must(states['Reconcile'], 'Reconcile')), 'Reconcile function');
      const role = must(
        JSON.stringify(template.toJSON().Resources[fn].Properties.Role).match(
          /"([A-Za-z0-9]+Role[A-Za-z0-9]*)"/,
        )?.[1],
        'role',
      );

      // Act
      const writes = statementsOfRole(template, role).filter(
        (st) =>
          JSON.stringify(st.Action).includes('s3:PutObject') &&
          JSON.stringify(st.Resource).includes('/work/*'),
      );

      // Assess
      expect(fn).toBe(reconcileFn);
      expect(writes.length).toBeGreaterThan(0);
    });
  });

  describe('workerTimeout of SyncStateMachine', () => {
    function machineWith(workerTimeout: Duration | undefined): () => SyncStateMachine {
      const stack = new Stack(newApp(), 'Machine');
      const fn = new lambda.Function(stack, 'Fn', {
        runtime: lambda.Runtime.NODEJS_22_X,
        handler: 'index.handler',
        code: lambda.Code.fromInline('exports.handler = async () => ({})'),
      });
      const props = {
        bucket: new s3.Bucket(stack, 'Bucket'),
        ledger: new dynamodb.Table(stack, 'Ledger', {
          partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
        }),
        planFunction: fn,
        transformFunction: fn,
        mergeFunction: fn,
        verifyFunction: fn,
        mirrorFunction: fn,
        checkRejectsFunction: fn,
        reconcileFunction: fn,
        ...(workerTimeout ? { workerTimeout } : {}),
      };
      return () => new SyncStateMachine(stack, 'Workflow', props);
    }

    it.each([
      [undefined, 65],
      [Duration.seconds(30), 35],
      [Duration.seconds(67), 72],
    ])('accepts %s: the workers’ tasks time out after %d s', (workerTimeout, expected) => {
      // Act
      const machine = machineWith(workerTimeout)();
      const definition = parseDefinition(
        Object.values(
          Template.fromStack(Stack.of(machine)).findResources('AWS::StepFunctions::StateMachine'),
        )[0]?.Properties.DefinitionString,
      );
      const transform = must(
        definition.States['TransformChunks']?.ItemProcessor?.States['TransformChunk'],
        'TransformChunk',
      );

      // Assess
      expect(transform.TimeoutSeconds).toBe(expected);
    });

    it.each([Duration.seconds(68), Duration.minutes(2), Duration.minutes(5)])(
      'refuses %s: its retries would not fit in an EXPRESS child',
      (workerTimeout) => {
        // Act
        const build = machineWith(workerTimeout);

        // Assess
        expect(build).toThrow(
          new RegExp(
            `^workerTimeout of ${workerTimeout.toSeconds()} s is too long: .*use at most 67 seconds$`,
          ),
        );
      },
    );
  });

  describe('lambdaConcurrency (config): the Lambda concurrency crm-sync may use', () => {
    function planConcurrency(lambdaConcurrency?: number, maxConcurrency?: number): unknown {
      const withLimit = { ...structuredClone(config), ...(lambdaConcurrency ? { lambdaConcurrency } : {}) };
      const stack = new CrmSyncStack(newApp(), 'CrmSync', {
        config: withLimit,
        configFile,
        ...(maxConcurrency ? { maxConcurrency } : {}),
      });
      const plan = Object.values(Template.fromStack(stack).findResources('AWS::Lambda::Function')).find(
        (f) => f.Properties.Environment?.Variables?.CRM_SYNC_HANDLER === 'plan',
      );
      return must(plan, 'plan function').Properties.Environment.Variables.CRM_SYNC_MAX_CONCURRENCY;
    }

    it.each([
      ['unset: 500, half the default regional quota', undefined, undefined, '500'],
      ['200', 200, undefined, '200'],
      ['200 with the stack’s maxConcurrency 50', 200, 50, '50'],
      ['200 with the stack’s maxConcurrency 200', 200, 200, '200'],
    ])(
      'bounds the workers Plan sizes each Map to (%s)',
      (_name, lambdaConcurrency, maxConcurrency, expected) => {
        // Act
        const concurrency = planConcurrency(lambdaConcurrency, maxConcurrency);

        // Assess
        expect(concurrency).toBe(expected);
      },
    );

    it('refuses a stack maxConcurrency above it', () => {
      // Act
      const build = () => planConcurrency(200, 300);

      // Assess
      expect(build).toThrow(
        "maxConcurrency must be a whole number from 1 to the config's lambdaConcurrency (200), not 300",
      );
    });
  });
});
