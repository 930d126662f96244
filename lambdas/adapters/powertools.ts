import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';

/** Logger, metrics and tracer, created once and shared by every handler. Never log row content. */
export const logger = new Logger({ serviceName: 'crm-sync' });
export const metrics = new Metrics({ namespace: 'CrmSync', serviceName: 'crm-sync' });
export const tracer = new Tracer({ serviceName: 'crm-sync' });
