//! Real images, made in memory, and hostile ones.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};

/// A `width` x `height` image of `format` with a gradient, so it compresses like a picture.
pub fn image(format: ImageFormat, width: u32, height: u32) -> Vec<u8> {
    let pixels = RgbImage::from_fn(width, height, |x, y| {
        Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    let image = match format {
        ImageFormat::WebP | ImageFormat::Png | ImageFormat::Gif => {
            DynamicImage::ImageRgba8(DynamicImage::ImageRgb8(pixels).to_rgba8())
        }
        _ => DynamicImage::ImageRgb8(pixels),
    };
    let mut out = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut out), format)
        .expect("encoding a test image");
    out
}

/// A JPEG of the given size.
pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    image(ImageFormat::Jpeg, width, height)
}

/// A valid PNG whose header claims `width` x `height`: a few hundred bytes that would
/// need gigabytes if decoded naively.
pub fn png_bomb(width: u32, height: u32) -> Vec<u8> {
    let mut png = image(ImageFormat::Png, 1, 1);
    // IHDR starts at byte 8: length (4), "IHDR" (4), width (4), height (4), ...
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

/// A GIF whose logical screen and frame claim 65535 x 65535.
pub fn gif_bomb() -> Vec<u8> {
    let mut gif = image(ImageFormat::Gif, 1, 1);
    gif[6..8].copy_from_slice(&u16::MAX.to_le_bytes());
    gif[8..10].copy_from_slice(&u16::MAX.to_le_bytes());
    if let Some(descriptor) = gif.iter().position(|&byte| byte == 0x2C) {
        gif[descriptor + 5..descriptor + 7].copy_from_slice(&u16::MAX.to_le_bytes());
        gif[descriptor + 7..descriptor + 9].copy_from_slice(&u16::MAX.to_le_bytes());
    }
    gif
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Decodes an image and returns its format and size.
pub fn inspect(bytes: &[u8]) -> (ImageFormat, u32, u32) {
    let format = image::guess_format(bytes).expect("a known format");
    let decoded = image::load_from_memory(bytes).expect("a decodable image");
    (format, decoded.width(), decoded.height())
}
