//! One client's books under the flood: what it was answered, and what it sent without
//! an answer. A book written without an answer is not written again, so nothing sent
//! later can hide what that write did; a write sent and refused while the library was
//! down did nothing, and the book stays as it was.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use bookshelf_test_support::{
    Rest,
    images::jpeg,
    rest::{Answer, book_form},
};
use reqwest::Method;
use serde_json::Value;

use super::{Flood, Tally};

/// Every book of the flood is in this category.
const CATEGORY: &str = "poetry";

/// One client's account and what became of its writes.
pub(super) struct Shelf {
    rest: Rest,
    /// Books whose every write was answered, with the description last answered.
    sure: BTreeMap<String, Book>,
    /// Books whose delete was answered.
    gone: BTreeSet<String>,
    /// Books a write to which got no answer: there or not, as before or after it.
    unsure: BTreeSet<String>,
    /// Titles of creates that got no answer.
    unsure_titles: BTreeSet<String>,
    tally: Tally,
}

/// What a write without an answer may have changed.
enum Unsure {
    /// A create: a book with this title may exist.
    Title(String),
    /// A change or delete of this book: it may be as before, as after, or gone.
    Book(String),
}

struct Book {
    title: String,
    description: String,
}

/// A description that names its book, so a row put together from two writes shows.
fn description(title: &str, write: usize) -> String {
    format!("{title}: write {write}")
}

/// Creates, changes and deletes books until `stop`.
pub(super) async fn write_until(rest: Rest, client: usize, flood: Arc<Flood>) -> Shelf {
    let mut shelf = Shelf {
        rest,
        sure: BTreeMap::new(),
        gone: BTreeSet::new(),
        unsure: BTreeSet::new(),
        unsure_titles: BTreeSet::new(),
        tally: Tally::default(),
    };
    let cover = jpeg(24, 24);
    let mut write = 0;
    while !flood.stopped() {
        write += 1;
        let picked = shelf
            .sure
            .keys()
            .nth(write % shelf.sure.len().max(1))
            .cloned();
        let before = flood.before_write();
        let done = match (write % 4, picked) {
            (2, Some(id)) => shelf.update(&id, write, cover.clone()).await,
            (3, Some(id)) => shelf.delete(&id).await,
            _ => {
                let title = format!("Flood {client}-{write}");
                shelf.create(&title, write, cover.clone()).await
            }
        };
        if let Err(unsure) = done
            && !flood.refused_while_down(before)
        {
            shelf.unanswered(unsure);
        }
    }
    shelf
}

impl Shelf {
    /// Each write: `Err` with what it may have changed when it got no answer.
    async fn create(&mut self, title: &str, write: usize, cover: Vec<u8>) -> Result<(), Unsure> {
        let description = description(title, write);
        let form = book_form(
            &[
                ("title", title),
                ("category", CATEGORY),
                ("description", &description),
            ],
            Some(("cover.jpg", cover)),
        );
        let answer = self.rest.form(Method::POST, "/books/", form).await;
        if answer.status == 201 {
            self.tally.answered += 1;
            let book = Book {
                title: title.to_owned(),
                description,
            };
            self.sure.insert(id(&answer), book);
            Ok(())
        } else {
            Err(Unsure::Title(title.to_owned()))
        }
    }

    async fn update(&mut self, id: &str, write: usize, cover: Vec<u8>) -> Result<(), Unsure> {
        let book = self.sure.get_mut(id).expect("a sure book");
        let description = description(&book.title, write);
        let form = book_form(&[("description", &description)], Some(("new.jpg", cover)));
        let path = format!("/books/{id}");
        let answer = self.rest.form(Method::PUT, &path, form).await;
        match answer.status {
            200 => {
                self.tally.answered += 1;
                book.description = description;
            }
            404 => self.lost(id, &answer),
            _ => return Err(Unsure::Book(id.to_owned())),
        }
        Ok(())
    }

    async fn delete(&mut self, id: &str) -> Result<(), Unsure> {
        let answer = self.rest.delete(&format!("/books/{id}")).await;
        match answer.status {
            204 => {
                self.tally.answered += 1;
                self.sure.remove(id);
                self.gone.insert(id.to_owned());
            }
            404 => self.lost(id, &answer),
            _ => return Err(Unsure::Book(id.to_owned())),
        }
        Ok(())
    }

    fn unanswered(&mut self, unsure: Unsure) {
        self.tally.unanswered += 1;
        match unsure {
            Unsure::Title(title) => {
                self.unsure_titles.insert(title);
            }
            Unsure::Book(id) => {
                self.sure.remove(&id);
                self.unsure.insert(id);
            }
        }
    }

    fn lost(&mut self, id: &str, answer: &Answer) {
        self.tally.problems.push(format!(
            "an answered book was missing mid-flood: {id} {:?}",
            answer.body
        ));
        self.sure.remove(id);
    }

    /// After the flood: the books are exactly the answered ones as answered, plus
    /// whole books from writes that got no answer.
    pub(super) async fn check(mut self) -> Tally {
        let list = self.rest.get("/books/").await;
        assert_eq!(list.status, 200, "{:?}", list.body);
        let mut listed = BTreeSet::new();
        for book in list.data().as_array().expect("a list of books") {
            let id = book["_id"].as_str().expect("an id").to_owned();
            self.check_listed(&id, book).await;
            listed.insert(id);
        }
        for (id, book) in &self.sure {
            if !listed.contains(id) {
                self.tally
                    .problems
                    .push(format!("an answered book is gone: {id} {:?}", book.title));
            }
        }
        for id in self.gone.intersection(&listed) {
            self.tally
                .problems
                .push(format!("a book whose delete was answered is back: {id}"));
        }
        self.tally
    }

    async fn check_listed(&mut self, id: &str, book: &Value) {
        let title = book["title"].as_str().unwrap_or_default();
        let found = book["description"].as_str().unwrap_or_default();
        let known = match self.sure.get(id) {
            Some(sure) => sure.title == title && sure.description == found,
            None => self.unsure.contains(id) || self.unsure_titles.contains(title),
        };
        let whole = book["category"] == CATEGORY
            && found.starts_with(&format!("{title}: write "))
            && self.cover_serves(book).await;
        if !known || !whole {
            self.tally.problems.push(format!(
                "a book not as answered, or not whole (known {known}, whole {whole}): {book}"
            ));
        }
    }

    async fn cover_serves(&self, book: &Value) -> bool {
        let Some(url) = book["image_url"].as_str() else {
            return false;
        };
        let response = reqwest::get(url).await.expect("the gateway answers");
        response.status() == 200 && !response.bytes().await.unwrap_or_default().is_empty()
    }
}

fn id(answer: &Answer) -> String {
    answer.data()["_id"].as_str().expect("an id").to_owned()
}
