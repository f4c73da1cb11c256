import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TRANSFER_SYNTAX, type DicomDataset, type DicomElement } from '../src/dicom/dataset.js';
import { writePart10 } from '../src/dicom/part10.js';
import { seededRandom } from '../src/evaluation/seeded-random.js';

/**
 * A synthetic Computed Radiography corpus for benchmarks: chest films of several patients and studies, headers
 * as full of PHI as a hospital's (names with accents, IDs, addresses, dates, physicians, institution, accession,
 * free-text descriptions, request sequences, private tags of a RIS), pixels 16-bit MONOCHROME2 shaped like a
 * chest with noise. Everything follows from the seed, so two runs time the same bytes.
 */
export const CR_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.1';

export interface CorpusSpec {
  files: number;
  rows: number;
  cols: number;
  seed: number;
}

export interface CorpusFile {
  path: string;
  bytes: number;
  patientIndex: number;
}

/** mulberry32: small, fast, and good enough for test data (shared with the evaluation's pair sampling). */
export const prng = seededRandom;

const FAMILY = ['MÜLLER', 'DUBOIS', 'JANSSENS', 'ROSSI', 'NOWAK', 'GARCÍA', 'SMITH', 'PEETERS', 'LEFÈVRE', 'SCHMIDT', 'DE VRIES', 'HANSEN', "O'BRIEN", 'KOWALSKI', 'FERREIRA', 'LAMBERT'];
const GIVEN = ['JÜRGEN', 'MARIE', 'PIETER', 'GIULIA', 'ANNA', 'JOSÉ', 'JOHN', 'LIESBETH', 'CÉLINE', 'KLAUS', 'SANNE', 'ERIK', 'SIOBHAN', 'TOMASZ', 'INÊS', 'HÉLÈNE'];
const STREETS = ['Rue de la Loi', 'Hauptstraße', 'Kerkstraat', 'Via Roma', 'High Street', 'Avenue Louise'];
const CITIES = ['4000 Liège', '52062 Aachen', '3000 Leuven', '00184 Roma', 'OX1 2JD Oxford', '1050 Bruxelles'];
const PHYSICIANS = ['VERMEULEN^KOEN^^DR', 'MARTIN^SOPHIE^^DR', 'BAUER^THOMAS^^PROF', 'RICCI^ELENA^^DR', 'WILLIAMS^ROBERT^^DR'];
const OPERATORS = ['DUPONT^LUC', 'CLAES^EVA', 'WEBER^TIM'];

function pick<T>(rand: () => number, list: readonly T[]): T {
  return list[Math.floor(rand() * list.length)]!;
}

function digits(rand: () => number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += Math.floor(rand() * 10);
  return s;
}

/** A 2.25 UID from 120 random bits (PS3.5 B.2). */
function uid(rand: () => number): string {
  let n = 0n;
  for (let i = 0; i < 4; i++) n = (n << 30n) | BigInt(Math.floor(rand() * 2 ** 30));
  return `2.25.${n}`;
}

function ymd(date: Date): string {
  return date.toISOString().slice(0, 10).replace(/-/g, '');
}

interface Patient {
  family: string;
  given: string;
  id: string;
  otherId: string;
  birth: Date;
  sex: 'M' | 'F';
  address: string;
  phone: string;
  size: string;
  weight: string;
  /** Chest shape, so a patient's films look alike. */
  shape: { width: number; height: number; lungGap: number };
}

interface Study {
  uid: string;
  date: Date;
  accession: string;
  studyId: string;
  requestedProcedureId: string;
  referring: string;
  reading: string;
  description: string;
  seriesUid: string[];
}

function makePatient(rand: () => number, index: number): Patient {
  const family = pick(rand, FAMILY);
  const given = pick(rand, GIVEN);
  const birth = new Date(Date.UTC(1935 + Math.floor(rand() * 70), Math.floor(rand() * 12), 1 + Math.floor(rand() * 28)));
  return {
    family,
    given,
    id: `MRN${digits(rand, 7)}${index % 10}`,
    otherId: `NISS${digits(rand, 11)}`,
    birth,
    sex: rand() < 0.5 ? 'M' : 'F',
    address: `${1 + Math.floor(rand() * 180)} ${pick(rand, STREETS)}, ${pick(rand, CITIES)}`,
    phone: `+32 4 ${digits(rand, 3)} ${digits(rand, 2)} ${digits(rand, 2)}`,
    size: (1.5 + rand() * 0.45).toFixed(2),
    weight: String(48 + Math.floor(rand() * 60)),
    shape: { width: 0.78 + rand() * 0.12, height: 0.86 + rand() * 0.1, lungGap: 0.3 + rand() * 0.1 },
  };
}

function makeStudy(rand: () => number, patient: Patient): Study {
  const date = new Date(Date.UTC(2015 + Math.floor(rand() * 10), Math.floor(rand() * 12), 1 + Math.floor(rand() * 28), 7 + Math.floor(rand() * 12), Math.floor(rand() * 60)));
  const reason = pick(rand, ['dyspnoea', 'fever and cough', 'pre-operative work-up', 'follow-up pneumonia', 'chest pain']);
  return {
    uid: uid(rand),
    date,
    accession: `ACC${digits(rand, 8)}`,
    studyId: digits(rand, 6),
    requestedProcedureId: `RP${digits(rand, 7)}`,
    referring: pick(rand, PHYSICIANS),
    reading: pick(rand, PHYSICIANS),
    // Free text that names the patient, as RIS descriptions often do.
    description: `Thorax PA/LAT - ${patient.family} ${patient.given} - ${reason}`,
    seriesUid: [uid(rand), uid(rand)],
  };
}

/**
 * A chest radiograph, MONOCHROME2 (high is white): air, soft tissue, two lungs, mediastinum, spine and ribs,
 * collimation edges, and noise, so the pixels are neither constant nor pure noise.
 */
function chestPixels(rows: number, cols: number, shape: Patient['shape'], lateral: boolean, seed: number): Uint16Array {
  const px = new Uint16Array(rows * cols);
  const noise = prng(seed);
  const { width, height, lungGap } = shape;
  for (let y = 0; y < rows; y++) {
    const v = (y / rows - 0.5) * 2;
    const rib = Math.sin(v * 28) > 0.82;
    for (let x = 0; x < cols; x++) {
      const u = (x / cols - 0.5) * 2;
      let value = 600; // direct exposure: dark
      const body = (u / width) ** 2 + (v / height) ** 2;
      if (body < 1) {
        value = 18000 + (1 - body) * 9000;
        if (lateral) {
          const lung = ((u + 0.05) / 0.45) ** 2 + ((v + 0.05) / 0.6) ** 2;
          if (lung < 1) value -= 9000 * (1 - lung);
          if (u > 0.45 && u < 0.6) value += 14000; // spine seen from the side
        } else {
          const au = Math.abs(u);
          const lung = ((au - lungGap) / 0.27) ** 2 + ((v + 0.08) / 0.58) ** 2;
          if (lung < 1) value -= 11000 * (1 - lung) ** 0.5;
          if (lung < 1.1 && rib) value += 7000;
          if (au < 0.06) value += 16000; // spine
          const heart = ((u - 0.12) / 0.22) ** 2 + ((v - 0.25) / 0.25) ** 2;
          if (heart < 1) value += 6000 * (1 - heart);
        }
      }
      if (v < -0.97 || v > 0.97 || u < -0.97 || u > 0.97) value = 52000; // collimator shadow
      value += (noise() - 0.5) * 1600;
      px[y * cols + x] = value < 0 ? 0 : value > 65535 ? 65535 : value;
    }
  }
  return px;
}

const str = (vr: string, ...values: string[]): DicomElement => ({ vr, Value: values });
const pn = (...names: string[]): DicomElement => ({ vr: 'PN', Value: names.map((n) => ({ Alphabetic: n })) });
const us = (value: number): DicomElement => ({ vr: 'US', Value: [value] });
const sq = (...items: DicomDataset[]): DicomElement => ({ vr: 'SQ', Value: items });

function crDataset(
  rand: () => number,
  spec: CorpusSpec,
  patient: Patient,
  study: Study,
  instance: number,
  lateral: boolean,
  sopInstanceUid: string,
): DicomDataset {
  const date = ymd(study.date);
  const time = study.date.toISOString().slice(11, 19).replace(/:/g, '');
  const age = study.date.getUTCFullYear() - patient.birth.getUTCFullYear();
  const name = `${patient.family}^${patient.given}`;
  const pixels = chestPixels(spec.rows, spec.cols, patient.shape, lateral, Math.floor(rand() * 2 ** 31));
  const physician = pick(rand, PHYSICIANS);
  return {
    '00080005': str('CS', 'ISO_IR 192'),
    '00080008': str('CS', 'ORIGINAL', 'PRIMARY'),
    '00080012': str('DA', date),
    '00080013': str('TM', time),
    '00080016': str('UI', CR_IMAGE_STORAGE),
    '00080018': str('UI', sopInstanceUid),
    '00080020': str('DA', date),
    '00080021': str('DA', date),
    '00080022': str('DA', date),
    '00080023': str('DA', date),
    '00080030': str('TM', time),
    '00080031': str('TM', time),
    '00080032': str('TM', time),
    '00080033': str('TM', time),
    '00080050': str('SH', study.accession),
    '00080060': str('CS', 'CR'),
    '00080070': str('LO', 'ACME Medical Systems'),
    '00080080': str('LO', 'CHU Sainte-Walburge Liège'),
    '00080081': str('ST', 'Boulevard du 12ème de Ligne 1, 4000 Liège, Belgique'),
    '00080090': pn(study.referring),
    '00080092': str('ST', 'Cabinet médical, Rue Saint-Gilles 12, 4000 Liège'),
    '00080094': str('SH', '+32 4 223 45 67'),
    '00081010': str('SH', 'CR-ROOM-3-LIEGE'),
    '00081030': str('LO', study.description),
    '0008103E': str('LO', lateral ? `THORAX LAT ${patient.family}` : 'THORAX PA'),
    '00081032': sq({ '00080100': str('SH', 'RPID417'), '00080102': str('SH', 'RADLEX'), '00080104': str('LO', 'XR CHEST PA AND LATERAL') }),
    '00081040': str('LO', 'Radiologie Thoracique'),
    '00081048': pn(physician),
    '00081050': pn(physician),
    '00081060': pn(study.reading),
    '00081070': pn(pick(rand, OPERATORS)),
    '00081090': str('LO', 'DigiRad 5000'),
    '00081110': sq({ '00081150': str('UI', '1.2.840.10008.3.1.2.3.1'), '00081155': str('UI', study.uid) }),
    '00081111': sq({ '00081150': str('UI', '1.2.840.10008.3.1.2.3.3'), '00081155': str('UI', uid(rand)) }),
    '00100010': pn(name),
    '00100020': str('LO', patient.id),
    '00100021': str('LO', 'CHU-LIEGE'),
    '00100030': str('DA', ymd(patient.birth)),
    '00100040': str('CS', patient.sex),
    '00101000': str('LO', patient.otherId),
    '00101001': pn(`${patient.family}^${patient.given.slice(0, 1)}`),
    '00101010': str('AS', `${String(age).padStart(3, '0')}Y`),
    '00101020': str('DS', patient.size),
    '00101030': str('DS', patient.weight),
    '00101040': str('LO', patient.address),
    '00102154': str('SH', patient.phone),
    '00104000': str('LT', `Patient ${patient.given} ${patient.family}, born ${ymd(patient.birth)}, allergic to iodine.`),
    '00180015': str('CS', 'CHEST'),
    '00180060': str('DS', lateral ? '125' : '110'),
    '00181000': str('LO', `SN-${digits(rand, 6)}`),
    '00181004': str('LO', `PLATE-${digits(rand, 4)}`),
    '00181020': str('LO', 'DR5000 4.2.1'),
    '00181030': str('LO', 'THORAX PA/LAT ADULT'),
    '00181150': str('IS', String(8 + Math.floor(rand() * 20))),
    '00181152': str('IS', String(2 + Math.floor(rand() * 6))),
    '00181164': str('DS', '0.139', '0.139'),
    '00185101': str('CS', lateral ? 'LL' : 'PA'),
    '0020000D': str('UI', study.uid),
    '0020000E': str('UI', study.seriesUid[lateral ? 1 : 0]!),
    '00200010': str('SH', study.studyId),
    '00200011': str('IS', lateral ? '2' : '1'),
    '00200013': str('IS', String(instance)),
    '00200020': str('CS', lateral ? 'A' : 'L', 'F'),
    '00204000': str('LT', `Taken at bedside for ${patient.given} ${patient.family} (${patient.id}), ${date}`),
    '00280002': us(1),
    '00280004': str('CS', 'MONOCHROME2'),
    '00280010': us(spec.rows),
    '00280011': us(spec.cols),
    '00280100': us(16),
    '00280101': us(16),
    '00280102': us(15),
    '00280103': us(0),
    '00280301': str('CS', 'NO'),
    '00281050': str('DS', '20000'),
    '00281051': str('DS', '40000'),
    '00321032': pn(study.referring),
    '00321060': str('LO', `RX Thorax ${patient.family}`),
    '00400244': str('DA', date),
    '00400245': str('TM', time),
    '00400253': str('SH', `PPS${digits(rand, 6)}`),
    '00400254': str('LO', 'Thorax PA/LAT'),
    '00400275': sq({
      '00321060': str('LO', 'RX Thorax'),
      '00400007': str('LO', `Thorax for ${patient.family}`),
      '00400009': str('SH', `SPS${digits(rand, 6)}`),
      '00401001': str('SH', study.requestedProcedureId),
    }),
    // A RIS's private block: the kind of data the Basic Profile must drop.
    '00090010': str('LO', 'ACME RIS 2.1'),
    '00091001': str('LO', `${patient.family}, ${patient.given}`),
    '00091002': str('LO', 'Ward 4B bed 12'),
    '00091010': str('DS', '1.5'),
    '00290010': str('LO', 'CHU LIEGE CUSTOM'),
    '00291001': str('LT', `Transport requested by ${physician.split('^')[0]}`),
    '7FE00010': { vr: 'OW', Value: [pixels.buffer] },
  };
}

/**
 * Write the corpus: patients with one to three studies, each a PA and sometimes a lateral film. Files are
 * named cr-0001.dcm... so a prefix of the list is a smaller corpus of the same kind.
 */
export async function generateCorpus(dir: string, spec: CorpusSpec, onFile?: (done: number) => void): Promise<CorpusFile[]> {
  await mkdir(dir, { recursive: true });
  const rand = prng(spec.seed);
  const files: CorpusFile[] = [];
  let patientIndex = 0;
  while (files.length < spec.files) {
    const patient = makePatient(rand, patientIndex);
    const studies = 1 + Math.floor(rand() * 3);
    for (let s = 0; s < studies && files.length < spec.files; s++) {
      const study = makeStudy(rand, patient);
      const views = rand() < 0.7 ? [false, true] : [false];
      for (const lateral of views) {
        if (files.length >= spec.files) break;
        const sopInstanceUid = uid(rand);
        const dataset = crDataset(rand, spec, patient, study, lateral ? 2 : 1, lateral, sopInstanceUid);
        const meta: DicomDataset = {
          '00020001': { vr: 'OB', Value: [Uint8Array.from([0, 1]).buffer] },
          '00020002': str('UI', CR_IMAGE_STORAGE),
          '00020003': str('UI', sopInstanceUid),
          '00020010': str('UI', TRANSFER_SYNTAX.ExplicitVRLittleEndian),
          '00020012': str('UI', '2.25.80302813137786398554742050926734630921'),
          '00020013': str('SH', 'ACME_CR_42'),
          '00020016': str('AE', 'CR_ROOM_3'),
        };
        const bytes = writePart10({ meta, dataset });
        const path = join(dir, `cr-${String(files.length + 1).padStart(4, '0')}.dcm`);
        await writeFile(path, bytes);
        files.push({ path, bytes: bytes.byteLength, patientIndex });
        onFile?.(files.length);
      }
    }
    patientIndex++;
  }
  return files;
}

