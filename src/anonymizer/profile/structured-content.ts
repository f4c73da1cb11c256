import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ActionCode, ProfileOption } from '../deid-types.js';
import { STANDARD_EDITION } from './confidentiality-table.js';

/**
 * Table E.3.4-1: actions on SR content items by their Concept Name Code, for the Clean Structured Content Option.
 */
const TABLE = fileURLToPath(new URL(`../../../../src/anonymizer/standard/ps3.15-${STANDARD_EDITION}/annexE_aux_tables_${STANDARD_EDITION}.json`, import.meta.url));

const COLUMN_OF_OPTION: Partial<Record<ProfileOption, string>> = {
  'retain-uids': 'Rtn. UIDs Opt.',
  'retain-device-identity': 'Rtn. Dev. Id. Opt.',
  'retain-institution-identity': 'Rtn. Inst. Id. Opt.',
  'retain-patient-characteristics': 'Rtn. Pat. Chars. Opt.',
  'retain-long-full-dates': 'Rtn. Long. Full Dates Opt.',
  'retain-long-modified-dates': 'Rtn. Long. Modif. Dates Opt.',
  'clean-descriptors': 'Clean Desc. Opt.',
};

type Row = Record<string, string>;
let cached: Map<string, Row> | undefined;

function rows(): Map<string, Row> {
  if (cached) return cached;
  const json = JSON.parse(readFileSync(TABLE, 'utf8')) as { 'table_E.3.4-1': { rows: Row[] } };
  cached = new Map();
  for (const row of json['table_E.3.4-1'].rows) {
    cached.set(`${row['Coding Scheme Designator']}:${row['Code Value']}`, row);
  }
  return cached;
}

/** The action for a content item with this concept name, or undefined when the table does not list it. */
export function contentItemAction(scheme: string, code: string, options: ReadonlySet<ProfileOption>): ActionCode | undefined {
  const row = rows().get(`${scheme}:${code}`);
  if (!row) return undefined;
  let chosen: string | undefined;
  for (const option of options) {
    const column = COLUMN_OF_OPTION[option];
    const action = column ? row[column] : undefined;
    if (action && (chosen === undefined || action === 'C')) chosen = action;
  }
  return (chosen ?? row['Basic Prof.']) as ActionCode;
}
