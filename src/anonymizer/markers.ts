import type { DicomDataset } from '../dicom/dataset.js';
import type { ProfileOption } from './deid-types.js';

/** CID 7050 De-identification Method codes (PS3.16), for the profile and each option (PS3.15 E.1.1, E.3). */
const CODES: Record<'basic' | ProfileOption | 'clean-pixel-data', [string, string]> = {
  basic: ['113100', 'Basic Application Confidentiality Profile'],
  'clean-pixel-data': ['113101', 'Clean Pixel Data Option'],
  'clean-graphics': ['113103', 'Clean Graphics Option'],
  'clean-structured-content': ['113104', 'Clean Structured Content Option'],
  'clean-descriptors': ['113105', 'Clean Descriptors Option'],
  'retain-long-full-dates': ['113106', 'Retain Longitudinal Temporal Information Full Dates Option'],
  'retain-long-modified-dates': ['113107', 'Retain Longitudinal Temporal Information Modified Dates Option'],
  'retain-patient-characteristics': ['113108', 'Retain Patient Characteristics Option'],
  'retain-device-identity': ['113109', 'Retain Device Identity Option'],
  'retain-uids': ['113110', 'Retain UIDs Option'],
  'retain-safe-private': ['113111', 'Retain Safe Private Option'],
  'retain-institution-identity': ['113112', 'Retain Institution Identity Option'],
};

function codeItem([value, meaning]: [string, string]): DicomDataset {
  return {
    '00080100': { vr: 'SH', Value: [value] },
    '00080102': { vr: 'SH', Value: ['DCM'] },
    '00080104': { vr: 'LO', Value: [meaning] },
  };
}

/** The attributes the standard asks a de-identified instance to carry (PS3.15 E.1.1, PS3.3 C.7.1.1, C.7.6.1). */
export function markDeidentified(
  dataset: DicomDataset,
  options: readonly ProfileOption[],
  pixelsCleaned: boolean,
  keyId: string,
): void {
  const applied = [...options].sort();
  const codes = [CODES.basic, ...(pixelsCleaned ? [CODES['clean-pixel-data']] : []), ...applied.map((o) => CODES[o])];
  dataset['00120062'] = { vr: 'CS', Value: ['YES'] };
  // LO values hold at most 64 characters; the method is one value per part.
  dataset['00120063'] = {
    vr: 'LO',
    Value: ['DICOM PS3.15 2026c Basic Profile', ...applied.map((o) => `option ${o}`), 'AnoFAIR Gateway', `key ${keyId}`.slice(0, 64)],
  };
  dataset['00120064'] = { vr: 'SQ', Value: codes.map(codeItem) };
  const temporal = options.includes('retain-long-modified-dates')
    ? 'MODIFIED'
    : options.includes('retain-long-full-dates')
      ? 'UNMODIFIED'
      : 'REMOVED';
  dataset['00280303'] = { vr: 'CS', Value: [temporal] };
  if (pixelsCleaned) dataset['00280301'] = { vr: 'CS', Value: ['NO'] };
}
