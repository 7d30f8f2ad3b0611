//! Thumbnails resampled with a Lanczos-3 filter on SIMD: every source pixel in a
//! target pixel's neighbourhood weighs in, so fine detail becomes a faithful average
//! instead of aliasing; SIMD keeps that filter cheap enough for every upload.

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::DynamicImage;

/// The largest (width, height) that fits `side` x `side` with the aspect ratio of a
/// `width` x `height` image, never larger than the image itself.
pub fn fitting(width: u32, height: u32, side: u32) -> (u32, u32) {
    if width <= side && height <= side {
        return (width, height);
    }
    let ratio = f64::min(
        f64::from(side) / f64::from(width),
        f64::from(side) / f64::from(height),
    );
    let scaled = |length: u32| ((f64::from(length) * ratio).round() as u32).max(1);
    (scaled(width), scaled(height))
}

/// `image` resampled to fit `side` x `side`; returned as it is when it fits already.
pub fn shrink(image: DynamicImage, side: u32) -> DynamicImage {
    let (width, height) = fitting(image.width(), image.height(), side);
    if (width, height) == (image.width(), image.height()) {
        return image;
    }
    let mut thumbnail = DynamicImage::new(width, height, image.color());
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    match Resizer::new().resize(&image, &mut thumbnail, &options) {
        Ok(()) => thumbnail,
        // A pixel layout the SIMD resizer lacks (floating-point samples): the image
        // crate's own filter gives the same result, only slower.
        Err(_) => image.resize_exact(width, height, image::imageops::FilterType::Lanczos3),
    }
}
