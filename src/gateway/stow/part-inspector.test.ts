/**
 * The STOW-RS part inspector: each part is held to the input limits while its bytes pass, whatever their
 * chunking, with memory independent of the part's size; the identity the STOW answer needs (SOP Class, SOP
 * Instance, Study Instance UID) comes out of the same pass; a part that is no DICOM is for the PACS to judge, not a
 * limit, unless what cannot be followed could nest deeper than the limit.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FIXTURE_UIDS, fixture } from '../../../test/harness/fixtures.js';
import { DEFAULT_INPUT_LIMITS, type InputLimits } from '../../dicom/input-limits.js';
import { deflateBomb, nestedInstance, probeUids } from '../../dicom/limit-probes.test-support.js';
import { AnofairError } from '../../errors/anofair-error.js';
import { PartInspector, type PartInspection } from './part-inspector.js';

const MiB = 1024 * 1024;

async function inspect(bytes: Buffer, chunk: number, limits: InputLimits = DEFAULT_INPUT_LIMITS): Promise<PartInspection & { refusedAt?: number; error?: AnofairError }> {
  const inspector = new PartInspector(limits, 'part 1');
  try {
    for (let i = 0; i < bytes.length; i += chunk) {
      try {
        await inspector.push(bytes.subarray(i, i + chunk));
      } catch (err) {
        assert.ok(err instanceof AnofairError, String(err));
        return { refusedAt: i + chunk, error: err };
      }
    }
    return await inspector.end();
  } catch (err) {
    assert.ok(err instanceof AnofairError, String(err));
    return { refusedAt: bytes.length, error: err };
  } finally {
    inspector.destroy();
  }
}

describe('STOW-RS part inspector', () => {
  for (const name of ['pydicom/CT_small.dcm', 'pydicom/MR_small.dcm', 'pydicom/CR1_6154_dicomdir.dcm', 'pydicom/JPEG2000.dcm'] as const) {
    it(`reads the identity of ${name} in any chunking`, async () => {
      for (const chunk of [1, 13, 64 * 1024]) {
        const result = await inspect(fixture(name), chunk);
        assert.equal(result.error, undefined);
        assert.equal(result.unreadable, undefined, `${chunk}: ${result.unreadable}`);
        assert.equal(result.identity?.sopInstanceUID, FIXTURE_UIDS[name].instance);
        assert.equal(result.identity?.studyInstanceUID, FIXTURE_UIDS[name].study);
        assert.ok(result.identity?.sopClassUID?.startsWith('1.2.840.10008.5.1.4.1.1.'));
      }
    });
  }

  it('reads other transfer syntaxes: big endian, deflated, a real SR', async () => {
    for (const name of ['pydicom/MR_small_bigendian.dcm', 'pydicom/image_dfl.dcm', 'pydicom/test-SR.dcm']) {
      const result = await inspect(fixture(name), 4096);
      assert.equal(result.error, undefined, name);
      assert.equal(result.unreadable, undefined, `${name}: ${result.unreadable}`);
      assert.ok(result.identity?.sopInstanceUID, name);
    }
  });

  it('refuses a deflate bomb once the inflated count passes the limit, long before the end of the part', async () => {
    const uids = probeUids();
    const bomb = deflateBomb(64 * MiB, uids);
    const result = await inspect(bomb, 4096, { ...DEFAULT_INPUT_LIMITS, maxInflatedBytes: 8 * MiB });
    assert.equal(result.error?.code, 'DICOM_LIMIT');
    assert.match(result.error!.message, /^part 1: the deflated data set inflates to more than 8388608 bytes \(limits\.maxInflatedBytes\)$/);
    assert.ok(result.refusedAt! < bomb.length / 2, `refused at byte ${result.refusedAt} of ${bomb.length}`);
    // Within the limit, the same bomb is a valid instance.
    const fine = await inspect(bomb, 4096, { ...DEFAULT_INPUT_LIMITS, maxInflatedBytes: 128 * MiB });
    assert.equal(fine.error, undefined);
    assert.equal(fine.identity?.sopInstanceUID, uids.instance);
  });

  it('refuses sequences nested past the limit as soon as the level is reached', async () => {
    for (const syntax of ['explicit', 'implicit', 'deflated'] as const) {
      const deep = nestedInstance({ depth: 100_000, syntax });
      const result = await inspect(deep, 16 * 1024);
      assert.equal(result.error?.code, 'DICOM_LIMIT', syntax);
      assert.match(result.error!.message, /^part 1: sequences are nested more than 32 levels deep \(limits\.maxSequenceDepth\)$/);
      assert.ok(result.refusedAt! <= 32 * 1024, `${syntax}: refused at byte ${result.refusedAt} of ${deep.length}`);
      const limit = await inspect(nestedInstance({ depth: 32, syntax, definedLengths: true }), 7);
      assert.equal(limit.error, undefined, syntax);
      assert.equal(limit.unreadable, undefined, syntax);
    }
  });

  it('counts nesting inside a UN value of defined length that the dictionary calls a sequence', async () => {
    const result = await inspect(nestedInstance({ depth: 40, definedLengths: true, outermostAsUN: true }), 1024);
    assert.equal(result.error?.code, 'DICOM_LIMIT');
  });

  it('leaves a part that is no DICOM, or is truncated, to the PACS: no limit, a reason', async () => {
    const text = await inspect(Buffer.from('not dicom at all'), 5);
    assert.equal(text.error, undefined);
    assert.match(text.unreadable!, /not DICOM/);
    assert.equal(text.identity, undefined);
    const cut = await inspect(fixture('pydicom/MR_small.dcm').subarray(0, 3000), 1000);
    assert.equal(cut.error, undefined);
    assert.match(cut.unreadable!, /truncated/);
    assert.equal(cut.identity?.sopInstanceUID, FIXTURE_UIDS['pydicom/MR_small.dcm'].instance);
  });

  it('refuses a part it cannot follow when, past that point, it holds more item tags than the depth limit', async () => {
    const deep = nestedInstance({ depth: 50 });
    // Break the structure early: a VR that is no VR in the first element after the File Meta Information.
    const at = deep.indexOf(Buffer.from([0x08, 0x00, 0x16, 0x00])) + 4;
    deep[at] = 0x3f;
    const result = await inspect(deep, 512);
    assert.equal(result.error?.code, 'DICOM_LIMIT');
    assert.match(result.error!.message, /holds more than 32 item tags/);
    const shallow = nestedInstance({ depth: 3 });
    shallow[shallow.indexOf(Buffer.from([0x08, 0x00, 0x16, 0x00])) + 4] = 0x3f;
    const relayed = await inspect(shallow, 512);
    assert.equal(relayed.error, undefined);
    assert.match(relayed.unreadable!, /no valid value representation/);
  });

  it('counts elements across items', async () => {
    const result = await inspect(nestedInstance({ depth: 10 }), 100, { ...DEFAULT_INPUT_LIMITS, maxElements: 20 });
    assert.match(result.error!.message, /^part 1: the data set holds more than 20 data elements \(limits\.maxElements\)$/);
  });
});
