//! `library.v1.LibraryService`: each RPC handed to the file of its group.

use bookshelf_proto::library::v1::{
    CreateBookRequest, CreateBookResponse, DeleteBookRequest, DeleteBookResponse, GetBookRequest,
    GetBookResponse, GetCoverRequest, ListBooksRequest, ListBooksResponse, UpdateBookRequest,
    UpdateBookResponse, library_service_server::LibraryService,
};
use tonic::{Request, Response, Status, Streaming};

use super::{
    convert::{Uploader, listed_owner, owner},
    covers::CoverStream,
    state::LibraryApi,
};

#[tonic::async_trait]
impl LibraryService for LibraryApi {
    async fn create_book(
        &self,
        request: Request<Streaming<CreateBookRequest>>,
    ) -> Result<Response<CreateBookResponse>, Status> {
        let uploader = Uploader::of(&request)?;
        let book = self.upload(uploader, request.into_inner()).await?;
        Ok(Response::new(CreateBookResponse { book: Some(book) }))
    }

    async fn update_book(
        &self,
        request: Request<Streaming<UpdateBookRequest>>,
    ) -> Result<Response<UpdateBookResponse>, Status> {
        let uploader = Uploader::of(&request)?;
        let book = self.upload(uploader, request.into_inner()).await?;
        Ok(Response::new(UpdateBookResponse { book: Some(book) }))
    }

    async fn get_book(
        &self,
        request: Request<GetBookRequest>,
    ) -> Result<Response<GetBookResponse>, Status> {
        let owner = owner(&request)?;
        Ok(Response::new(self.get(&owner, request.into_inner()).await?))
    }

    async fn list_books(
        &self,
        request: Request<ListBooksRequest>,
    ) -> Result<Response<ListBooksResponse>, Status> {
        let owner = listed_owner(&request)?;
        Ok(Response::new(
            self.list(&owner, request.into_inner()).await?,
        ))
    }

    async fn delete_book(
        &self,
        request: Request<DeleteBookRequest>,
    ) -> Result<Response<DeleteBookResponse>, Status> {
        let owner = owner(&request)?;
        Ok(Response::new(
            self.delete(&owner, request.into_inner()).await?,
        ))
    }

    type GetCoverStream = CoverStream;

    async fn get_cover(
        &self,
        request: Request<GetCoverRequest>,
    ) -> Result<Response<Self::GetCoverStream>, Status> {
        // No token: the cover name is the capability. A token: only the caller's covers.
        let caller = owner(&request).ok();
        Ok(Response::new(
            self.cover(caller, request.into_inner()).await?,
        ))
    }
}
