import { isPrivateTag, type DicomDataset, type PersonName } from '../dicom/dataset.js';
import { keywordOfTag } from '../dicom/dictionary.js';
import { confidentialityTable, rowForTag } from './profile/confidentiality-table.js';

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

/**
 * A strong value as the release check (cleaning/release-check.ts) needs it: it derives its own forms (every
 * spelling of a name, an ID with and without leading zeros or separators, a date in its common formats, a UID
 * whole and inside other UIDs) from these.
 */
export type ReleaseValue =
  /** One component group of a person name (Alphabetic, Ideographic or Phonetic): family, given, middle, prefix, suffix. */
  | { kind: 'name'; components: string[] }
  /** birth: the Patient's Birth Date, also looked for with a two-digit year ("23.09.70"). */
  | { kind: 'date'; ymd: string; birth?: boolean }
  | { kind: 'id'; value: string }
  /** A UID of the input that the profile removes or replaces. */
  | { kind: 'uid'; value: string };

/** One identifying value: where it came from (tag only) and the text forms it may take in free text. */
export interface IdentifyingValue {
  tag: string;
  /** What Clean Descriptors scrubs from free text (text-scrubber.ts). */
  forms: string[];
  /** Strong values (whole names, IDs, full dates, replaced UIDs) are what the release check looks for. */
  strong: boolean;
  /** The strong value itself, for the release check; absent on values that are only scrubbed. */
  release?: ReleaseValue;
}

function dateForms(ymd: string): string[] {
  if (!/^\d{8}$/.test(ymd)) return [];
  const y = ymd.slice(0, 4);
  const m = ymd.slice(4, 6);
  const d = ymd.slice(6, 8);
  return [ymd, `${y}-${m}-${d}`, `${y}/${m}/${d}`, `${y}.${m}.${d}`, `${d}.${m}.${y}`, `${d}/${m}/${y}`, `${m}/${d}/${y}`, `${d}-${m}-${y}`];
}

/** What free text may hold of a name, for Clean Descriptors: its components of 2+ characters and their combinations. */
function nameForms(pn: PersonName): string[] {
  const forms: string[] = [];
  for (const group of [pn.Alphabetic, pn.Ideographic, pn.Phonetic]) {
    if (!group) continue;
    const components = group.split('^').map((c) => c.trim()).filter((c) => c.length >= 2);
    forms.push(...components);
    if (components.length > 1) {
      forms.push(components.join(' '), `${components[1]} ${components[0]}`, `${components[0]}, ${components[1]}`);
    }
  }
  return forms;
}

/** The component groups of a name, each split into its five components (PS3.5 6.2.1). */
function nameGroups(pn: PersonName): string[][] {
  return [pn.Alphabetic, pn.Ideographic, pn.Phonetic]
    .filter((group): group is string => typeof group === 'string' && group.replace(/[\s^]/g, '') !== '')
    .map((group) => group.split('^').map((c) => c.trim()));
}

/**
 * Collect identifying values from a data set at every nesting level. `removed(tag)` says whether the profile
 * removes or replaces that attribute; retained attributes (a Retain option) are not identifying by policy.
 */
export function collectIdentifyingValues(dataset: DicomDataset, removed: (tag: string) => boolean): IdentifyingValue[] {
  const out: IdentifyingValue[] = [];
  // UIDs that an option keeps where Table E.1-1 lists the attribute (Retain UIDs keeps Referenced SOP Instance UID
  // but not the content item's UID (0040,A124)): retained by policy, so not looked for where they recur.
  const retainedUids = new Set<string>();
  const visit = (ds: DicomDataset) => {
    for (const [tag, element] of Object.entries(ds)) {
      const values = element.Value ?? [];
      if (element.vr === 'SQ') {
        for (const item of values) if (item) visit(item as DicomDataset);
        continue;
      }
      if (!removed(tag)) {
        if (element.vr === 'UI' && rowForTag(confidentialityTable(), tag)) {
          for (const v of values) if (typeof v === 'string') retainedUids.add(v.replace(/\0/g, '').trim());
        }
        continue;
      }
      if (element.vr === 'PN') {
        for (const value of values as Array<PersonName | string>) {
          if (!value) continue;
          const pn: PersonName = typeof value === 'string' ? { Alphabetic: value } : value;
          const forms = nameForms(pn);
          if (forms.length) out.push({ tag, forms, strong: false });
          for (const components of nameGroups(pn)) out.push({ tag, forms: [], strong: true, release: { kind: 'name', components } });
        }
      } else if (element.vr === 'DA' || element.vr === 'DT') {
        for (const v of values) {
          const ymd = String(v ?? '').trim().slice(0, 8);
          const forms = dateForms(ymd);
          if (forms.length) out.push({ tag, forms, strong: true, release: { kind: 'date', ymd, ...(tag === '00100030' ? { birth: true } : {}) } });
        }
      } else if (element.vr === 'UI') {
        // Not scrubbed from text (a UID is no descriptor), but a replaced UID must not be left anywhere. Private
        // UIDs are either removed or kept as safe (Table E.3.10-1, where "C" keeps them): never replaced.
        if (isPrivateTag(tag)) continue;
        for (const v of values) {
          const uid = typeof v === 'string' ? v.replace(/\0/g, '').trim() : '';
          if (uid.includes('.')) out.push({ tag, forms: [], strong: true, release: { kind: 'uid', value: uid } });
        }
      } else if (IDENTIFYING_KEYWORDS.has(keywordOfTag(tag) ?? '')) {
        for (const v of values) {
          if (typeof v !== 'string') continue;
          const s = v.trim();
          const keyword = keywordOfTag(tag) ?? '';
          const strong = s.length >= 4 && PATIENT_IDENTIFIER_KEYWORDS.has(keyword);
          if (s.length >= 2) out.push({ tag, forms: [s], strong, ...(strong ? { release: { kind: 'id', value: s } as const } : {}) });
          for (const line of s.split(/[\r\n^,]+/).map((x) => x.trim())) if (line.length >= 4 && line !== s) out.push({ tag, forms: [line], strong: false });
        }
      }
    }
  };
  visit(dataset);
  return retainedUids.size ? out.filter((v) => !(v.release?.kind === 'uid' && retainedUids.has(v.release.value))) : out;
}
