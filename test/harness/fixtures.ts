import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../test/fixtures/dicom-public/', import.meta.url));

/** A vendored public DICOM file (test/fixtures/dicom-public, see MANIFEST.md there). */
export function fixture(relative: string): Buffer {
  return readFileSync(`${ROOT}${relative}`);
}

/** UIDs of the fixtures the gateway tests use (read with dcmdump). */
export const FIXTURE_UIDS = {
  'pydicom/CT_small.dcm': {
    study: '1.3.6.1.4.1.5962.1.2.1.20040119072730.12322',
    instance: '1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322',
  },
  'pydicom/MR_small.dcm': {
    study: '1.3.6.1.4.1.5962.1.2.4.20040826185059.5457',
    instance: '1.3.6.1.4.1.5962.1.1.4.1.1.20040826185059.5457',
  },
  'pydicom/CR1_6154_dicomdir.dcm': {
    study: '1.3.6.1.4.1.5962.1.1.0.0.0.1196527414.5534.0.1',
    instance: '1.3.6.1.4.1.5962.1.1.0.0.0.1196527414.5534.0.11',
  },
  'pydicom/JPEG2000.dcm': {
    study: '1.3.6.1.4.1.5962.1.2.8.20040826185059.5457',
    instance: '1.3.6.1.4.1.5962.1.1.8.1.3.20040826185059.5457',
  },
  'pydicom-data/RG1_J2KI.dcm': {
    study: '1.3.6.1.4.1.5962.1.2.9.20040826185059.5457',
    instance: '1.3.6.1.4.1.5962.1.1.9.1.3.20040826185059.5457',
  },
} as const;
