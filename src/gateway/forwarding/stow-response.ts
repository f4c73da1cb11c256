/**
 * The Store Instances Response Module of a STOW-RS answer (PS3.18 10.5.3, Table 10.5.3-1), read from
 * application/dicom+json (PS3.18 F.2): which instances were stored (Referenced SOP Sequence, possibly with a
 * Warning Reason) and which failed (Failed SOP Sequence with a Failure Reason).
 */
export interface StowInstanceOutcome {
  sopInstanceUID: string;
  sopClassUID?: string;
  /** (0008,1196) on a stored instance. */
  warningReason?: number;
  /** (0008,1197) on a failed instance. */
  failureReason?: number;
}

export interface StowResponse {
  stored: Map<string, StowInstanceOutcome>;
  failed: Map<string, StowInstanceOutcome>;
  /** Number of Other Failures Sequence (0008,119A) items: failures the server could not tie to an instance. */
  otherFailures: number;
}

const REFERENCED_SOP_SEQUENCE = '00081199';
const FAILED_SOP_SEQUENCE = '00081198';
const OTHER_FAILURES_SEQUENCE = '0008119A';
const REFERENCED_SOP_CLASS_UID = '00081150';
const REFERENCED_SOP_INSTANCE_UID = '00081155';
const WARNING_REASON = '00081196';
const FAILURE_REASON = '00081197';

type JsonDataset = Record<string, { vr?: string; Value?: unknown[] } | undefined>;

function items(ds: JsonDataset, tag: string): JsonDataset[] {
  const value = ds[tag]?.Value ?? ds[tag.toLowerCase()]?.Value;
  return Array.isArray(value) ? value.filter((v): v is JsonDataset => typeof v === 'object' && v !== null) : [];
}

function first(ds: JsonDataset, tag: string): unknown {
  return (ds[tag]?.Value ?? ds[tag.toLowerCase()]?.Value)?.[0];
}

function toCode(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && /^\d+$/.test(value.trim())) return Number(value.trim());
  return undefined;
}

function outcomes(ds: JsonDataset, tag: string, reasonTag: string): Map<string, StowInstanceOutcome> {
  const map = new Map<string, StowInstanceOutcome>();
  for (const item of items(ds, tag)) {
    const uid = first(item, REFERENCED_SOP_INSTANCE_UID);
    if (typeof uid !== 'string' || uid === '') continue;
    const code = toCode(first(item, reasonTag));
    const classUID = first(item, REFERENCED_SOP_CLASS_UID);
    map.set(uid, {
      sopInstanceUID: uid,
      sopClassUID: typeof classUID === 'string' ? classUID : undefined,
      ...(code === undefined ? {} : reasonTag === WARNING_REASON ? { warningReason: code } : { failureReason: code }),
    });
  }
  return map;
}

/**
 * Parse a STOW-RS response body. Returns undefined when the body is not a DICOM JSON data set (empty, HTML,
 * XML): the caller then decides from the HTTP status alone. Some servers wrap the data set in an array.
 */
export function parseStowResponse(body: string): StowResponse | undefined {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (Array.isArray(json) && json.length === 1) json = json[0];
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined;
  const ds = json as JsonDataset;
  return {
    stored: outcomes(ds, REFERENCED_SOP_SEQUENCE, WARNING_REASON),
    failed: outcomes(ds, FAILED_SOP_SEQUENCE, FAILURE_REASON),
    otherFailures: items(ds, OTHER_FAILURES_SEQUENCE).length,
  };
}
