import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { STANDARD_EDITION } from './confidentiality-table.js';

/**
 * Table E.3.10-1, Safe Private Attributes: (group, element offset within the block, private creator) that the
 * Retain Safe Private Option may keep. A private attribute is identified by its creator, never by its raw tag,
 * because the block (the xx in ggggxxee) is assigned per data set (PS3.5 7.8.1).
 */
const TABLE = fileURLToPath(new URL(`../../../../src/anonymizer/standard/ps3.15-${STANDARD_EDITION}/annexE_aux_tables_${STANDARD_EDITION}.json`, import.meta.url));

interface SafeRow {
  'Data Element': string;
  'Private Creator': string;
  VR: string;
}

let cached: Set<string> | undefined;

function key(group: number, elementOffset: number, creator: string): string {
  return `${group.toString(16).padStart(4, '0')}:${elementOffset.toString(16).padStart(2, '0')}:${creator.trim().toUpperCase()}`;
}

function safeSet(): Set<string> {
  if (cached) return cached;
  const json = JSON.parse(readFileSync(TABLE, 'utf8')) as { 'table_E.3.10-1': { rows: SafeRow[] } };
  cached = new Set();
  for (const row of json['table_E.3.10-1'].rows) {
    const m = /^\(([0-9A-F]{4}),xx([0-9A-F]{2})\)$/i.exec(row['Data Element'].trim());
    if (!m) throw new Error(`Table E.3.10-1 row has an unexpected Data Element: ${row['Data Element']}`);
    cached.add(key(parseInt(m[1], 16), parseInt(m[2], 16), row['Private Creator']));
  }
  return cached;
}

export function isSafePrivate(group: number, elementOffset: number, creator: string | undefined): boolean {
  if (!creator) return false;
  return safeSet().has(key(group, elementOffset, creator));
}
