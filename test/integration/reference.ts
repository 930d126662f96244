import { readFileSync } from 'node:fs';

/**
 * An independent reference for integration tests: a plain RFC 4180 reader (no shared code with
 * the product) and the winner rule of DESIGN.md, applied to a whole file in memory.
 */
export function readCsv(path: string): Array<{ line: number; cells: string[] }> {
  const text = readFileSync(path, 'utf8').replace(/^\uFEFF/, '');
  const rows: Array<{ line: number; cells: string[] }> = [];
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  let line = 1;
  let start = 1;
  let i = 0;
  const endRow = () => {
    cells.push(cell);
    if (!(cells.length === 1 && cells[0] === '')) rows.push({ line: start, cells });
    cells = [];
    cell = '';
  };
  while (i < text.length) {
    const ch = text[i] as string;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i += 2;
        continue;
      }
      if (ch === '"') quoted = false;
      else {
        if (ch === '\n' || (ch === '\r' && text[i + 1] !== '\n')) line++;
        cell += ch;
      }
      i++;
      continue;
    }
    // RFC 4180: a quote opens a quoted field only as the field's first character.
    if (ch === '"' && cell === '' && (i === 0 || /[,\r\n]/.test(text[i - 1] as string))) quoted = true;
    else if (ch === ',') {
      cells.push(cell);
      cell = '';
    } else if (ch === '\r' || ch === '\n') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      endRow();
      line++;
      start = line;
    } else cell += ch;
    i++;
  }
  if (cell !== '' || cells.length > 0) endRow();
  return rows;
}

/** Winner per Id by (LastModifiedDate, line), skipping rejected lines; deleted winners drop out. */
export function expectedContacts(
  path: string,
  rejectedLines: ReadonlySet<number>,
): Map<string, Record<string, string>> {
  const [header, ...rows] = readCsv(path);
  if (!header) throw new Error('empty file');
  const winners = new Map<
    string,
    { line: number; modified: string; row: Record<string, string>; deleted: boolean }
  >();
  for (const r of rows) {
    if (rejectedLines.has(r.line)) continue;
    const row = Object.fromEntries(header.cells.map((h, i) => [h, r.cells[i] ?? '']));
    const id = row.Id as string;
    const modified = new Date(row.LastModifiedDate as string).toISOString();
    const current = winners.get(id);
    if (!current || modified > current.modified || (modified === current.modified && r.line > current.line)) {
      winners.set(id, { line: r.line, modified, row, deleted: row.IsDeleted === 'true' });
    }
  }
  return new Map([...winners].filter(([, w]) => !w.deleted).map(([id, w]) => [id, w.row]));
}
