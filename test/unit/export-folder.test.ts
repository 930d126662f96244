import { MalformedFileError } from '../../lambdas/domain/errors';
import {
  type FolderObject,
  folderKeyOf,
  type InboxKey,
  inboxKeyOf,
  parseManifest,
  partsDigest,
  resolveParts,
} from '../../lambdas/domain/export-folder';

const FOLDER = 'inbox/contact/2026-05-02/';
const obj = (name: string, size = 10, etag = `e-${name}`): FolderObject => ({
  key: `${FOLDER}${name}`,
  size,
  etag: `"${etag}"`,
});

describe('export folder: what an inbox key is', () => {
  const cases: ReadonlyArray<[string, InboxKey | undefined]> = [
    ['inbox/contact/a.csv', { kind: 'file' }],
    ['inbox/contact/_SUCCESS', { kind: 'file' }],
    ['inbox/contact/x/_SUCCESS', { kind: 'marker', folder: 'inbox/contact/x/' }],
    ['inbox/contact/x/manifest.json', { kind: 'manifest', folder: 'inbox/contact/x/' }],
    ['inbox/contact/x/part-00000.csv', { kind: 'part', folder: 'inbox/contact/x/' }],
    ['inbox/contact/x/y/_SUCCESS', { kind: 'part', folder: 'inbox/contact/x/' }],
    ['inbox/account/x/_SUCCESS', undefined],
    ['work/contact/x/_SUCCESS', undefined],
  ];
  it.each(cases)('%s', (key, expected) => {
    expect(inboxKeyOf(key, 'contact')).toEqual(expected);
  });
});

describe("export folder: what a key of a dry run's copy is", () => {
  const cases: ReadonlyArray<[string, InboxKey | undefined]> = [
    ['dry-run/contact/a.csv', { kind: 'file' }],
    ['dry-run/contact/x/_SUCCESS', { kind: 'marker', folder: 'dry-run/contact/x/' }],
    ['dry-run/contact/x/manifest.json', { kind: 'manifest', folder: 'dry-run/contact/x/' }],
    ['dry-run/contact/x/part-00000.csv', { kind: 'part', folder: 'dry-run/contact/x/' }],
    ['dry-run/account/x/_SUCCESS', undefined],
    ['inbox/contact/x/_SUCCESS', undefined],
  ];
  it.each(cases)('%s', (key, expected) => {
    expect(folderKeyOf(key, 'contact', 'dry-run/')).toEqual(expected);
  });
});

describe('export folder: manifest parsing', () => {
  it('takes relative and whole keys, sizes and quoted ETags', () => {
    const parts = parseManifest(
      JSON.stringify({ parts: ['a.csv', { key: `${FOLDER}b.csv`, size: 3, etag: '"x"' }] }),
      FOLDER,
    );
    expect(parts).toEqual([
      { key: `${FOLDER}a.csv`, size: undefined, etag: undefined },
      { key: `${FOLDER}b.csv`, size: 3, etag: 'x' },
    ]);
  });

  it("takes a whole key of a dry run's folder as the key, and refuses one of the inbox there", () => {
    const folder = 'dry-run/contact/x/';
    expect(parseManifest(JSON.stringify({ parts: [`${folder}a.csv`, 'b.csv'] }), folder)).toEqual([
      { key: `${folder}a.csv`, size: undefined, etag: undefined },
      { key: `${folder}b.csv`, size: undefined, etag: undefined },
    ]);
    expect(() => parseManifest('{"parts": ["inbox/contact/x/a.csv"]}', folder)).toThrow(
      'dry-run/contact/x/manifest.json: part inbox/contact/x/a.csv is not in the export folder dry-run/contact/x/',
    );
  });

  const malformed: ReadonlyArray<[string, string, RegExp]> = [
    ['bad JSON', '{"parts": [', /manifest\.json: not JSON/],
    ['no parts field', '{}', /parts: .*expected \{"parts"/],
    ['an empty export', '{"parts": []}', /lists no part/],
    ['a part of another entity', '{"parts": ["inbox/account/2026-05-02/a.csv"]}', /not in the export folder/],
    ['a part of another folder', '{"parts": ["../b/a.csv"]}', /not in the export folder/],
    ['a part listed twice', `{"parts": ["a.csv", "${FOLDER}a.csv"]}`, /listed twice/],
    ['the marker as a part', '{"parts": ["_SUCCESS"]}', /not a data file/],
    ['a part that is not a string', '{"parts": [3]}', /parts\.0/],
  ];
  it.each(malformed)('%s is a MalformedFileError', (_, text, message) => {
    const parse = () => parseManifest(text, FOLDER);
    expect(parse).toThrow(MalformedFileError);
    expect(parse).toThrow(message);
  });
});

describe('export folder: the parts of an export', () => {
  const listing = [
    obj('_SUCCESS', 0),
    obj('part-2.csv'),
    obj('.DS_Store'),
    obj('part-1.csv'),
    obj('sub/x.csv'),
  ];

  it('with _SUCCESS: the data files of the folder, in key order', () => {
    expect(resolveParts(FOLDER, listing).map((p) => p.key)).toEqual([
      `${FOLDER}part-1.csv`,
      `${FOLDER}part-2.csv`,
    ]);
    expect(resolveParts(FOLDER, listing)[0]?.etag).toBe('e-part-1.csv');
  });

  it('with a manifest: exactly its parts', () => {
    const manifest = parseManifest('{"parts": ["part-1.csv", {"key": "part-2.csv", "size": 10}]}', FOLDER);
    expect(resolveParts(FOLDER, listing, manifest)).toHaveLength(2);
  });

  it("with a manifest: in the manifest's order (the order a key's rows of one version are ranked in)", () => {
    const manifest = parseManifest('{"parts": ["part-2.csv", "part-1.csv"]}', FOLDER);
    expect(resolveParts(FOLDER, listing, manifest).map((p) => p.key)).toEqual([
      `${FOLDER}part-2.csv`,
      `${FOLDER}part-1.csv`,
    ]);
  });

  const bad: ReadonlyArray<[string, FolderObject[], string | undefined, RegExp]> = [
    ['a missing part', [obj('a.csv')], '["a.csv", "b.csv"]', /part .*b\.csv is missing/],
    ['an extra part', [obj('a.csv'), obj('b.csv')], '["a.csv"]', /does not list: .*b\.csv/],
    [
      'a part of another size',
      [obj('a.csv', 5)],
      '[{"key": "a.csv", "size": 6}]',
      /5 bytes, the manifest says 6/,
    ],
    ['a part of another ETag', [obj('a.csv')], '[{"key": "a.csv", "etag": "zz"}]', /the manifest says zz/],
    ['an empty export (_SUCCESS alone)', [obj('_SUCCESS', 0)], undefined, /has no part/],
    ['an empty part', [obj('a.csv', 0)], undefined, /a\.csv: the part is empty/],
  ];
  it.each(bad)('%s is a MalformedFileError', (_, objects, parts, message) => {
    const manifest = parts === undefined ? undefined : parseManifest(`{"parts": ${parts}}`, FOLDER);
    const resolve = () => resolveParts(FOLDER, objects, manifest);
    expect(resolve).toThrow(MalformedFileError);
    expect(resolve).toThrow(message);
  });
});

describe('export folder: the parts digest', () => {
  const base = resolveParts(FOLDER, [obj('a.csv'), obj('b.csv')]);
  const cases: ReadonlyArray<[string, FolderObject[], boolean]> = [
    ['the same parts, listed in another order', [obj('b.csv'), obj('a.csv')], true],
    ['a changed part', [obj('a.csv'), obj('b.csv', 10, 'other')], false],
    ['an added part', [obj('a.csv'), obj('b.csv'), obj('c.csv')], false],
    ['a removed part', [obj('a.csv')], false],
  ];
  it.each(cases)('%s', (_, objects, same) => {
    expect(partsDigest(resolveParts(FOLDER, objects)) === partsDigest(base)).toBe(same);
  });
});
