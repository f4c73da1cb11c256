import type { Acquisition } from './acquisition.js';
import type { TextBox } from './burned-in-text.js';
import type { AgeGroup, Sex } from './demographics.js';
import type { Box, FindingLabel } from './findings.js';
import type { Split } from './splits.js';

/**
 * One line of labels.jsonl: everything known about one image. The layout is a contract with the model
 * builders (src/train) and is documented in README.md beside this file; bump LABELS_VERSION when it changes.
 */
export const LABELS_VERSION = 1;

export interface ImageLabel {
  image_id: string;
  patient_id: string;
  /** Relative path of the .dcm from the dataset root, with forward slashes. */
  file: string;
  split: Split;
  sex: Sex;
  age: number;
  age_group: AgeGroup;
  modality: Acquisition['modality'];
  photometric: Acquisition['photometric'];
  bits_stored: number;
  rows: number;
  columns: number;
  /** [x0, y0, x1, y1] in pixels; x1, y1 are exclusive edges (width = x1 - x0). */
  findings: Array<{ label: FindingLabel; box: Box }>;
  text_boxes: TextBox[];
  burned_in: boolean;
  study_instance_uid: string;
  sop_instance_uid: string;
  /** Which of the patient's images this is (0-based, in visit order). */
  visit: number;
}

/** A stable serialisation: keys in declaration order, no whitespace. */
export function labelLine(l: ImageLabel): string {
  return JSON.stringify({
    image_id: l.image_id,
    patient_id: l.patient_id,
    file: l.file,
    split: l.split,
    sex: l.sex,
    age: l.age,
    age_group: l.age_group,
    modality: l.modality,
    photometric: l.photometric,
    bits_stored: l.bits_stored,
    rows: l.rows,
    columns: l.columns,
    findings: l.findings.map((f) => ({ label: f.label, box: f.box })),
    text_boxes: l.text_boxes.map((t) => ({ kind: t.kind, box: t.box })),
    burned_in: l.burned_in,
    study_instance_uid: l.study_instance_uid,
    sop_instance_uid: l.sop_instance_uid,
    visit: l.visit,
  });
}

export function parseLabels(text: string): ImageLabel[] {
  return text
    .split('\n')
    .filter((line) => line.trim().length > 0)
    .map((line) => JSON.parse(line) as ImageLabel);
}
