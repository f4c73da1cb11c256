/**
 * Names of the STOW-RS Failure Reason (0008,1197) and Warning Reason (0008,1196) values, for messages a person
 * can act on. PS3.18 Table 10.5.3-2 and -3, with the Storage Service statuses of PS3.4 Annex B.2.3 and C.4.2.1.4.
 */
export function failureReasonName(code: number): string {
  if (code >= 0xa700 && code <= 0xa7ff) return 'Refused: Out of Resources';
  if (code >= 0xa900 && code <= 0xa9ff) return 'Error: Data Set does not match SOP Class';
  if (code === 0xc122) return 'Referenced Transfer Syntax not supported';
  if (code >= 0xc000 && code <= 0xcfff) return 'Error: Cannot understand';
  switch (code) {
    case 0x0110:
      return 'Processing failure';
    case 0x0111:
      return 'Duplicate SOP Instance';
    case 0x0117:
      return 'Invalid SOP Instance';
    case 0x0122:
      return 'Referenced SOP Class not supported';
    case 0x0124:
      return 'Refused: Not authorized';
    case 0x0211:
      return 'Unrecognized operation';
    case 0x0212:
      return 'Mistyped argument';
    default:
      return 'unknown failure reason';
  }
}

export function warningReasonName(code: number): string {
  switch (code) {
    case 0xb000:
      return 'Coercion of Data Elements';
    case 0xb006:
      return 'Elements Discarded';
    case 0xb007:
      return 'Data Set does not match SOP Class';
    default:
      return 'warning';
  }
}

export function hex4(code: number): string {
  return `0x${code.toString(16).toUpperCase().padStart(4, '0')}`;
}
