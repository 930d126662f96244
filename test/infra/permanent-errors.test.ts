import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import type { Workflow } from '../../lambdas/domain/errors';
import { ERROR_CLASSES, permanentErrorNames } from '../../lambdas/domain/permanent-errors';
import { CrmSyncStack } from '../../lib/crm-sync-stack';
import { type AslState, config, configFile, logicalId, must, newApp } from './support';

type Retry = NonNullable<AslState['Retry']>[number];

/** Every state of the definition, those inside a Map's ItemProcessor too. */
function statesOf(states: Record<string, AslState>): Array<[string, AslState]> {
  return Object.entries(states).flatMap(
    ([name, s]): Array<[string, AslState]> => [
      [name, s],
      ...(s.ItemProcessor ? statesOf(s.ItemProcessor.States) : []),
    ],
  );
}

describe('the permanent errors (a Retry with MaxAttempts 0) come from the error classes', () => {
  let definitions: Record<'run' | 'snapshot' | 'restore', Record<string, AslState>>;

  beforeAll(() => {
    const stack = new CrmSyncStack(newApp(), 'CrmSync', { config, configFile });
    const template = Template.fromStack(stack);
    const states = (machine: IConstruct): Record<string, AslState> => {
      const resource = must(template.toJSON().Resources[logicalId(stack, machine)], 'state machine');
      const [separator, parts] = resource.Properties.DefinitionString['Fn::Join'] as [string, unknown[]];
      return JSON.parse(parts.map((p) => (typeof p === 'string' ? p : '#TOKEN')).join(separator)).States;
    };
    definitions = {
      run: states(stack.workflow.stateMachine),
      snapshot: states(stack.backup.snapshotMachine),
      restore: states(stack.backup.restoreMachine),
    };
  });

  const machines: Array<['run' | 'snapshot' | 'restore', Workflow]> = [
    ['run', 'run'],
    ['snapshot', 'backup'],
    ['restore', 'backup'],
  ];

  it.each(machines)(
    '%s: every task that skips retries skips every permanent error of its machine',
    (machine, workflow) => {
      // Prepare
      const permanent = permanentErrorNames(workflow);

      // Act
      const noRetries = statesOf(definitions[machine])
        .map(([name, s]) => [name, (s.Retry ?? []).filter((r: Retry) => r.MaxAttempts === 0)] as const)
        .filter(([, retries]) => retries.length > 0);

      // Assess
      expect(noRetries.length).toBeGreaterThan(0);
      for (const [name, retries] of noRetries) {
        expect({ name, errors: retries.flatMap((r) => r.ErrorEquals).sort() }).toEqual({
          name,
          errors: permanent,
        });
      }
    },
  );

  it.each(machines)('%s: no retryable error class is left unretried', (machine) => {
    // Prepare
    const retryable = ERROR_CLASSES.filter((c) => c.permanentIn.length === 0).map((c) => c.name);

    // Act
    const unretried = statesOf(definitions[machine]).flatMap(([, s]) =>
      (s.Retry ?? []).filter((r) => r.MaxAttempts === 0).flatMap((r) => r.ErrorEquals),
    );

    // Assess
    expect(retryable).toEqual(expect.arrayContaining(['EntityBusyError', 'WriteRetriesExhaustedError']));
    expect(unretried.filter((e) => retryable.includes(e))).toEqual([]);
  });

  it.each<[Workflow, string[]]>([
    [
      'run',
      [
        'ConfigError',
        'EmptyExportError',
        'HeaderMismatchError',
        'InconsistentDateOrderError',
        'InvalidEventError',
        'KeyCollisionError',
        'LockLostError',
        'MalformedFileError',
        'MergeStalledError',
        'MirrorDeleteLimitError',
        'PlanLimitError',
        'RejectLimitError',
        'RunNotResumableError',
        'UnknownEntityError',
      ],
    ],
    [
      'backup',
      [
        'ConfigError',
        'InvalidEventError',
        'InvalidSnapshotError',
        'RestoreMismatchError',
        'SnapshotCorruptError',
        'SnapshotExistsError',
        'TargetNotEmptyError',
        'UnknownEntityError',
      ],
    ],
  ])('%s: the permanent errors are these names (the state machine catches by name)', (workflow, names) => {
    // Act
    const permanent = permanentErrorNames(workflow);

    // Assess
    expect(permanent).toEqual(names);
  });
});
