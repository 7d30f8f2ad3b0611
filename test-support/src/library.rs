//! The real library service on port 0, and upload helpers.

use std::{net::SocketAddr, sync::Arc};

use bookshelf_proto::library::v1::{
    Book, BookChanges, CoverPart, CreateBookRequest, NewBook, UpdateBookRequest, UploadFinished,
    cover_part, create_book_request, library_service_client::LibraryServiceClient,
    update_book_request,
};
use bookshelf_tokens::Revocations;
use library_service::{Application, Config, storage::CoverLocation};
use secrecy::SecretString;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tonic::{Status, transport::Channel};

use crate::{
    Relay, TestAuth, TestDatabase, bearer,
    buckets::{TestBucket, TestCovers},
    running::Running,
};

/// Size of the chunks uploads are sent in.
pub const CHUNK: usize = 64 * 1024;

/// The real library service, in-process on a free port, following `auth`. Dropping
/// it stops the server.
pub struct TestLibrary {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its data folder.
    pub dir: TempDir,
    /// Its database.
    pub database: TestDatabase,
    /// The configuration it was started with.
    pub config: Config,
    /// Its covers, in a folder or a test bucket.
    pub covers: TestCovers,
    running: Option<Running>,
    revocations: Option<Arc<Revocations>>,
}

impl TestLibrary {
    /// Starts a library service following `auth`.
    pub async fn spawn(auth: &TestAuth) -> Self {
        Self::spawn_with(auth, |_| {}).await
    }

    /// Starts a library service after `adjust` changed its configuration, and waits
    /// until it has the auth service's keys and revocation feed.
    pub async fn spawn_with(auth: &TestAuth, adjust: impl FnOnce(&mut Config)) -> Self {
        let library = Self::spawn_following(&auth.url(), adjust).await;
        library.wait_live().await;
        library
    }

    /// Starts a library service following the auth service at `auth_url`, without
    /// waiting for its revocation feed to go live.
    pub async fn spawn_following(auth_url: &str, adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let database = TestDatabase::create(dir.path(), "library").await;
        let mut config = Config::embedded(dir.path().to_path_buf(), auth_url.to_owned());
        config.database_url = Some(SecretString::from(database.url.clone()));
        let tls = crate::pki::shared().part_files(&dir.path().join("tls"), "library");
        config.tls_cert = Some(tls.cert);
        config.tls_key = Some(tls.key);
        config.tls_ca = Some(tls.ca);
        let bucket = TestBucket::create_if_configured().await;
        if let Some(bucket) = &bucket {
            bucket.configure(&mut config);
        }
        // The server runs on the test's own runtime, one thread, beside test code that
        // encodes and decodes images synchronously: on a busy machine that thread can
        // stall for seconds, and the feed's heartbeats with it, until every call is
        // refused as unable to check revocations. A test of the feed's bounds sets its
        // own; every other test tolerates such stalls.
        config.revocation_max_outage_ms = 30_000;
        adjust(&mut config);
        let covers = match (bucket, config.cover_location()) {
            (_, CoverLocation::Folder(dir)) => TestCovers::Folder(dir),
            (Some(bucket), CoverLocation::Bucket { .. }) => TestCovers::Bucket(bucket),
            (None, CoverLocation::Bucket { .. }) => panic!("a bucket not on the test server"),
        };
        let mut library = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            dir,
            database,
            config,
            covers,
            running: None,
            revocations: None,
        };
        library.launch().await;
        library
    }

    /// (Re)starts the server on its address (a fresh port the first time) and waits
    /// until it has the auth service's keys and revocation feed.
    pub async fn start(&mut self) {
        self.launch().await;
        self.wait_live().await;
    }

    /// The revoked users and the state of the feed, as the running server sees them.
    pub fn revocations(&self) -> &Arc<Revocations> {
        self.revocations.as_ref().expect("the library is running")
    }

    async fn launch(&mut self) {
        let listener = TcpListener::bind(self.addr).await.expect("bind");
        self.addr = listener.local_addr().expect("local address");
        let app = Application::build(&self.config, listener)
            .await
            .expect("the library service starts");
        let revocations = app
            .verifier()
            .revocations()
            .cloned()
            .expect("the library follows revocations");
        self.running = Some(Running::spawn(|shutdown| async move {
            app.run_until(shutdown)
                .await
                .expect("the library service runs");
        }));
        self.revocations = Some(revocations);
    }

    async fn wait_live(&self) {
        crate::eventually("the library service to reach the auth service", || async {
            (!self.revocations().is_stale()).then_some(())
        })
        .await;
    }

    /// Stops the server gracefully and waits until it has exited.
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }

    /// Restarts the server with its database reached through a [`Relay`] that the
    /// test can silence; `None`, and nothing restarted, on SQLite, which has no server.
    pub async fn relay_database(&mut self) -> Option<Relay> {
        let (relay, relayed_url) = self.database.relayed().await?;
        self.stop().await;
        self.config.database_url = Some(SecretString::from(relayed_url));
        self.start().await;
        Some(relay)
    }

    /// Waits until the service refuses `token` (a new `ListBooks` fails): the status
    /// it answers.
    pub async fn until_refused(&self, token: &str, what: &str) -> Status {
        crate::eventually(what, || async { self.list_books(token).await.err() }).await
    }

    /// How the service answers a `ListBooks` call with `token`: accepted, or the code.
    pub async fn answer(&self, token: &str) -> Result<(), tonic::Code> {
        self.list_books(token).await.map_err(|status| status.code())
    }

    async fn list_books(&self, token: &str) -> Result<(), Status> {
        self.client()
            .await
            .list_books(bearer(
                bookshelf_proto::library::v1::ListBooksRequest::default(),
                token,
            ))
            .await
            .map(drop)
    }

    /// The names of the stored covers, sorted.
    pub async fn cover_files(&self) -> Vec<String> {
        self.covers.names().await.into_iter().collect()
    }

    /// The first hundred books of the owner of `token`.
    pub async fn books(&self, token: &str) -> Vec<Book> {
        let request = bookshelf_proto::library::v1::ListBooksRequest {
            page_size: 100,
            ..Default::default()
        };
        self.client()
            .await
            .list_books(bearer(request, token))
            .await
            .expect("list books")
            .into_inner()
            .books
    }

    /// A client of the server as a user's: over TLS without a client certificate.
    pub async fn client(&self) -> LibraryServiceClient<Channel> {
        LibraryServiceClient::new(crate::pki::shared().user_channel(self.addr))
            .max_decoding_message_size(64 * 1024 * 1024)
    }
}

/// The metadata of a new book.
pub fn new_book(title: &str, category: &str) -> NewBook {
    NewBook {
        title: title.into(),
        description: format!("About {title}"),
        category: category.into(),
        cover_upload: String::new(),
    }
}

/// The message that finishes an upload of `cover`: its length and SHA-256.
pub fn finished(cover: &[u8]) -> UploadFinished {
    UploadFinished {
        cover_bytes: cover.len() as u64,
        sha256: ring::digest::digest(&ring::digest::SHA256, cover)
            .as_ref()
            .to_vec(),
    }
}

/// A piece of a cover, as both uploads send it.
pub fn cover_chunk(bytes: impl Into<bytes::Bytes>) -> CoverPart {
    CoverPart {
        part: Some(cover_part::Part::Chunk(bytes.into())),
    }
}

/// The end of an upload, as both uploads send it.
pub fn cover_end(finished: UploadFinished) -> CoverPart {
    CoverPart {
        part: Some(cover_part::Part::Finished(finished)),
    }
}

/// The whole stream of a `CreateBook` call: the metadata, `cover` in [`CHUNK`]-sized
/// pieces, and the finish message.
pub fn create_messages(metadata: NewBook, cover: &[u8]) -> Vec<CreateBookRequest> {
    let mut messages = vec![CreateBookRequest {
        part: Some(create_book_request::Part::Metadata(metadata)),
    }];
    messages.extend(cover.chunks(CHUNK).map(|chunk| CreateBookRequest {
        part: Some(create_book_request::Part::Cover(cover_chunk(
            bytes::Bytes::copy_from_slice(chunk),
        ))),
    }));
    messages.push(CreateBookRequest {
        part: Some(create_book_request::Part::Cover(cover_end(finished(cover)))),
    });
    messages
}

/// A `CreateBook` call whose stream the test writes message by message, and may leave
/// open, stalled, for as long as it likes.
pub struct OpenUpload {
    /// Where the test writes the stream's messages; dropping it ends the stream.
    pub sender: tokio::sync::mpsc::Sender<CreateBookRequest>,
    /// The call's answer.
    pub answer: tokio::task::JoinHandle<Result<Book, Status>>,
}

impl OpenUpload {
    /// Starts a `CreateBook` call with no deadline and sends its metadata.
    pub async fn start(
        client: &LibraryServiceClient<Channel>,
        token: &str,
        metadata: NewBook,
    ) -> Self {
        let (sender, receiver) = tokio::sync::mpsc::channel(16);
        let mut client = client.clone();
        let request = bearer(tokio_stream::wrappers::ReceiverStream::new(receiver), token);
        let answer = tokio::spawn(async move {
            let response = client.create_book(request).await?;
            Ok(response.into_inner().book.expect("a book"))
        });
        let upload = Self { sender, answer };
        upload
            .send(create_book_request::Part::Metadata(metadata))
            .await;
        upload
    }

    /// Sends one more message; ignored if the server has stopped reading.
    pub async fn send(&self, part: create_book_request::Part) {
        let _ = self
            .sender
            .send(CreateBookRequest { part: Some(part) })
            .await;
    }
}

/// Creates a book: the metadata, then `cover` in [`CHUNK`]-sized pieces, then the
/// finish message.
pub async fn create_book(
    client: &mut LibraryServiceClient<Channel>,
    token: &str,
    metadata: NewBook,
    cover: &[u8],
) -> Result<Book, Status> {
    let messages = create_messages(metadata, cover);
    let response = client
        .create_book(bearer(futures::stream::iter(messages), token))
        .await?;
    Ok(response.into_inner().book.expect("a book"))
}

/// Updates a book: the changes, then an optional new cover in pieces, then the
/// finish message.
pub async fn update_book(
    client: &mut LibraryServiceClient<Channel>,
    token: &str,
    changes: BookChanges,
    cover: Option<&[u8]>,
) -> Result<Book, Status> {
    let mut messages = vec![UpdateBookRequest {
        part: Some(update_book_request::Part::Metadata(changes)),
    }];
    messages.extend(
        cover
            .unwrap_or_default()
            .chunks(CHUNK)
            .map(|chunk| UpdateBookRequest {
                part: Some(update_book_request::Part::Cover(cover_chunk(
                    bytes::Bytes::copy_from_slice(chunk),
                ))),
            }),
    );
    messages.push(UpdateBookRequest {
        part: Some(update_book_request::Part::Cover(cover_end(finished(
            cover.unwrap_or_default(),
        )))),
    });
    let response = client
        .update_book(bearer(futures::stream::iter(messages), token))
        .await?;
    Ok(response.into_inner().book.expect("a book"))
}

/// The content type and bytes of a cover, fetched with an optional token.
pub async fn fetch_cover(
    client: &mut LibraryServiceClient<Channel>,
    token: Option<&str>,
    cover_id: &str,
) -> Result<(String, Vec<u8>), Status> {
    use bookshelf_proto::library::v1::{GetCoverRequest, get_cover_response::Part};
    let request = GetCoverRequest {
        cover_id: cover_id.into(),
    };
    let request = match token {
        Some(token) => bearer(request, token),
        None => tonic::Request::new(request),
    };
    let mut stream = client.get_cover(request).await?.into_inner();
    let mut content_type = String::new();
    let mut bytes = Vec::new();
    while let Some(message) = stream.message().await? {
        match message.part {
            Some(Part::ContentType(value)) => content_type = value,
            Some(Part::Chunk(chunk)) => bytes.extend_from_slice(&chunk),
            None => {}
        }
    }
    Ok((content_type, bytes))
}
