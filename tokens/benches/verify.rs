//! The cost of one token verification: what every authenticated call pays.

use std::{hint::black_box, sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bookshelf_tokens::{KeySet, PublicKey, Revocations, Verifier};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::{Ed25519KeyPair, KeyPair};

fn verification(c: &mut Criterion) {
    let document = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(document.as_ref()).unwrap();
    let public = PublicKey {
        kid: "bench".into(),
        x: URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "sub": "67e55044-10b1-426f-9247-bb680e5fe0c8", "iss": "bookshelf-auth",
        "aud": "bookshelf", "iat": now, "nbf": now, "exp": now + 3600,
    });
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("bench".into());
    let token = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_ed_der(document.as_ref()),
    )
    .unwrap();
    // No heartbeats arrive here: a bound longer than the run keeps the feed live.
    let revocations = Arc::new(Revocations::new(Duration::from_secs(24 * 60 * 60)));
    revocations.feed_up();
    for user in 0..10_000 {
        revocations.revoke(&format!("revoked-{user}"));
    }
    let fresh =
        || Verifier::with_revocations(KeySet::from_public_keys([&public]), revocations.clone());
    let bearer = format!("Bearer {token}");
    c.bench_function(
        "first verification of a token: signature (10k revoked users)",
        |b| {
            b.iter_batched(
                fresh,
                |verifier| verifier.verify_bearer(Some(black_box(&bearer))).unwrap(),
                BatchSize::SmallInput,
            )
        },
    );
    let verifier = fresh();
    c.bench_function(
        "verification of a token seen before (10k revoked users)",
        |b| b.iter(|| verifier.verify_bearer(Some(black_box(&bearer))).unwrap()),
    );
}

criterion_group!(benches, verification);
criterion_main!(benches);
