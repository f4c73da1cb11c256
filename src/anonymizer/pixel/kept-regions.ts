import type { Detection, DetectionMask } from './yolo-detector.js';

/**
 * Which pixels of a radiograph are released unchanged. Every kept pixel is a pixel of the patient, and a kept
 * box carries more than its lesion (ribs, bone texture, wires) that can link the image to its patient; so a
 * region is kept only for a confident finding, each box is capped in area, and the whole image keeps at most a
 * set share. Where the detector gives a mask (a YOLOv8-seg export), only the lesion's own pixels inside the box
 * are kept. Burned-in text, and any object the detector names that is not a finding (an implant, a wire, a
 * device), is found at a low threshold (a miss is a leak, a false one costs a few regenerated pixels) and is
 * regenerated even inside a kept box.
 */

export interface KeepPolicy {
  /** Lowest score of a kept finding: one for every class, or per class (others: DEFAULT_KEEP_CONFIDENCE). */
  keepConfidence: number | Readonly<Record<string, number>>;
  /** Lowest score of a burned-in text box that is regenerated. */
  textConfidence: number;
  /** Margin around each kept box, as a fraction of the image's width and height (the method: 1/32). */
  margin: number;
  /** Largest share of the image one kept box (with its margin) may cover; a larger one is shrunk around its centre. */
  maxBoxFraction: number;
  /** Largest share of the image all kept boxes together may cover; the least confident beyond it are regenerated. */
  maxKeptFraction: number;
  /**
   * The findings whose pixels may be kept (lower case; undefined: every finding). The others are still named in
   * the prompt and drawn by the generator, never copied: a large or diffuse finding (a heart, a pleural zone)
   * carries much of the patient's own anatomy and little that a copy adds over a drawing.
   */
  keepFindings?: readonly string[];
}

export const DEFAULT_KEEP_CONFIDENCE = 0.5;

export const DEFAULT_KEEP_POLICY: KeepPolicy = {
  keepConfidence: DEFAULT_KEEP_CONFIDENCE,
  textConfidence: 0.25,
  margin: 1 / 32,
  maxBoxFraction: 0.12,
  maxKeptFraction: 0.2,
};

export type Box = [number, number, number, number];

export interface KeptRegion {
  finding: string;
  score: number;
  /** x0, y0, x1, y1 in the image's own pixels, after the margin and the cap */
  box: Box;
  /** why the box is smaller than the detector's, when the cap shrank it */
  capped?: string;
  /** 'mask': only the lesion's pixels inside the box are kept (a segmentation detector's mask) */
  shape?: 'mask';
  /** with a mask: the share of the box it keeps */
  maskShare?: number;
}

/** An identifying object that is not a finding (an implant, a wire, a device): regenerated wherever it is. */
export interface IdentifyingRegion {
  className: string;
  box: Box;
}

/** A finding the detector reported whose region is regenerated all the same, and why. */
export interface WithheldRegion {
  finding: string;
  score: number;
  reason: string;
}

export interface KeptRegionPlan {
  kept: KeptRegion[];
  /** the masks of the kept regions that have one, by index into kept (not part of any record: pixels) */
  masks: (DetectionMask | undefined)[];
  text: Box[];
  identifying: IdentifyingRegion[];
  withheld: WithheldRegion[];
}

/** Pixels of the mask inside the box. */
function maskArea(mask: DetectionMask, b: Box): number {
  const [mx0, my0, mx1] = mask.box;
  const mw = mx1 - mx0;
  let n = 0;
  for (let y = Math.max(b[1], my0); y < Math.min(b[3], mask.box[3]); y++) {
    for (let x = Math.max(b[0], mx0); x < Math.min(b[2], mx1); x++) n += mask.data[(y - my0) * mw + (x - mx0)]!;
  }
  return n;
}

export function expandBox(box: readonly number[], mx: number, my: number, w: number, h: number): Box {
  return [Math.max(0, Math.floor(box[0]! - mx)), Math.max(0, Math.floor(box[1]! - my)), Math.min(w, Math.ceil(box[2]! + mx)), Math.min(h, Math.ceil(box[3]! + my))];
}

const area = (b: Box): number => Math.max(0, b[2] - b[0]) * Math.max(0, b[3] - b[1]);

/** The box shrunk around its centre, keeping its aspect ratio, to at most maxArea pixels. */
function shrink(b: Box, maxArea: number, w: number, h: number): Box {
  const f = Math.sqrt(maxArea / area(b));
  const cx = (b[0] + b[2]) / 2;
  const cy = (b[1] + b[3]) / 2;
  const hw = ((b[2] - b[0]) * f) / 2;
  const hh = ((b[3] - b[1]) * f) / 2;
  return [Math.max(0, Math.ceil(cx - hw)), Math.max(0, Math.ceil(cy - hh)), Math.min(w, Math.floor(cx + hw)), Math.min(h, Math.floor(cy + hh))];
}

export function keepThreshold(policy: Pick<KeepPolicy, 'keepConfidence'>, finding: string): number {
  const t = policy.keepConfidence;
  return typeof t === 'number' ? t : (t[finding] ?? DEFAULT_KEEP_CONFIDENCE);
}

const pct = (x: number): string => `${Math.round(x * 100)}%`;

/**
 * The regions to keep and the text and objects to regenerate, from the detector's boxes in the image's own pixels.
 * classes.identifying: the classes that are neither findings nor text (default: none).
 */
export function planKeptRegions(detections: readonly Detection[], classes: { keep: ReadonlySet<string>; text: ReadonlySet<string>; identifying?: ReadonlySet<string> }, policy: KeepPolicy, width: number, height: number): KeptRegionPlan {
  const image = width * height;
  const mx = policy.margin * width;
  const my = policy.margin * height;
  const text = detections.filter((d) => classes.text.has(d.className) && d.score >= policy.textConfidence).map((d) => expandBox(d.box, mx, my, width, height));
  const identifying = detections
    .filter((d) => classes.identifying?.has(d.className) && !classes.keep.has(d.className) && d.score >= policy.textConfidence)
    .map((d) => ({ className: d.className, box: expandBox(d.box, mx, my, width, height) }));
  const withheld: WithheldRegion[] = [];
  const kept: KeptRegion[] = [];
  const masks: (DetectionMask | undefined)[] = [];
  let keptArea = 0;
  const findings = detections.filter((d) => classes.keep.has(d.className)).sort((a, b) => b.score - a.score);
  const keepable = policy.keepFindings ? new Set(policy.keepFindings.map((f) => f.toLowerCase())) : undefined;
  for (const d of findings) {
    const score = Math.round(d.score * 1000) / 1000;
    if (keepable && !keepable.has(d.className.toLowerCase())) {
      withheld.push({ finding: d.className, score, reason: 'the keep policy keeps no pixels of this finding' });
      continue;
    }
    const threshold = keepThreshold(policy, d.className);
    if (d.score < threshold) {
      withheld.push({ finding: d.className, score, reason: `score below the keep threshold ${threshold}` });
      continue;
    }
    let box = expandBox(d.box, mx, my, width, height);
    let capped: string | undefined;
    if (area(box) > policy.maxBoxFraction * image) {
      capped = `the box covered ${pct(area(box) / image)} of the image; shrunk around its centre to the cap of ${pct(policy.maxBoxFraction)}`;
      box = shrink(box, policy.maxBoxFraction * image, width, height);
    }
    // regions overlapping ones already kept are counted whole: the total stays an upper bound
    const region = d.mask ? maskArea(d.mask, box) : area(box);
    if (keptArea + region > policy.maxKeptFraction * image) {
      withheld.push({ finding: d.className, score, reason: `keeping it would keep more than ${pct(policy.maxKeptFraction)} of the image` });
      continue;
    }
    keptArea += region;
    kept.push({ finding: d.className, score, box, ...(capped ? { capped } : {}), ...(d.mask ? { shape: 'mask' as const, maskShare: Math.round((region / Math.max(1, area(box))) * 1000) / 1000 } : {}) });
    masks.push(d.mask);
  }
  return { kept, masks, text, identifying, withheld };
}

/**
 * The keep mask (1 = keep) at a given size: kept boxes scaled to it (where a region has a lesion mask, only the
 * pixels whose place in the image is in the mask), less the text and identifying boxes (with their margin).
 */
export function keepMask(plan: Pick<KeptRegionPlan, 'kept' | 'text'> & Partial<Pick<KeptRegionPlan, 'masks' | 'identifying'>>, scaleX: number, scaleY: number, width: number, height: number): Uint8Array {
  const mask = new Uint8Array(width * height);
  const fill = (b: Box, value: number): void => {
    for (let y = b[1]; y < b[3]; y++) mask.fill(value, y * width + b[0], y * width + b[2]);
  };
  const scaled = (b: Box): Box => expandBox([b[0] * scaleX, b[1] * scaleY, b[2] * scaleX, b[3] * scaleY], 0, 0, width, height);
  plan.kept.forEach((k, index) => {
    const lesion = plan.masks?.[index];
    const b = scaled(k.box);
    if (!lesion) return fill(b, 1);
    const [mx0, my0, mx1, my1] = lesion.box;
    const mw = mx1 - mx0;
    for (let y = b[1]; y < b[3]; y++) {
      // the image pixel this pixel stands for, which must lie in the kept box as well as in the mask
      const iy = Math.floor((y + 0.5) / scaleY);
      if (iy < my0 || iy >= my1 || iy < k.box[1] || iy >= k.box[3]) continue;
      for (let x = b[0]; x < b[2]; x++) {
        const ix = Math.floor((x + 0.5) / scaleX);
        if (ix < mx0 || ix >= mx1 || ix < k.box[0] || ix >= k.box[2]) continue;
        if (lesion.data[(iy - my0) * mw + (ix - mx0)]) mask[y * width + x] = 1;
      }
    }
  });
  for (const t of plan.text) fill(scaled(t), 0);
  for (const o of plan.identifying ?? []) fill(scaled(o.box), 0);
  return mask;
}
