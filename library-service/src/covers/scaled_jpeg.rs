//! JPEG covers decoded at a reduced scale. A JPEG stores 8x8 blocks of frequencies,
//! so libjpeg-turbo's decoder (MozJPEG's copy, built from C source) can rebuild each
//! block at 1/2, 1/4 or 1/8 of its size straight from them: a 2000x1500 photo becomes
//! 250x188 pixels without the other 98% ever being made. The entropy decoding still
//! reads every byte, so a cut-off or corrupt file fails here as it would at full size.
//!
//! This path takes the JPEGs cameras, phones and image libraries write (baseline or
//! progressive, YCbCr or greyscale). It declines the rest (CMYK, lossless, arithmetic
//! coding, a progressive image whose frequencies would not fit the memory limit or
//! that has more scans than any encoder writes, anything libjpeg warns about) and the
//! general decoder decides on those, as it did for every JPEG before: an answer never
//! depends on which path ran.
//!
//! libjpeg reports an error by calling back, and never expects the call to return:
//! here the callback unwinds, and the unwind is caught below, so a hostile file ends
//! as a declined one and never as a panic escaping a request. This needs the default
//! `panic = "unwind"`.
//!
//! JPEG thumbnails are encoded here too, by a pure-Rust encoder with AVX2 chosen at run
//! time; like every thumbnail, they carry pixels only, no metadata of the upload.

use std::{os::raw::c_int, panic};

use image::RgbImage;
use jpeg_encoder::{ChromaSubsamplingMethod, ColorType, Encoder, EncodingError, SamplingFactor};
use mozjpeg::{ColorSpace, Decompress};
use mozjpeg_sys::{jpeg_common_struct, jpeg_error_mgr, msg_parm_union};

use super::{CoverError, DecodeLimits};

/// The numerators over 8 of the scales libjpeg rebuilds blocks at cheapest, smallest
/// first.
const SCALES: [u8; 4] = [1, 2, 4, 8];

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
    let Some(frame) = Frame::read(bytes) else {
        return Ok(None);
    };
    let (width, height) = (u32::from(frame.width), u32::from(frame.height));
    if width > limits.max_width || height > limits.max_height {
        return Err(CoverError::TooLarge);
    }
    let Coding::Huffman { progressive } = frame.coding else {
        return Ok(None);
    };
    let (target_width, target_height) = target(width, height);
    let scaled = |length: u32, numerator: u8| (length * u32::from(numerator)).div_ceil(8);
    let numerator = SCALES
        .into_iter()
        .find(|&numerator| {
            scaled(width, numerator) >= target_width && scaled(height, numerator) >= target_height
        })
        .unwrap_or(8);
    // The callbacks unwind with a payload of their own and no panic hook runs; a panic
    // of the wrapper itself would be caught the same way. Either way the file is
    // declined and the general decoder gives the answer.
    let decoded = panic::catch_unwind(|| -> std::io::Result<Option<RgbImage>> {
        let mut decompress = Decompress::with_err(error_manager()).from_mem(bytes)?;
        if !takes(&decompress, progressive, limits) {
            return Ok(None);
        }
        decompress.scale(numerator);
        let mut started = decompress.rgb()?;
        let (Ok(scaled_width), Ok(scaled_height)) = (
            u32::try_from(started.width()),
            u32::try_from(started.height()),
        ) else {
            return Ok(None);
        };
        let pixels: Vec<u8> = started.read_scanlines()?;
        // Reads on to the end of the image: a warning about what follows the last
        // row declines the file too.
        started.finish()?;
        Ok(RgbImage::from_raw(scaled_width, scaled_height, pixels))
    });
    Ok(decoded.ok().and_then(Result::ok).flatten())
}

/// Whether this path takes a JPEG whose header `decompress` has read.
fn takes<R>(decompress: &Decompress<R>, progressive: bool, limits: DecodeLimits) -> bool {
    let components: u64 = match decompress.color_space() {
        ColorSpace::JCS_GRAYSCALE => 1,
        ColorSpace::JCS_YCbCr => 3,
        _ => return false,
    };
    // A progressive image keeps every block's frequencies until its last scan: two
    // bytes per sample per component, at full size whatever the output scale.
    let frequencies = 2 * components * decompress.width() as u64 * decompress.height() as u64;
    !progressive || frequencies <= limits.max_alloc
}

/// What libjpeg calls when it stops on an error, or to warn (a negative level) or trace
/// (zero or more): errors and warnings unwind out of the decoder, traces are ignored.
/// Turning warnings into errors is what sends a damaged file (extraneous bytes, a
/// premature end of a segment, a bad Huffman code) to the general decoder, which
/// then decides on it.
fn error_manager() -> jpeg_error_mgr {
    /// The payload of the unwind; only its type is seen, by nobody.
    struct Declined;

    extern "C-unwind" fn error_exit(_: &mut jpeg_common_struct) {
        panic::resume_unwind(Box::new(Declined));
    }
    extern "C-unwind" fn emit_message(_: &mut jpeg_common_struct, level: c_int) {
        if level < 0 {
            panic::resume_unwind(Box::new(Declined));
        }
    }
    extern "C-unwind" fn reset_error_mgr(_: &mut jpeg_common_struct) {}

    jpeg_error_mgr {
        error_exit: Some(error_exit),
        emit_message: Some(emit_message),
        // Called only by the two above in libjpeg's own error manager; nothing here
        // prints or formats a message.
        output_message: None,
        format_message: None,
        reset_error_mgr: Some(reset_error_mgr),
        msg_code: 0,
        msg_parm: msg_parm_union {
            _bindgen_data_: [0; 20],
        },
        trace_level: 0,
        num_warnings: 0,
        jpeg_message_table: std::ptr::null(),
        last_jpeg_message: 0,
        addon_message_table: std::ptr::null(),
        first_addon_message: 0,
        last_addon_message: 0,
    }
}

/// How a JPEG's frame is coded, as far as this path cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    /// Huffman-coded DCT, sequential or progressive: what this path decodes.
    Huffman {
        /// Whether the image comes in successive scans of the same blocks.
        progressive: bool,
    },
    /// Lossless, arithmetic-coded or hierarchical: declined.
    Other,
}

/// The facts of a JPEG read from its markers, before libjpeg sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Frame {
    width: u16,
    height: u16,
    coding: Coding,
}

impl Frame {
    /// Reads the frame header of `bytes`; `None` when the markers before the first
    /// scan do not parse, or (for a progressive image) when the scans past the first
    /// do not, or number more than [`MAX_PROGRESSIVE_SCANS`]. Segments are skipped by
    /// their lengths, so an embedded preview or EXIF data cannot pass for the image.
    fn read(bytes: &[u8]) -> Option<Self> {
        let mut frame = None;
        let mut scans = 0;
        // Past the start-of-image marker, which the caller has sniffed.
        let mut at = 2;
        loop {
            let (code, segment) = marker(bytes, at)?;
            match code {
                // Standalone markers: no length follows.
                0x01 | 0xD0..=0xD8 => {
                    at = segment;
                    continue;
                }
                0xD9 => return frame,
                _ => {}
            }
            let length = usize::from(u16::from_be_bytes([
                *bytes.get(segment)?,
                *bytes.get(segment + 1)?,
            ]));
            let end = segment.checked_add(length).filter(|_| length >= 2)?;
            let body = bytes.get(segment + 2..end)?;
            match code {
                // Start of frame, one per image.
                0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                    if frame.is_some() || body.len() < 6 {
                        return None;
                    }
                    let coding = match code {
                        0xC0 | 0xC1 => Coding::Huffman { progressive: false },
                        0xC2 => Coding::Huffman { progressive: true },
                        _ => Coding::Other,
                    };
                    frame = Some(Frame {
                        height: u16::from_be_bytes([body[1], body[2]]),
                        width: u16::from_be_bytes([body[3], body[4]]),
                        coding,
                    });
                }
                // Start of scan: entropy-coded data follows its header.
                0xDA => {
                    let found = frame?;
                    if found.coding != (Coding::Huffman { progressive: true }) {
                        return Some(found);
                    }
                    scans += 1;
                    if scans > MAX_PROGRESSIVE_SCANS {
                        return None;
                    }
                    at = entropy_coded_end(bytes, end)?;
                    continue;
                }
                _ => {}
            }
            at = end;
        }
    }
}

/// The code of the marker at `at` (after any fill bytes) and where what follows it
/// starts, or `None` when no marker is there.
fn marker(bytes: &[u8], at: usize) -> Option<(u8, usize)> {
    if *bytes.get(at)? != 0xFF {
        return None;
    }
    let fill = bytes
        .get(at..)?
        .iter()
        .take_while(|&&byte| byte == 0xFF)
        .count();
    let code = *bytes.get(at + fill)?;
    Some((code, at + fill + 1))
}

/// Where the entropy-coded data starting at `from` ends: at the next marker other
/// than a restart. Inside the data a 0xFF byte is followed by 0x00.
fn entropy_coded_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let found = at + memchr::memchr(0xFF, bytes.get(at..)?)?;
        match bytes.get(found + 1)? {
            0x00 | 0xD0..=0xD7 => at = found + 2,
            _ => return Some(found),
        }
    }
}

/// Why a thumbnail could not be encoded as a JPEG.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// A side longer than a JPEG header can hold.
    #[error("{0} pixels is past the longest side of a JPEG")]
    TooLarge(u32),
    /// The encoder failed.
    #[error(transparent)]
    Encoder(#[from] EncodingError),
}

/// Encodes `pixels` as a baseline JPEG at `quality` (1 to 100), chroma subsampled
/// 2x2 by averaging, as cameras and libjpeg write photos.
pub fn encode(pixels: &RgbImage, quality: u8) -> Result<Vec<u8>, EncodeError> {
    let side = |length: u32| u16::try_from(length).map_err(|_| EncodeError::TooLarge(length));
    let (width, height) = (side(pixels.width())?, side(pixels.height())?);
    let mut out = Vec::new();
    let mut encoder = Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(SamplingFactor::R_4_2_0);
    encoder.set_chroma_subsampling_method(ChromaSubsamplingMethod::Average);
    encoder.encode(pixels.as_raw(), width, height, ColorType::Rgb)?;
    Ok(out)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A progressive JPEG of `width` x `height` written by the thumbnail encoder.
    pub(in crate::covers) fn progressive(width: u32, height: u32) -> Vec<u8> {
        let pixels = RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 77])
        });
        let mut out = Vec::new();
        let mut encoder = Encoder::new(&mut out, 90);
        encoder.set_progressive(true);
        encoder
            .encode(pixels.as_raw(), width as u16, height as u16, ColorType::Rgb)
            .unwrap();
        out
    }

    #[test]
    fn the_frame_is_read_past_an_embedded_preview() {
        let baseline = encode(&RgbImage::new(300, 200), 85).unwrap();
        let preview = encode(&RgbImage::new(16, 16), 85).unwrap();
        let mut segment = vec![0xFF, 0xE1];
        segment.extend_from_slice(&((preview.len() + 2 + 6) as u16).to_be_bytes());
        segment.extend_from_slice(b"Exif\0\0");
        segment.extend_from_slice(&preview);
        let mut whole = baseline[..2].to_vec();
        whole.extend_from_slice(&segment);
        whole.extend_from_slice(&baseline[2..]);
        assert_eq!(
            Frame::read(&whole),
            Some(Frame {
                width: 300,
                height: 200,
                coding: Coding::Huffman { progressive: false }
            })
        );
    }

    #[test]
    fn a_progressive_jpeg_with_too_many_scans_is_declined_before_decoding() {
        let bytes = progressive(64, 48);
        let frame = Frame::read(&bytes).expect("an ordinary progressive JPEG");
        assert_eq!(frame.coding, Coding::Huffman { progressive: true });
        // The last scan written again and again: each repeat is a scan to decode.
        let last_scan = bytes
            .windows(2)
            .rposition(|pair| pair == [0xFF, 0xDA])
            .unwrap();
        let scan = &bytes[last_scan..bytes.len() - 2];
        let mut bomb = bytes[..bytes.len() - 2].to_vec();
        for _ in 0..MAX_PROGRESSIVE_SCANS {
            bomb.extend_from_slice(scan);
        }
        bomb.extend_from_slice(&[0xFF, 0xD9]);
        assert_eq!(Frame::read(&bomb), None);
        let fits = |width, height| (width, height);
        assert!(
            decode(&bomb, DecodeLimits::default(), fits)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_fatal_libjpeg_error_declines_instead_of_panicking() {
        let mut bytes = encode(&RgbImage::new(64, 48), 85).unwrap();
        // The first component's sampling factors in the frame header: zero is bogus.
        let frame = bytes
            .windows(2)
            .position(|pair| pair == [0xFF, 0xC0])
            .unwrap();
        bytes[frame + 2 + 2 + 6 + 1] = 0x00;
        let fits = |width, height| (width, height);
        let answer = panic::catch_unwind(|| decode(&bytes, DecodeLimits::default(), fits));
        assert_eq!(answer.expect("no panic escapes"), Ok(None));
    }
}
