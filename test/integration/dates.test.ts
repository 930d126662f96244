import { readFileSync } from 'node:fs';
import { type CrmSyncConfig, parseConfig } from '../../lambdas/domain/config';
import type { RunSummary } from '../../lambdas/domain/report';
import { runLocalFile } from '../../local/run';
import { useLocalStack } from './support';

/**
 * Integration: a HubSpot/Salesforce-report style export (`2/5/24 1:51`, 2-digit years, no offset)
 * with an entity timezone loads with the right UTC values on the local stack; the day/month order
 * is decided once for the file, and a file that writes both orders fails at Plan.
 */
const CONFIG: CrmSyncConfig = parseConfig({
  entities: {
    deal: {
      target: { key: 'id' },
      timezone: 'America/New_York',
      // A small file with a bad date on purpose: 1 reject in 8 rows is above the default gate.
      maxRejectRatio: 0.5,
      fields: {
        id: { source: 'Record ID', required: true },
        created: { source: 'Create Date', type: 'datetime' },
        closes: { source: 'Close Date', type: 'date' },
        signed: { source: 'Signed', type: 'date' },
        paid: {
          source: 'Paid At',
          type: 'datetime',
          timezone: 'Europe/Berlin',
          formats: ['dd.MM.yyyy HH:mm'],
        },
      },
    },
  },
});

describe('dates and times as CRM exports write them, on the local stack', () => {
  const local = useLocalStack('dates', CONFIG);

  it('reads report-export dates in the configured zone (daylight saving both ways) and decides the order once', async () => {
    // Prepare
    const file = local.write(
      'deals.csv',
      [
        'Record ID,Create Date,Close Date,Paid At,Signed',
        'd1,2/5/24 1:51,2/29/24,24.02.2026 14:18,03/04/24',
        'd2,02/24/26 02:18 AM,12/31/24,,13/02/24',
        'd3,7/4/2024 9:00 PM,1/2/25,01.07.2024 09:00,',
        'd4,3/10/24 2:30,3/10/24,,',
        'd5,11/3/24 1:30,11/3/24,,',
        'd6,2024-02-05 01:51,2024-02-05,,',
        'd7,2017-08-04T09:09:50.000+0000,,,',
        'd8,2/30/24 2:18 PM,,,',
      ].join('\r\n'),
    );

    // Act
    const result = await runLocalFile(local.stack, file, CONFIG, {
      entity: 'deal',
      stateDir: local.stateDir,
    });
    const items = await local.items('deal', { omit: ['_v', '_line', '_run', '_digest'] });
    const summary = JSON.parse(readFileSync(String(result.reports.summary), 'utf8')) as RunSummary;

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(result.counts).toMatchObject({ rows: 8, applied: 7, rejected: 1 });
    expect(result.topReasons).toEqual([{ reason: 'invalid_datetime', count: 1 }]);
    expect(readFileSync(String(result.reports.rejects), 'utf8')).toContain('invalid_datetime:Create Date');
    expect(items).toEqual([
      {
        id: 'd1',
        created: '2024-02-05T06:51:00.000Z',
        closes: '2024-02-29',
        paid: '2026-02-24T13:18:00.000Z',
        signed: '2024-04-03',
      },
      { id: 'd2', created: '2026-02-24T07:18:00.000Z', closes: '2024-12-31', signed: '2024-02-13' },
      {
        id: 'd3',
        created: '2024-07-05T01:00:00.000Z',
        closes: '2025-01-02',
        paid: '2024-07-01T07:00:00.000Z',
      },
      // 02:30 does not exist that night: it moves forward by the gap (03:30 EDT).
      { id: 'd4', created: '2024-03-10T07:30:00.000Z', closes: '2024-03-10' },
      // 01:30 exists twice that night: the earlier (EDT).
      { id: 'd5', created: '2024-11-03T05:30:00.000Z', closes: '2024-11-03' },
      { id: 'd6', created: '2024-02-05T06:51:00.000Z', closes: '2024-02-05' },
      { id: 'd7', created: '2017-08-04T09:09:50.000Z' },
    ]);
    expect(summary.dateOrder).toEqual({
      // Its times have no offset: read in the entity's zone, which the summary names.
      'Create Date': {
        order: 'month-first',
        decidedBy: 'values',
        localTimes: true,
        timezone: 'America/New_York',
      },
      'Close Date': { order: 'month-first', decidedBy: 'values' },
      // Read day-first by every worker: 03/04/24 is 3 April.
      Signed: { order: 'day-first', decidedBy: 'values' },
    });
    expect(summary.dateFormats?.['Create Date']).toContain('M/d/yy h:mm a');
  });

  it('fails at Plan, naming the column and two lines, when the file writes dates both ways', async () => {
    // Prepare
    const file = local.write(
      'mixed.csv',
      ['Record ID,Create Date', 'd1,03/04/24 1:51', 'd2,24/02/26 02:18 AM', 'd3,02/24/26 02:18 AM'].join(
        '\n',
      ),
    );

    // Act
    const result = await runLocalFile(local.stack, file, CONFIG, {
      entity: 'deal',
      stateDir: local.stateDir,
    });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error?.name).toBe('InconsistentDateOrderError');
    expect(result.error?.message).toContain(
      'column Create Date has dates written day-first (line 3) and month-first (line 4)',
    );
    expect(await local.items('deal')).toHaveLength(7);
  });
});
