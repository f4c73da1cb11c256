import pino, { type Logger } from 'pino';

/**
 * The process logger. Log records carry identifiers we mint (job ids, pseudonymised UIDs, rule names, tags),
 * never attribute values from a DICOM dataset. The redaction list is a second line of defence for fields
 * that must never appear even by mistake.
 */
const REDACT = [
  'PatientName', 'PatientID', 'PatientBirthDate', 'OtherPatientIDs', 'AccessionNumber',
  '*.PatientName', '*.PatientID', '*.PatientBirthDate', '*.AccessionNumber',
  'headers.authorization', 'req.headers.authorization', 'key', 'secret', '*.key', '*.secret',
];

export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const level = options.level ?? process.env.ANOFAIR_LOG_LEVEL ?? 'info';
  return pino(
    { level, redact: { paths: REDACT, censor: '[redacted]' }, base: { service: 'anofair' } },
    (options.destination ?? process.stderr) as pino.DestinationStream,
  );
}

export type { Logger };
