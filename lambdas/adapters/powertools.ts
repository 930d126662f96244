import { Logger } from '@aws-lambda-powertools/logger';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import { lazyObject } from './lazy';

/**
 * Logger and tracer, created once on first use and shared by every handler. Never log row content.
 * Made on first use, not when this module is loaded: both read their settings (POWERTOOLS_LOG_LEVEL,
 * POWERTOOLS_TRACE_ENABLED) from the environment when they are made, which local mode sets when
 * its stack starts, after the modules are imported.
 */
export const logger: Logger = lazyObject(() => new Logger({ serviceName: 'crm-sync' }));

export const tracer: Tracer = lazyObject(() => {
  // Loaded only now: loading the tracer loads the X-Ray SDK, which picks its context mode then
  // (automatic mode, unless AWS_XRAY_MANUAL_MODE, installs an async hook that tracks every promise).
  const { Tracer: TracerClass } =
    require('@aws-lambda-powertools/tracer') as typeof import('@aws-lambda-powertools/tracer');
  return new TracerClass({ serviceName: 'crm-sync' });
});
