//! Hostile cover uploads through the gateway: non-images, truncated images, bombs,
//! too many pixels, scripts and polyglots, odd forms, hostile file names, and the
//! size cap to the byte. A refused upload leaves neither a book nor a file behind.

use std::{collections::BTreeSet, time::Instant};

use bookshelf_test_support::{
    InProcessStack, Rest,
    covers::assert_covers_match_books,
    images::{
        TRAILING_SCRIPT, gif_bomb, gif_script_polyglot, html_then_jpeg, image, inspect,
        jpeg_then_script, padded, png_bomb, svg_with_script,
    },
};
use image::ImageFormat;
use reqwest::{Method, multipart};

/// The cover cap the stack runs with.
const CAP: usize = 200_000;

fn truncated(format: ImageFormat) -> Vec<u8> {
    let mut bytes = image(format, 300, 200);
    bytes.truncate(bytes.len() / 2);
    bytes
}

fn cover_form(title: &str, parts: Vec<(&str, multipart::Part)>) -> multipart::Form {
    parts.into_iter().fold(
        multipart::Form::new()
            .text("title", title.to_owned())
            .text("category", "poetry"),
        |form, (name, part)| form.part(name.to_owned(), part),
    )
}

fn cover(name: &str, bytes: Vec<u8>) -> multipart::Part {
    multipart::Part::bytes(bytes).file_name(name.to_owned())
}

#[tokio::test]
async fn hostile_covers_are_refused_and_leave_nothing_behind() {
    let stack = InProcessStack::spawn_with(&[("GATEWAY_MAX_COVER_BYTES", "200000")]).await;
    let rest = Rest::new(&stack.http);
    let (_, me) = rest.signed_up("Ada Lovelace").await;
    let wide = image(ImageFormat::Png, 9000, 10);
    assert!(wide.len() < CAP, "refused for its pixels, not its bytes");
    let refused: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "text named .png",
            b"just some text, not an image".to_vec(),
            415,
        ),
        ("a truncated JPEG", truncated(ImageFormat::Jpeg), 400),
        ("a truncated PNG", truncated(ImageFormat::Png), 400),
        ("a truncated GIF", truncated(ImageFormat::Gif), 400),
        ("a truncated WebP", truncated(ImageFormat::WebP), 400),
        ("a PNG bomb", png_bomb(65535, 65535), 400),
        ("a GIF bomb", gif_bomb(), 400),
        ("a PNG of 9000x10 pixels", wide, 400),
        ("an SVG with a script", svg_with_script(), 415),
        ("HTML before a JPEG", html_then_jpeg(), 415),
        ("a GIF that is also JavaScript", gif_script_polyglot(), 400),
        ("zero bytes: an empty cover part", Vec::new(), 400),
    ];
    for (kind, bytes, status) in refused {
        let answer = me
            .form(
                Method::POST,
                "/books/",
                cover_form(kind, vec![("cover_image", cover("x.png", bytes))]),
            )
            .await;
        assert_eq!(answer.status, status, "{kind}: {:?}", answer.body);
        assert!(answer.is_envelope(), "{kind}: {:?}", answer.body);
    }

    let odd_forms = [
        (
            "two cover parts",
            vec![
                (
                    "cover_image",
                    cover("a.png", image(ImageFormat::Png, 20, 20)),
                ),
                (
                    "cover_image",
                    cover("b.png", image(ImageFormat::Png, 20, 20)),
                ),
            ],
        ),
        (
            "a text field after the cover",
            vec![
                (
                    "cover_image",
                    cover("a.png", image(ImageFormat::Png, 20, 20)),
                ),
                ("description", multipart::Part::text("late")),
            ],
        ),
    ];
    for (kind, parts) in odd_forms {
        let answer = me
            .form(Method::POST, "/books/", cover_form(kind, parts))
            .await;
        assert_eq!(answer.status, 400, "{kind}: {:?}", answer.body);
    }

    // One byte past the cap: 413 as soon as the cap is passed (the connection may close
    // before the client has written the rest). The image ends well before the cap, so
    // what the backend got would decode: it must still not become a book.
    // Whether it would have become one is a race between the backend and the reset of
    // its stream, so the attempt is made several times.
    for attempt in 0..8 {
        let over = padded(image(ImageFormat::Png, 60, 60), CAP + 1);
        let form = cover_form(
            &format!("Past the cap {attempt}"),
            vec![("cover_image", cover("over.png", over))],
        );
        if let Some(answer) = me
            .send_refusable(me.request(Method::POST, "/books/").multipart(form))
            .await
        {
            assert_eq!(answer.status, 413, "{:?}", answer.body);
        }
    }

    // A body of 10 MiB without a token is refused before it is read.
    let started = Instant::now();
    let anonymous = cover_form(
        "Anonymous",
        vec![(
            "cover_image",
            cover("big.jpg", vec![0xFF; 10 * 1024 * 1024]),
        )],
    );
    if let Some(answer) = rest
        .send_refusable(rest.request(Method::POST, "/books/").multipart(anonymous))
        .await
    {
        assert_eq!(answer.status, 401, "{:?}", answer.body);
    }
    assert!(started.elapsed().as_secs() < 5);

    // Exactly at the cap is accepted, and the trailing bytes never reach the thumbnail.
    let at_cap = me
        .form(
            Method::POST,
            "/books/",
            cover_form(
                "At the cap",
                vec![(
                    "cover_image",
                    cover("cap.png", padded(image(ImageFormat::Png, 60, 60), CAP)),
                )],
            ),
        )
        .await;
    assert_eq!(at_cap.status, 201, "{:?}", at_cap.body);

    // A JPEG carrying a script is re-encoded: served as a JPEG, without the script.
    let polyglot = me
        .form(
            Method::POST,
            "/books/",
            cover_form(
                "Polyglot",
                vec![("cover_image", cover("p.jpg", jpeg_then_script()))],
            ),
        )
        .await;
    assert_eq!(polyglot.status, 201, "{:?}", polyglot.body);
    let served = reqwest::get(polyglot.data()["image_url"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(served.headers()["content-type"], "image/jpeg");
    assert_eq!(served.headers()["x-content-type-options"], "nosniff");
    let bytes = served.bytes().await.unwrap();
    assert!(
        !bytes
            .windows(TRAILING_SCRIPT.len())
            .any(|window| window == TRAILING_SCRIPT)
    );
    assert_eq!(inspect(&bytes).0, ImageFormat::Jpeg);

    let listed: BTreeSet<String> = me
        .get("/books/")
        .await
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|book| book["title"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        listed,
        BTreeSet::from(["At the cap".to_owned(), "Polyglot".to_owned()])
    );
    assert_covers_match_books(&stack, &me).await;
}

#[tokio::test]
async fn client_file_names_are_never_used() {
    let stack = InProcessStack::spawn().await;
    let rest = Rest::new(&stack.http);
    let (_, me) = rest.signed_up("Ada Lovelace").await;
    let long = format!("{}.png", "n".repeat(10_000));
    // A line break in a part's header breaks the form itself: 400, and nothing stored.
    let broken = me
        .form(
            Method::POST,
            "/books/",
            cover_form(
                "Broken",
                vec![(
                    "cover_image",
                    cover(
                        "cover.png\r\nX-Injected: yes",
                        image(ImageFormat::Png, 20, 20),
                    ),
                )],
            ),
        )
        .await;
    assert_eq!(broken.status, 400, "{:?}", broken.body);
    let names = [
        "../../../etc/passwd.png",
        "..\\..\\windows\\win.ini.png",
        "/absolute/path.png",
        long.as_str(),
        "<script>alert(1)</script>.png",
        "%00%2e%2e%2fx.png",
        "📚 \u{202E}gnp.exe",
        ".partial-0123456789abcdef",
    ];
    for (index, name) in names.iter().enumerate() {
        let answer = me
            .form(
                Method::POST,
                "/books/",
                cover_form(
                    &format!("Book {index}"),
                    vec![("cover_image", cover(name, image(ImageFormat::Png, 20, 20)))],
                ),
            )
            .await;
        assert_eq!(answer.status, 201, "{name:?}: {:?}", answer.body);
    }
    assert_eq!(
        me.get("/books/").await.data().as_array().unwrap().len(),
        names.len()
    );
    assert_covers_match_books(&stack, &me).await;
    assert!(!stack.dir.path().join("etc").exists());
}
