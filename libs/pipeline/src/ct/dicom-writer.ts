/** A small DICOM Part 10 writer (explicit VR little endian), enough for CT image storage. */

/**
 * One data element: tag as 0xGGGGEEEE, VR, and a value (strings for text VRs, numbers for US/SS/UL,
 * bytes for OB/OW, a list of item data sets for SQ).
 */
export interface DicomElement {
  tag: number;
  vr: string;
  value: string | number | number[] | Uint8Array | DicomElement[][];
}

const LONG_VRS = new Set(['OB', 'OW', 'OF', 'SQ', 'UT', 'UN', 'UC', 'UR', 'OD', 'OL']);

function encodeItem(item: DicomElement[]): Uint8Array {
  const body = concat([...item].sort((a, b) => a.tag - b.tag).map(encodeElement));
  const header = new Uint8Array(8);
  const view = new DataView(header.buffer);
  view.setUint16(0, 0xfffe, true);
  view.setUint16(2, 0xe000, true);
  view.setUint32(4, body.length, true);
  return concat([header, body]);
}

function encodeValue(el: DicomElement): Uint8Array {
  const { vr, value } = el;
  if (vr === 'SQ') {
    if (!Array.isArray(value)) throw new TypeError('SQ value must be a list of items');
    return concat((value as DicomElement[][]).map(encodeItem));
  }
  if (value instanceof Uint8Array) {
    if (value.length % 2 === 0) return value;
    const padded = new Uint8Array(value.length + 1);
    padded.set(value);
    return padded;
  }
  if (vr === 'US' || vr === 'SS') {
    const list = Array.isArray(value) ? (value as number[]) : [Number(value)];
    const out = new Uint8Array(2 * list.length);
    const view = new DataView(out.buffer);
    list.forEach((v, i) => (vr === 'US' ? view.setUint16(2 * i, v, true) : view.setInt16(2 * i, v, true)));
    return out;
  }
  if (vr === 'UL') {
    const list = Array.isArray(value) ? (value as number[]) : [Number(value)];
    const out = new Uint8Array(4 * list.length);
    const view = new DataView(out.buffer);
    list.forEach((v, i) => view.setUint32(4 * i, v, true));
    return out;
  }
  const text = Array.isArray(value) ? (value as unknown[]).map(String).join('\\') : String(value);
  const bytes = Buffer.from(text, 'latin1');
  if (bytes.length % 2 === 0) return new Uint8Array(bytes);
  const padded = new Uint8Array(bytes.length + 1);
  padded.set(bytes);
  padded[bytes.length] = vr === 'UI' ? 0 : 0x20;
  return padded;
}

function encodeElement(el: DicomElement): Uint8Array {
  const value = encodeValue(el);
  const long = LONG_VRS.has(el.vr);
  const header = new Uint8Array(long ? 12 : 8);
  const view = new DataView(header.buffer);
  view.setUint16(0, el.tag >>> 16, true);
  view.setUint16(2, el.tag & 0xffff, true);
  header[4] = el.vr.charCodeAt(0);
  header[5] = el.vr.charCodeAt(1);
  if (long) view.setUint32(8, value.length, true);
  else {
    if (value.length > 0xffff) throw new RangeError(`value of ${el.tag.toString(16)} too long for VR ${el.vr}`);
    view.setUint16(6, value.length, true);
  }
  const out = new Uint8Array(header.length + value.length);
  out.set(header);
  out.set(value, header.length);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The UID written as this writer's ImplementationClassUID. */
export const IMPLEMENTATION_CLASS_UID = '2.25.302485938419570158462377914312853245119';

/**
 * Encodes a data set as a DICOM Part 10 file in explicit VR little endian: 128-byte preamble,
 * "DICM", file meta group, then the elements sorted by tag.
 */
export function encodeDicomFile(elements: DicomElement[], sopClassUid: string, sopInstanceUid: string): Uint8Array {
  const metaBody = concat([
    encodeElement({ tag: 0x00020001, vr: 'OB', value: Uint8Array.of(0, 1) }),
    encodeElement({ tag: 0x00020002, vr: 'UI', value: sopClassUid }),
    encodeElement({ tag: 0x00020003, vr: 'UI', value: sopInstanceUid }),
    encodeElement({ tag: 0x00020010, vr: 'UI', value: '1.2.840.10008.1.2.1' }),
    encodeElement({ tag: 0x00020012, vr: 'UI', value: IMPLEMENTATION_CLASS_UID }),
    encodeElement({ tag: 0x00020013, vr: 'SH', value: 'FEDCT_0_1' }),
  ]);
  const groupLength = encodeElement({ tag: 0x00020000, vr: 'UL', value: metaBody.length });
  const sorted = [...elements].sort((a, b) => a.tag - b.tag);
  const preamble = new Uint8Array(132);
  preamble.set([0x44, 0x49, 0x43, 0x4d], 128);
  return concat([preamble, groupLength, metaBody, ...sorted.map(encodeElement)]);
}
