import { digestHex, Rng } from './rng.js';

/**
 * Who each phantom patient is: sex, age and the planted identifying details (names, MRN, address, dates) that
 * the DICOM headers and burned-in text carry. Sex and age are drawn by exact quotas over the whole cohort, so a
 * dataset has the configured imbalance (like ChestX-ray14: mostly male, about a quarter aged 60 or more) at any size.
 */
export type Sex = 'F' | 'M';
export type AgeGroup = '<60' | '>=60';

export interface PatientDemographics {
  /** 0-based index in the cohort. */
  index: number;
  /** The dataset's own key (labels.jsonl patient_id), e.g. P00042. Not PHI. */
  key: string;
  sex: Sex;
  /** Age in whole years at every one of the patient's studies (visits stay within one year of age). */
  age: number;
  ageGroup: AgeGroup;
  // Planted PHI, as a hospital system would record it.
  familyName: string;
  givenName: string;
  middleName: string;
  /** Medical record number (DICOM Patient ID). */
  mrn: string;
  otherId: string;
  birthDate: string; // YYYYMMDD
  address: string;
  phone: string;
  weightKg: number;
  heightM: number;
  /** The first study date (YYYYMMDD); later visits follow within 300 days. */
  firstVisit: string;
  visitOffsetsDays: number[];
}

export interface CohortOptions {
  seed: string | number;
  patients: number;
  imagesPerPatient: number;
  /** Share of male patients (default 0.68). */
  maleShare: number;
  /** Share of patients aged 60 or more (default 0.25). */
  oldShare: number;
}

export function ageGroupOf(age: number): AgeGroup {
  return age >= 60 ? '>=60' : '<60';
}

export function patientKey(index: number, total: number): string {
  return `P${String(index + 1).padStart(Math.max(5, String(total).length), '0')}`;
}

/** Exact quotas shuffled over the cohort: round(share * n) patients get `true`. */
function quota(rng: Rng, n: number, share: number): boolean[] {
  const k = Math.round(share * n);
  return rng.shuffle(Array.from({ length: n }, (_, i) => i < k));
}

export function drawCohort(opts: CohortOptions): PatientDemographics[] {
  const n = opts.patients;
  const male = quota(Rng.derive(opts.seed, 'cohort', 'sex'), n, opts.maleShare);
  const old = quota(Rng.derive(opts.seed, 'cohort', 'age-group'), n, opts.oldShare);
  const out: PatientDemographics[] = [];
  for (let i = 0; i < n; i++) {
    out.push(drawPatient(opts.seed, i, n, male[i] ? 'M' : 'F', old[i] === true, opts.imagesPerPatient));
  }
  return out;
}

function drawPatient(
  seed: string | number,
  index: number,
  total: number,
  sex: Sex,
  old: boolean,
  images: number,
): PatientDemographics {
  const rng = Rng.derive(seed, 'patient', index, 'demographics');
  // Ages: adults 18-59 weighted toward middle age; 60-92 weighted toward the sixties, as in hospital cohorts.
  const age = old
    ? 60 + Math.floor(32 * Math.pow(rng.next(), 1.6))
    : 18 + Math.floor(42 * Math.pow(rng.next(), 0.75));
  const givenName = rng.pick(sex === 'M' ? MALE_NAMES : FEMALE_NAMES);
  const middleName = rng.pick(sex === 'M' ? MALE_NAMES : FEMALE_NAMES);
  const familyName = rng.pick(FAMILY_NAMES);
  // First visit in 2015-2024; the birthday falls 1-60 days before it, so all visits (within 300 days) share one age.
  const first = Date.UTC(2015, 0, 1) + rng.int(0, 3650) * DAY;
  const birthdayBefore = rng.int(1, 60);
  const anniversary = new Date(first - birthdayBefore * DAY);
  const birth = new Date(Date.UTC(anniversary.getUTCFullYear() - age, anniversary.getUTCMonth(), anniversary.getUTCDate()));
  const offsets = [0];
  for (let k = 1; k < images; k++) offsets.push(rng.int(7, 300));
  offsets.sort((a, b) => a - b);
  const mrnDigits = BigInt(`0x${digestHex(seed, 'mrn', index).slice(0, 12)}`) % 100000000n;
  const heightM = sex === 'M' ? rng.clampedNormal(1.77, 0.07, 1.55, 2.02) : rng.clampedNormal(1.64, 0.065, 1.45, 1.85);
  const bmi = rng.clampedNormal(26, 4, 17, 42);
  return {
    index,
    key: patientKey(index, total),
    sex,
    age,
    ageGroup: ageGroupOf(age),
    familyName,
    givenName,
    middleName,
    mrn: `${String(mrnDigits).padStart(8, '0')}`,
    otherId: `${rng.pick(['HX', 'KV', 'EX'])}-${rng.int(100000, 999999)}`,
    birthDate: ymd(birth),
    address: `${rng.int(1, 220)} ${rng.pick(STREETS)}^^${rng.pick(CITIES)}^^${rng.int(10000, 99999)}`,
    phone: `+1 ${rng.int(201, 989)} ${rng.int(200, 999)} ${String(rng.int(0, 9999)).padStart(4, '0')}`,
    weightKg: Math.round(bmi * heightM * heightM),
    heightM: Math.round(heightM * 100) / 100,
    firstVisit: ymd(new Date(first)),
    visitOffsetsDays: offsets,
  };
}

const DAY = 86400000;

export function ymd(d: Date): string {
  return `${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}${String(d.getUTCDate()).padStart(2, '0')}`;
}

/** YYYYMMDD plus days, as YYYYMMDD. */
export function addDays(date: string, days: number): string {
  const t = Date.UTC(Number(date.slice(0, 4)), Number(date.slice(4, 6)) - 1, Number(date.slice(6, 8))) + days * DAY;
  return ymd(new Date(t));
}

const MALE_NAMES = [
  'JOHN', 'MICHAEL', 'DAVID', 'JAMES', 'ROBERT', 'WILLIAM', 'THOMAS', 'DANIEL', 'PAUL', 'MARK', 'GEORGE', 'PETER',
  'ANDREW', 'HANS', 'LUKAS', 'AHMED', 'WEI', 'RAJ', 'CARLOS', 'JUAN', 'PIERRE', 'KENJI', 'IVAN', 'OMAR', 'SAMUEL',
  'FRANK', 'HENRY', 'ARTHUR', 'VICTOR', 'LEON',
];
const FEMALE_NAMES = [
  'MARY', 'PATRICIA', 'JENNIFER', 'LINDA', 'ELIZABETH', 'SUSAN', 'JESSICA', 'SARAH', 'KAREN', 'ANNA', 'EMMA', 'SOFIA',
  'MARIA', 'FATIMA', 'MEI', 'PRIYA', 'LUCIA', 'CLAIRE', 'YUKI', 'OLGA', 'AMINA', 'HANNAH', 'GRACE', 'ROSE', 'HELEN',
  'IRENE', 'NORA', 'LAURA', 'ELENA', 'MARTA',
];
const FAMILY_NAMES = [
  'SMITH', 'JOHNSON', 'WILLIAMS', 'BROWN', 'JONES', 'GARCIA', 'MILLER', 'DAVIS', 'RODRIGUEZ', 'MARTINEZ', 'MUELLER',
  'SCHMIDT', 'SCHNEIDER', 'FISCHER', 'WEBER', 'MEYER', 'WAGNER', 'BECKER', 'NGUYEN', 'TANAKA', 'SATO', 'KIM', 'LEE',
  'PARK', 'CHEN', 'WANG', 'PATEL', 'SHAH', 'KHAN', 'ALI', 'ROSSI', 'BIANCHI', 'DUBOIS', 'MOREAU', 'IVANOV', 'NOVAK',
  'KOWALSKI', 'JANSEN', 'DE VRIES', 'OLSEN', 'HANSEN', 'NIELSEN', 'OBRIEN', 'MURPHY', 'WALSH', 'COHEN', 'LEVI',
  'SILVA', 'SANTOS', 'OKAFOR',
];
const STREETS = [
  'MAIN ST', 'OAK AVE', 'MAPLE DR', 'CEDAR LN', 'ELM ST', 'HILL RD', 'LAKE VIEW', 'PARK AVE', 'RIVER RD', 'MILL LN',
  'CHURCH ST', 'STATION RD', 'HIGH ST', 'GARDEN WAY', 'ORCHARD CT',
];
const CITIES = [
  'SPRINGFIELD', 'RIVERTON', 'FAIRVIEW', 'GREENVILLE', 'MADISON', 'CLINTON', 'FRANKLIN', 'ASHLAND', 'BRISTOL',
  'DOVER', 'GEORGETOWN', 'MILTON', 'NEWPORT', 'SALEM', 'WINCHESTER',
];
