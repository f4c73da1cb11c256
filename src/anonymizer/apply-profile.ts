import { elementOf, formatTag, groupOf, isPrivateTag, type DicomDataset, type DicomElement, type Tag } from '../dicom/dataset.js';
import { keywordOfTag } from '../dicom/dictionary.js';
import type { TextScrubber } from './cleaning/text-scrubber.js';
import type { ActionCode, AttributeChange, CleaningPolicy, ProfileOption, PseudonymKey } from './deid-types.js';
import { dummyValue } from './dummy-values.js';
import { resolveAction, rowForTag, type ConfidentialityTable } from './profile/confidentiality-table.js';
import { isSafePrivate } from './profile/safe-private.js';
import { contentItemAction } from './profile/structured-content.js';
import { shiftDA, shiftDT } from './pseudonyms/date-shift.js';
import { remapUid } from './pseudonyms/uid-remap.js';

/** Everything the walk needs; no I/O. `counts`, `warnings` and `changes` are filled in as it goes. */
export interface ProfileContext {
  table: ConfidentialityTable;
  options: ReadonlySet<ProfileOption>;
  key: PseudonymKey;
  shiftDays?: number;
  scrubber: TextScrubber;
  cleaningPolicy: Readonly<Record<string, CleaningPolicy>>;
  counts: Record<string, number>;
  warnings: Set<string>;
  changes?: AttributeChange[];
}

const CONTENT_SEQUENCE = '0040A730';
const FREE_TEXT_VRS = new Set(['LO', 'SH', 'ST', 'LT', 'UT', 'UC']);
const TEMPORAL_VRS = new Set(['DA', 'DT', 'TM']);
/** Code Value, Coding Scheme Designator and Version, Long Code Value (PS3.3 8.8): codes, not descriptors. */
const CODED_VALUE_TAGS = new Set(['00080100', '00080102', '00080103', '00080119']);

/** The combined codes resolve to the least removing choice, which keeps every IOD conformant (Table E.1-1a). */
const COMBINED: Record<string, ActionCode> = { 'Z/D': 'D', 'X/Z': 'Z', 'X/D': 'D', 'X/Z/D': 'D', 'X/Z/U*': 'U' };

/**
 * X/Z sequences that are Type 3 wherever a stored instance holds them, so X/Z ("X unless Z is required") means X:
 * a Type 3 sequence may not be present with zero items. Referenced Study Sequence: General Study Module, PS3.3 C.7.2.1.
 */
const TYPE_3_SEQUENCES: ReadonlySet<Tag> = new Set(['00081110']);

function resolveCombined(action: string, tag: Tag): ActionCode {
  if (action === 'X/Z' && TYPE_3_SEQUENCES.has(tag)) return 'X';
  return COMBINED[action] ?? (action as ActionCode);
}

function count(ctx: ProfileContext, action: string): void {
  ctx.counts[action] = (ctx.counts[action] ?? 0) + 1;
}

function show(element: DicomElement | undefined): string | undefined {
  if (!element) return undefined;
  if (element.vr === 'SQ') return `${element.Value?.length ?? 0} item(s)`;
  return (element.Value ?? [])
    .map((v) => (v instanceof ArrayBuffer || ArrayBuffer.isView(v) ? `<${v.byteLength} bytes>` : typeof v === 'object' && v ? Object.values(v).join('=') : String(v)))
    .join('\\');
}

function note(ctx: ProfileContext, path: string, tag: Tag, action: string, before: DicomElement | undefined, after: DicomElement | undefined): void {
  if (!ctx.changes) return;
  const b = show(before);
  const a = show(after);
  if (action === 'K' && b === a) return;
  ctx.changes.push({ path, name: keywordOfTag(tag) ?? (isPrivateTag(tag) ? 'private' : 'unknown'), action, before: b, after: a });
}

/** Free text under a cleaning policy (Clean Descriptors, Clean Structured Content, Clean Graphics). */
function cleanText(ctx: ProfileContext, tag: Tag, element: DicomElement): DicomElement | undefined {
  const policy = ctx.cleaningPolicy[keywordOfTag(tag) ?? ''] ?? 'scrub';
  if (policy === 'remove') return undefined;
  if (policy === 'empty') return { vr: element.vr, Value: [] };
  const generic = !CODED_VALUE_TAGS.has(tag); // only this data set's identifying values are looked for in a code
  return { vr: element.vr, Value: (element.Value ?? []).map((v) => (typeof v === 'string' ? ctx.scrubber.scrub(v, { generic }) : v)) };
}

/** Dates under Retain Longitudinal Temporal Information with Modified Dates are shifted; otherwise dummies. */
function shiftTemporal(ctx: ProfileContext, element: DicomElement): DicomElement {
  const days = ctx.shiftDays;
  if (days === undefined || element.vr === 'TM') {
    return days === undefined ? { vr: element.vr, Value: dummyValue(element.vr) } : element; // whole-day shift: times stay
  }
  const shift = element.vr === 'DA' ? shiftDA : shiftDT;
  const values = (element.Value ?? []).map((v) => {
    const shifted = shift(String(v ?? ''), days);
    if (shifted === undefined) {
      ctx.warnings.add('an unparseable date was replaced by a dummy');
      return dummyValue(element.vr)[0];
    }
    return shifted;
  });
  return { vr: element.vr, Value: values };
}

function remapUids(ctx: ProfileContext, element: DicomElement): DicomElement {
  return { vr: element.vr, Value: (element.Value ?? []).map((v) => (typeof v === 'string' && v.trim() ? remapUid(ctx.key, v) : v)) };
}

function isCodeItem(item: DicomDataset): boolean {
  return '00080100' in item || '00080119' in item || '00080120' in item;
}

const DUMMY_CODE_ITEM: DicomDataset = {
  '00080100': { vr: 'SH', Value: ['ANONYMIZED'] },
  '00080102': { vr: 'SH', Value: ['99ANOFAIR'] },
  '00080104': { vr: 'LO', Value: ['Anonymized'] },
};

/**
 * Content items of an SR (PS3.3 C.17.3). Under the Basic Profile (D) each item's value is replaced by a dummy;
 * under Clean Structured Content (C) Table E.3.4-1 decides by concept name, and unlisted text is scrubbed.
 */
function cleanContentSequence(ctx: ProfileContext, items: DicomDataset[], mode: 'C' | 'D', path: string): DicomDataset[] {
  const out: DicomDataset[] = [];
  items.forEach((item, index) => {
    const concept = item['0040A043']?.Value?.[0] as DicomDataset | undefined;
    const scheme = String(concept?.['00080102']?.Value?.[0] ?? '');
    const code = String(concept?.['00080100']?.Value?.[0] ?? '');
    let action: ActionCode = mode === 'C' ? (contentItemAction(scheme, code, ctx.options) ?? 'C') : 'D';
    action = COMBINED[action] ?? action;
    const itemPath = `${path}[${index}]`;
    if (action === 'X') {
      count(ctx, 'X');
      note(ctx, itemPath, CONTENT_SEQUENCE, 'X (content item)', { vr: 'SQ', Value: [item] }, undefined);
      return;
    }
    const cleaned = applyProfile(ctx, item, itemPath, true);
    const valueType = String(item['0040A040']?.Value?.[0] ?? '').trim();
    const set = (tag: Tag, element: DicomElement | undefined) => {
      if (!(tag in item)) return;
      if (element) cleaned[tag] = element;
      else delete cleaned[tag];
    };
    if (action === 'K') {
      for (const tag of ['0040A160', '0040A123', '0040A121', '0040A122', '0040A120', '0040A124']) set(tag, item[tag]);
    } else if (action === 'Z') {
      for (const tag of ['0040A160', '0040A123']) set(tag, { vr: item[tag]?.vr ?? 'UT', Value: [] });
    } else if (action === 'D' && valueType === 'TEXT') {
      set('0040A160', { vr: item['0040A160']?.vr ?? 'UT', Value: ['ANONYMIZED'] });
    }
    if (valueType === 'PNAME' && action !== 'K') set('0040A123', { vr: 'PN', Value: dummyValue('PN') });
    count(ctx, action);
    out.push(cleaned);
  });
  return out;
}

/** Apply the profile to one attribute; returns the new element, or undefined to remove it. */
function applyAction(ctx: ProfileContext, action: ActionCode, tag: Tag, element: DicomElement, path: string): DicomElement | undefined {
  const resolved = resolveCombined(action, tag);
  const items = (element.Value ?? []) as DicomDataset[];
  switch (resolved) {
    case 'X':
      return undefined;
    case 'Z':
      return { vr: element.vr, Value: [] };
    case 'K':
      return element.vr === 'SQ' ? { vr: 'SQ', Value: items.map((item, i) => applyProfile(ctx, item, `${path}[${i}]`, false)) } : element;
    case 'U':
      if (element.vr === 'SQ') return { vr: 'SQ', Value: items.map((item, i) => applyProfile(ctx, item, `${path}[${i}]`, false)) };
      return element.vr === 'UI' ? remapUids(ctx, element) : { vr: element.vr, Value: dummyValue(element.vr) };
    case 'D':
      if (element.vr === 'SQ') {
        if (tag === CONTENT_SEQUENCE) return { vr: 'SQ', Value: cleanContentSequence(ctx, items, 'D', path) };
        if (items.length > 0 && items.every(isCodeItem)) return { vr: 'SQ', Value: [{ ...DUMMY_CODE_ITEM }] };
        return { vr: 'SQ', Value: items.map((item, i) => applyProfile(ctx, item, `${path}[${i}]`, true)) };
      }
      if (element.vr === 'UI') return remapUids(ctx, element);
      return { vr: element.vr, Value: dummyValue(element.vr) };
    case 'C':
      if (element.vr === 'SQ') {
        if (tag === CONTENT_SEQUENCE) return { vr: 'SQ', Value: cleanContentSequence(ctx, items, 'C', path) };
        return { vr: 'SQ', Value: items.map((item, i) => applyProfile(ctx, item, `${path}[${i}]`, true)) };
      }
      if (TEMPORAL_VRS.has(element.vr)) return shiftTemporal(ctx, element);
      if (FREE_TEXT_VRS.has(element.vr)) return cleanText(ctx, tag, element);
      if (element.vr === 'PN') return { vr: 'PN', Value: dummyValue('PN') };
      if (element.vr === 'UI') return remapUids(ctx, element);
      if (['OB', 'OW', 'UN', 'OF', 'OD', 'OL', 'OV'].includes(element.vr)) {
        const group = groupOf(tag);
        if ((group >= 0x5000 && group <= 0x501e) || (group >= 0x6000 && group <= 0x601e)) {
          // Overlay and curve bitmaps can hold burned-in text; no cleaner can vouch for them, so they go.
          ctx.warnings.add('overlay or curve data removed under Clean Graphics: no bitmap cleaner');
          return undefined;
        }
        // Binary values under a cleaning option (binary timestamps under Modified Dates, for example): their
        // encoding is not one we can shift, so they keep their length and become zeros, and the IOD keeps them.
        ctx.warnings.add('binary values that could not be cleaned were zeroed');
        return { vr: element.vr, Value: (element.Value ?? []).map((v: ArrayBuffer | ArrayBufferView) => new ArrayBuffer(v.byteLength)) };
      }
      return element; // coded and numeric values hold no free text
    default:
      throw new Error(`unknown action ${String(action)}`); // unreachable: the table is checked at load
  }
}

function creatorOf(dataset: DicomDataset, group: number, block: number): string | undefined {
  const tag = group.toString(16).padStart(4, '0').toUpperCase() + '00' + block.toString(16).padStart(2, '0').toUpperCase();
  const value = dataset[tag]?.Value?.[0];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Apply Table E.1-1 to a data set at one nesting level and, through sequences, to every level below it.
 * `insideCleanedSequence` marks items of a sequence being cleaned or dummied: there, free text that no row of
 * the table governs is scrubbed too, and person names become dummies.
 */
export function applyProfile(ctx: ProfileContext, dataset: DicomDataset, path: string, insideCleanedSequence: boolean): DicomDataset {
  const out: DicomDataset = {};
  const keptPrivateBlocks = new Set<string>();
  const privateCreators: Tag[] = [];
  // Overlay Data (60xx,3000) is removed (X, or C with no bitmap cleaner): the rest of its Overlay Plane goes
  // with it, since an overlay without its data breaks the module (PS3.3 C.9.2).
  const removedOverlayGroups = new Set(
    Object.keys(dataset)
      .filter((t) => groupOf(t) >= 0x6000 && groupOf(t) <= 0x601e && elementOf(t) === 0x3000)
      .map(groupOf),
  );
  for (const tag of Object.keys(dataset).sort()) {
    const element = dataset[tag];
    const here = `${path}${path ? '.' : ''}${formatTag(tag)}`;
    const group = groupOf(tag);
    const elementNumber = elementOf(tag);
    if (group === 0x0002) continue; // File Meta Information is rebuilt, never copied
    if (removedOverlayGroups.has(group)) {
      ctx.warnings.add('overlay groups (60xx) removed with their Overlay Data');
      count(ctx, 'X');
      note(ctx, here, tag, 'X (overlay)', element, undefined);
      continue;
    }
    if (isPrivateTag(tag)) {
      if (elementNumber >= 0x0010 && elementNumber <= 0x00ff) {
        privateCreators.push(tag);
        continue;
      }
      const block = elementNumber >> 8;
      const safe =
        ctx.options.has('retain-safe-private') && elementNumber > 0x00ff && isSafePrivate(group, elementNumber & 0xff, creatorOf(dataset, group, block));
      if (safe) {
        out[tag] = element.vr === 'SQ' ? { vr: 'SQ', Value: (element.Value ?? []).map((item, i) => applyProfile(ctx, item as DicomDataset, `${here}[${i}]`, true)) } : element;
        keptPrivateBlocks.add(`${group}:${block}`);
        count(ctx, 'C');
        note(ctx, here, tag, 'K (safe private)', element, out[tag]);
      } else {
        count(ctx, 'X');
        note(ctx, here, tag, 'X (private)', element, undefined);
      }
      continue;
    }
    const row = rowForTag(ctx.table, tag);
    let result: DicomElement | undefined;
    let action: string;
    if (row) {
      action = resolveAction(row, ctx.options);
      result = applyAction(ctx, action as ActionCode, tag, element, here);
    } else if (group === 0x0004 || elementNumber === 0x0000 || !keywordOfTag(tag)) {
      // Directory records, group lengths and attributes unknown to the data dictionary: unknown means remove.
      action = 'X';
      result = undefined;
      if (group !== 0x0004 && elementNumber !== 0x0000) ctx.warnings.add('attributes unknown to the data dictionary were removed');
    } else if (insideCleanedSequence && FREE_TEXT_VRS.has(element.vr)) {
      action = 'C';
      result = cleanText(ctx, tag, element);
    } else if (insideCleanedSequence && element.vr === 'PN') {
      action = 'D';
      result = { vr: 'PN', Value: dummyValue('PN') };
    } else {
      action = 'K'; // not listed in Table E.1-1: the standard keeps it
      result = applyAction(ctx, 'K', tag, element, here);
    }
    count(ctx, resolveCombined(action, tag));
    note(ctx, here, tag, action, element, result);
    if (result) out[tag] = result;
  }
  for (const tag of privateCreators) {
    if (keptPrivateBlocks.has(`${groupOf(tag)}:${elementOf(tag)}`)) out[tag] = dataset[tag];
    else count(ctx, 'X');
  }
  return out;
}
