//! JPEG covers decoded at a reduced scale. A JPEG stores 8x8 blocks of frequencies,
//! so libjpeg-turbo can rebuild each block at 1/2, 1/4 or 1/8 of its size straight
//! from them: a 2000x1500 photo becomes 250x188 pixels without the other 98% ever
//! being made. The entropy decoding still reads every byte, so a cut-off or corrupt
//! file fails here as it would at full size.
//!
//! This path takes the JPEGs cameras, phones and image libraries write (baseline or
//! progressive, YCbCr or greyscale). It declines the rest (CMYK, lossless, a
//! progressive image whose frequencies would not fit the memory limit, anything
//! libjpeg-turbo warns about) and the general decoder decides on those, as it did for
//! every JPEG before: an answer never depends on which path ran.
//!
//! JPEG thumbnails are encoded here too, with libjpeg-turbo's SIMD transform and
//! entropy coder: several times faster than a portable encoder, and like it, they
//! carry pixels only, no metadata of the upload.

use image::RgbImage;
use turbojpeg::{Colorspace, DecompressHeader, Decompressor, Image, PixelFormat, ScalingFactor};

use super::{CoverError, DecodeLimits};

/// The scales libjpeg-turbo rebuilds blocks at cheapest, smallest first.
const SCALES: [ScalingFactor; 4] = [
    ScalingFactor::ONE_EIGHTH,
    ScalingFactor::ONE_QUARTER,
    ScalingFactor::ONE_HALF,
    ScalingFactor::ONE,
];

/// The most scans a progressive JPEG may have. Encoders write about ten; thousands of
/// tiny scans are a known way to make a small file cost minutes of decoding.
const MAX_PROGRESSIVE_SCANS: u32 = 100;

/// Decodes `bytes` at the smallest scale whose pixels still cover `target` (width,
/// height), or `Ok(None)` when this path declines the file. Dimensions past `limits`
/// are refused from the header, before any pixel is decoded.
pub fn decode(
    bytes: &[u8],
    limits: DecodeLimits,
    target: impl Fn(u32, u32) -> (u32, u32),
) -> Result<Option<RgbImage>, CoverError> {
    let Ok(mut decompressor) = Decompressor::new() else {
        return Ok(None);
    };
    let Ok(header) = decompressor.read_header(bytes) else {
        return Ok(None);
    };
    let (Ok(width), Ok(height)) = (u32::try_from(header.width), u32::try_from(header.height))
    else {
        return Err(CoverError::TooLarge);
    };
    if width > limits.max_width || height > limits.max_height {
        return Err(CoverError::TooLarge);
    }
    if !takes(&header, limits) {
        return Ok(None);
    }
    let (target_width, target_height) = target(width, height);
    let scale = SCALES
        .into_iter()
        .find(|scale| {
            scale.scale(header.width) >= target_width as usize
                && scale.scale(header.height) >= target_height as usize
        })
        .unwrap_or(ScalingFactor::ONE);
    let scaled = header.scaled(scale);
    let (Ok(scaled_width), Ok(scaled_height)) =
        (u32::try_from(scaled.width), u32::try_from(scaled.height))
    else {
        return Ok(None);
    };
    if decompressor.set_scaling_factor(scale).is_err()
        || decompressor.set_scan_limit(MAX_PROGRESSIVE_SCANS).is_err()
    {
        return Ok(None);
    }
    let mut pixels = vec![0; 3 * scaled.width * scaled.height];
    let output = Image {
        pixels: pixels.as_mut_slice(),
        width: scaled.width,
        pitch: 3 * scaled.width,
        height: scaled.height,
        format: PixelFormat::RGB,
    };
    // A warning (extraneous bytes, a short segment) fails the call after decoding:
    // the general decoder then decides, so a slightly damaged photo that was accepted
    // before still is.
    if decompressor.decompress(bytes, output).is_err() {
        return Ok(None);
    }
    Ok(RgbImage::from_raw(scaled_width, scaled_height, pixels))
}

/// Whether this path takes a JPEG with `header`.
fn takes(header: &DecompressHeader, limits: DecodeLimits) -> bool {
    let colours = matches!(header.colorspace, Colorspace::YCbCr | Colorspace::Gray);
    // A progressive image keeps every block's frequencies until its last scan: two
    // bytes per sample per component, at full size whatever the output scale.
    let components: u64 = if header.colorspace == Colorspace::Gray {
        1
    } else {
        3
    };
    let frequencies = 2 * components * header.width as u64 * header.height as u64;
    colours && !header.is_lossless && (!header.is_progressive || frequencies <= limits.max_alloc)
}

/// Encodes `pixels` as a baseline JPEG at `quality` (1 to 100), chroma subsampled
/// 2x2 as cameras and image libraries write photos.
pub fn encode(pixels: &RgbImage, quality: i32) -> Result<Vec<u8>, turbojpeg::Error> {
    let (width, height) = (pixels.width() as usize, pixels.height() as usize);
    turbojpeg::compress(
        Image {
            pixels: pixels.as_raw().as_slice(),
            width,
            pitch: width * 3,
            height,
            format: PixelFormat::RGB,
        },
        quality,
        turbojpeg::Subsamp::Sub2x2,
    )
    .map(|jpeg| jpeg.to_vec())
}
