import { readFileSync } from 'node:fs';
import { AnofairError } from '../../errors/anofair-error.js';

/**
 * The site's subject lookup table: CSV lines "original Patient ID,subject ID". A header row is recognised by
 * its first line not being data when it names the columns. Errors name the line, never the values.
 */
export function parseSubjectLookup(text: string, source = 'the subject lookup table'): Map<string, string> {
  const map = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const cells = line.split(',').map((c) => c.trim().replace(/^"(.*)"$/, '$1'));
    if (index === 0 && /patient/i.test(cells[0] ?? '') && /subject/i.test(cells[1] ?? '')) return; // header
    if (cells.length !== 2 || !cells[0] || !cells[1]) {
      throw new AnofairError('DEID_LOOKUP', `${source}, line ${index + 1}: expected two columns "original Patient ID,subject ID"`);
    }
    if (map.has(cells[0])) throw new AnofairError('DEID_LOOKUP', `${source}, line ${index + 1}: the same Patient ID appears twice`);
    map.set(cells[0], cells[1]);
  });
  return map;
}

export function loadSubjectLookup(path: string): Map<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new AnofairError('DEID_LOOKUP', `cannot read the subject lookup table ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  return parseSubjectLookup(text, path);
}
