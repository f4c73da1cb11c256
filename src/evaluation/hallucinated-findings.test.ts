import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hallucinatedFindings, notFoundOn, type FoundFinding } from './hallucinated-findings.js';
import { keptMaskOf } from './kept-region-attack.js';

describe('hallucinated findings', () => {
  // a 100 x 100 image keeping one box, with a true effusion and a true nodule
  const kept = keptMaskOf([{ box: [10, 10, 40, 40] }], [], 100, 100);
  const truth = [
    { label: 'effusion', box: [60, 70, 95, 95] },
    { label: 'nodule', box: [20, 20, 30, 30] },
  ];
  const found = (finding: string, box: [number, number, number, number]): FoundFinding => ({ finding, score: 0.6, box });

  it('counts only findings in regenerated pixels that the ground truth does not have', () => {
    const detections = [
      found('nodule', [21, 21, 31, 31]), // the kept nodule itself
      found('mass', [12, 12, 36, 36]), // inside the kept box: released pixels, not generated ones
      found('effusion', [58, 72, 92, 96]), // regenerated, but the patient has it there
      found('nodule', [70, 20, 82, 32]), // regenerated, nowhere in the truth
      found('effusion', [5, 60, 30, 90]), // regenerated, the patient's effusion is elsewhere
      found('Consolidation', [45, 5, 60, 20]), // a label the image does not have at all
    ];
    const h = hallucinatedFindings(detections, truth, kept, 100);
    assert.deepEqual(h.map((d) => d.finding), ['nodule', 'effusion', 'Consolidation']);
  });

  it('matches a truth box by label whatever the case, and counts a box mostly outside the kept region', () => {
    assert.deepEqual(hallucinatedFindings([found('Effusion', [62, 68, 96, 94])], truth, kept, 100), []);
    // 30 x 30 box, a quarter of it kept: mostly generated
    assert.equal(hallucinatedFindings([found('mass', [25, 25, 55, 55])], truth, kept, 100).length, 1);
    assert.equal(hallucinatedFindings([found('mass', [25, 25, 55, 55])], truth, new Uint8Array(100 * 100).fill(1), 100).length, 0);
  });

  it('tells what the regeneration added from what the detector also reports on the original', () => {
    const onReleased = [found('nodule', [70, 20, 82, 32]), found('mass', [5, 60, 30, 90])];
    const onOriginal = [found('nodule', [71, 21, 83, 33]), found('effusion', [5, 60, 30, 90])];
    assert.deepEqual(notFoundOn(onReleased, onOriginal).map((d) => d.finding), ['mass']);
  });
});
