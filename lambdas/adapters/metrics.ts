import { Metrics } from '@aws-lambda-powertools/metrics';
import {
  DEFAULT_METRICS_SERVICE,
  METRIC_DIMENSIONS,
  METRICS_NAMESPACE,
  METRICS_SERVICE_ENV,
  type MetricValue,
} from '../domain/run-metrics';

/**
 * Publishes one entity's metrics as one Embedded Metric Format record on stdout (Powertools
 * Metrics), which CloudWatch Logs turns into metrics of the `CrmSync` namespace with the `service`
 * (the stack) and `entity` dimensions. A Metrics instance per call: it reads its settings
 * (POWERTOOLS_METRICS_DISABLED, which the local stack and the tests set) from the environment then.
 */
export function publishMetrics(entity: string, values: readonly MetricValue[]): void {
  const metrics = new Metrics({
    namespace: METRICS_NAMESPACE,
    serviceName: process.env[METRICS_SERVICE_ENV] || DEFAULT_METRICS_SERVICE,
  });
  metrics.addDimension(METRIC_DIMENSIONS.entity, entity);
  for (const m of values) metrics.addMetric(m.name, m.unit, m.value);
  metrics.publishStoredMetrics();
}
