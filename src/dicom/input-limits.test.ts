/**
 * The input limits of the DICOM reader (docs/INPUT-LIMITS.md): no instance, however made, makes readPart10 use
 * unbounded memory or time. A deflated data set inflates to at most limits.maxInflatedBytes; sequences nest at most
 * limits.maxSequenceDepth deep, also when hidden in a UN value; a data set holds at most limits.maxElements
 * elements; and the read is linear in the nesting depth. Beyond a limit: DICOM_LIMIT (413) naming the limit,
 * never a crash, a stall or a value from the data set.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { publicFixture } from '../../test/support/repo-paths.js';
import { AnofairError } from '../errors/anofair-error.js';
import { DEFAULT_INPUT_LIMITS, StructureScanner } from './input-limits.js';
import { deflateBomb, nestedInstance } from './limit-probes.test-support.js';
import { readPart10 } from './part10.js';

const MiB = 1024 * 1024;

function refusedFor(limit: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof AnofairError, String(err));
    assert.equal(err.code, 'DICOM_LIMIT', err.message);
    assert.equal(err.httpStatus, 413);
    assert.equal(err.details?.limit, `limits.${limit}`);
    assert.ok(err.message.includes(`limits.${limit}`), err.message);
    assert.ok(!/Probe|PROBE|2\.25\./.test(err.message), 'no value from the data set in the message');
    return true;
  };
}

/** Items in the Content Sequence chain of a read data set. */
function depthOf(dataset: Record<string, { Value?: unknown[] }>): number {
  let depth = 0;
  for (let item = dataset; item?.['0040A730']; depth++) item = item['0040A730']!.Value?.[0] as typeof dataset;
  return depth;
}

describe('input limits of the DICOM reader', () => {
  test('the defaults: 256 MiB inflated, 32 levels of sequences, 250,000 elements', () => {
    assert.deepEqual({ ...DEFAULT_INPUT_LIMITS }, { maxInflatedBytes: 256 * MiB, maxSequenceDepth: 32, maxElements: 250_000 });
    assert.ok(Object.isFrozen(DEFAULT_INPUT_LIMITS));
  });

  test('a deflate bomb (1 MiB that inflates to 1 GiB) is refused at maxInflatedBytes, its memory bounded by the limit', () => {
    const bomb = deflateBomb(1024 * MiB);
    assert.ok(bomb.length < 1.2 * MiB, `the bomb is ${bomb.length} bytes`);
    const before = process.memoryUsage();
    const started = performance.now();
    assert.throws(() => readPart10(bomb), refusedFor('maxInflatedBytes'));
    const ms = performance.now() - started;
    const grown = process.memoryUsage().rss - before.rss;
    assert.ok(ms < 5_000, `refused after ${Math.round(ms)} ms`);
    assert.ok(grown < 700 * MiB, `RSS grew by ${Math.round(grown / MiB)} MiB (limit 256 MiB)`);
  });

  test('the bound is the configured one: 8 MiB refuses a data set of 16 MiB, 32 MiB reads it', () => {
    const bomb = deflateBomb(16 * MiB);
    assert.throws(() => readPart10(bomb, { limits: { maxInflatedBytes: 8 * MiB } }), refusedFor('maxInflatedBytes'));
    const file = readPart10(bomb, { limits: { maxInflatedBytes: 32 * MiB } });
    assert.equal(file.dataset['00420011']?.vr, 'OB');
  });

  test('a real deflated file (pydicom image_dfl.dcm) still reads under the defaults', () => {
    const file = readPart10(readFileSync(publicFixture('pydicom/image_dfl.dcm')));
    assert.equal(file.sourceTransferSyntaxUID, '1.2.840.10008.1.2.1.99');
  });

  for (const syntax of ['explicit', 'implicit', 'deflated'] as const) {
    for (const definedLengths of [false, true]) {
      test(`sequences ${DEFAULT_INPUT_LIMITS.maxSequenceDepth} deep read; one level more is refused (${syntax}, ${definedLengths ? 'defined' : 'undefined'} lengths)`, () => {
        const limit = DEFAULT_INPUT_LIMITS.maxSequenceDepth;
        assert.equal(depthOf(readPart10(nestedInstance({ depth: limit, syntax, definedLengths })).dataset), limit);
        assert.throws(() => readPart10(nestedInstance({ depth: limit + 1, syntax, definedLengths })), refusedFor('maxSequenceDepth'));
      });
    }
  }

  test('100,000 nested sequences (5 MB; 3.6 MB of them froze the gateway for 163 s) are refused at once', () => {
    const deep = nestedInstance({ depth: 100_000 });
    const started = performance.now();
    assert.throws(() => readPart10(deep), refusedFor('maxSequenceDepth'));
    assert.ok(performance.now() - started < 1_000, `${Math.round(performance.now() - started)} ms`);
  });

  test('the depth is configurable: 4 refuses 5 levels', () => {
    assert.throws(() => readPart10(nestedInstance({ depth: 5 }), { limits: { maxSequenceDepth: 4 } }), refusedFor('maxSequenceDepth'));
    assert.equal(depthOf(readPart10(nestedInstance({ depth: 4 }), { limits: { maxSequenceDepth: 4 } }).dataset), 4);
  });

  test('nesting hidden in a UN value of defined length that the dictionary calls a sequence counts too', () => {
    // dcmjs reads such a UN as the sequence it names; the reader counts what dcmjs would see.
    const hidden = nestedInstance({ depth: 40, definedLengths: true, outermostAsUN: true, syntax: 'explicit' });
    assert.throws(() => readPart10(hidden), refusedFor('maxSequenceDepth'));
  });

  test('the read is linear in the depth: 32 levels around a 24 MiB value take about as long as 1 level', () => {
    const time = (depth: number): number => {
      const bytes = nestedInstance({ depth, payloadBytes: 24 * MiB, definedLengths: depth % 2 === 0 });
      const started = performance.now();
      const file = readPart10(bytes);
      const ms = performance.now() - started;
      assert.equal(depthOf(file.dataset), depth);
      return ms;
    };
    time(1); // warm up
    const shallow = Math.min(time(1), time(1));
    const deep = Math.min(time(32), time(31));
    // Before: dcmjs copied (and scanned, 2 bytes at a time) each item's bytes once per level: 32 copies, seconds.
    assert.ok(deep < shallow * 4 + 300, `1 level: ${Math.round(shallow)} ms, 32 levels: ${Math.round(deep)} ms`);
  });

  test('more data elements than maxElements are refused', () => {
    const bytes = nestedInstance({ depth: 10 });
    // 7 top-level elements and 2 per level
    assert.throws(() => readPart10(bytes, { limits: { maxElements: 20 } }), refusedFor('maxElements'));
    assert.ok(readPart10(bytes, { limits: { maxElements: 27 } }));
  });

  test('the structure scanner finds the same depth whatever the chunking, and names no value', () => {
    const bytes = nestedInstance({ depth: 40, syntax: 'implicit' }).subarray(0); // Part 10; scan the data set only
    const dataset = bytes.subarray(bytes.indexOf(Buffer.from([0x08, 0x00, 0x16, 0x00])));
    for (const size of [1, 7, 4096, dataset.length]) {
      const scanner = new StructureScanner({ syntax: { explicit: false, little: true }, limits: { maxSequenceDepth: 64, maxElements: 1e6 } });
      for (let i = 0; i < dataset.length; i += size) scanner.push(dataset.subarray(i, i + size));
      assert.ok(scanner.finish(), `chunks of ${size}: ${scanner.broken ?? 'incomplete'}`);
      assert.equal(scanner.elements, 7 + 2 * 40);
      const strict = new StructureScanner({ syntax: { explicit: false, little: true }, limits: { maxSequenceDepth: 39, maxElements: 1e6 }, where: 'part 1' });
      assert.throws(() => {
        for (let i = 0; i < dataset.length; i += size) strict.push(dataset.subarray(i, i + size));
      }, (err: unknown) => err instanceof AnofairError && /^part 1: sequences are nested more than 39 levels deep \(limits\.maxSequenceDepth\)$/.test(err.message));
    }
  });
});
