import type { DicomDataset, PersonName } from '../dicom/dataset.js';
import { keywordOfTag } from '../dicom/dictionary.js';

/**
 * Attributes whose values identify the patient, a person or a place, by PS3.6 keyword (free text such as Patient
 * Comments is not listed: it is cleaned, not used as a value to look for). Their values, with every
 * person name and date in the data set, are what Clean Descriptors scrubs from free text and what the release
 * check looks for in the output. Kept as data so a site can review it.
 */
export const IDENTIFYING_KEYWORDS: ReadonlySet<string> = new Set([
  'PatientID', 'OtherPatientIDs', 'IssuerOfPatientID', 'AccessionNumber', 'StudyID', 'PatientAddress',
  'PatientTelephoneNumbers', 'InstitutionName', 'InstitutionAddress', 'InstitutionalDepartmentName', 'StationName',
  'DeviceSerialNumber', 'MedicalRecordLocator', 'AdmissionID', 'RequestedProcedureID', 'PerformedProcedureStepID',
  'ScheduledProcedureStepID', 'FillerOrderNumberImagingServiceRequest', 'PlacerOrderNumberImagingServiceRequest',
  'MilitaryRank', 'BranchOfService', 'CountryOfResidence', 'RegionOfResidence', 'ReferringPhysicianAddress',
  'ReferringPhysicianTelephoneNumbers', 'PersonAddress', 'PersonTelephoneNumbers', 'ResponsibleOrganization',
  'PatientInsurancePlanCodeSequence', 'OtherPatientNames',
  'ClinicalTrialSubjectID', 'ClinicalTrialSubjectReadingID', 'IssuerOfAdmissionID', 'ServiceEpisodeID',
  'VerifyingOrganization', 'PerformedStationName', 'ScheduledStationName', 'RequestingService',
]);

/**
 * Identifiers of the patient and the visit. Their values are also looked for by the release check; names of
 * institutions, stations and devices are scrubbed from free text but may legitimately recur (a station named
 * after its manufacturer), so they do not stop a release.
 */
export const PATIENT_IDENTIFIER_KEYWORDS: ReadonlySet<string> = new Set([
  'PatientID', 'OtherPatientIDs', 'AccessionNumber', 'MedicalRecordLocator', 'AdmissionID', 'PatientAddress',
  'PatientTelephoneNumbers', 'ClinicalTrialSubjectID', 'ClinicalTrialSubjectReadingID', 'ServiceEpisodeID',
  'FillerOrderNumberImagingServiceRequest', 'PlacerOrderNumberImagingServiceRequest', 'RequestedProcedureID',
]);

/** One identifying value: where it came from (tag only) and the text forms it may take in free text. */
export interface IdentifyingValue {
  tag: string;
  forms: string[];
  /** Strong values (whole names, IDs, full dates) are also looked for by the release check. */
  strong: boolean;
}

function dateForms(ymd: string): string[] {
  if (!/^\d{8}$/.test(ymd)) return [];
  const y = ymd.slice(0, 4);
  const m = ymd.slice(4, 6);
  const d = ymd.slice(6, 8);
  return [ymd, `${y}-${m}-${d}`, `${y}/${m}/${d}`, `${y}.${m}.${d}`, `${d}.${m}.${y}`, `${d}/${m}/${y}`, `${m}/${d}/${y}`, `${d}-${m}-${y}`];
}

function nameForms(pn: PersonName): { forms: string[]; strong: string[] } {
  const forms: string[] = [];
  const strong: string[] = [];
  for (const group of [pn.Alphabetic, pn.Ideographic, pn.Phonetic]) {
    if (!group) continue;
    const components = group.split('^').map((c) => c.trim()).filter((c) => c.length >= 2);
    forms.push(...components);
    if (components.length > 1) {
      forms.push(components.join(' '), `${components[1]} ${components[0]}`, `${components[0]}, ${components[1]}`);
      strong.push(components.join(' '), `${components[1]} ${components[0]}`);
    }
    if (components[0] && components[0].length >= 4) strong.push(components[0]);
  }
  return { forms, strong };
}

/**
 * Collect identifying values from a data set at every nesting level. `removed(tag)` says whether the profile
 * removes or replaces that attribute; retained attributes (a Retain option) are not identifying by policy.
 */
export function collectIdentifyingValues(dataset: DicomDataset, removed: (tag: string) => boolean): IdentifyingValue[] {
  const out: IdentifyingValue[] = [];
  const visit = (ds: DicomDataset) => {
    for (const [tag, element] of Object.entries(ds)) {
      const values = element.Value ?? [];
      if (element.vr === 'SQ') {
        for (const item of values) if (item) visit(item as DicomDataset);
        continue;
      }
      if (!removed(tag)) continue;
      if (element.vr === 'PN') {
        for (const pn of values as PersonName[]) {
          if (!pn) continue;
          const { forms, strong } = nameForms(pn);
          if (forms.length) out.push({ tag, forms, strong: false });
          if (strong.length) out.push({ tag, forms: strong, strong: true });
        }
      } else if (element.vr === 'DA' || element.vr === 'DT') {
        for (const v of values) {
          const ymd = String(v ?? '').trim().slice(0, 8);
          const forms = dateForms(ymd);
          if (forms.length) out.push({ tag, forms, strong: true });
        }
      } else if (IDENTIFYING_KEYWORDS.has(keywordOfTag(tag) ?? '')) {
        for (const v of values) {
          if (typeof v !== 'string') continue;
          const s = v.trim();
          const keyword = keywordOfTag(tag) ?? '';
          if (s.length >= 2) out.push({ tag, forms: [s], strong: s.length >= 4 && PATIENT_IDENTIFIER_KEYWORDS.has(keyword) });
          for (const line of s.split(/[\r\n^,]+/).map((x) => x.trim())) if (line.length >= 4 && line !== s) out.push({ tag, forms: [line], strong: false });
        }
      }
    }
  };
  visit(dataset);
  return out;
}
