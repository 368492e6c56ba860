//! Perceptual hashing for visual near-duplicate search: a 64-bit difference hash (dHash).
//!
//! The image is reduced to 9×8 cells of average luma; each bit says whether a cell is brighter
//! than its right-hand neighbour. Uniform brightness or contrast changes, re-encoding and
//! rescaling keep most bits, so near-duplicates are a small Hamming distance apart.

use editor_core::image::RgbaImage;

/// The dHash of an image. Transparent areas count as black (the pixels are premultiplied).
pub fn dhash(image: &RgbaImage) -> u64 {
    let cells = luma_grid(image, 9, 8);
    let mut hash = 0u64;
    for row in 0..8 {
        for column in 0..8 {
            let left = cells[row * 9 + column];
            let right = cells[row * 9 + column + 1];
            hash = (hash << 1) | u64::from(left > right);
        }
    }
    hash
}

/// The hash as stored in `assets.phash`: 16 lower-case hex digits.
pub fn to_hex(hash: u64) -> String {
    format!("{hash:016x}")
}

/// Reverses [`to_hex`].
pub fn from_hex(hex: &str) -> Option<u64> {
    if hex.len() != 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// Number of differing bits.
pub fn distance(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// Average luma (×1000, integer) of each cell of a `columns × rows` grid laid over the image.
/// Every source pixel falls in exactly one cell; a cell narrower than a pixel takes the pixel
/// under its centre.
fn luma_grid(image: &RgbaImage, columns: usize, rows: usize) -> Vec<u64> {
    let width = image.width() as usize;
    let height = image.height() as usize;
    let pixels = image.pixels();
    let mut sums = vec![0u64; columns * rows];
    let mut counts = vec![0u64; columns * rows];
    for y in 0..height {
        let row = y * rows / height;
        for x in 0..width {
            let column = x * columns / width;
            let [r, g, b, _] = pixels[y * width + x];
            let luma = 299 * u64::from(r) + 587 * u64::from(g) + 114 * u64::from(b);
            sums[row * columns + column] += luma;
            counts[row * columns + column] += 1;
        }
    }
    for row in 0..rows {
        for column in 0..columns {
            let cell = row * columns + column;
            if counts[cell] == 0 {
                let x = ((2 * column + 1) * width / (2 * columns)).min(width - 1);
                let y = ((2 * row + 1) * height / (2 * rows)).min(height - 1);
                let [r, g, b, _] = pixels[y * width + x];
                sums[cell] = 299 * u64::from(r) + 587 * u64::from(g) + 114 * u64::from(b);
                counts[cell] = 1;
            }
        }
    }
    sums.iter().zip(&counts).map(|(sum, n)| sum / n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test picture: diagonal gradient with a bright disc, optionally brightened.
    fn picture(width: u32, height: u32, brighten: u8, seed: u32) -> RgbaImage {
        let mut bytes = Vec::new();
        for y in 0..height {
            for x in 0..width {
                let dx = x as i32 - (width as i32 * (3 + seed as i32 % 3)) / 8;
                let dy = y as i32 - height as i32 / 2;
                let disc = dx * dx + dy * dy < (width as i32 / 5).pow(2);
                let base = ((x * 160 / width + y * 60 / height + seed * 37) % 200) as u8;
                let v = if disc { 230 } else { base };
                let v = v.saturating_add(brighten);
                bytes.extend([v, v / 2 + 20, 255 - v, 255]);
            }
        }
        RgbaImage::from_straight_rgba(width, height, &bytes).unwrap()
    }

    #[test]
    fn near_duplicates_are_close_and_different_pictures_far() {
        let original = dhash(&picture(120, 80, 0, 0));
        let brighter = dhash(&picture(120, 80, 12, 0));
        let resized = dhash(&picture(60, 40, 0, 0));
        let other = dhash(&picture(120, 80, 0, 1));
        assert!(
            distance(original, brighter) <= 4,
            "{original:016x} {brighter:016x}"
        );
        assert!(
            distance(original, resized) <= 8,
            "{original:016x} {resized:016x}"
        );
        assert!(
            distance(original, other) > 12,
            "{original:016x} {other:016x}"
        );
    }

    #[test]
    fn tiny_images_hash_without_panicking() {
        let one = RgbaImage::from_straight_rgba(1, 1, &[10, 20, 30, 255]).unwrap();
        assert_eq!(dhash(&one), 0);
        let _ = dhash(&picture(3, 200, 0, 2));
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(
            from_hex(&to_hex(0xdead_beef_0123_4567)),
            Some(0xdead_beef_0123_4567)
        );
        assert_eq!(to_hex(1), "0000000000000001");
        assert_eq!(from_hex("xyz"), None);
        assert_eq!(distance(0b1011, 0b0001), 2);
    }
}
