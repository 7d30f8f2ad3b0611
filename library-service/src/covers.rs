//! The cover pipeline: sniff the format from the bytes, decode within limits, and
//! re-encode a thumbnail fitting 150x150 with no metadata, so nothing a client sent
//! (EXIF, location, a polyglot payload) is ever served back. A JPEG is decoded only at
//! the scale the thumbnail needs ([`scaled_jpeg`]); every thumbnail is resampled with
//! a proper filter ([`resampling`]).

mod resampling;
mod scaled_jpeg;

use std::io::Cursor;

use image::{
    DynamicImage, ImageFormat, ImageReader, Limits,
    codecs::{gif::GifEncoder, png::PngEncoder, webp::WebPEncoder},
};

/// The largest side of a thumbnail, as the tutorial made them.
pub const THUMBNAIL_SIDE: u32 = 150;

/// How far decoding may go before an image is refused.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Widest image accepted, in pixels.
    pub max_width: u32,
    /// Tallest image accepted, in pixels.
    pub max_height: u32,
    /// Most memory the decoder may allocate, in bytes.
    pub max_alloc: u64,
}

impl Default for DecodeLimits {
    /// 8192x8192 pixels and 128 MiB: a large photo passes, a decompression bomb does not.
    fn default() -> Self {
        Self {
            max_width: 8192,
            max_height: 8192,
            max_alloc: 128 * 1024 * 1024,
        }
    }
}

/// The formats a cover may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoverFormat {
    /// JPEG.
    Jpeg,
    /// PNG.
    Png,
    /// GIF (the first frame is kept).
    Gif,
    /// WebP.
    WebP,
}

impl CoverFormat {
    /// Recognises a format by its magic bytes; the client's file name and content type
    /// are never trusted.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(Self::Gif)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(Self::WebP)
        } else {
            None
        }
    }

    /// The media type served with covers of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Gif => "image/gif",
            Self::WebP => "image/webp",
        }
    }

    fn image_format(self) -> ImageFormat {
        match self {
            Self::Jpeg => ImageFormat::Jpeg,
            Self::Png => ImageFormat::Png,
            Self::Gif => ImageFormat::Gif,
            Self::WebP => ImageFormat::WebP,
        }
    }
}

/// Why a cover was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CoverError {
    /// The bytes are not a JPEG, PNG, GIF or WebP image.
    #[error("must be a JPEG, PNG, GIF or WebP image")]
    UnsupportedFormat,
    /// The image is larger than the decode limits allow.
    #[error("image dimensions are too large")]
    TooLarge,
    /// The bytes claim a supported format but do not decode.
    #[error("is not a valid image")]
    Corrupt,
    /// Re-encoding failed.
    #[error("cannot encode the thumbnail")]
    Encode,
}

/// A processed cover: the thumbnail, ready to store.
#[derive(Debug, Clone)]
pub struct Thumbnail {
    /// The encoded thumbnail.
    pub bytes: Vec<u8>,
    /// Its format.
    pub format: CoverFormat,
    /// Its width in pixels.
    pub width: u32,
    /// Its height in pixels.
    pub height: u32,
}

/// Decodes `bytes` within `limits` and re-encodes a thumbnail fitting 150x150 in the
/// same format. CPU-bound: call it on a worker thread, never on the async runtime.
pub fn make_thumbnail(bytes: &[u8], limits: DecodeLimits) -> Result<Thumbnail, CoverError> {
    let format = CoverFormat::sniff(bytes).ok_or(CoverError::UnsupportedFormat)?;
    if format == CoverFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err(CoverError::Corrupt);
    }
    let fast = match format {
        CoverFormat::Jpeg => scaled_jpeg::decode(bytes, limits, |width, height| {
            resampling::fitting(width, height, THUMBNAIL_SIDE)
        })?,
        _ => None,
    };
    let image = match fast {
        Some(pixels) => DynamicImage::ImageRgb8(pixels),
        None => decode_whole(bytes, format, limits)?,
    };
    let image = resampling::shrink(image, THUMBNAIL_SIDE);
    let (width, height) = (image.width(), image.height());
    let bytes = encode(&image, format).map_err(|_| CoverError::Encode)?;
    Ok(Thumbnail {
        bytes,
        format,
        width,
        height,
    })
}

/// Decodes every pixel of `bytes`, within `limits`.
fn decode_whole(
    bytes: &[u8],
    format: CoverFormat,
    limits: DecodeLimits,
) -> Result<DynamicImage, CoverError> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.image_format());
    let mut decode_limits = Limits::default();
    decode_limits.max_image_width = Some(limits.max_width);
    decode_limits.max_image_height = Some(limits.max_height);
    decode_limits.max_alloc = Some(limits.max_alloc);
    reader.limits(decode_limits);
    reader.decode().map_err(|error| match error {
        image::ImageError::Limits(_) => CoverError::TooLarge,
        _ => CoverError::Corrupt,
    })
}

/// Whether a JPEG's last scan is followed by its end-of-image marker. The JPEG
/// decoder fills a cut-off scan with grey instead of failing, so truncation is caught
/// here. Inside scan data a 0xFF byte is always followed by 0x00 or a restart marker,
/// so this search cannot be fooled by pixel data.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    // Searched from the end: the end-of-image marker of a whole file is its last two
    // bytes, so only a cut-off file is read through. (Searching back for the last
    // start-of-scan instead read nearly every byte of every photo.)
    let Some(end) = memchr::memmem::rfind(bytes, &[0xFF, 0xD9]) else {
        return false;
    };
    memchr::memmem::find(&bytes[end..], &[0xFF, 0xDA]).is_none()
}

/// Encodes pixels only: nothing of the upload's metadata (EXIF, comments) survives.
fn encode(image: &DynamicImage, format: CoverFormat) -> image::ImageResult<Vec<u8>> {
    let mut out = Vec::new();
    match format {
        CoverFormat::Jpeg => {
            out = scaled_jpeg::encode(&image.to_rgb8(), 85).map_err(|error| {
                image::ImageError::Encoding(image::error::EncodingError::new(
                    image::ImageFormat::Jpeg.into(),
                    error,
                ))
            })?;
        }
        CoverFormat::Png => image
            .to_rgba8()
            .write_with_encoder(PngEncoder::new(&mut out))?,
        CoverFormat::Gif => {
            let mut encoder = GifEncoder::new(&mut out);
            encoder.encode_frame(image::Frame::new(image.to_rgba8()))?;
        }
        CoverFormat::WebP => image
            .to_rgba8()
            .write_with_encoder(WebPEncoder::new_lossless(&mut out))?,
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use bookshelf_test_support::images::jpeg;

    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = DynamicImage::new_rgb8(width, height);
        let mut out = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn thumbnails_fit_150_keeping_the_aspect_ratio() {
        let thumbnail = make_thumbnail(&png(600, 300), DecodeLimits::default()).unwrap();
        assert_eq!((thumbnail.width, thumbnail.height), (150, 75));
        let small = make_thumbnail(&png(40, 20), DecodeLimits::default()).unwrap();
        assert_eq!((small.width, small.height), (40, 20), "never upscaled");
    }

    #[test]
    fn a_cut_off_jpeg_is_refused_even_when_it_embeds_a_whole_one() {
        // A camera's preview: a whole JPEG, end marker included, inside an APP1
        // segment ahead of the photo's own scan.
        let preview = jpeg(16, 16);
        let photo = jpeg(300, 200);
        let mut segment = vec![0xFF, 0xE1];
        segment.extend_from_slice(&((preview.len() + 2 + 6) as u16).to_be_bytes());
        segment.extend_from_slice(b"Exif\0\0");
        segment.extend_from_slice(&preview);
        let mut whole = photo[..2].to_vec();
        whole.extend_from_slice(&segment);
        whole.extend_from_slice(&photo[2..]);
        assert!(jpeg_is_complete(&whole));
        assert!(make_thumbnail(&whole, DecodeLimits::default()).is_ok());

        for cut in [whole.len() - 1, whole.len() - 100, whole.len() / 2] {
            assert!(!jpeg_is_complete(&whole[..cut]), "cut at {cut}");
            assert_eq!(
                make_thumbnail(&whole[..cut], DecodeLimits::default()).unwrap_err(),
                CoverError::Corrupt,
                "cut at {cut}"
            );
        }
        // Cut before the photo's scan, the preview's end marker is the last one; the
        // photo's header does not decode.
        let before_the_scan = 2 + segment.len() + 100;
        assert_eq!(
            make_thumbnail(&whole[..before_the_scan], DecodeLimits::default()).unwrap_err(),
            CoverError::Corrupt
        );
    }

    #[test]
    fn the_format_comes_from_the_bytes() {
        assert_eq!(CoverFormat::sniff(b"<svg onload=alert(1)>"), None);
        assert_eq!(
            make_thumbnail(b"GIF89a\x01\x00\x01\x00", DecodeLimits::default()).unwrap_err(),
            CoverError::Corrupt
        );
    }

    #[test]
    fn images_past_the_limits_are_refused() {
        let limits = DecodeLimits {
            max_width: 100,
            max_height: 100,
            max_alloc: 1 << 20,
        };
        assert_eq!(
            make_thumbnail(&png(101, 10), limits).unwrap_err(),
            CoverError::TooLarge
        );
    }

    /// A photo-like JPEG: smooth gradients, sharp edges and fine noise, so that a
    /// poor resampling or a wrong scale shows up as a difference.
    fn photo(width: u32, height: u32) -> Vec<u8> {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let pixels = image::RgbImage::from_fn(width, height, |x, y| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let noise = (seed % 24) as u8;
            let stripe = if (x / 97 + y / 61) % 2 == 0 { 60 } else { 0 };
            image::Rgb([
                (x * 180 / width) as u8 + noise,
                (y * 180 / height) as u8 + stripe,
                120 + noise,
            ])
        });
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92)
            .encode_image(&pixels)
            .unwrap();
        out
    }

    fn fits(width: u32, height: u32) -> (u32, u32) {
        resampling::fitting(width, height, THUMBNAIL_SIDE)
    }

    #[test]
    fn a_scaled_jpeg_decode_gives_the_thumbnail_of_a_full_decode() {
        for (width, height) in [(2000, 1500), (640, 480), (333, 1200), (151, 151)] {
            let bytes = photo(width, height);
            let limits = DecodeLimits::default();
            let scaled = scaled_jpeg::decode(&bytes, limits, fits)
                .unwrap()
                .expect("a baseline JPEG takes the scaled path");
            let target = fits(width, height);
            assert!(scaled.width() >= target.0 && scaled.height() >= target.1);
            let smallest_scale = scaled.width() == width.div_ceil(8);
            let half_would_not_cover =
                scaled.width() < 2 * target.0 + 1 || scaled.height() < 2 * target.1 + 1;
            assert!(
                smallest_scale || half_would_not_cover,
                "{width}x{height} decoded at {}x{}, more than the thumbnail needs",
                scaled.width(),
                scaled.height()
            );
            let fast = resampling::shrink(DynamicImage::ImageRgb8(scaled), THUMBNAIL_SIDE);
            let whole = decode_whole(&bytes, CoverFormat::Jpeg, limits).unwrap();
            let full = resampling::shrink(whole, THUMBNAIL_SIDE);
            assert_eq!((fast.width(), fast.height()), target);
            assert_eq!((full.width(), full.height()), target);
            let (fast, full) = (fast.to_rgb8(), full.to_rgb8());
            let differences: Vec<u32> = fast
                .as_raw()
                .iter()
                .zip(full.as_raw())
                .map(|(a, b)| u32::from(a.abs_diff(*b)))
                .collect();
            let mean = differences.iter().sum::<u32>() as f64 / differences.len() as f64;
            let worst = differences.iter().copied().max().unwrap();
            assert!(
                mean < 2.0 && worst < 48,
                "{width}x{height}: mean difference {mean:.2}, worst {worst} of 255"
            );
        }
    }

    #[test]
    fn jpeg_thumbnails_keep_their_size_and_format() {
        let thumbnail = make_thumbnail(&photo(2000, 1500), DecodeLimits::default()).unwrap();
        assert_eq!(
            (thumbnail.format, thumbnail.width, thumbnail.height),
            (CoverFormat::Jpeg, 150, 113)
        );
        let decoded = image::load_from_memory(&thumbnail.bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (150, 113));
    }

    #[test]
    fn jpegs_past_the_limits_are_refused_from_the_header() {
        let limits = DecodeLimits {
            max_width: 100,
            max_height: 100,
            max_alloc: 1 << 20,
        };
        let bytes = photo(101, 10);
        assert_eq!(
            scaled_jpeg::decode(&bytes, limits, fits).unwrap_err(),
            CoverError::TooLarge
        );
        assert_eq!(
            make_thumbnail(&bytes, limits).unwrap_err(),
            CoverError::TooLarge
        );
    }

    #[test]
    fn progressive_jpegs_take_the_scaled_path_within_the_memory_limit() {
        let bytes = scaled_jpeg::tests::progressive(800, 600);
        let roomy = DecodeLimits::default();
        let scaled = scaled_jpeg::decode(&bytes, roomy, fits).unwrap().unwrap();
        assert_eq!((scaled.width(), scaled.height()), (200, 150));
        let tight = DecodeLimits {
            max_alloc: 1 << 20,
            ..roomy
        };
        assert!(
            scaled_jpeg::decode(&bytes, tight, fits).unwrap().is_none(),
            "declined: its frequencies alone would pass the memory limit"
        );
    }

    #[test]
    fn a_damaged_jpeg_gets_the_answer_the_general_decoder_gives() {
        let mut bytes = photo(640, 480);
        let scan = bytes
            .windows(2)
            .rposition(|pair| pair == [0xFF, 0xDA])
            .unwrap();
        for offset in (scan + 600..bytes.len() - 2).step_by(997) {
            bytes[offset] = 0xFF;
            bytes[offset + 1] = 0xD3;
        }
        let limits = DecodeLimits::default();
        assert!(scaled_jpeg::decode(&bytes, limits, fits).unwrap().is_none());
        let general = decode_whole(&bytes, CoverFormat::Jpeg, limits).map(|_| ());
        let answer = make_thumbnail(&bytes, limits).map(|_| ());
        assert_eq!(answer, general);
    }
}
