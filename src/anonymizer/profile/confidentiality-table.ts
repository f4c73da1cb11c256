import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { groupOf, elementOf, isPrivateTag, normalizeTag, type Tag } from '../../dicom/dataset.js';
import type { ActionCode, ProfileOption } from '../deid-types.js';

/**
 * Table E.1-1 of PS3.15 2026c, read as data (vendored from NEMA's DocBook source, see SOURCE.md beside it).
 * The engine looks attributes up here and nowhere else: adding an edition is adding a file.
 */
export const STANDARD_EDITION = '2026c';
const TABLE_DIR = fileURLToPath(new URL(`../../../../src/anonymizer/standard/ps3.15-${STANDARD_EDITION}/`, import.meta.url));

/** Table columns of the options, in the standard's order. */
export const OPTION_COLUMNS: Record<ProfileOption, string> = {
  'retain-safe-private': 'rtnSafePrivOpt',
  'retain-uids': 'rtnUIDsOpt',
  'retain-device-identity': 'rtnDevIdOpt',
  'retain-institution-identity': 'rtnInstIdOpt',
  'retain-patient-characteristics': 'rtnPatCharsOpt',
  'retain-long-full-dates': 'rtnLongFullDatesOpt',
  'retain-long-modified-dates': 'rtnLongModifDatesOpt',
  'clean-descriptors': 'cleanDescOpt',
  'clean-structured-content': 'cleanStructContOpt',
  'clean-graphics': 'cleanGraphOpt',
};

export interface TableRow {
  name: string;
  tag: string;
  retired: 'Y' | 'N';
  inStdCompIOD: 'Y' | 'N';
  basicProfile: ActionCode;
  [column: string]: string;
}

const ACTION_CODES: ReadonlySet<string> = new Set(['D', 'Z', 'X', 'K', 'C', 'U', 'Z/D', 'X/Z', 'X/D', 'X/Z/D', 'X/Z/U*']);

export interface ConfidentialityTable {
  edition: string;
  rows: TableRow[];
  /** Rows for single tags. */
  byTag: Map<Tag, TableRow>;
  curveData: TableRow;
  overlayData: TableRow;
  overlayComments: TableRow;
  privateAttributes: TableRow;
}

function loadTable(): ConfidentialityTable {
  const json = JSON.parse(readFileSync(`${TABLE_DIR}table_E.1-1_${STANDARD_EDITION}.json`, 'utf8')) as {
    meta: { edition: string };
    rows: TableRow[];
  };
  const byTag = new Map<Tag, TableRow>();
  const masked: Record<string, TableRow> = {};
  for (const row of json.rows) {
    // Recipes are checked when they load: an action code the engine does not know fails the start.
    for (const [column, value] of Object.entries(row)) {
      if ((column === 'basicProfile' || column.endsWith('Opt')) && !ACTION_CODES.has(value)) {
        throw new Error(`Table E.1-1 row "${row.name}" has unknown action "${value}" in column ${column}`);
      }
    }
    if (/x|g/i.test(row.tag.replace(/^\(/, '').slice(0, 9)) && !/^\([0-9A-F]{4},[0-9A-F]{4}\)$/i.test(row.tag)) {
      masked[row.tag] = row;
      continue;
    }
    byTag.set(normalizeTag(row.tag), row);
  }
  const need = (key: string) => {
    const row = masked[key];
    if (!row) throw new Error(`Table E.1-1 has no row ${key}`);
    return row;
  };
  return {
    edition: json.meta.edition,
    rows: json.rows,
    byTag,
    curveData: need('(50xx,xxxx)'),
    overlayData: need('(60xx,3000)'),
    overlayComments: need('(60xx,4000)'),
    privateAttributes: need('(gggg,eeee) where gggg is odd'),
  };
}

let cached: ConfidentialityTable | undefined;
export function confidentialityTable(): ConfidentialityTable {
  cached ??= loadTable();
  return cached;
}

/** The row that governs a tag, including the repeating groups and private attributes; undefined if none. */
export function rowForTag(table: ConfidentialityTable, tag: Tag): TableRow | undefined {
  const exact = table.byTag.get(tag);
  if (exact) return exact;
  const group = groupOf(tag);
  if (isPrivateTag(tag)) return table.privateAttributes;
  if (group >= 0x5000 && group <= 0x501e) return table.curveData;
  if (group >= 0x6000 && group <= 0x601e) {
    const element = elementOf(tag);
    if (element === 0x3000) return table.overlayData;
    if (element === 0x4000) return table.overlayComments;
  }
  return undefined;
}

/**
 * The action for a row under the selected options (PS3.15 E.3: an option's column overrides the Basic Profile).
 * Where two selected options disagree (Retain Device Identity K vs Modified Dates C on device dates, for
 * example), cleaning wins: a date left unshifted beside shifted ones would reveal the shift.
 */
export function resolveAction(row: TableRow, options: ReadonlySet<ProfileOption>): ActionCode {
  let chosen: ActionCode | undefined;
  for (const option of options) {
    const action = row[OPTION_COLUMNS[option]] as ActionCode | undefined;
    if (!action) continue;
    if (chosen === undefined || action === 'C') chosen = action;
  }
  return chosen ?? row.basicProfile;
}
