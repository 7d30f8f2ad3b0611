//! Resumable uploads over gRPC, in the shape of google.bytestream: offsets never go
//! back, a Write at the wrong offset is FAILED_PRECONDITION telling the right one, of
//! two Writes at once exactly one wins and the bytes stored are its own, an unfinished
//! upload counts against its owner's quota until it expires and the sweep removes it,
//! and a book takes its cover from a complete upload, checked end to end. On a bucket
//! (`BOOKSHELF_TEST_S3`) the same tests run against multipart uploads, with appends of
//! whole parts.

use std::time::Duration;

use bookshelf_proto::library::v1::{
    CreateBookRequest, CreateUploadRequest, CreateUploadResponse, QueryWriteStatusRequest,
    WriteRequest, create_book_request, upload_service_client::UploadServiceClient,
};
use bookshelf_test_support::{
    TestAuth, TestLibrary, bearer,
    buckets::TestCovers,
    eventually, images,
    library::finished,
    library::{cover_end, new_book},
    manual_clock, pki, register_and_login,
};
use bytes::Bytes;
use tonic::{Code, Status, transport::Channel};
use tonic_types::StatusExt;

const MIB: usize = 1024 * 1024;

fn client(library: &TestLibrary) -> UploadServiceClient<Channel> {
    UploadServiceClient::new(pki::shared().user_channel(library.addr))
}

async fn create(
    client: &mut UploadServiceClient<Channel>,
    token: &str,
    length: usize,
) -> CreateUploadResponse {
    client
        .create_upload(bearer(
            CreateUploadRequest {
                length: length as u64,
            },
            token,
        ))
        .await
        .expect("the upload is created")
        .into_inner()
}

/// One Write of `bytes` at `offset` in 64 KiB messages: the committed size, or why not.
async fn write(
    client: &mut UploadServiceClient<Channel>,
    token: &str,
    name: &str,
    offset: usize,
    bytes: &[u8],
    finish: bool,
) -> Result<i64, Status> {
    let mut messages: Vec<WriteRequest> = bytes
        .chunks(64 * 1024)
        .map(|chunk| WriteRequest {
            data: Bytes::copy_from_slice(chunk),
            ..WriteRequest::default()
        })
        .collect();
    if messages.is_empty() {
        messages.push(WriteRequest::default());
    }
    messages[0].resource_name = name.to_owned();
    messages[0].write_offset = offset as i64;
    messages.last_mut().expect("a message").finish_write = finish;
    let response = client
        .write(bearer(futures::stream::iter(messages), token))
        .await?;
    Ok(response.into_inner().committed_size)
}

async fn status(
    client: &mut UploadServiceClient<Channel>,
    token: &str,
    name: &str,
) -> Result<(i64, bool), Status> {
    let request = QueryWriteStatusRequest {
        resource_name: name.to_owned(),
    };
    let answer = client
        .query_write_status(bearer(request, token))
        .await?
        .into_inner();
    Ok((answer.committed_size, answer.complete))
}

/// The committed size a refused Write tells.
fn told_offset(status: &Status) -> i64 {
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let info = status.get_details_error_info().expect("error info");
    info.metadata["committed_size"].parse().expect("a number")
}

/// A real JPEG of exactly `size` bytes whose comment segments (which decoders skip
/// and the thumbnail drops) hold distinct bytes, so that any byte out of place
/// changes its digest.
fn cover(size: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    images::jpeg_of_size(images::jpeg(64, 48), size, || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    })
}

/// Creates a book whose cover is the complete upload `name`, the finish message
/// stating `expected`'s size and digest.
async fn book_from_upload(
    library: &TestLibrary,
    token: &str,
    name: &str,
    expected: &[u8],
) -> Result<String, Status> {
    let mut metadata = new_book(&format!("From {name}"), "science");
    metadata.cover_upload = name.to_owned();
    let messages = vec![
        CreateBookRequest {
            part: Some(create_book_request::Part::Metadata(metadata)),
        },
        CreateBookRequest {
            part: Some(create_book_request::Part::Cover(cover_end(finished(
                expected,
            )))),
        },
    ];
    let mut books = library.client().await;
    let book = books
        .create_book(bearer(futures::stream::iter(messages), token))
        .await?
        .into_inner()
        .book
        .expect("a book");
    Ok(book.cover_id)
}

async fn library_with(
    auth: &TestAuth,
    adjust: impl FnOnce(&mut library_service::Config),
) -> TestLibrary {
    TestLibrary::spawn_with(auth, |config| {
        config.max_cover_bytes = 16 * MIB;
        adjust(config);
    })
    .await
}

#[tokio::test]
async fn offsets_never_go_back_and_a_wrong_one_is_told_the_right_one() {
    let auth = TestAuth::spawn().await;
    let library = library_with(&auth, |_| {}).await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let mut uploads = client(&library);
    let created = create(&mut uploads, &token, 0).await;
    let name = created.resource_name;
    // On a bucket only whole parts count before the last: append one part.
    let step = (created.min_append_bytes as usize).max(64 * 1024);
    let bytes = cover(3 * step + 123, 7);

    assert_eq!(
        write(&mut uploads, &token, &name, 0, &bytes[..step], false)
            .await
            .map_err(|s| s.to_string()),
        Ok(step as i64)
    );
    for wrong in [0, step - 1, step + 1, 3 * step] {
        let refused = write(
            &mut uploads,
            &token,
            &name,
            wrong,
            &bytes[wrong.min(bytes.len())..],
            true,
        )
        .await
        .expect_err("a wrong offset is refused");
        assert_eq!(told_offset(&refused), step as i64, "at {wrong}");
    }
    assert_eq!(
        status(&mut uploads, &token, &name)
            .await
            .map_err(|s| s.to_string()),
        Ok((step as i64, false))
    );
    let done = write(&mut uploads, &token, &name, step, &bytes[step..], true).await;
    assert_eq!(done.map_err(|s| s.to_string()), Ok(bytes.len() as i64));
    assert_eq!(
        status(&mut uploads, &token, &name)
            .await
            .map_err(|s| s.to_string()),
        Ok((bytes.len() as i64, true))
    );
    let refused = write(&mut uploads, &token, &name, bytes.len(), b"more", true)
        .await
        .expect_err("a complete upload takes no more");
    assert_eq!(told_offset(&refused), bytes.len() as i64);

    // Another account sees nothing of it.
    let (_, stranger) = register_and_login(&mut auth.client().await).await;
    let hidden = status(&mut uploads, &stranger, &name)
        .await
        .expect_err("hidden");
    assert_eq!(hidden.code(), Code::NotFound);
    let hidden = book_from_upload(&library, &stranger, &name, &bytes)
        .await
        .expect_err("hidden");
    assert_eq!(hidden.code(), Code::NotFound);

    // A digest that does not match refuses the book and keeps the upload; the right
    // one stores it and consumes the upload.
    let mut wrong = bytes.clone();
    wrong[bytes.len() - 1] ^= 1;
    let refused = book_from_upload(&library, &token, &name, &wrong)
        .await
        .expect_err("mismatch");
    assert_eq!(refused.code(), Code::InvalidArgument);
    book_from_upload(&library, &token, &name, &bytes)
        .await
        .expect("the book is stored");
    let gone = status(&mut uploads, &token, &name)
        .await
        .expect_err("consumed");
    assert_eq!(gone.code(), Code::NotFound);
}

#[tokio::test]
async fn of_writers_appending_at_once_one_wins_and_the_bytes_stored_are_its_own() {
    let auth = TestAuth::spawn().await;
    let library = library_with(&auth, |config| config.max_uploads_per_account = 16).await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let mut uploads = client(&library);
    let name = create(&mut uploads, &token, 0).await.resource_name;
    let candidates: Vec<Vec<u8>> = (0..8).map(|seed| cover(2 * MIB + 17, seed + 100)).collect();
    let writes = candidates.iter().map(|bytes| {
        let (mut uploads, token, name) = (uploads.clone(), token.clone(), name.clone());
        let bytes = bytes.clone();
        tokio::spawn(async move { write(&mut uploads, &token, &name, 0, &bytes, true).await })
    });
    let answers: Vec<_> = futures::future::join_all(writes)
        .await
        .into_iter()
        .map(|joined| joined.expect("the write task"))
        .collect();
    let winners: Vec<usize> = (0..answers.len()).filter(|i| answers[*i].is_ok()).collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    for answer in &answers {
        if let Err(refused) = answer {
            assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
        }
    }
    let winner = &candidates[winners[0]];
    assert_eq!(
        status(&mut uploads, &token, &name)
            .await
            .map_err(|s| s.to_string()),
        Ok((winner.len() as i64, true))
    );
    for (i, loser) in candidates
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != winners[0])
    {
        let refused = book_from_upload(&library, &token, &name, loser)
            .await
            .expect_err("not its bytes");
        assert_eq!(refused.code(), Code::InvalidArgument, "candidate {i}");
    }
    book_from_upload(&library, &token, &name, winner)
        .await
        .expect("the winner's bytes, whole");
}

#[tokio::test]
async fn unfinished_uploads_count_against_the_quota_until_they_expire_and_are_swept() {
    let (clock, hand) = manual_clock();
    let auth = TestAuth::spawn().await;
    let library = library_with(&auth, |config| {
        config.max_cover_bytes = 6 * MIB;
        config.max_cover_storage_per_account = 10 * MIB as u64;
        config.upload_expiry_secs = 60;
        config.sweep_interval_secs = 1;
        config.clock = clock;
    })
    .await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let mut uploads = client(&library);
    let first = create(&mut uploads, &token, 6 * MIB).await;
    let bytes = cover(6 * MIB, 3);
    let part = 5 * MIB;
    assert_eq!(
        write(
            &mut uploads,
            &token,
            &first.resource_name,
            0,
            &bytes[..part],
            false
        )
        .await
        .map_err(|s| s.to_string()),
        Ok(part as i64)
    );

    let refused = uploads
        .create_upload(bearer(
            CreateUploadRequest {
                length: (6 * MIB) as u64,
            },
            &token,
        ))
        .await
        .expect_err("the quota has no room for a second");
    assert_eq!(refused.code(), Code::ResourceExhausted);

    hand.advance(Duration::from_secs(61));
    let expired = status(&mut uploads, &token, &first.resource_name)
        .await
        .expect_err("expired");
    assert_eq!(expired.code(), Code::NotFound);
    let refused = write(
        &mut uploads,
        &token,
        &first.resource_name,
        part,
        &bytes[part..],
        true,
    )
    .await
    .expect_err("an expired upload takes no bytes");
    assert_eq!(refused.code(), Code::NotFound);
    // The sweep gives the reservation back and removes the bytes.
    let again = eventually("the sweep to give the quota back", || {
        let (mut uploads, token) = (uploads.clone(), token.clone());
        async move {
            uploads
                .create_upload(bearer(
                    CreateUploadRequest {
                        length: (6 * MIB) as u64,
                    },
                    &token,
                ))
                .await
                .ok()
        }
    })
    .await;
    assert!(!again.into_inner().resource_name.is_empty());
    if let TestCovers::Folder(dir) = &library.covers {
        let staged = std::fs::read_dir(dir.with_file_name("covers-uploads"))
            .expect("the staging folder")
            .count();
        assert_eq!(staged, 0, "the expired upload's bytes are removed");
    }
}
