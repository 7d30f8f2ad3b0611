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

/// An SVG that runs a script when opened: an image format we never take.
pub fn svg_with_script() -> Vec<u8> {
    br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>"#
        .to_vec()
}

/// An HTML page with a JPEG after it: sniffed as HTML by a browser, not an image.
pub fn html_then_jpeg() -> Vec<u8> {
    let mut bytes = b"<html><script>alert(1)</script></html>".to_vec();
    bytes.extend_from_slice(&jpeg(10, 10));
    bytes
}

/// The script that [`jpeg_then_script`] carries after the image.
pub const TRAILING_SCRIPT: &[u8] = b"<script>alert('polyglot')</script>";

/// A valid JPEG with a script after its end marker: decodes as an image, and must
/// come back re-encoded without the script.
pub fn jpeg_then_script() -> Vec<u8> {
    let mut bytes = jpeg(40, 30);
    bytes.extend_from_slice(TRAILING_SCRIPT);
    bytes
}

/// A GIF that is also JavaScript: its header's width bytes open a comment (`/*`)
/// that its tail closes before a script, the classic GIF/JS polyglot.
pub fn gif_script_polyglot() -> Vec<u8> {
    let mut gif = image(ImageFormat::Gif, 4, 4);
    gif[6..8].copy_from_slice(b"/*");
    gif.extend_from_slice(b"*/=alert(1);//");
    gif
}

/// `bytes` padded with zeros to exactly `size` bytes: PNG and JPEG decoders ignore
/// what follows the image's end, so the result still decodes.
pub fn padded(mut bytes: Vec<u8>, size: usize) -> Vec<u8> {
    assert!(bytes.len() <= size, "the image is larger than the padding");
    bytes.resize(size, 0);
    bytes
}

/// `jpeg` grown to exactly `size` bytes by comment segments right after its start,
/// filled from `next` (8 bytes a call): still a valid JPEG, whose every byte counts in
/// a digest, unlike zero padding.
pub fn jpeg_of_size(jpeg: Vec<u8>, size: usize, mut next: impl FnMut() -> u64) -> Vec<u8> {
    const HEADER: usize = 4;
    const MOST: usize = 65_533;
    assert!(
        jpeg.len() + HEADER < size,
        "the image is larger than the size"
    );
    let mut bytes = jpeg[..2].to_vec();
    let mut left = size - jpeg.len();
    while left > 0 {
        // A segment of `HEADER` bytes and its data; never leave less than a header.
        let mut data = (left - HEADER).min(MOST);
        if left - HEADER - data > 0 && left - HEADER - data < HEADER {
            data -= HEADER;
        }
        let length = u16::try_from(data + 2).expect("a segment length");
        bytes.extend_from_slice(&[0xFF, 0xFE]);
        bytes.extend_from_slice(&length.to_be_bytes());
        let mut filled = 0;
        while filled < data {
            let word = next().to_le_bytes();
            let take = (data - filled).min(8);
            bytes.extend_from_slice(&word[..take]);
            filled += take;
        }
        left -= HEADER + data;
    }
    bytes.extend_from_slice(&jpeg[2..]);
    assert_eq!(bytes.len(), size);
    bytes
}

/// Real images of each format covers may have, for mutation: a small one, and one
/// large enough to be scaled down.
pub fn samples() -> Vec<(ImageFormat, Vec<u8>)> {
    let formats = [
        ImageFormat::Jpeg,
        ImageFormat::Png,
        ImageFormat::Gif,
        ImageFormat::WebP,
    ];
    [(48, 32), (240, 160)]
        .into_iter()
        .flat_map(|(width, height)| {
            formats
                .into_iter()
                .map(move |format| (format, image(format, width, height)))
        })
        .collect()
}

/// Recomputes the checksum of every whole chunk of a PNG, so that a mutated file
/// reaches the decoder instead of failing its first checksum.
pub fn reseal_png(bytes: &mut [u8]) {
    let mut at = 8;
    while at + 12 <= bytes.len() {
        let length = u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let Some(end) = (at + 8)
            .checked_add(length)
            .filter(|end| end + 4 <= bytes.len())
        else {
            return;
        };
        let crc = crc32(&bytes[at + 4..end]);
        bytes[end..end + 4].copy_from_slice(&crc.to_be_bytes());
        at = end + 4;
    }
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
