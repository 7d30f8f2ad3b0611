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
    pub(crate) fn content_type(self) -> &'static str {
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
    // bytes, so only a cut-off file is read through.
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
mod tests;
