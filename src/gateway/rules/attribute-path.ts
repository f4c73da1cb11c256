import dcmjs from 'dcmjs';
import type { DicomDataset, DicomFile, Tag } from '../../dicom/dataset.js';
import { formatTag } from '../../dicom/dataset.js';
import { didYouMean } from '../config/did-you-mean.js';

const { DicomMetaDictionary } = dcmjs.data;

/** What kind of values a VR holds, which decides the operators a condition may use on it. */
export type ValueKind = 'text' | 'number' | 'date' | 'binary' | 'sequence' | 'unknown';

export interface AttributeStep {
  tag: Tag;
  keyword?: string;
  vr?: string;
}

/**
 * A resolved attribute reference: one attribute, or a path through sequences ("ViewCodeSequence.CodeValue"),
 * where a condition holds when it holds for the attribute in any item.
 */
export interface AttributePath {
  steps: readonly AttributeStep[];
  /** The form a person wrote, for messages. */
  text: string;
  kind: ValueKind;
}

export class AttributePathError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
  }
}

const NUMERIC_VRS = new Set(['US', 'UL', 'SS', 'SL', 'FL', 'FD', 'IS', 'DS', 'SV', 'UV', 'xs', 'up']);
const DATE_VRS = new Set(['DA', 'DT']);
// "ox" is OB or OW, "lt" is US or OW (LUT data), "na" has no value (item delimiters).
const BINARY_VRS = new Set(['OB', 'OW', 'OF', 'OD', 'OL', 'OV', 'UN', 'ox', 'lt', 'na']);

export function valueKindOf(vr: string | undefined): ValueKind {
  if (vr === undefined) return 'unknown';
  if (vr === 'SQ') return 'sequence';
  if (NUMERIC_VRS.has(vr)) return 'number';
  if (DATE_VRS.has(vr)) return 'date';
  if (BINARY_VRS.has(vr)) return 'binary';
  return 'text';
}

const TAG_FORM = /^\(?\s*([0-9A-Fa-f]{4})\s*,\s*([0-9A-Fa-f]{4})\s*\)?$|^([0-9A-Fa-f]{8})$/;
const KEYWORD_FORM = /^[A-Za-z][A-Za-z0-9]*$/;

function resolveStep(text: string): AttributeStep {
  const t = text.trim();
  const tagMatch = TAG_FORM.exec(t);
  if (tagMatch) {
    const tag = (tagMatch[3] ?? `${tagMatch[1]}${tagMatch[2]}`).toUpperCase();
    const entry = DicomMetaDictionary.dictionary[formatTag(tag)];
    return { tag, keyword: entry?.name, vr: entry?.vr };
  }
  if (KEYWORD_FORM.test(t)) {
    const entry = DicomMetaDictionary.nameMap[t];
    if (entry) return { tag: entry.tag.replace(/[(),]/g, '').toUpperCase(), keyword: t, vr: entry.vr };
    throw new AttributePathError(
      `unknown attribute keyword "${t}"`,
      didYouMean(t, Object.keys(DicomMetaDictionary.nameMap)) ??
        'name an attribute by its PS3.6 keyword (e.g. "BodyPartExamined") or by tag (e.g. "(0018,0015)")',
    );
  }
  throw new AttributePathError(
    `"${t}" is neither a PS3.6 keyword nor a tag`,
    'write a keyword such as "Modality" or a tag such as "(0008,0060)"; separate sequence steps with "."',
  );
}

/** Resolve "Modality", "(0018,0015)" or "ViewCodeSequence.CodeValue"; throws AttributePathError with a hint. */
export function resolveAttributePath(text: string): AttributePath {
  if (text.trim() === '') throw new AttributePathError('the attribute is empty', 'write a keyword or a tag');
  const parts = text.split('.');
  const steps = parts.map(resolveStep);
  for (let i = 0; i < steps.length - 1; i++) {
    const step = steps[i]!;
    if (step.vr !== undefined && step.vr !== 'SQ') {
      throw new AttributePathError(
        `${step.keyword ?? formatTag(step.tag)} is not a sequence, so "${parts[i + 1]}" cannot be inside it`,
        'only sequence attributes (VR SQ) can precede a "." in an attribute path',
      );
    }
  }
  if (steps.length > 1 && steps.some((s) => s.tag.startsWith('0002'))) {
    throw new AttributePathError('File Meta Information (group 0002) has no sequences', 'use the tag on its own');
  }
  const last = steps[steps.length - 1]!;
  return { steps, text, kind: valueKindOf(last.vr) };
}

/** A matchable value: text (trimmed), number, or a person name's alphabetic group. Binary values are skipped. */
export type AttributeValue = string | number;

export interface ReachedAttribute {
  /** The element's values, in order; empty when the element is present with no value (type 2). */
  values: AttributeValue[];
  /** Number of items when the element is a sequence. */
  items?: number;
}

function toMatchable(value: unknown): AttributeValue | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'number') return value;
  if (typeof value === 'string') return value.replace(/[\0 ]+$/, '').replace(/^ +/, '');
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'object' && !(value instanceof ArrayBuffer) && !ArrayBuffer.isView(value)) {
    const pn = value as { Alphabetic?: string; Ideographic?: string; Phonetic?: string };
    const text = pn.Alphabetic ?? pn.Ideographic ?? pn.Phonetic;
    return typeof text === 'string' ? text.trim() : undefined;
  }
  return undefined;
}

/** Every element the path reaches in the file (one per sequence item along the way). */
export function reach(file: DicomFile, path: AttributePath): ReachedAttribute[] {
  const first = path.steps[0]!;
  let datasets: DicomDataset[] = [first.tag.startsWith('0002') ? file.meta : file.dataset];
  for (let i = 0; i < path.steps.length - 1; i++) {
    const tag = path.steps[i]!.tag;
    const next: DicomDataset[] = [];
    for (const ds of datasets) {
      for (const item of ds[tag]?.Value ?? []) if (item && typeof item === 'object') next.push(item as DicomDataset);
    }
    datasets = next;
  }
  const tag = path.steps[path.steps.length - 1]!.tag;
  const reached: ReachedAttribute[] = [];
  for (const ds of datasets) {
    const element = ds[tag];
    if (!element) continue;
    if (element.vr === 'SQ') {
      reached.push({ values: [], items: element.Value?.length ?? 0 });
      continue;
    }
    const values: AttributeValue[] = [];
    for (const v of element.Value ?? []) {
      const m = toMatchable(v);
      if (m !== undefined && m !== '') values.push(m);
    }
    reached.push({ values });
  }
  return reached;
}
