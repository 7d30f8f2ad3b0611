//! The cost of turning a JPEG upload into a stored-ready thumbnail: the whole-stack
//! benchmark's 800x600 cover, a 1 MiB photo, and the large uploads' 2600x2000.

use criterion::{Criterion, criterion_group, criterion_main};
use library_service::covers::{DecodeLimits, make_thumbnail};

/// A `width` x `height` JPEG at `quality`: noise over a gradient, so it compresses
/// like a photo (1700x1250 at 92 is about 1 MiB).
fn photo(width: u32, height: u32, quality: u8) -> Vec<u8> {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let pixels = image::RgbImage::from_fn(width, height, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let noise = (seed % 48) as u8;
        image::Rgb([(x % 200) as u8 + noise, (y % 200) as u8 + noise, 90 + noise])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(&pixels)
        .unwrap();
    out
}

fn thumbnail(c: &mut Criterion) {
    let mut group = c.benchmark_group("cover pipeline");
    group.sample_size(20);
    for (width, height, quality) in [(800, 600, 90), (1700, 1250, 92), (2600, 2000, 97)] {
        let upload = photo(width, height, quality);
        group.bench_function(
            format!(
                "thumbnail of a {} KiB {width}x{height} JPEG",
                upload.len() / 1024
            ),
            |b| b.iter(|| make_thumbnail(&upload, DecodeLimits::default()).unwrap()),
        );
    }
    group.finish();
}

criterion_group!(benches, thumbnail);
criterion_main!(benches);
