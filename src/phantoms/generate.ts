import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AnofairError } from '../errors/anofair-error.js';
import { drawAcquisition, exposeImage, storePixels, type PhotometricOption } from './acquisition.js';
import { composeAttenuation, emptyEffects, heartScaleForRatio, renderChest, renderPatientBase, type PatientBase } from './anatomy.js';
import { burnInText, TEXT_CLASSES } from './burned-in-text.js';
import { addDays, drawCohort, type PatientDemographics } from './demographics.js';
import { buildDicom } from './dicom-writer.js';
import { boxInImage, drawFindings, FINDING_CLASSES, planFindings, type FindingLabel } from './findings.js';
import { drawAnatomy, type PatientAnatomy } from './identity.js';
import { labelLine, LABELS_VERSION, type ImageLabel } from './labels.js';
import { derivedUid, digestHex, Rng } from './rng.js';
import { assignSplits, SPLIT_SHARES, type Split } from './splits.js';

/** Bump when the same seed and arguments would give different files. */
export const GENERATOR_VERSION = '1.4.0';

export interface PhantomOptions {
  out: string;
  patients: number;
  seed: string;
  size: number;
  imagesPerPatient: number;
  burnedInShare: number;
  photometric: PhotometricOption;
  maleShare: number;
  oldShare: number;
  normalShare: number;
  /** Replace an earlier dataset in `out` (only its dicom/, labels.jsonl and dataset.json are removed). */
  force: boolean;
}

export const DEFAULT_OPTIONS: Omit<PhantomOptions, 'out' | 'patients' | 'seed'> = {
  size: 256,
  imagesPerPatient: 3,
  burnedInShare: 0.2,
  photometric: 'mixed',
  maleShare: 0.68,
  oldShare: 0.25,
  normalShare: 0.4,
  force: false,
};

export interface DatasetManifest {
  generator: string;
  generator_version: string;
  labels_version: number;
  seed: string;
  args: Record<string, string | number>;
  classes: readonly FindingLabel[];
  text_classes: readonly string[];
  split_shares: Record<Split, number>;
  layout: Record<string, string>;
  counts: {
    patients: number;
    images: number;
    splits: Record<Split, { patients: number; images: number }>;
    sex: Record<'F' | 'M', number>;
    age_group: Record<'<60' | '>=60', number>;
    findings: Record<FindingLabel, { images: number; boxes: number }>;
    normal_images: number;
    burned_in_images: number;
    photometric: Record<string, number>;
    modality: Record<string, number>;
    bits_stored: Record<string, number>;
  };
}

export type ProgressFn = (done: number, total: number) => void;

const OWNED = ['dicom', 'labels.jsonl', 'dataset.json'];

async function prepareOut(out: string, force: boolean): Promise<void> {
  let entries: string[] = [];
  try {
    const st = await stat(out);
    if (!st.isDirectory()) throw new AnofairError('IO', `output path ${out} exists and is not a directory`);
    entries = await readdir(out);
  } catch (err) {
    if (err instanceof AnofairError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new AnofairError('IO', `cannot read output directory ${out}: ${(err as Error).message}`);
  }
  if (entries.length > 0) {
    const foreign = entries.filter((e) => !OWNED.includes(e));
    if (!force) {
      throw new AnofairError('CONFLICT', `output directory ${out} is not empty; use --force to replace an earlier phantom dataset`);
    }
    if (foreign.length > 0) {
      throw new AnofairError('CONFLICT', `output directory ${out} holds files that are not a phantom dataset (${foreign.slice(0, 3).join(', ')}); choose another directory`);
    }
    for (const e of OWNED) await rm(path.join(out, e), { recursive: true, force: true });
  }
  await mkdir(path.join(out, 'dicom'), { recursive: true });
}

/** Exact quota of burned-in images over the whole dataset, placed by a seeded shuffle. */
function burnedInPlan(seed: string, total: number, share: number): boolean[] {
  const k = Math.round(share * total);
  return Rng.derive(seed, 'burned-in').shuffle(Array.from({ length: total }, (_, i) => i < k));
}

function studyTime(rng: Rng): string {
  return `${String(rng.int(7, 19)).padStart(2, '0')}${String(rng.int(0, 59)).padStart(2, '0')}${String(rng.int(0, 59)).padStart(2, '0')}`;
}

export async function generatePhantoms(opts: PhantomOptions, onProgress?: ProgressFn): Promise<DatasetManifest> {
  validate(opts);
  await prepareOut(opts.out, opts.force);
  const seed = opts.seed;
  const cohort = drawCohort({ seed, patients: opts.patients, imagesPerPatient: opts.imagesPerPatient, maleShare: opts.maleShare, oldShare: opts.oldShare });
  const splits = assignSplits(seed, opts.patients);
  const total = opts.patients * opts.imagesPerPatient;
  const burned = burnedInPlan(seed, total, opts.burnedInShare);
  const lines: string[] = [];
  const counts = emptyCounts();
  let done = 0;
  for (const p of cohort) {
    const split = splits[p.index] as Split;
    counts.splits[split].patients++;
    counts.sex[p.sex]++;
    counts.age_group[p.ageGroup]++;
    const anatomy = drawAnatomy(seed, p);
    const base = renderPatientBase(anatomy, opts.size);
    await mkdir(path.join(opts.out, 'dicom', p.key), { recursive: true });
    for (let k = 0; k < opts.imagesPerPatient; k++) {
      const label = renderImage(opts, p, k, split, burned[done] === true, anatomy, base);
      await writeFile(path.join(opts.out, label.file), label.bytes);
      lines.push(labelLine(label.label));
      tally(counts, label.label);
      done++;
      onProgress?.(done, total);
      // Let the terminal repaint the progress bar.
      if (done % 8 === 0) await new Promise((r) => setImmediate(r));
    }
  }
  counts.patients = opts.patients;
  counts.images = total;
  const manifest: DatasetManifest = {
    generator: 'anofair phantoms',
    generator_version: GENERATOR_VERSION,
    labels_version: LABELS_VERSION,
    seed,
    args: {
      patients: opts.patients,
      size: opts.size,
      images_per_patient: opts.imagesPerPatient,
      burned_in_share: opts.burnedInShare,
      photometric: opts.photometric,
      male_share: opts.maleShare,
      old_share: opts.oldShare,
      normal_share: opts.normalShare,
    },
    classes: FINDING_CLASSES,
    text_classes: TEXT_CLASSES,
    split_shares: SPLIT_SHARES,
    layout: {
      labels: 'labels.jsonl (one JSON object per image)',
      dicom: 'dicom/<patient_id>/<image_id>.dcm',
      boxes: '[x0, y0, x1, y1] in pixels of the stored image, x1 and y1 exclusive',
      pixels: 'display = (stored - (WindowCenter - WindowWidth/2)) / WindowWidth, inverted when MONOCHROME1',
    },
    counts,
  };
  await writeFile(path.join(opts.out, 'labels.jsonl'), lines.join('\n') + '\n');
  await writeFile(path.join(opts.out, 'dataset.json'), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}

interface RenderedImage {
  file: string;
  bytes: Uint8Array;
  label: ImageLabel;
}

/** One image of one patient: pure apart from the random streams named by seed, patient and visit. */
export function renderImage(
  opts: Pick<PhantomOptions, 'seed' | 'size' | 'photometric' | 'normalShare' | 'patients'>,
  p: PatientDemographics,
  visit: number,
  split: Split,
  burnedIn: boolean,
  anatomy: PatientAnatomy,
  base: PatientBase,
): RenderedImage {
  const seed = opts.seed;
  const size = opts.size;
  const stream = (name: string): Rng => Rng.derive(seed, 'patient', p.index, 'image', visit, name);
  const acq = drawAcquisition(stream('acquisition'), opts.photometric);
  const fRng = stream('findings');
  const plan = planFindings(fRng, opts.normalShare);
  const vRng = stream('view');
  const chest = renderChest(base, anatomy, {
    inspiration: acq.inspiration,
    heartScale: plan.cardiothoracicRatio === null ? 1 : heartScaleForRatio(anatomy, plan.cardiothoracicRatio),
    gastric: { dx: vRng.normal(0, 0.03), dy: vRng.normal(0, 0.015), rx: vRng.uniform(0.05, 0.11), ry: vRng.uniform(0.03, 0.06) },
  });
  const fx = emptyEffects(base.grid);
  const drawn = drawFindings(fRng, plan, chest, fx);
  const atten = composeAttenuation(base, chest, fx);
  const display = exposeImage(atten, base.grid, acq, size, stream('noise'));
  const studyDate = addDays(p.firstVisit, p.visitOffsetsDays[visit] ?? 0);
  const tRng = stream('study');
  const time = studyTime(tRng);
  const text = burnedIn ? burnInText(stream('text'), display, size, p, studyDate, time) : null;
  const pixels = storePixels(display, acq);
  const imageId = `${p.key}_${visit + 1}`;
  const file = `dicom/${p.key}/${imageId}.dcm`;
  const studyUid = derivedUid(seed, 'study', p.index, visit);
  const sopUid = derivedUid(seed, 'sop', p.index, visit);
  const accession = `A${BigInt(`0x${digestHex(seed, 'accession', p.index, visit).slice(0, 12)}`) % 10000000000n}`;
  const bytes = buildDicom(tRng, p, acq, {
    studyUid,
    seriesUid: derivedUid(seed, 'series', p.index, visit),
    sopUid,
    frameOfReferenceUid: derivedUid(seed, 'frame', p.index, visit),
    studyDate,
    studyTime: time,
    accession,
    studyId: `CX${String(tRng.int(1, 99999)).padStart(5, '0')}`,
    seriesNumber: 1,
    instanceNumber: 1,
    burnedIn,
    fieldMm: 430,
  }, size, size, pixels);
  const findings = drawn
    .map((f) => ({ label: f.label, box: boxInImage(base.grid, f.support, acq, size) }))
    .filter((f): f is { label: FindingLabel; box: [number, number, number, number] } => f.box !== null);
  return {
    file,
    bytes,
    label: {
      image_id: imageId,
      patient_id: p.key,
      file,
      split,
      sex: p.sex,
      age: p.age,
      age_group: p.ageGroup,
      modality: acq.modality,
      photometric: acq.photometric,
      bits_stored: acq.bitsStored,
      rows: size,
      columns: size,
      findings,
      text_boxes: text?.boxes ?? [],
      burned_in: burnedIn,
      study_instance_uid: studyUid,
      sop_instance_uid: sopUid,
      visit,
    },
  };
}

function emptyCounts(): DatasetManifest['counts'] {
  const findings = {} as DatasetManifest['counts']['findings'];
  for (const c of FINDING_CLASSES) findings[c] = { images: 0, boxes: 0 };
  return {
    patients: 0,
    images: 0,
    splits: { train: { patients: 0, images: 0 }, val: { patients: 0, images: 0 }, test: { patients: 0, images: 0 } },
    sex: { F: 0, M: 0 },
    age_group: { '<60': 0, '>=60': 0 },
    findings,
    normal_images: 0,
    burned_in_images: 0,
    photometric: {},
    modality: {},
    bits_stored: {},
  };
}

function tally(c: DatasetManifest['counts'], l: ImageLabel): void {
  c.splits[l.split].images++;
  const seen = new Set<FindingLabel>();
  for (const f of l.findings) {
    c.findings[f.label].boxes++;
    seen.add(f.label);
  }
  for (const s of seen) c.findings[s].images++;
  if (l.findings.length === 0) c.normal_images++;
  if (l.burned_in) c.burned_in_images++;
  c.photometric[l.photometric] = (c.photometric[l.photometric] ?? 0) + 1;
  c.modality[l.modality] = (c.modality[l.modality] ?? 0) + 1;
  c.bits_stored[String(l.bits_stored)] = (c.bits_stored[String(l.bits_stored)] ?? 0) + 1;
}

function validate(o: PhantomOptions): void {
  const bad = (msg: string): never => {
    throw new AnofairError('BAD_REQUEST', msg);
  };
  if (!Number.isInteger(o.patients) || o.patients < 1 || o.patients > 1_000_000) bad('--patients must be an integer from 1 to 1000000');
  if (!Number.isInteger(o.size) || o.size < 64 || o.size > 4096) bad('--size must be an integer from 64 to 4096');
  if (!Number.isInteger(o.imagesPerPatient) || o.imagesPerPatient < 1 || o.imagesPerPatient > 20) bad('--images-per-patient must be an integer from 1 to 20');
  for (const [name, v] of [['--burned-in-share', o.burnedInShare], ['--male-share', o.maleShare], ['--old-share', o.oldShare], ['--normal-share', o.normalShare]] as const) {
    if (!(v >= 0 && v <= 1)) bad(`${name} must be a number from 0 to 1`);
  }
  if (!['mixed', 'MONOCHROME1', 'MONOCHROME2'].includes(o.photometric)) bad('--photometric must be mixed, MONOCHROME1 or MONOCHROME2');
  if (o.seed.length === 0) bad('--seed must not be empty');
}
