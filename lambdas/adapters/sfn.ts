import { ExecutionAlreadyExists, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { sfnClient } from './clients';

/**
 * Starts an execution under a name; `started: false` when an execution of that name already exists
 * (a duplicate delivery of the same trigger). A running execution with the same name and input is
 * returned by Step Functions as if started: both cases start nothing new.
 */
export async function startExecution(
  stateMachineArn: string,
  name: string,
  input: unknown,
): Promise<{ started: boolean; executionArn: string }> {
  try {
    const out = await sfnClient().send(
      new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }),
    );
    return { started: true, executionArn: out.executionArn ?? '' };
  } catch (err) {
    if (err instanceof ExecutionAlreadyExists || (err as Error).name === 'ExecutionAlreadyExists') {
      return {
        started: false,
        executionArn: `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`,
      };
    }
    throw err;
  }
}

/** Stops an execution with an error and cause (it ends ABORTED); one that already ended is left. */
export async function stopExecution(executionArn: string, error: string, cause: string): Promise<void> {
  try {
    await sfnClient().send(new StopExecutionCommand({ executionArn, error, cause }));
  } catch (err) {
    if ((err as Error).name !== 'ExecutionDoesNotExist') throw err;
  }
}
