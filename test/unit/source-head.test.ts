import type { SourceEncoding } from '../../lambdas/domain/csv';
import { HeaderMismatchError, MalformedFileError } from '../../lambdas/domain/errors';
import { averageRowBytes, chunkBytesFor, sampleRows } from '../../lambdas/domain/sizing';
import {
  bindHeaderText,
  checkHead,
  HEAD_BYTES,
  inspectHead,
  sourceEncoding,
  utf8Head,
} from '../../lambdas/domain/source-head';
import { contactEntity } from './fixtures';

const ENTITY = contactEntity();
const HEADER = 'Id,Email,LastName,LastModifiedDate';
const ROW = '003A,a@example.com,Smith,2024-05-20T07:42:00Z';
const utf16le = (text: string) => Buffer.from(`\ufeff${text}`, 'utf16le');

describe('source head: the encoding an export is read with', () => {
  it.each<[string, string, Buffer, SourceEncoding]>([
    ['configured utf-8', 'utf-8', utf16le(HEADER), 'utf8'],
    ['configured utf-16le', 'utf-16le', Buffer.from(HEADER), 'utf16le'],
    ['configured utf-16be', 'utf-16be', Buffer.from(HEADER), 'utf16be'],
    ['configured windows-1252', 'windows-1252', Buffer.from(HEADER), 'windows1252'],
    ['auto, a UTF-16LE byte-order mark', 'auto', utf16le(HEADER), 'utf16le'],
    ['auto, a UTF-8 byte-order mark', 'auto', Buffer.from(`\ufeff${HEADER}`), 'utf8'],
    ['auto, plain ASCII', 'auto', Buffer.from(HEADER), 'utf8'],
  ])('%s', (_name, encoding, head, expected) => {
    // Prepare
    const entity = contactEntity({}, { source: { encoding } });

    // Act
    const found = sourceEncoding(entity, head);

    // Assess
    expect(found).toBe(expected);
  });
});

describe('source head: the first bytes as UTF-8', () => {
  it.each<[string, Buffer, SourceEncoding, string]>([
    ['UTF-8 as it is', Buffer.from('Id,Email\n'), 'utf8', 'Id,Email\n'],
    ['UTF-16LE transcoded, its byte-order mark dropped', utf16le('Id,Email\n'), 'utf16le', 'Id,Email\n'],
    [
      'UTF-16LE cut to whole 4-byte groups',
      Buffer.concat([Buffer.from('Id,E', 'utf16le'), Buffer.from('m', 'utf16le')]),
      'utf16le',
      'Id,E',
    ],
    ['Windows-1252 transcoded', Buffer.from([0x49, 0x64, 0x2c, 0xe9]), 'windows1252', 'Id,é'],
    [
      'bytes the encoding cannot read: nothing (the full transcode reports them)',
      Buffer.from([0x00, 0xd8, 0x41, 0x00]),
      'utf16le',
      '',
    ],
  ])('%s', async (_name, head, encoding, expected) => {
    // Act
    const utf8 = await utf8Head(head, encoding);

    // Assess
    expect(utf8.toString('utf8')).toBe(expected);
  });
});

describe('source head: a header record bound to the mapping', () => {
  it.each([
    ['a plain header', HEADER, ['Id', 'Email', 'LastName', 'LastModifiedDate']],
    [
      'names trimmed',
      ` Id , Email ,LastName,LastModifiedDate`,
      ['Id', 'Email', 'LastName', 'LastModifiedDate'],
    ],
    [
      'a quoted name',
      `"Id",Email,LastName,LastModifiedDate`,
      ['Id', 'Email', 'LastName', 'LastModifiedDate'],
    ],
  ])('%s', (_name, text, columns) => {
    // Act
    const bound = bindHeaderText({ line: 1, text }, ENTITY, ',');

    // Assess
    expect(bound.columns).toEqual(columns);
  });

  it.each([
    [
      'not valid CSV',
      'Id,"Email"x,LastName,LastModifiedDate',
      MalformedFileError,
      'line 3: the header is not valid CSV (invalid_quote)',
    ],
    [
      'a required column missing',
      'Email,LastName,LastModifiedDate',
      HeaderMismatchError,
      'header is missing required columns: Id',
    ],
  ])('refuses a header that is %s', (_name, text, errorClass, message) => {
    // Act
    const act = () => bindHeaderText({ line: 3, text }, ENTITY, ',');

    // Assess
    expect(act).toThrow(errorClass);
    expect(act).toThrow(message);
  });
});

describe('source head: the first bytes fit the mapping', () => {
  it.each<[string, string, boolean, 'csv' | 'jsonl', string | undefined]>([
    ['a CSV header, comma', `${HEADER}\n${ROW}\n`, true, 'csv', ','],
    ['a CSV header, semicolon', `${HEADER.replaceAll(',', ';')}\n`, true, 'csv', ';'],
    ['a CSV head that ends inside the header: checked after the scan', 'Id,Em', false, 'csv', undefined],
    ['a JSON Lines record with a mapped field', '{"Id":"003A","Other":1}\n', true, 'jsonl', undefined],
    ['a JSON Lines record with a mapped nested field', '{"Email":{"x":1}}\n', true, 'jsonl', undefined],
    ['a JSON Lines head that ends inside the first record', '{"Id":"003A"', false, 'jsonl', undefined],
  ])('%s', (_name, text, wholeFile, format, delimiter) => {
    // Act
    const found = checkHead(Buffer.from(text), wholeFile, format, ENTITY);

    // Assess
    expect(found).toBe(delimiter);
  });

  it.each([
    [
      'a CSV header missing a required column',
      'Email,LastName,LastModifiedDate\n',
      'csv',
      HeaderMismatchError,
      'header is missing required columns: Id',
    ],
    [
      'a CSV header with an unclosed quote',
      '"Id,Email\n',
      'csv',
      MalformedFileError,
      'line 1: quoted field is never closed',
    ],
    [
      'a JSON array',
      '[1]\n',
      'jsonl',
      MalformedFileError,
      'line 1: not JSON Lines: the first record is not a JSON object',
    ],
    [
      'a JSON Lines record of none of the mapped fields',
      '{"Foo":1}\n',
      'jsonl',
      HeaderMismatchError,
      'line 1: the first record has none of the mapped fields (expected some of: Id, Email, LastName, LastModifiedDate; found: Foo)',
    ],
  ] as const)('refuses %s', (_name, text, format, errorClass, message) => {
    // Act
    const act = () => checkHead(Buffer.from(text), true, format, ENTITY);

    // Assess
    expect(act).toThrow(errorClass);
    expect(act).toThrow(message);
  });
});

describe('source head: what the first bytes of an export say', () => {
  it.each([
    [
      'a UTF-8 CSV file',
      'a.csv',
      Buffer.from(`${HEADER}\n${ROW}\n`),
      { encoding: 'utf8', format: 'csv', delimiter: ',' },
    ],
    [
      'a UTF-16LE CSV file, semicolons',
      'a.csv',
      utf16le(`${HEADER.replaceAll(',', ';')}\n${ROW.replaceAll(',', ';')}\n`),
      { encoding: 'utf16le', format: 'csv', delimiter: ';' },
    ],
    [
      'a JSON Lines file by its name',
      'a.jsonl',
      Buffer.from('{"Id":"003A"}\n'),
      { encoding: 'utf8', format: 'jsonl', delimiter: undefined },
    ],
    [
      'a JSON Lines file by its content',
      'inbox/contact/export',
      Buffer.from('{"Id":"003A"}\n'),
      { encoding: 'utf8', format: 'jsonl', delimiter: undefined },
    ],
  ])('%s', async (_name, key, raw, expected) => {
    // Act
    const head = await inspectHead(raw, { key, size: raw.length }, ENTITY);

    // Assess
    expect(head).toMatchObject(expected);
    expect(head.utf8.toString('utf8')).toContain('Id');
  });

  it.each<[string, string, Buffer, 'array' | 'tree']>([
    [
      'a JSON array',
      'inbox/contact/export.json',
      Buffer.from('[\n  {"Id": "003A",\n   "LastName": "Smith"}\n]\n'),
      'array',
    ],
    [
      'a UTF-16 JSON array',
      'inbox/contact/export',
      utf16le('[\n  {"Id": "003A",\n   "LastName": "Smith"}\n]\n'),
      'array',
    ],
    [
      'an sfdx tree file',
      'inbox/contact/Contacts.json',
      Buffer.from(
        '{\n  "records": [\n    {"attributes": {"referenceId": "R1"}, "Id": "003A", "LastName": "Smith"}\n  ]\n}\n',
      ),
      'tree',
    ],
  ])('reads %s as JSON Lines: its head converted, one line per record', async (_name, key, raw, document) => {
    // Act
    const head = await inspectHead(raw, { key, size: raw.length }, ENTITY);

    // Assess
    expect(head).toMatchObject({ format: 'jsonl', document });
    expect(JSON.parse(head.utf8.toString('utf8'))).toMatchObject({ Id: '003A', LastName: 'Smith' });
  });

  it('sizes the chunks by the UTF-8 size of a transcoded object (the head ratio)', async () => {
    // Prepare: a UTF-16 object twice its UTF-8 size, of which only the first bytes are read.
    const text = `${HEADER}\n${`${ROW}\n`.repeat(2000)}`;
    const raw = utf16le(text).subarray(0, HEAD_BYTES);
    const size = 1_000_000_000;

    // Act
    const head = await inspectHead(raw, { key: 'a.csv', size }, ENTITY);

    // Assess
    const rowBytes = averageRowBytes(
      sampleRows(head.utf8, { format: 'csv', wholeFile: false }),
      head.utf8.length,
    );
    expect(head.headRowBytes).toBe(rowBytes);
    expect(head.chunkBytes).toBe(
      chunkBytesFor(Math.round(size * (head.utf8.length / raw.length)), rowBytes, ENTITY),
    );
    expect(head.utf8.length / raw.length).toBeCloseTo(0.5, 2);
  });

  it.each([
    [
      'a gzip file',
      'a.csv',
      Buffer.from([0x1f, 0x8b, 0x08, 0x00]),
      MalformedFileError,
      'binary file, not CSV or JSON Lines: the file is a gzip file',
    ],
    [
      'a NUL in the first line',
      'a.csv',
      Buffer.from('Id,Em\0ail\n'),
      MalformedFileError,
      'a NUL byte at byte offset 5, in the first line',
    ],
    [
      'a header missing a required column',
      'a.csv',
      Buffer.from('Email,LastName,LastModifiedDate\n1,2,3\n'),
      HeaderMismatchError,
      'header is missing required columns: Id',
    ],
    [
      'a JSON array cut off (the whole file)',
      'a.json',
      Buffer.from('[{"Id": "003A"}, {"Id": '),
      MalformedFileError,
      'the JSON array is cut off',
    ],
    [
      'a JSON Lines file whose first record is an array',
      'a.jsonl',
      Buffer.from('[1,2]\n'),
      MalformedFileError,
      'the first record is not a JSON object',
    ],
  ])('refuses %s', async (_name, key, raw, errorClass, message) => {
    // Act
    const act = () => inspectHead(raw, { key, size: raw.length }, ENTITY);

    // Assess
    await expect(act()).rejects.toThrow(errorClass);
    await expect(act()).rejects.toThrow(message);
  });
});
