import { firstString, type DicomDataset } from '../dicom/dataset.js';

/**
 * Fail closed on pixels: an instance whose pixels may carry identifying text is not released unless pixel
 * cleaning ran. Burned In Annotation (0028,0301) = YES says so; where it is absent, the modalities and SOP
 * classes that usually burn text in (ultrasound, secondary capture, endoscopy and photography, angiography
 * screens, scanned documents) are presumed to.
 */
export const BURNED_IN_RISK_MODALITIES: ReadonlySet<string> = new Set(['US', 'OT', 'SC', 'XC', 'ES', 'GM', 'XA', 'RF', 'DOC', 'IVUS', 'OP', 'SM']);

/** SOP Class UID prefixes: Secondary Capture family, VL (visible light) and video, Ultrasound. */
const RISKY_SOP_CLASS_PREFIXES = ['1.2.840.10008.5.1.4.1.1.7', '1.2.840.10008.5.1.4.1.1.77.', '1.2.840.10008.5.1.4.1.1.6.', '1.2.840.10008.5.1.4.1.1.3.'];

export function hasPixelData(dataset: DicomDataset, encapsulated: boolean): boolean {
  return encapsulated || '7FE00010' in dataset || '7FE00008' in dataset || '7FE00009' in dataset;
}

/** Which instances without Burned In Annotation are presumed to carry burned-in text; a site may narrow it. */
export interface BurnedInPresumption {
  modalities: readonly string[];
  sopClassPrefixes: readonly string[];
}

export const DEFAULT_BURNED_IN_PRESUMPTION: BurnedInPresumption = {
  modalities: [...BURNED_IN_RISK_MODALITIES],
  sopClassPrefixes: RISKY_SOP_CLASS_PREFIXES,
};

/** The reason to withhold the instance, or undefined when its pixels may be released unchanged. */
export function burnedInReason(
  dataset: DicomDataset,
  encapsulated: boolean,
  presumption: BurnedInPresumption = DEFAULT_BURNED_IN_PRESUMPTION,
): string | undefined {
  if (dataset['00420011']) {
    return 'the instance encapsulates a document (0042,0011) whose content cannot be verified free of identifying information';
  }
  if (!hasPixelData(dataset, encapsulated)) return undefined;
  const burnedIn = (firstString(dataset, '00280301') ?? '').toUpperCase();
  if (burnedIn === 'YES') return 'Burned In Annotation (0028,0301) is YES and no pixel cleaning is configured';
  if (burnedIn === 'NO') return undefined;
  const modality = (firstString(dataset, '00080060') ?? '').toUpperCase();
  if (presumption.modalities.includes(modality)) {
    return `Burned In Annotation (0028,0301) is absent on a ${modality} instance, which often carries burned-in text, and no pixel cleaning is configured`;
  }
  const sopClass = firstString(dataset, '00080016') ?? '';
  if (presumption.sopClassPrefixes.some((p) => sopClass.startsWith(p))) {
    return `Burned In Annotation (0028,0301) is absent on SOP class ${sopClass}, which often carries burned-in text, and no pixel cleaning is configured`;
  }
  return undefined;
}
