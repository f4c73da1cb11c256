/**
 * What `anofair serve` runs on without a configuration file: an Orthanc on this host as the clinical PACS
 * (its default DICOMweb root), a research archive named `research` on the next port, state under
 * ./anofair-data, and the embedded default routing rules. The gateway prints these at start so nobody has to
 * guess what it proxies to.
 */
export const EMBEDDED_DEFAULTS = `
upstream:
  url: http://127.0.0.1:8042/dicom-web
destinations:
  research:
    url: http://127.0.0.1:8043/dicom-web
data: ./anofair-data
`;
