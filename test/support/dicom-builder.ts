import type { DicomDataset, DicomElement, DicomFile } from '../../src/dicom/dataset.js';
import { tagOfKeyword } from '../../src/dicom/dictionary.js';
import { writePart10 } from '../../src/dicom/part10.js';

/**
 * Small data sets for tests, written by keyword so they read like a DICOM dump:
 *   dataset({ PatientName: ['PN', 'Smith^John'], OtherPatientIDsSequence: ['SQ', { PatientID: ['LO', 'X1'] }] })
 * PN strings become their Alphabetic group; SQ values are items in the same notation; binary values are
 * Uint8Arrays. Unknown keywords fail loudly.
 */
export type Spec = Record<string, [string, ...unknown[]]>;

export function dataset(spec: Spec): DicomDataset {
  const out: DicomDataset = {};
  for (const [keyword, [vr, ...values]] of Object.entries(spec)) {
    const tag = /^[0-9A-F]{8}$/.test(keyword) ? keyword : tagOfKeyword(keyword);
    if (!tag) throw new Error(`unknown keyword in a test data set: ${keyword}`);
    out[tag] = element(vr, values);
  }
  return out;
}

function element(vr: string, values: unknown[]): DicomElement {
  if (vr === 'SQ') return { vr, Value: values.map((item) => dataset(item as Spec)) };
  if (vr === 'PN') return { vr, Value: values.map((v) => (typeof v === 'string' ? { Alphabetic: v } : v)) };
  return {
    vr,
    Value: values.map((v) => (v instanceof Uint8Array ? v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength) : v)),
  };
}

export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';

/**
 * Part 10 bytes of a data set, with a File Meta Information built from its SOP Class/Instance UIDs. `meta`
 * adds or replaces meta elements (as a Spec); `preamble` fills the 128-byte preamble (PS3.10 7.1 lets a writer put
 * anything there, which is why a de-identifier must zero it).
 */
export function part10(ds: DicomDataset, options: { meta?: Spec; preamble?: number; transferSyntax?: string } = {}): Uint8Array {
  const meta: DicomDataset = {
    '00020001': { vr: 'OB', Value: [Uint8Array.from([0, 1]).buffer] },
    '00020002': { vr: 'UI', Value: [String(ds['00080016']?.Value?.[0] ?? '')] },
    '00020003': { vr: 'UI', Value: [String(ds['00080018']?.Value?.[0] ?? '')] },
    '00020010': { vr: 'UI', Value: [options.transferSyntax ?? EXPLICIT_VR_LITTLE_ENDIAN] },
    '00020012': { vr: 'UI', Value: ['1.2.826.0.1.3680043.8.498.999'] },
    '00020013': { vr: 'SH', Value: ['SITE_PACS_1'] },
    ...(options.meta ? dataset(options.meta) : {}),
  };
  const file: DicomFile = { meta, dataset: ds };
  const bytes = writePart10(file);
  if (options.preamble !== undefined) bytes.fill(options.preamble, 0, 128);
  return bytes;
}
