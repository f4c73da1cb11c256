import dcmjs from 'dcmjs';
import type { Tag } from './dataset.js';

const { DicomMetaDictionary } = dcmjs.data;

/** dcmjs's pseudo-VRs for attributes whose VR depends on context (PS3.5 Annex A, PS3.6 notes). */
const CONTEXT_VRS: Record<string, string> = { ox: 'OW', xs: 'US', lt: 'OW', up: 'UL' };

interface Entry {
  tag: string;
  vr: string;
  name: string;
}

function entry(tag: Tag): Entry | undefined {
  return DicomMetaDictionary.dictionary[`(${tag.slice(0, 4)},${tag.slice(4)})`] as Entry | undefined;
}

/** The VR the data dictionary gives a tag (needed to read Implicit VR), or undefined for unknown/private tags. */
export function vrOfTag(tag: Tag): string | undefined {
  const vr = entry(tag)?.vr;
  if (!vr || vr === 'na') return undefined;
  return CONTEXT_VRS[vr] ?? vr;
}

/** The attribute keyword (PS3.6), e.g. "PatientName", or undefined. */
export function keywordOfTag(tag: Tag): string | undefined {
  return entry(tag)?.name;
}

/** The tag of a keyword, e.g. "PatientName" -> "00100010", or undefined. */
export function tagOfKeyword(keyword: string): Tag | undefined {
  const e = DicomMetaDictionary.nameMap[keyword] as Entry | undefined;
  return e ? e.tag.replace(/[(),]/g, '').toUpperCase() : undefined;
}
