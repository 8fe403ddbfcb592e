/** A volume as the viewer gets it: Float32 values in (z, y, x) order, x fastest. */
export interface ViewerVolume {
  data: Float32Array;
  /** [z, y, x] voxels. */
  shape: [number, number, number];
  /** [z, y, x] voxel size in mm. */
  spacingMm: [number, number, number];
}

const HEADER_BYTES = 348;
const VOX_OFFSET = 352;
const NIFTI_TYPE_FLOAT32 = 16;
const NIFTI_UNITS_MM = 2;

/**
 * Encodes a volume as a single-file NIfTI-1 (`.nii`, Float32, little-endian) for the browser viewer.
 * Row 0 of each slice is anterior and column 0 the patient's right (DICOM display order), so the
 * sform maps voxel (i, j, k) to RAS (−i·dx, −j·dy, k·dz). `calMin`/`calMax` are the default display
 * range stored in the header.
 */
export function encodeNifti1(volume: ViewerVolume, display: { calMin: number; calMax: number } = { calMin: 0, calMax: 0 }): Buffer {
  const [nz, ny, nx] = volume.shape;
  const [dz, dy, dx] = volume.spacingMm;
  if (volume.data.length !== nz * ny * nx) {
    throw new RangeError(`volume data has ${volume.data.length} values but shape ${nz}x${ny}x${nx} needs ${nz * ny * nx}`);
  }
  const out = Buffer.alloc(VOX_OFFSET + volume.data.length * 4);
  out.writeInt32LE(HEADER_BYTES, 0);
  const dims = [3, nx, ny, nz, 1, 1, 1, 1];
  dims.forEach((d, i) => out.writeInt16LE(d, 40 + 2 * i));
  out.writeInt16LE(NIFTI_TYPE_FLOAT32, 70);
  out.writeInt16LE(32, 72);
  const pixdim = [1, dx, dy, dz, 1, 1, 1, 1];
  pixdim.forEach((p, i) => out.writeFloatLE(p, 76 + 4 * i));
  out.writeFloatLE(VOX_OFFSET, 108);
  out.writeFloatLE(1, 112); // scl_slope
  out.writeFloatLE(0, 116); // scl_inter
  out.writeUInt8(NIFTI_UNITS_MM, 123);
  out.writeFloatLE(display.calMax, 124);
  out.writeFloatLE(display.calMin, 128);
  out.writeInt16LE(0, 252); // qform_code
  out.writeInt16LE(1, 254); // sform_code: scanner anatomical
  const srow = [
    [-dx, 0, 0, 0],
    [0, -dy, 0, 0],
    [0, 0, dz, 0],
  ];
  srow.forEach((row, r) => row.forEach((v, c) => out.writeFloatLE(v, 280 + 16 * r + 4 * c)));
  out.write('n+1\0', 344, 'latin1');
  // Bytes 348..351: no extensions. Voxels follow, x fastest (the same order as the input).
  const bytes = new Uint8Array(volume.data.buffer, volume.data.byteOffset, volume.data.byteLength);
  if (isLittleEndianHost()) {
    out.set(bytes, VOX_OFFSET);
  } else {
    for (let i = 0; i < volume.data.length; i++) out.writeFloatLE(volume.data[i] ?? 0, VOX_OFFSET + 4 * i);
  }
  return out;
}

function isLittleEndianHost(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}
