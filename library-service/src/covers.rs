//! The cover pipeline: sniff the format from the bytes, decode within limits, and
//! re-encode a thumbnail fitting 150x150 with no metadata, so nothing a client sent
//! (EXIF, location, a polyglot payload) is ever served back.

use std::io::Cursor;

use image::{
    DynamicImage, ImageFormat, ImageReader, Limits,
    codecs::{gif::GifEncoder, jpeg::JpegEncoder, png::PngEncoder, webp::WebPEncoder},
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
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.image_format());
    let mut decode_limits = Limits::default();
    decode_limits.max_image_width = Some(limits.max_width);
    decode_limits.max_image_height = Some(limits.max_height);
    decode_limits.max_alloc = Some(limits.max_alloc);
    reader.limits(decode_limits);
    let image = reader.decode().map_err(|error| match error {
        image::ImageError::Limits(_) => CoverError::TooLarge,
        _ => CoverError::Corrupt,
    })?;
    let image = if image.width() > THUMBNAIL_SIDE || image.height() > THUMBNAIL_SIDE {
        // Each source pixel feeds one target pixel: a fraction of a filtered resize's
        // time and memory, and sharp enough at 150 pixels.
        image.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE)
    } else {
        image
    };
    let (width, height) = (image.width(), image.height());
    let bytes = encode(&image, format).map_err(|_| CoverError::Encode)?;
    Ok(Thumbnail {
        bytes,
        format,
        width,
        height,
    })
}

/// Whether a JPEG's last scan is followed by its end-of-image marker. The JPEG
/// decoder fills a cut-off scan with grey instead of failing, so truncation is caught
/// here. Inside scan data a 0xFF byte is always followed by 0x00 or a restart marker,
/// so this search cannot be fooled by pixel data.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let marker = |code: u8| {
        bytes
            .windows(2)
            .rposition(|pair| pair[0] == 0xFF && pair[1] == code)
    };
    match (marker(0xDA), marker(0xD9)) {
        (Some(last_scan), Some(end)) => end > last_scan,
        _ => false,
    }
}

/// Encodes pixels only: nothing of the upload's metadata (EXIF, comments) survives.
fn encode(image: &DynamicImage, format: CoverFormat) -> image::ImageResult<Vec<u8>> {
    let mut out = Vec::new();
    match format {
        CoverFormat::Jpeg => image
            .to_rgb8()
            .write_with_encoder(JpegEncoder::new_with_quality(&mut out, 85))?,
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
}
