//! Property tests of the verifier: whatever arrives as a token or an `authorization`
//! value (any string, three base64url segments of anything, well-formed JSON with
//! hostile fields, a real signature over broken claims), it never panics and never
//! accepts it; only a token of a trusted key with valid claims passes.

use std::sync::OnceLock;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bookshelf_tokens::{KeySet, PublicKey, TokenError, Verifier};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use proptest::{collection::vec, prelude::*};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{Value, json};

const KID: &str = "trusted";

/// A verifier trusting one fresh key, and that key for signing.
fn trusted() -> &'static (Verifier, EncodingKey) {
    static TRUSTED: OnceLock<(Verifier, EncodingKey)> = OnceLock::new();
    TRUSTED.get_or_init(|| {
        let document = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(document.as_ref()).unwrap();
        let public = PublicKey {
            kid: KID.into(),
            x: URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
        };
        let verifier = Verifier::new(KeySet::from_public_keys([&public]));
        (verifier, EncodingKey::from_ed_der(document.as_ref()))
    })
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn valid_claims() -> Value {
    let now = now();
    json!({
        "sub": "67e55044-10b1-426f-9247-bb680e5fe0c8", "iss": "bookshelf-auth",
        "aud": "bookshelf", "iat": now, "nbf": now, "exp": now + 3600,
        "sid": "0f8e2c1a-5b7d-4e3f-9a2b-6c4d8e0f1a3b", "auth_time": now,
    })
}

fn sign(claims: &Value) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(KID.into());
    jsonwebtoken::encode(&header, claims, &trusted().1).unwrap()
}

/// Any JSON value, nested a little.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|number| json!(number)),
        any::<String>().prop_map(Value::from),
        Just(json!(KID)),
        Just(json!("EdDSA")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            vec(("[a-z]{1,4}", inner), 0..4)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// A claim replaced by a hostile value, or removed.
fn broken_claims() -> impl Strategy<Value = Value> {
    let claim = prop::sample::select(vec![
        "sub",
        "iss",
        "aud",
        "iat",
        "nbf",
        "exp",
        "sid",
        "auth_time",
    ]);
    (claim, prop::option::of(any_json())).prop_map(|(claim, value)| {
        let mut claims = valid_claims();
        match value {
            Some(value) => claims[claim] = value,
            None => {
                claims.as_object_mut().unwrap().remove(claim);
            }
        }
        claims
    })
}

/// Whether `claims` still pass every rule with this value in place.
fn still_valid(claims: &Value) -> bool {
    let now = now();
    let text = |claim: &str| claims.get(claim).and_then(Value::as_str);
    let time = |claim: &str| claims.get(claim).and_then(Value::as_u64);
    let leeway = bookshelf_tokens::claims::LEEWAY_SECS as i64;
    text("sub").is_some_and(|sub| !sub.is_empty())
        && text("iss") == Some("bookshelf-auth")
        && text("aud") == Some("bookshelf")
        && time("iat").is_some()
        && time("nbf").is_some_and(|nbf| (nbf as i64) <= now + leeway)
        && time("exp").is_some_and(|exp| (exp as i64) > now - leeway)
        && text("sid").is_some()
        // `auth_time` may be left out (then never recent), not mistyped.
        && claims.get("auth_time").is_none_or(|value| value.as_u64().is_some())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn any_string_is_refused_as_a_token_and_as_a_header(raw in any::<String>()) {
        let verifier = &trusted().0;
        prop_assert!(verifier.verify(&raw).is_err());
        prop_assert!(verifier.verify_bearer(Some(&raw)).is_err());
        let header = format!("Bearer {raw}");
        prop_assert!(verifier.verify_bearer(Some(&header)).is_err());
    }

    #[test]
    fn three_segments_of_anything_are_refused(
        segments in vec(vec(any::<u8>(), 0..300), 3),
    ) {
        let token = segments
            .iter()
            .map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
            .collect::<Vec<_>>()
            .join(".");
        prop_assert!(trusted().0.verify(&token).is_err());
    }

    #[test]
    fn well_formed_json_with_hostile_fields_is_refused(
        header in any_json(),
        claims in any_json(),
        signature in vec(any::<u8>(), 0..100),
    ) {
        let token = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode(signature),
        );
        prop_assert!(trusted().0.verify(&token).is_err());
    }

    #[test]
    fn a_real_signature_over_broken_claims_is_refused(claims in broken_claims()) {
        let result = trusted().0.verify(&sign(&claims));
        if still_valid(&claims) {
            prop_assert!(result.is_ok(), "{}: {:?}", claims, result);
        } else {
            prop_assert_eq!(result, Err(TokenError::Invalid), "{}", claims);
        }
    }

    #[test]
    fn a_valid_token_with_any_byte_changed_is_refused(index in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let token = sign(&valid_claims());
        let mut bytes = token.into_bytes();
        let at = index.index(bytes.len());
        prop_assume!(bytes[at] != byte);
        bytes[at] = byte;
        // Bytes that are no longer UTF-8 cannot reach the verifier as a token at all.
        if let Ok(changed) = String::from_utf8(bytes) {
            prop_assert!(trusted().0.verify(&changed).is_err(), "{}", changed);
        }
    }
}

#[test]
fn a_token_of_the_trusted_key_with_valid_claims_passes() {
    let claims = trusted()
        .0
        .verify(&sign(&valid_claims()))
        .expect("accepted");
    assert_eq!(claims.sub, "67e55044-10b1-426f-9247-bb680e5fe0c8");
}

#[test]
fn no_other_spelling_of_a_segment_end_passes() {
    // The last character of a base64url segment carries unused bits: a lenient decoder
    // would take several spellings of one token, each a valid token.
    let token = sign(&valid_claims());
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let ends: Vec<usize> = token
        .match_indices('.')
        .map(|(index, _)| index - 1)
        .chain([token.len() - 1])
        .collect();
    for end in ends {
        for replacement in alphabet.chars() {
            let mut spelling = token.clone();
            spelling.replace_range(end..=end, &replacement.to_string());
            if spelling != token {
                assert!(trusted().0.verify(&spelling).is_err(), "{spelling}");
            }
        }
    }
}
