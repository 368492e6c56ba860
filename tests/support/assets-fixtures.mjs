// Files for the asset tests, made here byte by byte: PNG (encoder and decoder over node:zlib),
// WAV, a GIF, and test pictures for perceptual-hash checks. Not a test file itself.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { deflateSync, inflateSync } from "node:zlib";

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(buffer) {
  let c = 0xffffffff;
  for (const byte of buffer) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, "latin1");
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** An 8-bit RGBA PNG whose pixel (x, y) is `pixel(x, y)` → [r, g, b, a]. */
export function png(width, height, pixel) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  const raw = Buffer.alloc(height * (width * 4 + 1));
  for (let y = 0; y < height; y++) {
    const row = y * (width * 4 + 1);
    raw[row] = 0; // no filter
    for (let x = 0; x < width; x++) {
      const [r, g, b, a] = pixel(x, y);
      raw.set([r, g, b, a], row + 1 + x * 4);
    }
  }
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** Decodes an 8-bit RGBA/RGB PNG into {width, height, pixel(x, y)}. */
export function decodePng(buffer) {
  assert.deepEqual([...buffer.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], "PNG signature");
  let offset = 8;
  let width, height, colorType;
  const idat = [];
  while (offset < buffer.length) {
    const length = buffer.readUInt32BE(offset);
    const type = buffer.toString("latin1", offset + 4, offset + 8);
    const data = buffer.subarray(offset + 8, offset + 8 + length);
    if (type === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      assert.equal(data[8], 8, "8-bit channels");
      colorType = data[9];
    } else if (type === "IDAT") idat.push(data);
    offset += 12 + length;
  }
  const channels = colorType === 6 ? 4 : colorType === 2 ? 3 : assert.fail(`colour type ${colorType}`);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const out = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    for (let x = 0; x < stride; x++) {
      const value = raw[y * (stride + 1) + 1 + x];
      const left = x >= channels ? out[y * stride + x - channels] : 0;
      const up = y > 0 ? out[(y - 1) * stride + x] : 0;
      const upLeft = y > 0 && x >= channels ? out[(y - 1) * stride + x - channels] : 0;
      let predicted = 0;
      if (filter === 1) predicted = left;
      else if (filter === 2) predicted = up;
      else if (filter === 3) predicted = (left + up) >> 1;
      else if (filter === 4) {
        const p = left + up - upLeft;
        const pa = Math.abs(p - left), pb = Math.abs(p - up), pc = Math.abs(p - upLeft);
        predicted = pa <= pb && pa <= pc ? left : pb <= pc ? up : upLeft;
      }
      out[y * stride + x] = (value + predicted) & 0xff;
    }
  }
  return {
    width,
    height,
    pixel(x, y) {
      const i = y * stride + x * channels;
      const p = [...out.subarray(i, i + channels)];
      return channels === 3 ? [...p, 255] : p;
    },
  };
}

/**
 * A test picture: a diagonal gradient with a bright disc whose place depends on `seed`;
 * `brighten` adds to every channel (a near-duplicate of the same seed).
 */
export function picture(width, height, { seed = 0, brighten = 0 } = {}) {
  return png(width, height, (x, y) => {
    const dx = x - Math.floor((width * (3 + (seed % 3))) / 8);
    const dy = y - Math.floor(height / 2);
    const disc = dx * dx + dy * dy < Math.floor(width / 5) ** 2;
    const base = Math.floor((x * 160) / width + (y * 60) / height + seed * 37) % 200;
    const v = Math.min(255, (disc ? 230 : base) + brighten);
    return [v, Math.min(255, (v >> 1) + 20), 255 - v, 255];
  });
}

/** An unrelated picture: a checkerboard of 8 × 6 cells. */
export function checkerboard(width, height) {
  return png(width, height, (x, y) => {
    const on = (Math.floor((x * 8) / width) + Math.floor((y * 6) / height)) % 2 === 0;
    return on ? [240, 240, 240, 255] : [20, 30, 40, 255];
  });
}

/** Four flat quadrants (red, green, blue, yellow), for checking rendered pixels. */
export const QUADRANT_COLORS = [[220, 30, 40, 255], [30, 200, 60, 255], [40, 60, 230, 255], [240, 220, 20, 255]];
export function quadrants(width, height) {
  return png(width, height, (x, y) => QUADRANT_COLORS[(y < height / 2 ? 0 : 2) + (x < width / 2 ? 0 : 1)]);
}

/** 16-bit PCM WAV of `frames` frames (a quiet ramp). */
export function wav(channels, sampleRate, frames) {
  const block = channels * 2;
  const data = Buffer.alloc(frames * block);
  for (let i = 0; i < frames * channels; i++) data.writeInt16LE((i % 2000) - 1000, i * 2);
  const header = Buffer.alloc(44);
  header.write("RIFF", 0, "latin1");
  header.writeUInt32LE(36 + data.length, 4);
  header.write("WAVE", 8, "latin1");
  header.write("fmt ", 12, "latin1");
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(channels, 22);
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * block, 28);
  header.writeUInt16LE(block, 32);
  header.writeUInt16LE(16, 34);
  header.write("data", 36, "latin1");
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}

/** A 1 × 1 GIF (one white pixel). */
export const GIF_1X1 = Buffer.from("R0lGODlhAQABAIAAAP///wAAACwAAAAAAQABAAACAkQBADs=", "base64");

/** Bytes that look like an MP4 file (an `ftyp` box) followed by `size - 32` pseudo-random bytes. */
export function fakeMp4(size, seed = 1) {
  const out = Buffer.alloc(size);
  out.writeUInt32BE(24, 0);
  out.write("ftypisom", 4, "latin1");
  let state = seed >>> 0 || 1;
  for (let i = 32; i < size; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    out[i] = state >>> 24;
  }
  return out;
}

/** Lower-case hex SHA-256. */
export const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");
