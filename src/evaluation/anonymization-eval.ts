import type { GreyImage } from '../anonymizer/pixel/image-resize.js';
import type { EvaluationModels } from './evaluation-models.js';
import { rocAuc } from './roc-auc.js';
import { seededRandom } from './seeded-random.js';

/**
 * How well an anonymization worked, measured as CXR-AnoFAIR measures it, on labelled images (phantoms):
 * - privacy: can the re-identification network still link an anonymized image to another image of the same
 *   patient? (ROC-AUC of p(same patient); 0.5 = unlinkable), against the same pairs of originals;
 * - fairness: what share of the anonymized images the attribute classifier judges male / aged >= 60, against the
 *   originals and the training data (the generator should not skew it), and how far each image's attributes moved;
 * - utility: diagnostic AUC per finding on anonymized images against originals (the kept regions should keep it).
 */

export interface EvalImage {
  patient: string;
  male: boolean;
  old: boolean;
  /** finding labels of the image (lower case, as the phantoms' labels) */
  findings: string[];
  original: GreyImage;
  anonymized: GreyImage;
  regeneratedFraction: number;
}

export interface AnonymizationReport {
  images: number;
  patients: number;
  regeneratedFraction: { mean: number; min: number; max: number };
  reidentification: { pairs: number; samePatientPairs: number; aucOriginals: number; aucAnonymized: number };
  attributes: {
    judgedMale: { originals: number; anonymized: number };
    judgedOld: { originals: number; anonymized: number };
    aucSex: { originals: number; anonymized: number };
    aucAge: { originals: number; anonymized: number };
    /** share of images whose judged sex / age group changed by the anonymization */
    sexFlipped: number;
    ageFlipped: number;
  };
  diagnostic: { finding: string; positives: number; aucOriginals: number; aucAnonymized: number }[];
}

/** Every same-patient pair and as many random different-patient pairs (seeded), as the builder's protocol. */
export function reidPairs(images: readonly { patient: string }[], seed: number): { pairs: [number, number][]; same: boolean[] } {
  const byPatient = new Map<string, number[]>();
  images.forEach((img, i) => byPatient.set(img.patient, [...(byPatient.get(img.patient) ?? []), i]));
  const positive: [number, number][] = [];
  for (const list of byPatient.values()) for (let a = 0; a < list.length; a++) for (let b = a + 1; b < list.length; b++) positive.push([list[a]!, list[b]!]);
  if (byPatient.size < 2) return { pairs: [], same: [] };
  const random = seededRandom(seed);
  const negative: [number, number][] = [];
  while (negative.length < positive.length) {
    const i = Math.floor(random() * images.length);
    const j = Math.floor(random() * images.length);
    if (images[i]!.patient !== images[j]!.patient) negative.push([i, j]);
  }
  return { pairs: [...positive, ...negative], same: [...positive.map(() => true), ...negative.map(() => false)] };
}

const mean = (v: number[]): number => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : Number.NaN);
const round = (v: number): number => (Number.isFinite(v) ? Math.round(v * 10000) / 10000 : v);

export async function evaluateAnonymization(images: EvalImage[], models: EvaluationModels, seed = 20260): Promise<AnonymizationReport> {
  const originals = images.map((i) => i.original);
  const anonymized = images.map((i) => i.anonymized);

  // privacy: the attacker holds another original image of the patient and the released one
  const [eo, ea] = [await models.embed(originals), await models.embed(anonymized)];
  const { pairs, same } = reidPairs(images, seed);
  const scoresOriginal = await models.samePatient(pairs.map(([i]) => eo[i]!), pairs.map(([, j]) => eo[j]!));
  const scoresAnonymized = await models.samePatient(pairs.map(([i]) => ea[i]!), pairs.map(([, j]) => eo[j]!));

  const [po, pa] = [await models.judgeAttributes(originals), await models.judgeAttributes(anonymized)];
  const share = (p: [number, number][], k: 0 | 1): number => round(mean(p.map((v) => (v[k] > 0.5 ? 1 : 0))));
  const flipped = (k: 0 | 1): number => round(mean(po.map((v, i) => ((v[k] > 0.5) !== (pa[i]![k] > 0.5) ? 1 : 0))));

  const [dO, dA] = [await models.diagnose(originals), await models.diagnose(anonymized)];
  const diagnostic = models.findings.map((finding, f) => {
    const truth = images.map((i) => i.findings.includes(finding.toLowerCase()));
    return {
      finding,
      positives: truth.filter(Boolean).length,
      aucOriginals: round(rocAuc(truth, dO.map((p) => p[f]!))),
      aucAnonymized: round(rocAuc(truth, dA.map((p) => p[f]!))),
    };
  });

  const fractions = images.map((i) => i.regeneratedFraction);
  return {
    images: images.length,
    patients: new Set(images.map((i) => i.patient)).size,
    regeneratedFraction: { mean: round(mean(fractions)), min: round(Math.min(...fractions)), max: round(Math.max(...fractions)) },
    reidentification: { pairs: pairs.length, samePatientPairs: same.filter(Boolean).length, aucOriginals: round(rocAuc(same, scoresOriginal)), aucAnonymized: round(rocAuc(same, scoresAnonymized)) },
    attributes: {
      judgedMale: { originals: share(po, 0), anonymized: share(pa, 0) },
      judgedOld: { originals: share(po, 1), anonymized: share(pa, 1) },
      aucSex: { originals: round(rocAuc(images.map((i) => i.male), po.map((p) => p[0]))), anonymized: round(rocAuc(images.map((i) => i.male), pa.map((p) => p[0]))) },
      aucAge: { originals: round(rocAuc(images.map((i) => i.old), po.map((p) => p[1]))), anonymized: round(rocAuc(images.map((i) => i.old), pa.map((p) => p[1]))) },
      sexFlipped: flipped(0),
      ageFlipped: flipped(1),
    },
    diagnostic,
  };
}
