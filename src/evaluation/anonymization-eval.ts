import type { GreyImage } from '../anonymizer/pixel/image-resize.js';
import { keepThreshold } from '../anonymizer/pixel/kept-regions.js';
import type { ImageLabel } from '../phantoms/labels.js';
import { bootstrapInterval, bootstrapPlan, WeightedAuc, weightedMean, weightedPearson, type BootstrapPlan, type Interval } from './bootstrap.js';
import { atLeast, atMost, TARGETS, unlessIncompetent, type TargetResult } from './eval-targets.js';
import type { EvaluationModels } from './evaluation-models.js';
import { hallucinatedFindings, notFoundOn, type FoundFinding, type TruthFinding } from './hallucinated-findings.js';
import { maskFromGrain, type MaskFromGrain } from './kept-mask-from-grain.js';
import { keptRegionScores, queryLinkage, standardiseRows, type AttackFeature } from './kept-region-attack.js';
import { rocAuc, rocCurve } from './roc-auc.js';
import { seededRandom } from './seeded-random.js';
import type { FrechetInterval, TrainedAttackScores } from './trained-attacks.js';

/**
 * How well an anonymization worked, on labelled images (phantoms), each number with a 95% bootstrap interval
 * over patients:
 * - privacy: the re-identification network (PriCheXy-Net's Siamese design, trained on originals) links a
 *   released image to another original of the patient (ROC-AUC; 0.5 = unlinkable), against the same pairs of
 *   originals; and a model-free attack on what the release leaves unchanged (the kept regions), as rank-1
 *   linkage against chance and ROC-AUC;
 * - fairness: what share of the anonymized images the attribute classifier judges male / aged >= 60, and how
 *   far each image's judged attributes moved;
 * - utility: diagnostic AUC per finding on anonymized images against originals, the agreement of the
 *   classifier's outputs on the two, and findings the detector reports in regenerated pixels that the patient
 *   does not have (hallucinations).
 */

export interface EvalImage {
  image: string;
  patient: string;
  male: boolean;
  old: boolean;
  /** finding labels of the image (lower case, as the phantoms' labels) */
  findings: string[];
  /** the ground truth's finding boxes, in the image's pixels */
  truth: TruthFinding[];
  original: GreyImage;
  anonymized: GreyImage;
  /** 1 where the released pixel is the original's, unchanged (kept regions less burned-in text) */
  kept: Uint8Array;
  /** pixels of boxes kept whole that differ from the original (0 unless the release is at fault) */
  keptPixelsChanged?: number;
  /** the findings whose regions the release kept (the pixel record's kept[].finding, lower case) */
  keptFindings?: string[];
}

/** An evaluation image from its phantom label and the two renderings. */
export function labelledEvalImage(label: ImageLabel, original: GreyImage, anonymized: GreyImage, kept: Uint8Array, keptPixelsChanged?: number, keptFindings?: string[]): EvalImage {
  return {
    image: label.image_id,
    patient: label.patient_id,
    male: label.sex === 'M',
    old: label.age_group === '>=60',
    findings: label.findings.map((f) => f.label),
    truth: label.findings.map((f) => ({ label: f.label, box: f.box })),
    original,
    anonymized,
    kept,
    ...(keptPixelsChanged !== undefined ? { keptPixelsChanged } : {}),
    ...(keptFindings ? { keptFindings: [...new Set(keptFindings.map((f) => f.toLowerCase()))] } : {}),
  };
}

export interface AttackVariant {
  feature: AttackFeature;
  /** rotations of the originals tried, degrees */
  rotations: number[];
}

/** The strongest of those measured on the phantoms (high-pass, rotations); intensity as the plain reference. */
export const DEFAULT_ATTACK_VARIANTS: AttackVariant[] = [
  { feature: 'high-pass', rotations: [0, -1.5, 1.5, -3, 3] },
  { feature: 'intensity', rotations: [0] },
];

export interface FindingDetector {
  /** findings (not text) at the reporting threshold, boxes in the image's pixels */
  detect(image: GreyImage): Promise<FoundFinding[]>;
  /** the reporting threshold (the manifest's suggested confidence) */
  confidence: number;
  /**
   * the score from which the pixel step itself treats a finding as present (its keep threshold: one for all, or
   * per finding): hallucinations are also counted from there, where the detector's own false positives are rare
   */
  keepConfidence?: number | Readonly<Record<string, number>>;
}

export interface ProgressFactory {
  (total: number, label: string): { tick(): void; stop(): void };
}

export interface EvalOptions {
  /** seeds the different-patient pairs of the re-identification network (default 20260) */
  pairSeed?: number;
  bootstrap?: { resamples: number; seed: number };
  attack?: { maxShift?: number; variants?: AttackVariant[] };
  detector?: FindingDetector;
  progress?: ProgressFactory;
  /** held-out scores of the attacks trained on another split (trained-attacks.ts), on these images and the pairs of reidPairs(images, pairSeed) */
  trained?: TrainedAttackScores;
}

export const DEFAULT_PAIR_SEED = 20260;
export const DEFAULT_BOOTSTRAP = { resamples: 1000, seed: 20261 } as const;

export interface AttackVariantResult extends AttackVariant {
  /** share of released images whose best-scoring original is another image of the patient */
  rank1: Interval;
  /** the same for a random ranking of the gallery */
  chance: number;
  ratioToChance: Interval;
  /** ROC-AUC of the row-standardised scores over every (released, original) pair, same patient or not */
  auc: Interval;
  /** rank-1 among the released images that keep at least one pixel */
  rank1AmongKeeping: number;
  /** rank-1 by how much of the image was kept: where the linkage comes from, for choosing a keep policy */
  byKeptShare: LinkageGroup[];
  /** rank-1 of the images that kept a region of each finding (an image keeping two findings counts for both) */
  byKeptFinding: (LinkageGroup & { finding: string })[];
  seconds: number;
}

export interface LinkageGroup {
  /** 'nothing', '< 1%', ... for byKeptShare; the finding for byKeptFinding */
  group: string;
  images: number;
  rank1: number;
  /** median share of the image kept, over the group */
  medianKeptShare: number;
}

/** Bands of the kept share (upper bounds, exclusive) that byKeptShare reports. */
const KEPT_SHARE_BANDS: readonly [string, number][] = [
  ['nothing', 1e-12],
  ['< 1%', 0.01],
  ['1-3%', 0.03],
  ['3-10%', 0.1],
  ['>= 10%', Infinity],
];

function keptShareOf(img: EvalImage): number {
  let kept = 0;
  for (let i = 0; i < img.kept.length; i++) kept += img.kept[i]!;
  return kept / img.kept.length;
}

function median(values: number[]): number {
  if (!values.length) return Number.NaN;
  const v = [...values].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

function linkageGroup(group: string, members: readonly { rank1: number; share: number }[]): LinkageGroup {
  return { group, images: members.length, rank1: round(mean(members.map((m) => m.rank1))), medianKeptShare: round(median(members.map((m) => m.share))) };
}

/** Per-image rank-1 grouped by kept share and by kept finding. */
function linkageBreakdown(images: readonly EvalImage[], linkable: readonly number[], rank1: Float64Array): Pick<AttackVariantResult, 'byKeptShare' | 'byKeptFinding'> {
  const members = linkable.map((q, k) => ({ img: images[q]!, rank1: rank1[k]!, share: keptShareOf(images[q]!) }));
  let lower = -Infinity;
  const byKeptShare = KEPT_SHARE_BANDS.map(([band, upper]) => {
    const inBand = members.filter((m) => m.share >= lower && m.share < upper);
    lower = upper;
    return linkageGroup(band, inBand);
  }).filter((g) => g.images > 0);
  const findings = [...new Set(members.flatMap((m) => m.img.keptFindings ?? []))].sort();
  const byKeptFinding = findings.map((finding) => ({ finding, ...linkageGroup(finding, members.filter((m) => m.img.keptFindings?.includes(finding))) }));
  return { byKeptShare, byKeptFinding };
}

export interface Hallucination {
  image: string;
  finding: string;
  score: number;
  box: [number, number, number, number];
}

export interface AnonymizationReport {
  images: number;
  patients: number;
  /** share of each image released unchanged */
  keptShare: { mean: number; median: number; min: number; max: number; imagesKeepingNothing: number; keptPixelsChanged: number };
  reidentification: {
    pairs: number;
    samePatientPairs: number;
    aucOriginals: Interval;
    aucAnonymized: Interval;
    /** PriCheXy-Net protocol: the verifier retrained on (anonymized, original) pairs of another split of patients */
    retrained?: TrainedAttackSummary;
    /** the same, on the pixels released unchanged only (the attacker applies the kept mask to both images) */
    keptRegionVerifier?: TrainedAttackSummary;
  };
  /** networks trained on a split of other patients; absent when the evaluation ran without them */
  trainedOn?: { images: number; patients: number; seed: number; pretrainedBackbone: boolean };
  realism?: {
    /** real-versus-regenerated discriminator, held-out ROC-AUC (0.5 = indistinguishable) */
    discriminator: TrainedAttackSummary;
    /** the same discriminator trained against the VAE round trip of the originals: what the latent space alone costs */
    vaeRoundTrip?: TrainedAttackSummary;
    /** Fréchet distance on the diagnostic classifier's features, originals against released (and against VAE round trips) */
    frechet?: { features: number; released: Interval; vaeRoundTrip?: Interval };
  };
  keptRegionAttack: {
    assumption: string;
    maxShift: number;
    /** originals each released image is compared with (all but its own source) */
    gallery: number;
    linkable: number;
    variants: AttackVariantResult[];
    /** the variant with the highest rank-1 */
    strongest: AttackVariantResult;
    /** without the mask: how well the grain of a block tells kept from regenerated pixels (0.5: not at all) */
    maskFromGrain: MaskFromGrain;
  };
  attributes: {
    judgedMale: { originals: number; anonymized: number };
    judgedOld: { originals: number; anonymized: number };
    aucSex: { originals: number; anonymized: number };
    aucAge: { originals: number; anonymized: number };
    /** share of images whose judged sex / age group changed by the anonymization */
    sexFlipped: number;
    ageFlipped: number;
    /** held-out AUC with the true labels on released images: the originals-only judge, and one retrained on released images */
    readable?: { sex: { originalsJudge: Interval; retrainedJudge: Interval }; age: { originalsJudge: Interval; retrainedJudge: Interval }; retrainedJudge: TrainedAttackSummary };
  };
  diagnostic: { finding: string; positives: number; aucOriginals: Interval; aucAnonymized: Interval; aucDrop: Interval; correlation: Interval }[];
  hallucinations?: {
    confidence: number;
    rule: string;
    imagesWith: number;
    share: Interval;
    findings: number;
    byFinding: Record<string, number>;
    /** the same rule on the originals (the detector's own false positives there): what the regeneration did not add */
    originals: { imagesWith: number; share: Interval };
    /** hallucinations the detector does not also report at the same place on the original: added by the regeneration */
    added: { imagesWith: number; share: Interval; findings: number };
    /** the same three counts from the keep threshold up (a reference detection on the original still counts from the reporting threshold) */
    atKeepConfidence?: { confidence: string; imagesWith: number; share: Interval; originals: { imagesWith: number; share: Interval }; added: { imagesWith: number; share: Interval } };
    list: Hallucination[];
  };
  targets: TargetResult[];
  bootstrap: { unit: 'patient'; method: 'percentile'; resamples: number; seed: number; level: number };
  seeds: { pairs: number; bootstrap: number };
  /** for drawing: (false positive rate, true positive rate) */
  roc: { reidOriginals: [number, number][]; reidAnonymized: [number, number][]; keptRegionAttack: [number, number][]; reidRetrained?: [number, number][]; keptRegionVerifier?: [number, number][]; realism?: [number, number][]; realismFloor?: [number, number][] };
}

export interface TrainedAttackSummary {
  auc: Interval;
  /** verifiers: the same network on pairs of originals (can it verify at all?); the kept-region one on originals masked the same way */
  aucOnOriginals?: Interval;
  /** verifiers: what it started from, and its AUC on pairs of originals then */
  init?: string;
  startAucOnOriginals?: number;
  steps: number;
  seconds: number;
  seed: number;
  finalLoss: number;
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

const sum = (v: Float64Array): number => v.reduce((a, b) => a + b, 0);
const mean = (v: number[]): number => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : Number.NaN);
const round = (v: number): number => (Number.isFinite(v) ? Math.round(v * 10000) / 10000 : v);
const roundInterval = (i: Interval): Interval => ({ estimate: round(i.estimate), lo: round(i.lo), hi: round(i.hi) });
const roundCurve = (c: [number, number][]): [number, number][] => c.map(([x, y]) => [round(x), round(y)]);

/** A pair's weight in a patient resample: a same-patient pair counts once per draw of its patient, a pair of two
 * patients once per combination of their draws. */
function pairWeight(w: ArrayLike<number>, a: number, b: number): number {
  return a === b ? w[a]! : w[a]! * w[b]!;
}

function keptShares(images: readonly EvalImage[]): AnonymizationReport['keptShare'] {
  let changed = 0;
  const shares = images.map((img) => {
    changed += img.keptPixelsChanged ?? 0;
    let kept = 0;
    for (let i = 0; i < img.kept.length; i++) {
      if (!img.kept[i]) continue;
      kept++;
      if (img.original.data[i] !== img.anonymized.data[i]) changed++;
    }
    return kept / img.kept.length;
  });
  return {
    mean: round(mean(shares)),
    median: round(median(shares)),
    min: round(Math.min(...shares)),
    max: round(Math.max(...shares)),
    imagesKeepingNothing: shares.filter((s) => s === 0).length,
    keptPixelsChanged: changed,
  };
}

function attackVariant(images: readonly EvalImage[], patientIndex: Int32Array, plan: BootstrapPlan, variant: AttackVariant, maxShift: number, progress?: ProgressFactory): { result: AttackVariantResult; curve: [number, number][] } {
  const n = images.length;
  const t0 = performance.now();
  const bar = progress?.(n, `kept-region attack (${variant.feature})`);
  const raw = keptRegionScores(
    images.map((i) => ({ patient: i.patient, original: i.original, released: i.anonymized, kept: i.kept })),
    { feature: variant.feature, rotations: variant.rotations, maxShift, ...(bar ? { onOriginal: () => bar.tick() } : {}) },
  );
  bar?.stop();
  const seconds = Math.round((performance.now() - t0) / 100) / 10;
  const linkage = queryLinkage(raw, images.map((i) => i.patient));
  const linkable = linkage.flatMap((l, q) => (l ? [q] : []));
  const rank1 = Float64Array.from(linkable, (q) => linkage[q]!.rank1);
  const chance = Float64Array.from(linkable, (q) => linkage[q]!.chance);
  const qWeight = (w: ArrayLike<number>) => (k: number) => w[patientIndex[linkable[k]!]!]!;
  // the attacker may standardise each released image's scores over the gallery: a threshold then means the same
  // for every image, which is what a pair-level AUC needs
  const z = standardiseRows(raw, n);
  const labels: boolean[] = [];
  const scores: number[] = [];
  const pa: number[] = [];
  const pb: number[] = [];
  for (let q = 0; q < n; q++) {
    for (let g = 0; g < n; g++) {
      if (q === g) continue;
      labels.push(images[q]!.patient === images[g]!.patient);
      scores.push(z[q * n + g]!);
      pa.push(patientIndex[q]!);
      pb.push(patientIndex[g]!);
    }
  }
  const auc = new WeightedAuc(labels, scores);
  const keeping = linkable.map((q, k) => [q, k] as const).filter(([q]) => images[q]!.kept.includes(1));
  return {
    result: {
      ...variant,
      rank1: roundInterval(bootstrapInterval(plan, (w) => weightedMean(rank1, qWeight(w)))),
      chance: round(mean([...chance])),
      ratioToChance: roundInterval(bootstrapInterval(plan, (w) => weightedMean(rank1, qWeight(w)) / weightedMean(chance, qWeight(w)))),
      auc: roundInterval(bootstrapInterval(plan, (w) => auc.auc((i) => pairWeight(w, pa[i]!, pb[i]!)))),
      rank1AmongKeeping: round(mean(keeping.map(([, k]) => rank1[k]!))),
      ...linkageBreakdown(images, linkable, rank1),
      seconds,
    },
    curve: rocCurve(labels, scores),
  };
}

export async function evaluateAnonymization(images: EvalImage[], models: EvaluationModels, options: EvalOptions = {}): Promise<AnonymizationReport> {
  const pairSeed = options.pairSeed ?? DEFAULT_PAIR_SEED;
  const boot = options.bootstrap ?? DEFAULT_BOOTSTRAP;
  const patientIds = [...new Set(images.map((i) => i.patient))];
  const patientIndex = Int32Array.from(images, (i) => patientIds.indexOf(i.patient));
  const plan = bootstrapPlan(patientIds.length, boot.resamples, boot.seed);
  const imageWeight = (w: ArrayLike<number>) => (i: number) => w[patientIndex[i]!]!;
  const interval = (statistic: (w: ArrayLike<number>) => number): Interval => roundInterval(bootstrapInterval(plan, statistic));
  const originals = images.map((i) => i.original);
  const anonymized = images.map((i) => i.anonymized);

  // privacy, the network: the attacker holds another original image of the patient and the released one
  const [eo, ea] = [await models.embed(originals), await models.embed(anonymized)];
  const { pairs, same } = reidPairs(images, pairSeed);
  const scoresOriginal = await models.samePatient(pairs.map(([i]) => eo[i]!), pairs.map(([, j]) => eo[j]!));
  const scoresAnonymized = await models.samePatient(pairs.map(([i]) => ea[i]!), pairs.map(([, j]) => eo[j]!));
  const pairW = (w: ArrayLike<number>) => (k: number) => pairWeight(w, patientIndex[pairs[k]![0]]!, patientIndex[pairs[k]![1]]!);
  const reidO = new WeightedAuc(same, scoresOriginal);
  const reidA = new WeightedAuc(same, scoresAnonymized);

  // privacy, the pixels released unchanged
  const maxShift = options.attack?.maxShift ?? 8;
  const variants = (options.attack?.variants ?? DEFAULT_ATTACK_VARIANTS).map((v) => attackVariant(images, patientIndex, plan, v, maxShift, options.progress));
  const strongestIndex = variants.reduce((best, v, k) => (v.result.rank1.estimate > variants[best]!.result.rank1.estimate || (v.result.rank1.estimate === variants[best]!.result.rank1.estimate && v.result.auc.estimate > variants[best]!.result.auc.estimate) ? k : best), 0);
  const strongest = variants[strongestIndex]!;
  const linkable = images.filter((img) => images.some((o) => o !== img && o.patient === img.patient)).length;

  // fairness
  const [po, pa] = [await models.judgeAttributes(originals), await models.judgeAttributes(anonymized)];
  const share = (p: [number, number][], k: 0 | 1): number => round(mean(p.map((v) => (v[k] > 0.5 ? 1 : 0))));
  const flipped = (k: 0 | 1): number => round(mean(po.map((v, i) => ((v[k] > 0.5) !== (pa[i]![k] > 0.5) ? 1 : 0))));

  // utility
  const [dO, dA] = [await models.diagnose(originals), await models.diagnose(anonymized)];
  const diagnostic = models.findings.map((finding, f) => {
    const truth = images.map((i) => i.findings.includes(finding.toLowerCase()));
    const so = dO.map((p) => p[f]!);
    const sa = dA.map((p) => p[f]!);
    const [ao, aa] = [new WeightedAuc(truth, so), new WeightedAuc(truth, sa)];
    return {
      finding,
      positives: truth.filter(Boolean).length,
      aucOriginals: interval((w) => ao.auc(imageWeight(w))),
      aucAnonymized: interval((w) => aa.auc(imageWeight(w))),
      aucDrop: interval((w) => ao.auc(imageWeight(w)) - aa.auc(imageWeight(w))),
      correlation: interval((w) => weightedPearson(so, sa, imageWeight(w))),
    };
  });

  let hallucinations: AnonymizationReport['hallucinations'];
  if (options.detector) {
    const bar = options.progress?.(images.length, 'detecting findings');
    const list: Hallucination[] = [];
    const onReleased = new Float64Array(images.length);
    const onOriginal = new Float64Array(images.length);
    const added = new Float64Array(images.length);
    const keepLevel = options.detector.keepConfidence;
    const confident = (d: FoundFinding): boolean => keepLevel !== undefined && d.score >= keepThreshold({ keepConfidence: keepLevel }, d.finding);
    const high = { onReleased: new Float64Array(images.length), onOriginal: new Float64Array(images.length), added: new Float64Array(images.length) };
    let addedFindings = 0;
    for (const [i, img] of images.entries()) {
      const width = img.original.width;
      const original = await options.detector.detect(img.original);
      const found = hallucinatedFindings(await options.detector.detect(img.anonymized), img.truth, img.kept, width);
      const baseline = hallucinatedFindings(original, img.truth, img.kept, width);
      const fresh = notFoundOn(found, original);
      high.onReleased[i] = found.some(confident) ? 1 : 0;
      high.onOriginal[i] = baseline.some(confident) ? 1 : 0;
      high.added[i] = fresh.some(confident) ? 1 : 0;
      onReleased[i] = found.length ? 1 : 0;
      onOriginal[i] = baseline.length ? 1 : 0;
      added[i] = fresh.length ? 1 : 0;
      addedFindings += fresh.length;
      for (const h of found) list.push({ image: img.image, finding: h.finding, score: round(h.score), box: h.box.map((v) => Math.round(v)) as Hallucination['box'] });
      bar?.tick();
    }
    bar?.stop();
    const byFinding: Record<string, number> = {};
    for (const h of list) byFinding[h.finding] = (byFinding[h.finding] ?? 0) + 1;
    hallucinations = {
      confidence: options.detector.confidence,
      rule: 'a finding the detector reports on the released image at the confidence given, with less than half of its box in the kept regions, that no ground-truth finding of the same label explains (IoU >= 0.1 or its centre inside the truth box)',
      imagesWith: sum(onReleased),
      share: interval((w) => weightedMean(onReleased, imageWeight(w))),
      findings: list.length,
      byFinding,
      originals: { imagesWith: sum(onOriginal), share: interval((w) => weightedMean(onOriginal, imageWeight(w))) },
      added: { imagesWith: sum(added), share: interval((w) => weightedMean(added, imageWeight(w))), findings: addedFindings },
      ...(keepLevel !== undefined
        ? {
            atKeepConfidence: {
              confidence: typeof keepLevel === 'number' ? String(keepLevel) : Object.entries(keepLevel).map(([k, v]) => `${k} ${v}`).join(', '),
              imagesWith: sum(high.onReleased),
              share: interval((w) => weightedMean(high.onReleased, imageWeight(w))),
              originals: { imagesWith: sum(high.onOriginal), share: interval((w) => weightedMean(high.onOriginal, imageWeight(w))) },
              added: { imagesWith: sum(high.added), share: interval((w) => weightedMean(high.added, imageWeight(w))) },
            },
          }
        : {}),
      list,
    };
  }

  // the attacks trained on another split of patients
  const t = options.trained;
  const summary = (info: { steps: number; seconds: number; seed: number; final_loss: number }, auc: Interval): TrainedAttackSummary => ({ auc, steps: info.steps, seconds: info.seconds, seed: info.seed, finalLoss: info.final_loss });
  const curves: Partial<AnonymizationReport['roc']> = {};
  let retrained: TrainedAttackSummary | undefined;
  let keptRegionVerifier: TrainedAttackSummary | undefined;
  let realism: AnonymizationReport['realism'];
  let readable: AnonymizationReport['attributes']['readable'];
  if (t) {
    const [rv, kv] = [new WeightedAuc(same, t.verifier.scores), new WeightedAuc(same, t.kept_verifier.scores)];
    const [ro, ko] = [new WeightedAuc(same, t.verifier.scores_originals), new WeightedAuc(same, t.kept_verifier.scores_originals)];
    retrained = { ...summary(t.verifier, interval((w) => rv.auc(pairW(w)))), aucOnOriginals: interval((w) => ro.auc(pairW(w))), init: t.verifier.init, startAucOnOriginals: t.verifier.start_auc_originals };
    keptRegionVerifier = { ...summary(t.kept_verifier, interval((w) => kv.auc(pairW(w)))), aucOnOriginals: interval((w) => ko.auc(pairW(w))), init: t.kept_verifier.init, startAucOnOriginals: t.kept_verifier.start_auc_originals };
    curves.reidRetrained = roundCurve(rocCurve(same, t.verifier.scores));
    curves.keptRegionVerifier = roundCurve(rocCurve(same, t.kept_verifier.scores));
    // each image twice: as the real original (0) and as its released version (1)
    const discriminated = (d: { real: number[]; regenerated: number[] }): { auc: WeightedAuc; labels: boolean[]; scores: number[] } => {
      const labels = [...d.real.map(() => false), ...d.regenerated.map(() => true)];
      const scores = [...d.real, ...d.regenerated];
      return { auc: new WeightedAuc(labels, scores), labels, scores };
    };
    const twice = (w: ArrayLike<number>) => (i: number) => w[patientIndex[i % images.length]!]!;
    const real = discriminated(t.realism);
    curves.realism = roundCurve(rocCurve(real.labels, real.scores));
    const floor = t.realism_floor ? discriminated(t.realism_floor) : undefined;
    if (floor) curves.realismFloor = roundCurve(rocCurve(floor.labels, floor.scores));
    const frechetOf = (f: FrechetInterval): Interval => ({ estimate: f.estimate, lo: f.lo, hi: f.hi });
    realism = {
      discriminator: summary(t.realism, interval((w) => real.auc.auc(twice(w)))),
      ...(floor && t.realism_floor ? { vaeRoundTrip: summary(t.realism_floor, interval((w) => floor.auc.auc(twice(w)))) } : {}),
      ...(t.frechet ? { frechet: { features: t.frechet.features, released: frechetOf(t.frechet.released), ...(t.frechet.vae_round_trip ? { vaeRoundTrip: frechetOf(t.frechet.vae_round_trip) } : {}) } } : {}),
    };
    const judged = (labels: boolean[], scores: number[]): Interval => {
      const a = new WeightedAuc(labels, scores);
      return interval((w) => a.auc(imageWeight(w)));
    };
    const male = images.map((i) => i.male);
    const old = images.map((i) => i.old);
    readable = {
      sex: { originalsJudge: judged(male, pa.map((p) => p[0])), retrainedJudge: judged(male, t.attributes.scores.map((p) => p[0])) },
      age: { originalsJudge: judged(old, pa.map((p) => p[1])), retrainedJudge: judged(old, t.attributes.scores.map((p) => p[1])) },
      retrainedJudge: summary(t.attributes, judged(male, t.attributes.scores.map((p) => p[0]))),
    };
  }

  const targets: TargetResult[] = [
    atMost('kept-region attack: rank-1 linkage / chance', strongest.result.ratioToChance, TARGETS.keptRegionRank1OverChance),
    ...diagnostic.map((d) => atMost(`diagnostic AUC drop, ${d.finding}`, d.aucDrop, TARGETS.diagnosticAucDrop)),
    ...diagnostic.map((d) => atLeast(`diagnostic output correlation, ${d.finding}`, d.correlation, TARGETS.diagnosticCorrelation)),
    ...(hallucinations ? [atMost('share of images with a hallucinated finding', hallucinations.share, TARGETS.hallucinatedShare)] : []),
    ...(retrained
      ? [
          unlessIncompetent(atMost('re-identification AUC, verifier retrained on released images', retrained.auc, TARGETS.retrainedReidAuc), retrained.aucOnOriginals?.estimate ?? Number.NaN),
          unlessIncompetent(atMost('re-identification AUC, retrained verifier, upper 95% bound', { estimate: retrained.auc.hi, lo: retrained.auc.hi, hi: retrained.auc.hi }, TARGETS.retrainedReidAucUpper), retrained.aucOnOriginals?.estimate ?? Number.NaN),
        ]
      : []),
    ...(realism ? [atMost('real-versus-regenerated discriminator AUC', realism.discriminator.auc, TARGETS.realismAuc)] : []),
  ];

  return {
    images: images.length,
    patients: patientIds.length,
    keptShare: keptShares(images),
    reidentification: {
      pairs: pairs.length,
      samePatientPairs: same.filter(Boolean).length,
      aucOriginals: interval((w) => reidO.auc(pairW(w))),
      aucAnonymized: interval((w) => reidA.auc(pairW(w))),
      ...(retrained ? { retrained } : {}),
      ...(keptRegionVerifier ? { keptRegionVerifier } : {}),
    },
    ...(t ? { trainedOn: { images: t.attack_images, patients: t.attack_patients, seed: t.seed, pretrainedBackbone: t.pretrained_backbone } } : {}),
    ...(realism ? { realism } : {}),
    keptRegionAttack: {
      assumption: 'the attacker holds every original of the split but the released image\'s own source, and knows which pixels were kept (the strongest assumption)',
      maxShift,
      gallery: images.length - 1,
      linkable,
      variants: variants.map((v) => v.result),
      strongest: strongest.result,
      maskFromGrain: maskFromGrain(images),
    },
    attributes: {
      judgedMale: { originals: share(po, 0), anonymized: share(pa, 0) },
      judgedOld: { originals: share(po, 1), anonymized: share(pa, 1) },
      aucSex: { originals: round(rocAuc(images.map((i) => i.male), po.map((p) => p[0]))), anonymized: round(rocAuc(images.map((i) => i.male), pa.map((p) => p[0]))) },
      aucAge: { originals: round(rocAuc(images.map((i) => i.old), po.map((p) => p[1]))), anonymized: round(rocAuc(images.map((i) => i.old), pa.map((p) => p[1]))) },
      sexFlipped: flipped(0),
      ageFlipped: flipped(1),
      ...(readable ? { readable } : {}),
    },
    diagnostic,
    ...(hallucinations ? { hallucinations } : {}),
    targets,
    bootstrap: { unit: 'patient', method: 'percentile', resamples: plan.resamples, seed: plan.seed, level: plan.level },
    seeds: { pairs: pairSeed, bootstrap: plan.seed },
    roc: { reidOriginals: roundCurve(rocCurve(same, scoresOriginal)), reidAnonymized: roundCurve(rocCurve(same, scoresAnonymized)), keptRegionAttack: roundCurve(strongest.curve), ...curves },
  };
}
