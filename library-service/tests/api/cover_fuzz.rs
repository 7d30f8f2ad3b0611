//! Mutated images at the cover pipeline: bit flips, truncations, overwrites and
//! splices of real JPEG, PNG, GIF and WebP files. `make_thumbnail` never panics, and
//! answers either an error or a real thumbnail fitting 150x150, under decoding limits
//! whose memory bound is small.

use std::{io::Cursor, sync::OnceLock};

use bookshelf_test_support::images::{reseal_png, samples};
use image::{ImageFormat, ImageReader};
use library_service::covers::{CoverFormat, DecodeLimits, THUMBNAIL_SIDE, make_thumbnail};
use proptest::{collection::vec, prelude::*, sample::Index};

/// The limits under test: far below the service's, so a mutated header claiming a
/// large image is refused rather than decoded.
const LIMITS: DecodeLimits = DecodeLimits {
    max_width: 2048,
    max_height: 2048,
    max_alloc: 8 * 1024 * 1024,
};

fn originals() -> &'static [(ImageFormat, Vec<u8>)] {
    static ORIGINALS: OnceLock<Vec<(ImageFormat, Vec<u8>)>> = OnceLock::new();
    ORIGINALS.get_or_init(samples)
}

/// One change to an image's bytes; positions are drawn relative to its length.
#[derive(Debug, Clone)]
enum Mutation {
    /// One bit flipped.
    FlipBit(Index, u8),
    /// Everything after a point cut off.
    Truncate(Index),
    /// A run of bytes overwritten with the given ones.
    Overwrite(Index, Vec<u8>),
    /// A piece of another original spliced in, replacing as many bytes.
    Splice(Index, usize, Index, usize),
    /// A header field's worth of bytes set to their largest value.
    Saturate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<Index>(), 0..8u8).prop_map(|(at, bit)| Mutation::FlipBit(at, bit)),
        2 => any::<Index>().prop_map(Mutation::Truncate),
        2 => (any::<Index>(), vec(any::<u8>(), 1..16)).prop_map(|(at, bytes)| Mutation::Overwrite(at, bytes)),
        2 => (any::<Index>(), 0..8usize, any::<Index>(), 1..64usize)
            .prop_map(|(at, from, start, len)| Mutation::Splice(at, from, start, len)),
        1 => any::<Index>().prop_map(Mutation::Saturate),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    match mutation {
        Mutation::FlipBit(at, bit) => {
            let at = at.index(bytes.len());
            bytes[at] ^= 1 << bit;
        }
        Mutation::Truncate(at) => bytes.truncate(at.index(bytes.len())),
        Mutation::Overwrite(at, new) => {
            let at = at.index(bytes.len());
            let end = (at + new.len()).min(bytes.len());
            bytes[at..end].copy_from_slice(&new[..end - at]);
        }
        Mutation::Splice(at, from, start, len) => {
            let donor = &originals()[*from].1;
            let start = start.index(donor.len());
            let piece = &donor[start..(start + len).min(donor.len())];
            let at = at.index(bytes.len());
            let end = (at + piece.len()).min(bytes.len());
            bytes.splice(at..end, piece.iter().copied());
        }
        Mutation::Saturate(at) => {
            let at = at.index(bytes.len());
            let end = (at + 4).min(bytes.len());
            bytes[at..end].fill(0xFF);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn mutated_images_give_an_error_or_a_thumbnail_that_fits(
        original in 0..8usize,
        mutations in vec(mutation(), 1..4),
        reseal in any::<bool>(),
    ) {
        let (format, original) = &originals()[original];
        let mut bytes = original.clone();
        for mutation in &mutations {
            apply(&mut bytes, mutation);
        }
        if reseal && *format == ImageFormat::Png {
            reseal_png(&mut bytes);
        }
        // A panic inside fails the case; a call that returns has stayed in bounds.
        if let Ok(thumbnail) = make_thumbnail(&bytes, LIMITS) {
            prop_assert!((1..=THUMBNAIL_SIDE).contains(&thumbnail.width));
            prop_assert!((1..=THUMBNAIL_SIDE).contains(&thumbnail.height));
            prop_assert_eq!(CoverFormat::sniff(&thumbnail.bytes), Some(thumbnail.format));
            let decoded = ImageReader::new(Cursor::new(&thumbnail.bytes))
                .with_guessed_format()
                .unwrap()
                .decode()
                .expect("the thumbnail is a real image");
            prop_assert_eq!((decoded.width(), decoded.height()), (thumbnail.width, thumbnail.height));
        }
    }
}

#[test]
fn the_originals_themselves_make_thumbnails() {
    let mut sizes: Vec<(u32, u32)> = originals()
        .iter()
        .map(|(format, bytes)| {
            let thumbnail = make_thumbnail(bytes, LIMITS).expect("a real image");
            assert_eq!(
                CoverFormat::sniff(&thumbnail.bytes),
                Some(thumbnail.format),
                "{format:?}"
            );
            (thumbnail.width, thumbnail.height)
        })
        .collect();
    sizes.dedup();
    assert_eq!(sizes, [(48, 32), (150, 100)]);
}
