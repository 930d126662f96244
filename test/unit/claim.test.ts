import { type Admission, admitRun, claimedRef, refuseDryRunCopy } from '../../lambdas/domain/claim';
import { InvalidEventError, RunNotResumableError } from '../../lambdas/domain/errors';
import { DRY_RUN_PREFIX, type RunStatus } from '../../lambdas/domain/run';

const SOURCE = { bucket: 'b', key: 'inbox/contact/a.csv', entity: 'contact' };
const RUN = 'contact-1';

describe('claim: how a trigger is admitted', () => {
  const admitted: ReadonlyArray<
    [
      string,
      { resume?: string; existing?: { status: RunStatus; executionId?: string }; executionId?: string },
      Admission,
    ]
  > = [
    ['a new run', {}, { kind: 'claim' }],
    ['a new run of a named execution', { executionId: 'x1' }, { kind: 'claim' }],
    [
      'a run another trigger claimed',
      { existing: { status: 'RUNNING', executionId: 'x0' }, executionId: 'x1' },
      { kind: 'duplicate', status: 'RUNNING' },
    ],
    [
      'a run claimed by a trigger naming no execution',
      { existing: { status: 'SUCCEEDED' } },
      { kind: 'duplicate', status: 'SUCCEEDED' },
    ],
    [
      'a retried ClaimRun of the same execution',
      { existing: { status: 'RUNNING', executionId: 'x1' }, executionId: 'x1' },
      { kind: 'continue' },
    ],
    [
      'a resume of a failed run',
      { resume: RUN, existing: { status: 'FAILED', executionId: 'x0' }, executionId: 'x1' },
      { kind: 'resume', reopen: true },
    ],
    [
      'a resume of a mismatched run',
      { resume: RUN, existing: { status: 'MISMATCHED' } },
      { kind: 'resume', reopen: true },
    ],
    [
      'a resume retried by its own execution',
      { resume: RUN, existing: { status: 'RUNNING', executionId: 'x1' }, executionId: 'x1' },
      { kind: 'resume', reopen: false },
    ],
  ];

  it.each(admitted)('%s', (_name, { resume, existing, executionId }, expected) => {
    // Act
    const admission = admitRun({ source: { ...SOURCE, resume }, runId: RUN, existing, executionId });

    // Assess
    expect(admission).toEqual(expected);
  });

  const refused: ReadonlyArray<
    [
      string,
      { resume: string; existing?: { status: RunStatus; executionId?: string }; label?: string },
      string,
    ]
  > = [
    [
      'the object or config changed since',
      { resume: 'contact-0', existing: { status: 'FAILED' } },
      'run contact-0 cannot be resumed: s3://b/inbox/contact/a.csv or the config of "contact" changed since it ran (they now make run contact-1); start a new run',
    ],
    [
      'the object changed, named by its label',
      { resume: 'contact-0', label: 'exports/a.csv' },
      'run contact-0 cannot be resumed: exports/a.csv or the config of "contact" changed since it ran (they now make run contact-1); start a new run',
    ],
    ['the run is not in the ledger', { resume: RUN }, 'run contact-1 is not in the ledger'],
    [
      'the run succeeded',
      { resume: RUN, existing: { status: 'SUCCEEDED' } },
      'run contact-1 is SUCCEEDED: only a failed run can be resumed',
    ],
    [
      'the run is running in another execution',
      { resume: RUN, existing: { status: 'RUNNING', executionId: 'x0' } },
      'run contact-1 is RUNNING: only a failed run can be resumed',
    ],
  ];

  it.each(refused)('refuses a resume when %s', (_name, { resume, existing, label }, message) => {
    // Act
    const act = () =>
      admitRun({
        source: { ...SOURCE, resume, ...(label ? { label } : {}) },
        runId: RUN,
        existing,
        executionId: 'x1',
      });

    // Assess
    expect(act).toThrow(RunNotResumableError);
    expect(act).toThrow(message);
  });
});

describe('claim: a dry run copy is never loaded', () => {
  it.each([
    ['a real run of an inbox file', { key: 'inbox/contact/a.csv' }, false],
    ['a dry run of a dry run copy', { key: `${DRY_RUN_PREFIX}contact/a.csv`, dryRun: true }, false],
    ['a real run of a dry run copy', { key: `${DRY_RUN_PREFIX}contact/a.csv` }, true],
    [
      'an explicit real run of a dry run copy',
      { key: `${DRY_RUN_PREFIX}contact/a.csv`, dryRun: false },
      true,
    ],
  ])('%s', (_name, source, refused) => {
    // Act
    const act = () => refuseDryRunCopy({ entity: 'contact', ...source });

    // Assess
    if (refused) {
      expect(act).toThrow(InvalidEventError);
      expect(act).toThrow(`only a dry run may read it; put the export under inbox/contact/ to load it`);
    } else {
      expect(act).not.toThrow();
    }
  });
});

describe('claim: the run source the ledger records', () => {
  it.each([
    [
      'a versioned object',
      { bucket: 'b', key: 'k' },
      { versionId: 'v1', etag: 'e' },
      { bucket: 'b', key: 'k', versionId: 'v1', etag: 'e' },
    ],
    [
      'an unversioned object',
      { bucket: 'b', key: 'k' },
      { versionId: undefined, etag: 'e' },
      { bucket: 'b', key: 'k', versionId: undefined, etag: 'e' },
    ],
    [
      'a labelled file',
      { bucket: 'b', key: 'k', label: 'a.csv' },
      { etag: 'e' },
      { bucket: 'b', key: 'k', versionId: undefined, etag: 'e', label: 'a.csv' },
    ],
    [
      'an empty label',
      { bucket: 'b', key: 'k', label: '' },
      { etag: 'e' },
      { bucket: 'b', key: 'k', versionId: undefined, etag: 'e' },
    ],
  ])('%s', (_name, source, head, expected) => {
    // Act
    const ref = claimedRef(source, head);

    // Assess
    expect(ref).toStrictEqual(expected);
  });
});
