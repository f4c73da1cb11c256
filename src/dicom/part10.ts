import dcmjs from 'dcmjs';
import { AnofairError } from '../errors/anofair-error.js';
import type { DicomFile } from './dataset.js';

const { DicomMessage, DicomDict } = dcmjs.data;

/** Parse a DICOM Part 10 byte stream. Throws AnofairError(DICOM_PARSE) with a reason; never returns partial data. */
export function readPart10(bytes: Uint8Array): DicomFile {
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  try {
    const dict = DicomMessage.readFile(buffer);
    return { meta: dict.meta, dataset: dict.dict };
  } catch (err) {
    throw new AnofairError('DICOM_PARSE', `not a readable DICOM Part 10 object: ${(err as Error).message}`);
  }
}

/** Serialise to Part 10 bytes. */
export function writePart10(file: DicomFile): Uint8Array {
  const dict = new DicomDict(file.meta);
  dict.dict = file.dataset;
  return new Uint8Array(dict.write());
}
