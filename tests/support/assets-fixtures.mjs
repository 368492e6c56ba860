// Files for the asset tests, made here byte by byte: PNG (from ./png.mjs), WAV, a GIF, and test pictures for perceptual-hash checks. Not a test file itself.
import { createHash } from "node:crypto";

import { png } from "./png.mjs";

export { decodePng, png } from "./png.mjs";

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
