/**
 * Findings the regeneration invented. The detector is run on the released image; a finding it reports in the
 * regenerated part (less than half of its box inside the kept regions) that no ground-truth finding of the same
 * label explains (box overlap IoU >= 0.1, or the detection's centre inside the truth box) is a hallucination: a
 * reader of the released image would see a disease the patient does not have.
 */

export type Box = [number, number, number, number];

export interface FoundFinding {
  finding: string;
  score: number;
  box: Box;
}

export interface TruthFinding {
  label: string;
  box: readonly number[];
}

export const MATCH_IOU = 0.1;
export const INSIDE_KEPT = 0.5;

function iou(a: readonly number[], b: readonly number[]): number {
  const w = Math.max(0, Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!));
  const h = Math.max(0, Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!));
  const inter = w * h;
  const union = (a[2]! - a[0]!) * (a[3]! - a[1]!) + (b[2]! - b[0]!) * (b[3]! - b[1]!) - inter;
  return union > 0 ? inter / union : 0;
}

/** Share of a box's pixels that the mask keeps. */
function keptShareOf(box: readonly number[], kept: Uint8Array, width: number): number {
  const height = kept.length / width;
  const [x0, y0, x1, y1] = [Math.max(0, Math.floor(box[0]!)), Math.max(0, Math.floor(box[1]!)), Math.min(width, Math.ceil(box[2]!)), Math.min(height, Math.ceil(box[3]!))];
  let inside = 0;
  let all = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      all++;
      inside += kept[y * width + x]!;
    }
  }
  return all ? inside / all : 0;
}

export function explainedByTruth(d: FoundFinding, truth: readonly TruthFinding[]): boolean {
  const cx = (d.box[0] + d.box[2]) / 2;
  const cy = (d.box[1] + d.box[3]) / 2;
  return truth.some((t) => t.label.toLowerCase() === d.finding.toLowerCase() && (iou(t.box, d.box) >= MATCH_IOU || (cx >= t.box[0]! && cx < t.box[2]! && cy >= t.box[1]! && cy < t.box[3]!)));
}

/** The detections (already at the reporting threshold, findings only) that are hallucinations. */
export function hallucinatedFindings(detections: readonly FoundFinding[], truth: readonly TruthFinding[], kept: Uint8Array, width: number): FoundFinding[] {
  return detections.filter((d) => keptShareOf(d.box, kept, width) < INSIDE_KEPT && !explainedByTruth(d, truth));
}

/** The findings not reported on the reference (the original) at the same place (same label, IoU >= 0.1 or the
 * centre inside the reference's box): what the regeneration added, not the detector's own errors on the patient. */
export function notFoundOn(found: readonly FoundFinding[], reference: readonly FoundFinding[]): FoundFinding[] {
  const asTruth = reference.map((r) => ({ label: r.finding, box: r.box }));
  return found.filter((d) => !explainedByTruth(d, asTruth));
}
