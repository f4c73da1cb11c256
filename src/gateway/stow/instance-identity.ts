import dcmjs from 'dcmjs';

const { DicomMessage } = dcmjs.data;

/** The identifiers a STOW response is written with (PS3.18 10.5.3). They are UIDs: never log them. */
export interface InstanceIdentity {
  sopClassUID?: string;
  sopInstanceUID?: string;
  studyInstanceUID?: string;
}

function first(dict: Record<string, { Value?: unknown[] }>, tag: string): string | undefined {
  const v = dict[tag]?.Value?.[0];
  return typeof v === 'string' && v.trim() !== '' ? v.trim().replace(/\0+$/, '') : undefined;
}

/**
 * Read SOP Class, SOP Instance and Study Instance UIDs from the start of a Part 10 object, stopping after
 * (0020,000D), so the pixel data is never parsed. Returns undefined when the bytes are not Part 10.
 * Full validation of the object is left to the consumer (the upstream, or the research pipeline).
 */
export function readInstanceIdentity(bytes: Uint8Array): InstanceIdentity | undefined {
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  try {
    const file = DicomMessage.readFile(buffer, { untilTag: '0020000D', stopOnGreaterTag: true, includeUntilTagValue: true, noCopy: true });
    return {
      sopClassUID: first(file.dict, '00080016') ?? first(file.meta, '00020002'),
      sopInstanceUID: first(file.dict, '00080018'),
      studyInstanceUID: first(file.dict, '0020000D'),
    };
  } catch {
    return undefined;
  }
}
