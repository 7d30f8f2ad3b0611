//! Uploads in the shape the contract had before `CoverPart`, with the cover's chunks
//! and finish message as fields of `CreateBookRequest` itself: a client that still
//! sends them is refused as a stream that never finished, and nothing is stored.

use bookshelf_proto::library::v1::{CreateBookResponse, NewBook, UploadFinished};
use bookshelf_test_support::{
    TestAuth, TestLibrary, bearer,
    images::image,
    library::{finished, new_book},
    register_and_login,
};
use image::ImageFormat;
use tonic::Code;
use tonic_types::StatusExt;

/// `CreateBookRequest` as it was: metadata, chunk and finish message in one oneof.
#[derive(Clone, PartialEq, prost::Message)]
struct EarlierCreateBookRequest {
    #[prost(oneof = "EarlierPart", tags = "1, 2, 3")]
    part: Option<EarlierPart>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum EarlierPart {
    #[prost(message, tag = "1")]
    Metadata(NewBook),
    #[prost(bytes = "vec", tag = "2")]
    Chunk(Vec<u8>),
    #[prost(message, tag = "3")]
    Finished(UploadFinished),
}

#[tokio::test]
async fn an_upload_in_the_earlier_shape_is_refused_and_stores_nothing() {
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn(&auth).await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let cover = image(ImageFormat::Png, 60, 60);
    let messages = [
        EarlierPart::Metadata(new_book("Earlier", "poetry")),
        EarlierPart::Chunk(cover.clone()),
        EarlierPart::Finished(finished(&cover)),
    ]
    .map(|part| EarlierCreateBookRequest { part: Some(part) });
    let channel = bookshelf_test_support::pki::shared().user_channel(library.addr);
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let status = grpc
        .client_streaming::<_, _, CreateBookResponse, _>(
            bearer(futures::stream::iter(messages), &token),
            http::uri::PathAndQuery::from_static("/library.v1.LibraryService/CreateBook"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let violations = status.get_details_bad_request().unwrap().field_violations;
    assert_eq!(violations[0].field, "finished");
    assert!(library.books(&token).await.is_empty());
    assert!(library.cover_files().await.is_empty());
}
