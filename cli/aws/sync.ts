import { Ledger } from '../../lambdas/adapters/ledger';
import { startExecution } from '../../lambdas/adapters/sfn';
import type { CrmSyncConfig } from '../../lambdas/domain/config';
import { syncOrder } from '../../lambdas/domain/sync';
import { scheduledSync } from '../../lambdas/use-cases/scheduled-sync';
import type { LocalSyncResult } from '../../local/sync';
import { type DeployedStack, deployedEntity } from './deployed-stack';
import { followExecution } from './executions';
import { type AwsRunContext, accountOf } from './run';

/**
 * `crm-sync sync --stack`: what each entity's schedule does, now: the newest export of its inbox
 * runs unless the ledger holds its run (the schedule's own use case, lambdas/use-cases/scheduled-sync.ts),
 * and each run started is followed to its end before the next entity's (referenced entities first).
 */
export async function syncOnStack(
  stack: DeployedStack,
  config: CrmSyncConfig,
  options: { entity?: string | undefined },
  ctx: AwsRunContext,
): Promise<LocalSyncResult[]> {
  const names = options.entity === undefined ? syncOrder(config.entities) : [options.entity];
  for (const name of names) deployedEntity(stack, name);
  const ledger = new Ledger(stack.ledgerTable);
  const results: LocalSyncResult[] = [];
  for (const name of names) {
    const started = Date.now();
    const tick = await scheduledSync(
      { entity: name, scheduledTime: new Date(ctx.waiting.now()).toISOString() },
      {
        bucket: stack.bucket,
        config,
        ledger,
        stateMachineArn: () => stack.syncStateMachineArn,
        start: startExecution,
      },
    );
    const base = {
      entity: name,
      key: tick.key,
      runId: tick.runId,
      older: tick.older,
      skipped: tick.skipped,
      incomplete: tick.incomplete,
      uploaded: null,
    };
    if (!tick.executionArn) {
      results.push({ ...base, action: tick.action === 'empty' ? 'empty' : 'up-to-date', run: null });
      continue;
    }
    ctx.onProgress?.(`${name}: running ${tick.key} (execution ${tick.executionArn})`);
    const end = await followExecution(tick.executionArn, {
      onProgress: ctx.onProgress,
      waiting: ctx.waiting,
    });
    const run = await accountOf(stack, name, end, started);
    results.push({ ...base, action: 'ran', run });
  }
  return results;
}
