/**
 * JSON documents that hold records: a JSON array of objects (`[{...}, {...}]`) and Salesforce's
 * `sf data export tree` file (`{"records": [{"attributes": {...}, ...}]}`). Plan converts one,
 * streaming, into JSON Lines (one record per line), which the rest of the run reads as any JSON Lines
 * export. Pure domain code: the tokens come from a streaming parser (jsonDocumentLines).
 */
import { Tokenizer, TokenParser, TokenType } from '@streamparser/json';
import { MalformedFileError } from './errors';

/** What a JSON document holds its records in: a top-level array, or the tree format's `records`. */
export type DocumentKind = 'array' | 'tree';

/** Deepest nesting a record's values may have (the record itself is level 1). */
export const MAX_RECORD_DEPTH = 100;

const TREE_HEAD = /^\{\s*"records"\s*:/;

/**
 * The kind of JSON document a UTF-8 head holds, by content: its first non-whitespace character
 * (after a BOM) `[` is an array; `{` followed by the property `"records"` is the tree format, unless
 * the first line is a whole JSON Lines record that has other properties too. Undefined: not a
 * document (CSV, JSON Lines).
 */
export function documentKind(headText: string): DocumentKind | undefined {
  const text = headText.replace(/^\uFEFF/, '').trimStart();
  if (text.startsWith('[')) return 'array';
  if (!TREE_HEAD.test(text)) return undefined;
  const newline = text.search(/[\r\n]/);
  if (newline === -1) return 'tree';
  try {
    const first: unknown = JSON.parse(text.slice(0, newline));
    if (first !== null && typeof first === 'object' && Object.keys(first).some((k) => k !== 'records'))
      return undefined;
  } catch {
    // Not a whole record on the first line: a pretty-printed document.
  }
  return 'tree';
}

/** A token of a JSON text, as a streaming parser reports it (numbers as their text). */
export type JsonToken =
  | { t: 'open'; array: boolean }
  | { t: 'close' }
  | { t: 'key'; name: string }
  | { t: 'scalar'; json: string };

/** An open container: an array, or an object (whose next token is a key, or the value after one). */
interface Frame {
  array: boolean;
  /** It holds a value already: the next one follows a comma. */
  filled: boolean;
}

/**
 * Turns the tokens of a JSON document into JSON Lines: one line per record, the record's text as
 * compact JSON (names and strings as JSON.stringify writes them, numbers as the file wrote them). A
 * record that is not an object becomes its own line (the worker rejects it, `not_an_object`, as for
 * JSON Lines). In the tree format, a record's `attributes` is dropped and its `referenceId` (a
 * string) takes its place as two properties: `referenceId` (`AccountRef1`) and `@referenceId`
 * (`@AccountRef1`, how the export's other records refer to it, so a reference field matches it). Throws MalformedFileError for a document
 * that is not of the kind, or a record nested deeper than MAX_RECORD_DEPTH.
 */
export class RecordLines {
  /** Records written. */
  records = 0;
  private readonly stack: Frame[] = [];
  /** The container depth records sit at: 1 (array) or 2 (tree's records). */
  private readonly recordDepth: number;
  private line = '';
  /** Tree format: the key of the `attributes` property being read. */
  private key: string | undefined;
  /** Tree format: depth where the `attributes` value being skipped began, else -1. */
  private skipFrom = -1;
  private referenceId: string | undefined;
  /** Tree format: the top-level `records` property was seen. */
  private sawRecords = false;
  private ended = false;

  /** The document's end was read. */
  get done(): boolean {
    return this.ended;
  }

  constructor(
    readonly kind: DocumentKind,
    private readonly emit: (line: string) => void,
  ) {
    this.recordDepth = kind === 'array' ? 1 : 2;
  }

  token(tok: JsonToken): void {
    if (this.ended) throw new MalformedFileError(this.describe('has text after its end'));
    const depth = this.stack.length;
    if (depth < this.recordDepth) {
      this.outer(tok, depth);
      return;
    }
    if (depth === this.recordDepth && tok.t === 'close') {
      // The end of the records array (and of an array document).
      this.stack.pop();
      if (this.kind === 'array') this.ended = true;
      return;
    }
    if (this.skipFrom !== -1) {
      this.skipAttributes(tok, depth);
      return;
    }
    const atRecordTop = this.kind === 'tree' && depth === this.recordDepth + 1 && !this.top().array;
    if (tok.t === 'key') {
      if (atRecordTop && tok.name === 'attributes') {
        this.skipFrom = depth;
        return;
      }
      this.comma();
      this.line += `${JSON.stringify(tok.name)}:`;
      return;
    }
    if (tok.t === 'close') {
      const frame = this.stack.pop() as Frame;
      this.line += frame.array ? ']' : '}';
      if (this.stack.length === this.recordDepth) this.endRecord();
      return;
    }
    this.value();
    if (tok.t === 'scalar') {
      this.line += tok.json;
      if (depth === this.recordDepth) this.endRecord();
      return;
    }
    if (depth + 1 - this.recordDepth > MAX_RECORD_DEPTH) {
      throw new MalformedFileError(
        `record ${this.records + 1} of the JSON ${this.noun()} nests values more than ${MAX_RECORD_DEPTH} levels deep`,
      );
    }
    this.line += tok.array ? '[' : '{';
    this.stack.push({ array: tok.array, filled: false });
  }

  /** The document ended: throws when it is cut off. */
  end(): void {
    if (!this.ended)
      throw new MalformedFileError(this.describe('is cut off: it ends before its last record'));
  }

  /** The document's own containers: the array, or the tree's object and its `records` array. */
  private outer(tok: JsonToken, depth: number): void {
    if (depth === 0) {
      if (tok.t !== 'open' || tok.array !== (this.kind === 'array'))
        throw new MalformedFileError(this.describe('is not a JSON document of records'));
      this.stack.push({ array: tok.array, filled: false });
      return;
    }
    // The tree's top-level object: `records` and an array, then its end.
    if (tok.t === 'key') {
      if (tok.name !== 'records' || this.sawRecords)
        throw new MalformedFileError(this.describe(`has a property other than "records"`));
      this.sawRecords = true;
      return;
    }
    if (tok.t === 'close') {
      if (!this.sawRecords) throw new MalformedFileError(this.describe('has no "records" array'));
      this.stack.pop();
      this.ended = true;
      return;
    }
    if (tok.t !== 'open' || !tok.array)
      throw new MalformedFileError(this.describe('has "records" that is not an array'));
    this.stack.push({ array: true, filled: false });
  }

  private skipAttributes(tok: JsonToken, depth: number): void {
    if (depth === this.skipFrom) {
      // The value of `attributes` itself.
      if (tok.t === 'open') this.stack.push({ array: tok.array, filled: false });
      else this.doneAttributes();
      return;
    }
    if (tok.t === 'open') this.stack.push({ array: tok.array, filled: false });
    else if (tok.t === 'close') {
      this.stack.pop();
      if (this.stack.length === this.skipFrom) this.doneAttributes();
    } else if (tok.t === 'key') this.key = depth === this.skipFrom + 1 ? tok.name : undefined;
    else if (depth === this.skipFrom + 1 && this.key === 'referenceId' && tok.json.startsWith('"'))
      this.referenceId = JSON.parse(tok.json) as string;
  }

  private doneAttributes(): void {
    this.skipFrom = -1;
    if (this.referenceId !== undefined) {
      this.comma();
      // As the file writes it, and as the file's other records point at it (`"AccountId": "@Ref1"`).
      this.line += `"referenceId":${JSON.stringify(this.referenceId)},"@referenceId":${JSON.stringify(`@${this.referenceId}`)}`;
      this.referenceId = undefined;
    }
  }

  /** A value starts in the current container (or a record starts). */
  private value(): void {
    const frame = this.top();
    if (this.stack.length === this.recordDepth) {
      frame.filled = true;
      this.line = '';
    } else if (frame.array) this.comma();
  }

  private comma(): void {
    const frame = this.top();
    if (frame.filled) this.line += ',';
    frame.filled = true;
  }

  private endRecord(): void {
    this.emit(this.line);
    this.line = '';
    this.records++;
  }

  private top(): Frame {
    return this.stack[this.stack.length - 1] as Frame;
  }

  private noun(): string {
    return this.kind === 'array' ? 'array' : 'tree file (sf data export tree)';
  }

  /** A one-line problem of the document, naming its kind. */
  describe(problem: string): string {
    return `the JSON ${this.noun()} ${problem}`;
  }
}

/** A tokenizer that keeps each number's text (the lossless reading JSON Lines cells get). */
class TextNumberTokenizer extends Tokenizer {
  numberText = '';
  protected override parseNumber(numberStr: string): number {
    this.numberText = numberStr;
    return 0;
  }
}

/** Bytes of JSON Lines gathered before they are yielded. */
const OUT_BYTES = 256 * 1024;

/**
 * Converts a UTF-8 JSON document of `kind` into JSON Lines, as its bytes come (`write`), one line per
 * record (RecordLines); memory holds one record and one input chunk. Throws MalformedFileError when
 * the document is not valid JSON, is cut off, has text after its end, or is not of the kind.
 */
export class DocumentConverter {
  private out: string[] = [];
  private outBytes = 0;
  private readonly lines: RecordLines;
  private readonly tokenizer = new TextNumberTokenizer();
  private readonly grammar: TokenParser;
  /** Byte offset of the last token (where a grammar error is). */
  private offset = 0;
  private first = true;

  constructor(kind: DocumentKind) {
    this.lines = new RecordLines(kind, (line) => {
      this.out.push(line, '\n');
      this.outBytes += line.length + 1;
    });
    // The library's parser checks the grammar (commas, colons, nesting); it builds one record at a
    // time and drops it (keepStack: false), the lines are written from the tokens.
    this.grammar = new TokenParser({ paths: [kind === 'array' ? '$.*' : '$.records.*'], keepStack: false });
    this.grammar.onValue = () => {};
    /** In an object, after `{` or `,`: the next string is a name. */
    const inObject: boolean[] = [];
    let nameNext = false;
    const lines = this.lines;
    this.tokenizer.onToken = (info) => {
      const { token, value } = info;
      this.offset = info.offset;
      this.grammar.write(info);
      switch (token) {
        case TokenType.LEFT_BRACE:
        case TokenType.LEFT_BRACKET:
          lines.token({ t: 'open', array: token === TokenType.LEFT_BRACKET });
          inObject.push(token === TokenType.LEFT_BRACE);
          nameNext = token === TokenType.LEFT_BRACE;
          break;
        case TokenType.RIGHT_BRACE:
        case TokenType.RIGHT_BRACKET:
          lines.token({ t: 'close' });
          inObject.pop();
          nameNext = false;
          break;
        case TokenType.COMMA:
          nameNext = inObject[inObject.length - 1] === true;
          break;
        case TokenType.COLON:
          nameNext = false;
          break;
        case TokenType.STRING:
          lines.token(
            nameNext ? { t: 'key', name: String(value) } : { t: 'scalar', json: JSON.stringify(value) },
          );
          break;
        case TokenType.NUMBER:
          lines.token({ t: 'scalar', json: this.tokenizer.numberText });
          break;
        case TokenType.TRUE:
          lines.token({ t: 'scalar', json: 'true' });
          break;
        case TokenType.FALSE:
          lines.token({ t: 'scalar', json: 'false' });
          break;
        case TokenType.NULL:
          lines.token({ t: 'scalar', json: 'null' });
          break;
      }
    };
  }

  /** Records converted so far. */
  get records(): number {
    return this.lines.records;
  }

  /** Bytes of JSON Lines waiting to be taken. */
  get pending(): number {
    return this.outBytes;
  }

  /** Feeds the next bytes (a BOM at the start is dropped). */
  write(chunk: Uint8Array): void {
    let bytes = chunk;
    if (this.first && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
    this.first = false;
    try {
      this.tokenizer.write(bytes);
    } catch (err) {
      throw this.invalid(err);
    }
  }

  /** The document ended: throws when it is cut off. */
  end(): void {
    try {
      this.tokenizer.end();
      this.lines.end();
    } catch (err) {
      throw this.invalid(err);
    }
  }

  /** The JSON Lines converted since the last take. */
  take(): Buffer {
    const text = Buffer.from(this.out.join(''));
    this.out = [];
    this.outBytes = 0;
    return text;
  }

  private invalid(err: unknown): MalformedFileError {
    if (err instanceof MalformedFileError) return err;
    const message = err instanceof Error ? err.message : String(err);
    if (this.lines.done)
      return new MalformedFileError(this.lines.describe('has text after its end'), { cause: err });
    if (message.includes('ended in the middle'))
      return new MalformedFileError(this.lines.describe('is cut off: it ends before its last record'), {
        cause: err,
      });
    // The parsers' messages name what they found; say where, never what (it may be personal data).
    const at = /absolute position "(\d+)"/.exec(message)?.[1] ?? String(this.offset);
    return new MalformedFileError(
      this.lines.describe(`is not valid JSON (byte offset ${at} of its UTF-8 text)`),
      {
        cause: err,
      },
    );
  }
}

/**
 * Converts a UTF-8 JSON document of `kind` into JSON Lines, streaming (DocumentConverter), yielded in
 * pieces of about OUT_BYTES. `onRecords` is told the count at the end.
 */
export async function* jsonDocumentLines(
  source: AsyncIterable<Uint8Array>,
  kind: DocumentKind,
  onRecords?: (records: number) => void,
): AsyncGenerator<Buffer> {
  const converter = new DocumentConverter(kind);
  for await (const chunk of source) {
    converter.write(chunk);
    if (converter.pending >= OUT_BYTES) yield converter.take();
  }
  converter.end();
  if (converter.pending > 0) yield converter.take();
  onRecords?.(converter.records);
}

/**
 * The JSON Lines of the records a document's first bytes hold whole (Plan's check of the first
 * record and its sizing read them as a JSON Lines head); `wholeFile`: the head is the whole object,
 * and must be a whole document. Throws MalformedFileError for a problem within the head.
 */
export function documentHeadLines(head: Uint8Array, kind: DocumentKind, wholeFile: boolean): Buffer {
  const converter = new DocumentConverter(kind);
  converter.write(head);
  if (wholeFile) converter.end();
  return converter.take();
}
