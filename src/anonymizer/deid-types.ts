import type { DicomFile } from '../dicom/dataset.js';
import type { PixelRecord } from './pixel/cxr-anofair.js';

/**
 * PS3.15 Annex E options, by the kebab-case form of the standard's names (Table E.1-1 column order).
 * "clean-pixel-data" and "clean-recognizable-visual-features" belong to the pixel pipeline.
 */
export const PROFILE_OPTIONS = [
  'retain-safe-private',
  'retain-uids',
  'retain-device-identity',
  'retain-institution-identity',
  'retain-patient-characteristics',
  'retain-long-full-dates',
  'retain-long-modified-dates',
  'clean-descriptors',
  'clean-structured-content',
  'clean-graphics',
] as const;
export type ProfileOption = (typeof PROFILE_OPTIONS)[number];

/** The action codes of Table E.1-1a. */
export type ActionCode = 'D' | 'Z' | 'X' | 'K' | 'C' | 'U' | 'Z/D' | 'X/Z' | 'X/D' | 'X/Z/D' | 'X/Z/U*';

export interface PseudonymKey {
  /** Identifier of the key, recorded in every de-identification record; never the key itself. */
  id: string;
  /** Secret bytes for HMAC-SHA-256. */
  secret: Uint8Array;
}

export interface DeidentifyOptions {
  options: readonly ProfileOption[];
  key: PseudonymKey;
  /** Site lookup table: original Patient ID -> subject ID. Patients not in it get keyed pseudonyms. */
  subjectLookup?: ReadonlyMap<string, string>;
  /** Range of the keyed per-patient date shift in days, used with retain-long-modified-dates. */
  dateShiftDays?: { min: number; max: number };
  /**
   * What happens to pixels. 'none': pixels pass unchanged, so an instance that may carry burned-in text is
   * quarantined (fail closed). Anything else names a configured pixel cleaner that has already run.
   */
  pixelCleaning?: 'none' | 'applied';
  /**
   * What Clean Descriptors and Clean Structured Content do with a free-text attribute, by keyword:
   * 'scrub' (default) replaces identifying values inside the text, 'remove' removes the attribute,
   * 'empty' keeps it with zero length.
   */
  cleaningPolicy?: Readonly<Record<string, CleaningPolicy>>;
  /**
   * Instances without Burned In Annotation (0028,0301) of these modalities / SOP classes are presumed to carry
   * burned-in text and are withheld unless pixels were cleaned. Default: burned-in-policy.ts.
   */
  burnedInPresumption?: { modalities: readonly string[]; sopClassPrefixes: readonly string[] };
  /** Hash of the configuration/rule set that asked for this run, copied into the record. */
  configHash?: string;
  /** When true the result lists every change, attribute by attribute, with values (dry runs only; PHI). */
  explain?: boolean;
}

export type CleaningPolicy = 'scrub' | 'remove' | 'empty';

export interface DeidRecord {
  standard: 'DICOM PS3.15 2026c';
  profile: 'Basic Application Level Confidentiality Profile';
  options: ProfileOption[];
  keyId: string;
  configHash?: string;
  /** Number of attributes handled by each action code, over all nesting levels. */
  actions: Record<string, number>;
  pixels: 'unchanged' | 'cleaned' | 'withheld';
  /** The new SOP Instance UID (a pseudonym, so no PHI). */
  sopInstanceUID?: string;
  studyInstanceUID?: string;
  dateShiftDays?: number;
  warnings: string[];
  /** What pixel anonymization did (kept regions, share regenerated, prompt), when it ran; added by the shell. */
  pixelAnonymization?: PixelRecord;
}

export interface AttributeChange {
  /** Path such as "(0040,0275)[0].(0008,1150)". */
  path: string;
  name: string;
  action: string;
  before?: string;
  after?: string;
}

export type DeidOutcome =
  | { status: 'released'; file: DicomFile; record: DeidRecord; changes?: AttributeChange[] }
  | { status: 'quarantined'; reason: string; record: DeidRecord; changes?: AttributeChange[] };
