import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MultipartRelatedParser, type MultipartEvent } from './multipart-parser.js';

/**
 * The multipart parser's limits (docs/INPUT-LIMITS.md): the number of parts, one part's header block and all
 * header blocks together. A body past one ends the parse with an error event that names the limit (`limit`), in
 * any chunking; a body at the limit parses whole; a malformed body still gives an error without `limit`.
 */

const B = 'limit-boundary';

function body(parts: number, headerLine = 'Content-Type: application/dicom'): Buffer {
  const chunks: Buffer[] = [];
  for (let i = 0; i < parts; i++) chunks.push(Buffer.from(`--${B}\r\n${headerLine}\r\n\r\npart ${i}\r\n`));
  chunks.push(Buffer.from(`--${B}--\r\n`));
  return Buffer.concat(chunks);
}

function events(input: Buffer, chunk: number, options: ConstructorParameters<typeof MultipartRelatedParser>[1]): MultipartEvent[] {
  const parser = new MultipartRelatedParser(B, options);
  const out: MultipartEvent[] = [];
  for (let i = 0; i < input.length; i += chunk) out.push(...parser.push(input.subarray(i, i + chunk)));
  out.push(...parser.end());
  return out;
}

const errors = (evs: MultipartEvent[]) => evs.filter((e): e is Extract<MultipartEvent, { type: 'error' }> => e.type === 'error');
const starts = (evs: MultipartEvent[]) => evs.filter((e) => e.type === 'part-start').length;

describe('multipart parser limits', () => {
  for (const chunk of [1, 9, 4096]) {
    it(`refuses the part after maxParts, parses maxParts whole (chunks of ${chunk})`, () => {
      const names = { maxParts: 'limits.maxParts' };
      const atLimit = events(body(3), chunk, { maxParts: 3, limitNames: names });
      assert.equal(errors(atLimit).length, 0);
      assert.equal(starts(atLimit), 3);
      assert.ok(atLimit.some((e) => e.type === 'end'));
      const over = events(body(4), chunk, { maxParts: 3, limitNames: names });
      assert.equal(starts(over), 3, 'the fourth part never starts');
      assert.deepEqual(errors(over).map((e) => [e.reason, e.limit]), [['the request holds more than 3 parts (limits.maxParts)', 'limits.maxParts']]);
    });

    it(`refuses a header block over maxHeaderBytes and all blocks over maxTotalHeaderBytes (chunks of ${chunk})`, () => {
      const line = `Content-Type: application/dicom\r\nContent-Description: ${'d'.repeat(200)}`;
      const one = events(body(1, line), chunk, { maxHeaderBytes: 100, limitNames: { maxHeaderBytes: 'stow.maxPartHeaderBytes' } });
      assert.deepEqual(errors(one).map((e) => [e.reason, e.limit]), [['the header block of part 1 exceeds 100 bytes (stow.maxPartHeaderBytes)', 'stow.maxPartHeaderBytes']]);
      const total = events(body(3, line), chunk, { maxTotalHeaderBytes: 600, limitNames: { maxTotalHeaderBytes: 'limits.maxPartHeadersBytes' } });
      assert.equal(starts(total), 2);
      assert.equal(errors(total)[0]?.limit, 'limits.maxPartHeadersBytes');
      assert.match(errors(total)[0]!.reason, /exceed 600 bytes in total/);
    });
  }

  it('still reports a malformed body without a limit', () => {
    const evs = events(Buffer.from(`--${B}\r\nno colon here\r\n\r\nx\r\n--${B}--\r\n`), 5, { maxParts: 10 });
    assert.equal(errors(evs).length, 1);
    assert.equal(errors(evs)[0]!.limit, undefined);
  });
});
