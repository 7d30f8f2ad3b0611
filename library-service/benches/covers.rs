//! The cost of turning a 1 MiB JPEG upload into a stored-ready thumbnail.

use criterion::{Criterion, criterion_group, criterion_main};
use library_service::covers::{DecodeLimits, make_thumbnail};

/// A JPEG of about 1 MiB: noise over a gradient, so it compresses like a photo.
fn photo() -> Vec<u8> {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let pixels = image::RgbImage::from_fn(1700, 1250, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let noise = (seed % 48) as u8;
        image::Rgb([(x % 200) as u8 + noise, (y % 200) as u8 + noise, 90 + noise])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92)
        .encode_image(&pixels)
        .unwrap();
    out
}

fn thumbnail(c: &mut Criterion) {
    let upload = photo();
    let mut group = c.benchmark_group("cover pipeline");
    group.sample_size(20);
    group.bench_function(
        format!("thumbnail of a {} KiB JPEG", upload.len() / 1024),
        |b| b.iter(|| make_thumbnail(&upload, DecodeLimits::default()).unwrap()),
    );
    group.finish();
}

criterion_group!(benches, thumbnail);
criterion_main!(benches);
