import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LOCAL } from './emulators';

/** One event as EventBridge delivers it to a rule's target. */
export interface LocalEvent {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: unknown;
}

/** Where the local event bus writes: `<stateDir>/events.jsonl`. */
export function eventsFile(stateDir: string): string {
  return join(stateDir, 'events.jsonl');
}

interface PutEventsParams {
  Entries?: Array<{ Source?: string; DetailType?: string; Detail?: string; EventBusName?: string }>;
}

/**
 * The local binding of an `events:putEvents` task: each entry becomes one line of events.jsonl, in
 * the shape a rule target receives. Returns what PutEvents returns.
 */
export function appendEvents(
  stateDir: string,
  params: unknown,
): { Entries: Array<{ EventId: string }>; FailedEntryCount: 0 } {
  const entries = (params as PutEventsParams).Entries ?? [];
  mkdirSync(stateDir, { recursive: true });
  const out: Array<{ EventId: string }> = [];
  for (const e of entries) {
    const event: LocalEvent = {
      version: '0',
      id: randomUUID(),
      'detail-type': e.DetailType ?? '',
      source: e.Source ?? '',
      account: LOCAL.account,
      time: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      region: LOCAL.region,
      resources: [],
      detail: typeof e.Detail === 'string' ? (JSON.parse(e.Detail) as unknown) : (e.Detail ?? {}),
    };
    appendFileSync(eventsFile(stateDir), `${JSON.stringify(event)}\n`);
    out.push({ EventId: event.id });
  }
  return { Entries: out, FailedEntryCount: 0 };
}

/** Every event the local bus received, oldest first. */
export function readEvents(stateDir: string): LocalEvent[] {
  const file = eventsFile(stateDir);
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as LocalEvent);
}
