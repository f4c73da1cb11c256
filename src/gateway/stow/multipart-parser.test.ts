import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMediaType } from './media-type.js';
import { MultipartRelatedParser, isValidBoundary, type MultipartEvent } from './multipart-parser.js';

const B = 'b0undary-xyz';

function body(parts: Array<{ headers: string; data: Buffer | string }>, opts: { preamble?: string; epilogue?: string; close?: boolean } = {}): Buffer {
  const chunks: Buffer[] = [Buffer.from(opts.preamble ?? '')];
  for (const p of parts) chunks.push(Buffer.from(p.headers === '' ? `--${B}\r\n\r\n` : `--${B}\r\n${p.headers}\r\n\r\n`), Buffer.from(p.data), Buffer.from('\r\n'));
  if (opts.close !== false) chunks.push(Buffer.from(`--${B}--\r\n${opts.epilogue ?? ''}`));
  return Buffer.concat(chunks);
}

interface Parsed {
  parts: Array<{ fields: Record<string, string>; data: Buffer; ended: boolean }>;
  forwarded: Buffer;
  errors: string[];
  ended: boolean;
}

function run(input: Buffer, chunkSize: number, options?: ConstructorParameters<typeof MultipartRelatedParser>[1]): Parsed {
  const parser = new MultipartRelatedParser(B, options);
  const events: MultipartEvent[] = [];
  for (let i = 0; i < input.length; i += chunkSize) events.push(...parser.push(input.subarray(i, i + chunkSize)));
  events.push(...parser.end());
  const out: Parsed = { parts: [], forwarded: Buffer.alloc(0), errors: [], ended: false };
  const fwd: Buffer[] = [];
  const data: Buffer[][] = [];
  for (const e of events) {
    if (e.type === 'forward') fwd.push(e.data);
    else if (e.type === 'part-start') {
      out.parts.push({ fields: Object.fromEntries(e.headers.fields), data: Buffer.alloc(0), ended: false });
      data.push([]);
    } else if (e.type === 'part-data') data[e.index]!.push(Buffer.from(e.data));
    else if (e.type === 'part-end') out.parts[e.index]!.ended = true;
    else if (e.type === 'end') out.ended = true;
    else if (e.type === 'error') out.errors.push(e.reason);
  }
  out.parts.forEach((p, i) => (p.data = Buffer.concat(data[i]!)));
  out.forwarded = Buffer.concat(fwd);
  return out;
}

describe('multipart/related streaming parser', () => {
  const dicomLike = Buffer.alloc(3000, 0);
  dicomLike.write('DICM', 128);
  // Bytes that look like the start of a delimiter inside the payload must not end the part.
  dicomLike.write(`\r\n--${B.slice(0, 5)}`, 1000, 'latin1');
  dicomLike.write('\r\n\r\n', 2000, 'latin1');
  const input = body(
    [
      { headers: 'Content-Type: application/dicom', data: dicomLike },
      { headers: 'Content-Type: application/dicom; transfer-syntax=1.2.840.10008.1.2.1\r\nContent-Location: x', data: 'second' },
      { headers: '', data: '' },
    ],
    { preamble: 'ignored preamble\r\n', epilogue: 'ignored epilogue' },
  );

  for (const size of [1, 2, 3, 7, 13, 64, 1000, input.length]) {
    it(`splits parts identically whatever the chunk size (${size} bytes)`, () => {
      const r = run(input, size);
      assert.deepEqual(r.errors, []);
      assert.equal(r.ended, true);
      assert.equal(r.parts.length, 3);
      assert.deepEqual(r.parts[0]!.data, dicomLike);
      assert.equal(r.parts[0]!.fields['content-type'], 'application/dicom');
      assert.equal(r.parts[1]!.fields['content-type'], 'application/dicom; transfer-syntax=1.2.840.10008.1.2.1');
      assert.equal(r.parts[1]!.fields['content-location'], 'x');
      assert.equal(r.parts[1]!.data.toString(), 'second');
      assert.deepEqual(r.parts[2]!.fields, {});
      assert.equal(r.parts[2]!.data.length, 0);
      assert.ok(r.parts.every((p) => p.ended));
      assert.deepEqual(r.forwarded, input, 'forwarded bytes equal the input when nothing is rewritten');
    });
  }

  it('rewrites header blocks in the forwarded stream only', () => {
    const r = run(input, 5, {
      rewriteHeaders: (h) => (h.fields.get('content-type')?.includes('transfer-syntax') ? Buffer.from('Content-Type: application/dicom') : undefined),
    });
    const expected = Buffer.from(input.toString('latin1').replace('Content-Type: application/dicom; transfer-syntax=1.2.840.10008.1.2.1\r\nContent-Location: x', 'Content-Type: application/dicom'), 'latin1');
    assert.deepEqual(r.forwarded, expected);
    assert.equal(r.parts[1]!.fields['content-location'], 'x');
  });

  it('reports a body truncated inside a part, keeps the parts before it, and forwards everything', () => {
    const full = body([{ headers: 'Content-Type: application/dicom', data: 'one' }, { headers: 'Content-Type: application/dicom', data: 'two-is-longer' }]);
    const cut = full.subarray(0, full.indexOf('two-is') + 3);
    const r = run(cut, 4);
    assert.equal(r.errors.length, 1);
    assert.match(r.errors[0]!, /ended inside part 2/);
    assert.equal(r.parts[0]!.ended, true);
    assert.equal(r.parts[0]!.data.toString(), 'one');
    assert.equal(r.parts[1]!.ended, false);
    assert.deepEqual(r.forwarded, cut);
  });

  it('reports a missing closing delimiter', () => {
    const r = run(body([{ headers: 'Content-Type: application/dicom', data: 'x' }], { close: false }), 3);
    assert.equal(r.errors.length, 1);
    assert.match(r.errors[0]!, /closing multipart boundary|ended inside part/);
  });

  it('reports a body without the boundary and forwards it unchanged', () => {
    const junk = Buffer.from('this is not multipart at all');
    const r = run(junk, 5);
    assert.equal(r.parts.length, 0);
    assert.match(r.errors[0]!, /no multipart boundary/);
    assert.deepEqual(r.forwarded, junk);
  });

  it('rejects a header line without a colon and an oversized header block', () => {
    const bad = Buffer.from(`--${B}\r\nnot a header\r\n\r\ndata\r\n--${B}--\r\n`);
    assert.match(run(bad, 100).errors[0]!, /Name: value/);
    const huge = Buffer.from(`--${B}\r\nX-Long: ${'a'.repeat(200)}\r\n\r\ndata\r\n--${B}--\r\n`);
    assert.match(run(huge, 10, { maxHeaderBytes: 100 }).errors[0]!, /exceeds 100 bytes/);
  });

  it('parses media types and validates boundaries', () => {
    const m = parseMediaType('Multipart/Related; type="application/dicom"; boundary="a b;c"; transfer-syntax=1.2.840.10008.1.2.1')!;
    assert.equal(m.type, 'multipart/related');
    assert.equal(m.params.get('type'), 'application/dicom');
    assert.equal(m.params.get('boundary'), 'a b;c');
    assert.equal(m.params.get('transfer-syntax'), '1.2.840.10008.1.2.1');
    assert.equal(parseMediaType('nonsense'), undefined);
    assert.equal(parseMediaType('a/b; x'), undefined);
    assert.ok(isValidBoundary('abc-123'));
    assert.ok(!isValidBoundary(''));
    assert.ok(isValidBoundary('x'.repeat(73)), "longer than RFC 2046's 70, as Orthanc's client sends");
    assert.ok(!isValidBoundary('x'.repeat(257)));
    assert.ok(!isValidBoundary('no\\backslash'));
    assert.ok(!isValidBoundary('ends with space '));
  });
});
