import fc from 'fast-check';
import { parseRecord } from '../../lambdas/domain/csv';
import { expectEqual } from './expect-equal';

/**
 * parseRecord got a path for one-character delimiters. The reference below is parseRecord as it was
 * before, verbatim but for the name: both must give the same fields or the same reason for any text.
 */
const QUOTE = 0x22;
type ParsedRecord =
  | { ok: true; fields: string[] }
  | { ok: false; reason: 'invalid_quote' | 'unterminated_quote' };

function referenceParseRecord(text: string, delimiter: string): ParsedRecord {
  const fields: string[] = [];
  const n = text.length;
  const dl = delimiter.length;
  if (dl === 0) throw new RangeError('parseRecord: the delimiter must not be empty');
  let i = 0;
  for (;;) {
    if (text.charCodeAt(i) === QUOTE) {
      let value = '';
      let segment = i + 1;
      let from = segment;
      for (;;) {
        const q = text.indexOf('"', from);
        if (q === -1) return { ok: false, reason: 'unterminated_quote' };
        if (text.charCodeAt(q + 1) === QUOTE) {
          value += text.slice(segment, q + 1);
          segment = from = q + 2;
          continue;
        }
        value += text.slice(segment, q);
        i = q + 1;
        break;
      }
      fields.push(value);
      if (i === n) return { ok: true, fields };
      if (!text.startsWith(delimiter, i)) return { ok: false, reason: 'invalid_quote' };
      i += dl;
    } else {
      const d = text.indexOf(delimiter, i);
      if (d === -1) {
        fields.push(i === 0 ? text : text.slice(i));
        return { ok: true, fields };
      }
      fields.push(text.slice(i, d));
      i = d + dl;
    }
  }
}

const DELIMITERS = [',', ';', '\t', '|', '"', 'x', '\u00e9', '::', ', '];
const alphabet = fc.constantFrom(
  'a',
  'b',
  ' ',
  ',',
  ';',
  '\t',
  '|',
  '"',
  '""',
  ':',
  '\r',
  '\n',
  '\r\n',
  'x',
  '\u00e9',
  '王',
  '😀',
  '\ud800',
);
const text = fc.array(alphabet, { maxLength: 30 }).map((a) => a.join(''));

/** Well-formed CSV records: fields quoted or not, with escaped quotes and delimiters inside quotes. */
const field = fc.oneof(
  fc.string({ maxLength: 8 }).filter((s) => !/[",;\t|]/.test(s)),
  fc.array(alphabet, { maxLength: 8 }).map((a) => `"${a.join('').replaceAll('"', '""')}"`),
);
const record = (delimiter: string) =>
  fc.array(field, { minLength: 1, maxLength: 8 }).map((fs) => fs.join(delimiter));

describe('parseRecord equals its previous implementation', () => {
  it('for arbitrary text over a CSV-ish alphabet and any delimiter', () => {
    fc.assert(
      fc.property(text, fc.constantFrom(...DELIMITERS), (t, d) => {
        expectEqual(parseRecord(t, d), referenceParseRecord(t, d));
      }),
      { numRuns: 50_000 },
    );
  });

  it('for well-formed records with quoted fields', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(',', ';', '\t', '|').chain((d) => fc.tuple(fc.constant(d), record(d))),
        ([d, t]) => {
          const expected = referenceParseRecord(t, d);
          expectEqual(parseRecord(t, d), expected);
        },
      ),
      { numRuns: 30_000 },
    );
  });

  it('throws on an empty delimiter, as before', () => {
    expect(() => parseRecord('a,b', '')).toThrow(RangeError);
    expect(() => referenceParseRecord('a,b', '')).toThrow(RangeError);
  });
});
