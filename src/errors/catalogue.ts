/**
 * The one catalogue of error codes. Every failure a user can see is an AnofairError with a stable code
 * from this table; the HTTP layer maps codes to statuses in one place (src/gateway/http/error-response.ts) and the
 * CLI prints `code: message`. Messages must never contain PHI: name the attribute (tag), never its value.
 */
export const ERROR_CATALOGUE = {
  // DICOM input
  DICOM_PARSE: { http: 400, summary: 'The input is not a readable DICOM Part 10 object' },
  DICOM_UNSUPPORTED: { http: 415, summary: 'The DICOM object uses an encoding this gateway does not support' },
  DICOM_MISSING_ATTRIBUTE: { http: 400, summary: 'A required attribute is missing' },
  DICOM_LIMIT: { http: 413, summary: 'The DICOM input goes past a configured input limit (inflated size, sequence depth, element count; `limits:`)' },
  // Pixel Data and the pixel step (an instance that meets one of these is quarantined, never released as is)
  PIXEL_DECODE: { http: 415, summary: 'The Pixel Data cannot be decoded (unsupported or damaged encoding)' },
  PIXEL_UNSUPPORTED: { http: 415, summary: 'The image is not one the pixel step can regenerate (colour, multi-frame, size)' },
  PIXEL_FAILED: { http: 500, summary: 'The pixel step failed for this instance (model error, out of memory, timeout)' },
  MODEL_INVALID: { http: 500, summary: 'A model folder or export cannot be loaded' },
  MODEL_PROVIDER: { http: 500, summary: 'The requested execution provider (GPU) is not available' },
  // De-identification
  DEID_QUARANTINED: { http: 409, summary: 'The instance was withheld from release (fail closed) and quarantined' },
  DEID_KEY_MISSING: { http: 500, summary: 'No pseudonymisation key is configured' },
  DEID_LOOKUP: { http: 500, summary: 'The subject lookup table is invalid' },
  // Configuration and policy
  CONFIG_INVALID: { http: 500, summary: 'The configuration is invalid' },
  RULES_INVALID: { http: 500, summary: 'The routing rules are invalid' },
  // HTTP / DICOMweb
  BAD_REQUEST: { http: 400, summary: 'The request is malformed' },
  UNAUTHORIZED: { http: 401, summary: 'The client did not authenticate, or its credentials were refused' },
  FORBIDDEN: { http: 403, summary: 'The credentials do not carry the scope this resource needs' },
  THROTTLED: { http: 429, summary: 'Too many failed authentications or concurrent uploads from this client; retry later' },
  AUTH_UNAVAILABLE: { http: 503, summary: 'The credentials could not be checked now (the identity provider cannot be reached); retry later' },
  BUSY: { http: 503, summary: 'The gateway is at its limit of concurrent uploads; retry later' },
  HOST_NOT_ALLOWED: { http: 421, summary: 'The Host header names a host this gateway does not answer for (server.allowedHosts)' },
  UPLOAD_TOO_SLOW: { http: 408, summary: 'The request body arrived slower than the configured minimum rate, or stalled' },
  UNSUPPORTED_MEDIA_TYPE: { http: 415, summary: 'The request media type is not supported' },
  NOT_ACCEPTABLE: { http: 406, summary: 'No acceptable representation is available' },
  PAYLOAD_TOO_LARGE: { http: 413, summary: 'The request body exceeds the configured limit' },
  NOT_FOUND: { http: 404, summary: 'No such resource' },
  METHOD_NOT_ALLOWED: { http: 405, summary: 'The resource does not support this HTTP method' },
  CONFLICT: { http: 409, summary: 'The request conflicts with the current state' },
  UPSTREAM_UNREACHABLE: { http: 502, summary: 'The upstream DICOMweb server could not be reached' },
  UPSTREAM_TIMEOUT: { http: 504, summary: 'The upstream DICOMweb server did not answer in time' },
  UPSTREAM_ERROR: { http: 502, summary: 'The upstream DICOMweb server failed' },
  // Research pipeline
  RESEARCH_UNAVAILABLE: { http: 503, summary: 'The research pipeline is not running (starting or stopping)' },
  // Files and I/O
  IO: { http: 500, summary: 'A file could not be read or written' },
  INTERNAL: { http: 500, summary: 'An internal error occurred' },
} as const satisfies Record<string, { http: number; summary: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;
