import { failedRunMetrics } from '../../../lambdas/domain/run-metrics';
import { captureEmf } from './support';

let publishMetrics: typeof import('../../../lambdas/adapters/metrics')['publishMetrics'];

beforeAll(async () => {
  ({ publishMetrics } = await import('../../../lambdas/adapters/metrics'));
});

describe('Adapter: metrics (Powertools Metrics, EMF)', () => {
  it.each([
    ['the stack named by CRM_SYNC_STACK_NAME', { CRM_SYNC_STACK_NAME: 'CrmSyncStaging' }, 'CrmSyncStaging'],
    ['crm-sync outside a stack', {}, 'crm-sync'],
  ])('writes FailedRuns with the entity and, as service, %s', async (_what, env, service) => {
    // Act
    const records = await captureEmf(async () => publishMetrics('account', failedRunMetrics()), env);

    // Assess
    expect(records).toEqual([
      {
        _aws: {
          Timestamp: expect.any(Number),
          CloudWatchMetrics: [
            {
              Namespace: 'CrmSync',
              Dimensions: [['service', 'entity']],
              Metrics: [{ Name: 'FailedRuns', Unit: 'Count' }],
            },
          ],
        },
        service,
        entity: 'account',
        FailedRuns: 1,
      },
    ]);
  });

  it('writes nothing while POWERTOOLS_METRICS_DISABLED is true (the local stack, the tests)', async () => {
    // Act
    const records = await captureEmf(async () => publishMetrics('account', failedRunMetrics()), {
      POWERTOOLS_METRICS_DISABLED: 'true',
    });

    // Assess
    expect(records).toEqual([]);
  });
});
