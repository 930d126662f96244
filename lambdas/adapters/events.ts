import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { eventBridgeClient } from './clients';

/** The source of crm-sync's own events on the account's default bus. */
export const EVENT_SOURCE = 'crm-sync';

/** Puts one crm-sync event on the default bus; an entry EventBridge refuses is an error. */
export async function putEvent(detailType: string, detail: Record<string, unknown>): Promise<void> {
  const out = await eventBridgeClient().send(
    new PutEventsCommand({
      Entries: [{ Source: EVENT_SOURCE, DetailType: detailType, Detail: JSON.stringify(detail) }],
    }),
  );
  if ((out.FailedEntryCount ?? 0) > 0) {
    const entry = out.Entries?.find((e) => e.ErrorCode);
    throw new Error(
      `EventBridge refused the ${detailType} event: ${entry?.ErrorCode} ${entry?.ErrorMessage ?? ''}`,
    );
  }
}
