import { Logger } from '@aws-lambda-powertools/logger';
import { Tracer } from '@aws-lambda-powertools/tracer';

/** Logger and tracer, created once and shared by every handler. Never log row content. */
export const logger = new Logger({ serviceName: 'crm-sync' });
export const tracer = new Tracer({ serviceName: 'crm-sync' });
