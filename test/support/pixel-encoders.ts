import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * The encoders (and independent decoders) that make compressed test inputs, each from its Debian package: dcmtk,
 * GDCM, OpenJPEG, OpenJPH. A missing tool fails the test with the package to install; it never skips.
 */

export const TRANSFER_SYNTAXES = {
  implicit: '1.2.840.10008.1.2',
  explicit: '1.2.840.10008.1.2.1',
  deflated: '1.2.840.10008.1.2.1.99',
  bigEndian: '1.2.840.10008.1.2.2',
  jpegBaseline: '1.2.840.10008.1.2.4.50',
  jpegExtended: '1.2.840.10008.1.2.4.51',
  jpegLossless: '1.2.840.10008.1.2.4.57',
  jpegLosslessSV1: '1.2.840.10008.1.2.4.70',
  jpegLs: '1.2.840.10008.1.2.4.80',
  jpegLsNear: '1.2.840.10008.1.2.4.81',
  j2kLossless: '1.2.840.10008.1.2.4.90',
  j2k: '1.2.840.10008.1.2.4.91',
  htj2kLossless: '1.2.840.10008.1.2.4.201',
  htj2kRpcl: '1.2.840.10008.1.2.4.202',
  htj2k: '1.2.840.10008.1.2.4.203',
  rle: '1.2.840.10008.1.2.5',
} as const;

const TOOLS: Record<string, string> = {
  dcmcjpeg: 'dcmtk',
  dcmdjpeg: 'dcmtk',
  dcmcjpls: 'dcmtk',
  dcmdjpls: 'dcmtk',
  dcmcrle: 'dcmtk',
  dcmconv: 'dcmtk',
  gdcmconv: 'libgdcm-tools',
  ojph_compress: 'openjph-tools',
  ojph_expand: 'openjph-tools',
  opj_decompress: 'libopenjp2-tools',
};

export type EncoderTool = keyof typeof TOOLS & string;

/** Runs /usr/bin/<name> with `args`; throws with its output when it fails. */
export function encoderTool(name: EncoderTool, args: string[]): void {
  const path = `/usr/bin/${name}`;
  if (!existsSync(path)) throw new Error(`${path} is missing: apt-get install ${TOOLS[name]}`);
  const r = spawnSync(path, args, { encoding: 'utf8' });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${name} ${args.join(' ')} failed (exit ${r.status}):\n${r.stderr}${r.stdout}`);
}
