import { firstString, type DicomDataset, type DicomFile } from '../dicom/dataset.js';
import { keywordOfTag } from '../dicom/dictionary.js';
import { transferSyntaxOf } from '../dicom/part10.js';
import { AnofairError } from '../errors/anofair-error.js';
import { applyProfile, type ProfileContext } from './apply-profile.js';
import { burnedInReason } from './burned-in-policy.js';
import { LeftoverFinder, TextScrubber } from './cleaning/text-scrubber.js';
import type { DeidOutcome, DeidRecord, DeidentifyOptions, ProfileOption } from './deid-types.js';
import { collectIdentifyingValues } from './identifying-values.js';
import { markDeidentified } from './markers.js';
import { confidentialityTable, resolveAction, rowForTag, STANDARD_EDITION } from './profile/confidentiality-table.js';
import { dateShiftDays } from './pseudonyms/date-shift.js';
import { subjectIdentifier } from './pseudonyms/patient-pseudonym.js';
import { remapUid } from './pseudonyms/uid-remap.js';

/** Our Implementation Class UID (PS3.7 D.3.3.2) and version name, written in every File Meta we create. */
export const IMPLEMENTATION_CLASS_UID = '2.25.33774879862585358169263956592573429517';
export const IMPLEMENTATION_VERSION_NAME = 'ANOFAIR_0_1';

export const DEFAULT_DATE_SHIFT_DAYS = { min: -730, max: 730 } as const;

function checkOptions(options: readonly ProfileOption[]): void {
  if (options.includes('retain-long-full-dates') && options.includes('retain-long-modified-dates')) {
    throw new AnofairError(
      'CONFIG_INVALID',
      'retain-long-full-dates and retain-long-modified-dates exclude each other: choose full dates or shifted dates',
    );
  }
}

/** The patient the pseudonyms and the date shift belong to: Patient ID with its issuer, else name, else study. */
function patientKeyOf(dataset: DicomDataset): string {
  const id = firstString(dataset, '00100020');
  if (id) return `${firstString(dataset, '00100021') ?? ''}|${id}`;
  const name = firstString(dataset, '00100010');
  if (name) return `name|${name}`;
  return `study|${firstString(dataset, '0020000D') ?? ''}`;
}

/**
 * The release check: walks every value of the output, at every nesting level and of every VR (text, codes as whole
 * values, numbers, UIDs, text inside OB/UN; pixel and other bulk data aside), and returns the tag of the first
 * attribute that still holds a strong identifying value of the input (cleaning/release-check.ts says what it matches).
 */
function findLeftover(dataset: DicomDataset, finder: LeftoverFinder): string | undefined {
  return finder.findIn(dataset);
}

function tagName(tag: string): string {
  return `(${tag.slice(0, 4)},${tag.slice(4)})${keywordOfTag(tag) ? ` ${keywordOfTag(tag)}` : ''}`;
}

/**
 * De-identify one instance per PS3.15 Annex E: the Basic Application Level Confidentiality Profile and the
 * selected options, driven by Table E.1-1, with keyed UIDs, subject pseudonyms and date shifts. A pure function:
 * it reads nothing and writes nothing. It fails closed: an instance whose pixels may show identifying text, or
 * whose output still holds an identifying value, is withheld with the reason.
 */
export function deidentify(file: DicomFile, opts: DeidentifyOptions): DeidOutcome {
  checkOptions(opts.options);
  const options = new Set(opts.options);
  const table = confidentialityTable();
  const source = file.dataset;
  const patientKey = patientKeyOf(source);
  const shiftDays = options.has('retain-long-modified-dates')
    ? dateShiftDays(opts.key, patientKey, opts.dateShiftDays ?? DEFAULT_DATE_SHIFT_DAYS)
    : undefined;
  const pixelsCleaned = opts.pixelCleaning === 'applied';

  const record: DeidRecord = {
    standard: `DICOM PS3.15 ${STANDARD_EDITION}` as DeidRecord['standard'],
    profile: 'Basic Application Level Confidentiality Profile',
    options: [...options].sort(),
    keyId: opts.key.id,
    configHash: opts.configHash,
    actions: {},
    pixels: 'unchanged',
    dateShiftDays: shiftDays,
    warnings: [],
  };

  const reason = pixelsCleaned ? undefined : burnedInReason(source, Boolean(file.encapsulatedPixelData), opts.burnedInPresumption);
  if (reason) {
    record.pixels = 'withheld';
    return { status: 'quarantined', reason, record };
  }

  const removed = (tag: string) => {
    const row = rowForTag(table, tag);
    return row ? resolveAction(row, options) !== 'K' : false;
  };
  const identifying = collectIdentifyingValues(source, removed);
  const ctx: ProfileContext = {
    table,
    options,
    key: opts.key,
    shiftDays,
    scrubber: new TextScrubber(identifying),
    cleaningPolicy: opts.cleaningPolicy ?? {},
    counts: record.actions,
    warnings: new Set(),
    changes: opts.explain ? [] : undefined,
  };
  const dataset = applyProfile(ctx, source, '', false);

  // Patient ID (Z/D) and Patient's Name (Z) become the research subject identifier: a dummy the standard allows,
  // and one that stays the same for the patient across studies, days and sites holding the key.
  const subject = subjectIdentifier(opts.key, patientKey.replace(/^[^|]*\|/, ''), opts.subjectLookup);
  if ('00100020' in source || '00080016' in source) dataset['00100020'] = { vr: 'LO', Value: [subject] };
  if ('00100010' in source || '00080016' in source) dataset['00100010'] = { vr: 'PN', Value: [{ Alphabetic: subject }] };
  markDeidentified(dataset, [...options], pixelsCleaned, opts.key.id);
  if (pixelsCleaned) record.pixels = 'cleaned';
  record.warnings = [...ctx.warnings].sort();

  const leftover = findLeftover(dataset, new LeftoverFinder(identifying));
  if (leftover) {
    return {
      status: 'quarantined',
      reason: `an identifying value remains in ${tagName(leftover)} after de-identification`,
      record,
      changes: ctx.changes,
    };
  }

  const sopInstanceUID = firstString(dataset, '00080018');
  const sopClassUID = firstString(dataset, '00080016') ?? firstString(file.meta, '00020002');
  record.sopInstanceUID = sopInstanceUID;
  record.studyInstanceUID = firstString(dataset, '0020000D');
  // A new File Meta Information (PS3.10 7.1): no source, sending or receiving AE titles, no private data.
  const mediaInstance =
    sopInstanceUID ?? (firstString(file.meta, '00020003') ? remapUid(opts.key, firstString(file.meta, '00020003')!) : undefined);
  const meta: DicomDataset = {
    '00020001': { vr: 'OB', Value: [Uint8Array.from([0, 1]).buffer] },
    ...(sopClassUID ? { '00020002': { vr: 'UI', Value: [sopClassUID] } } : {}),
    ...(mediaInstance ? { '00020003': { vr: 'UI', Value: [mediaInstance] } } : {}),
    '00020010': { vr: 'UI', Value: [transferSyntaxOf(file)] },
    '00020012': { vr: 'UI', Value: [IMPLEMENTATION_CLASS_UID] },
    '00020013': { vr: 'SH', Value: [IMPLEMENTATION_VERSION_NAME] },
  };
  return {
    status: 'released',
    file: { meta, dataset, encapsulatedPixelData: file.encapsulatedPixelData, sourceTransferSyntaxUID: file.sourceTransferSyntaxUID },
    record,
    changes: ctx.changes,
  };
}
