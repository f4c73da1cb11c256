/** The identifiers a STOW response is written with (PS3.18 10.5.3). They are UIDs: never log them. */
export interface InstanceIdentity {
  sopClassUID?: string;
  sopInstanceUID?: string;
  studyInstanceUID?: string;
}

/** Tags (group << 16 | element) the identity is read from. */
export const IDENTITY_TAGS = {
  mediaStorageSOPClassUID: 0x00020002,
  sopClassUID: 0x00080016,
  sopInstanceUID: 0x00080018,
  studyInstanceUID: 0x0020000d,
} as const;

/** A UI value as text: trailing NUL and space padding removed (PS3.5 6.2); empty is absent. */
export function uidText(value: Uint8Array | undefined): string | undefined {
  if (!value) return undefined;
  const text = Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1').replace(/[\0 ]+$/, '').trim();
  return text === '' ? undefined : text;
}

/**
 * The identity of an instance from the values read at its top level (and in its File Meta Information): SOP
 * Class from (0008,0016), else the Media Storage SOP Class (0002,0002); SOP Instance (0008,0018) and Study
 * Instance (0020,000D) from the data set.
 */
export function identityOf(values: ReadonlyMap<number, Uint8Array>): InstanceIdentity {
  return {
    sopClassUID: uidText(values.get(IDENTITY_TAGS.sopClassUID)) ?? uidText(values.get(IDENTITY_TAGS.mediaStorageSOPClassUID)),
    sopInstanceUID: uidText(values.get(IDENTITY_TAGS.sopInstanceUID)),
    studyInstanceUID: uidText(values.get(IDENTITY_TAGS.studyInstanceUID)),
  };
}
