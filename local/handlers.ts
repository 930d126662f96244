import { handler as checkRejects } from '../lambdas/handlers/check-rejects';
import { handler as executionStatus } from '../lambdas/handlers/execution-status';
import { handler as merge } from '../lambdas/handlers/merge';
import { handler as mirror } from '../lambdas/handlers/mirror';
import { handler as plan } from '../lambdas/handlers/plan';
import { handler as reconcile } from '../lambdas/handlers/reconcile';
import { handler as restore } from '../lambdas/handlers/restore';
import { handler as scheduledSync } from '../lambdas/handlers/scheduled-sync';
import { handler as snapshot } from '../lambdas/handlers/snapshot';
import { handler as transform } from '../lambdas/handlers/transform';
import { handler as verify } from '../lambdas/handlers/verify';
import type { HandlerName } from '../lib/worker-function';

/** A Lambda handler as the local stack invokes it: an event and a context in, a promise out. */
export type LambdaHandler = (event: unknown, context: unknown) => Promise<unknown>;

const handlers: Record<HandlerName, unknown> = {
  plan,
  transform,
  merge,
  verify,
  mirror,
  'check-rejects': checkRejects,
  reconcile,
  'scheduled-sync': scheduledSync,
  snapshot,
  restore,
  'execution-status': executionStatus,
};

/**
 * The handler of every function, by the name the stack's functions give (lib/worker-function.ts):
 * what the local stack binds a Lambda Task to. The modules make their SDK clients, logger and
 * tracer on first use, so importing them here reads no setting early.
 *
 * (Middy's handler type carries the callback form too: the local stack calls the promise form.)
 */
export const HANDLERS = handlers as Readonly<Record<HandlerName, LambdaHandler>>;
