//! Tests of the cover pipeline: thumbnail sizes, truncated and hostile files, limits,
//! and the scaled JPEG path giving the thumbnail a full decode gives.

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
