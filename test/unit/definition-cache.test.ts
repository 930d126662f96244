import { existsSync, mkdtempSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedDefinitionText } from '../../local/asl';

/** The shared cache of synthesized definitions (CRM_SYNC_DEFINITION_CACHE): one synth per hash. */
describe('sharedDefinitionText', () => {
  const fresh = () => join(mkdtempSync(join(tmpdir(), 'crm-sync-defcache-')), 'cache', 'asl-0123.json');

  it('synthesizes a missing entry once, writes it whole, and reads it on the next call', () => {
    // Prepare
    const file = fresh();
    let synths = 0;
    const synth = () => {
      synths++;
      return '{"definition":{}}';
    };

    // Act
    const first = sharedDefinitionText(file, synth);
    const second = sharedDefinitionText(file, synth);

    // Assess: no lock or temp file is left next to the entry.
    expect([first, second, synths]).toEqual(['{"definition":{}}', '{"definition":{}}', 1]);
    expect(readdirSync(join(file, '..'))).toEqual(['asl-0123.json']);
  });

  it('reads an entry another process wrote without synthesizing', () => {
    // Prepare
    const file = fresh();
    sharedDefinitionText(file, () => '{"a":1}');

    // Act
    const text = sharedDefinitionText(file, () => {
      throw new Error('synthesized again');
    });

    // Assess
    expect(text).toBe('{"a":1}');
  });

  it('takes over the lock of a process that died while synthesizing (a lock older than the wait)', () => {
    // Prepare: a lock file from 10 minutes ago, no entry.
    const file = fresh();
    sharedDefinitionText(join(file, '..', 'other.json'), () => '{}');
    const lock = `${file}.lock`;
    writeFileSync(lock, '');
    const old = new Date(Date.now() - 600_000);
    utimesSync(lock, old, old);

    // Act
    const text = sharedDefinitionText(file, () => '{"b":2}');

    // Assess
    expect(text).toBe('{"b":2}');
    expect(existsSync(lock)).toBe(false);
  });

  it('leaves no entry and frees the lock when the synth fails', () => {
    // Prepare
    const file = fresh();

    // Act
    const run = () =>
      sharedDefinitionText(file, () => {
        throw new Error('the stack has no crm-sync function');
      });

    // Assess
    expect(run).toThrow('the stack has no crm-sync function');
    expect([existsSync(file), existsSync(`${file}.lock`)]).toEqual([false, false]);
  });
});
