// The caller's books: listed by category (all, or one chosen), added and edited with a
// cover, deleted. Every title, description and category is set as text.

import { call } from './api.js';
import { alertBox, announce, busy, field, h, replace, uid } from './dom.js';

const COVER_TYPES = 'image/jpeg,image/png,image/gif,image/webp';
/** The categories the library accepts. */
export const CATEGORIES = [
  'fantasy', 'horror', 'picture book', 'poetry', 'politics', 'romance', 'science', 'thriller',
];
const capitalised = (name) => name.charAt(0).toUpperCase() + name.slice(1);
const categoryOptions = (chosen) => CATEGORIES.map((name) =>
  h('option', { value: name, selected: name === chosen }, capitalised(name)));

/** The books view, filling `root`. */
export async function booksView(root) {
  const errors = alertBox();
  const formSlot = h('div');
  const filter = h('select', { id: 'category-filter', name: 'category' },
    h('option', { value: '' }, 'All categories'), categoryOptions());
  const list = h('div', { id: 'book-list', 'aria-live': 'polite' });
  replace(root,
    h('h1', { tabindex: '-1' }, 'Your books'),
    errors.element,
    h('div', { class: 'columns' },
      h('section', { class: 'shelf', 'aria-labelledby': 'list-heading' },
        h('h2', { id: 'list-heading' }, 'Shelf'),
        h('div', { class: 'field inline' },
          h('label', { for: 'category-filter' }, 'Show category'), filter),
        list),
      formSlot));

  let all = [];
  const refresh = async () => {
    errors.clear();
    try {
      all = await call('GET', '/books/');
      await showList();
    } catch (error) {
      errors.show(error);
    }
  };
  // One category is asked of the API as every client asks it; all are grouped here.
  const showList = async () => {
    const books = filter.value
      ? await call('GET', `/books/?category=${encodeURIComponent(filter.value)}`)
      : all;
    if (books.length === 0) {
      replace(list, h('p', {}, filter.value ? 'No books in this category.' : 'No books yet.'));
      return;
    }
    const groups = Map.groupBy(books, (book) => book.category);
    replace(list, [...groups.keys()].sort().map((category) => {
      const headingId = uid('category');
      return h('section', { class: 'category', 'aria-labelledby': headingId },
        h('h3', { id: headingId }, capitalised(category)),
        h('ul', { class: 'books' }, groups.get(category).map((book) => bookItem(book))));
    }));
  };
  filter.addEventListener('change', () => showList().catch((error) => errors.show(error)));

  const bookItem = (book) => {
    const edit = h('button', { type: 'button', 'aria-label': `Edit “${book.title}”` }, 'Edit');
    const remove = h('button', { type: 'button', class: 'danger', 'aria-label': `Delete “${book.title}”` }, 'Delete');
    edit.addEventListener('click', () => showForm(book));
    remove.addEventListener('click', () => {
      if (!window.confirm(`Delete “${book.title}”?`)) return;
      busy(remove, async () => {
        try {
          await call('DELETE', `/books/${encodeURIComponent(book._id)}`);
          announce(`Deleted “${book.title}”.`);
          await refresh();
        } catch (error) {
          errors.show(error);
        }
      });
    });
    return h('li', { class: 'book', 'data-id': book._id },
      book.image_url
        ? h('img', { src: book.image_url, alt: `Cover of “${book.title}”`, class: 'cover' })
        : h('div', { class: 'cover none', 'aria-hidden': 'true' }),
      h('div', { class: 'about' },
        h('h4', { class: 'title' }, book.title),
        h('p', { class: 'description' }, book.description),
        h('div', { class: 'actions' }, edit, remove)));
  };

  // The add form, or the edit form of `book`.
  const showForm = (book) => {
    const formErrors = alertBox();
    const submit = h('button', { type: 'submit' }, book ? 'Save changes' : 'Add book');
    const heading = book ? `Edit “${book.title}”` : 'Add a book';
    const form = h('form', { id: 'book-form', 'aria-labelledby': 'book-form-heading' },
      h('h2', { id: 'book-form-heading', tabindex: '-1' }, heading),
      formErrors.element,
      field('Title', { name: 'title', required: true, value: book?.title }),
      field('Description', { name: 'description', rows: 3 }, { tag: 'textarea' }),
      field('Category', { name: 'category', required: true }, { tag: 'select' }),
      field(book ? 'New cover (optional)' : 'Cover (optional)',
        { name: 'cover_image', type: 'file', accept: COVER_TYPES },
        { hint: 'A JPEG, PNG, GIF or WebP image.' }),
      h('div', { class: 'actions' }, submit,
        book ? h('button', { type: 'button', id: 'cancel-edit' }, 'Cancel') : null));
    form.elements.description.value = book?.description ?? '';
    form.elements.category.append(...categoryOptions(book?.category));
    form.querySelector('#cancel-edit')?.addEventListener('click', () => showForm(null));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      formErrors.clear();
      // The text fields first: the gateway then streams the cover without holding it.
      const body = new FormData();
      for (const name of ['title', 'description', 'category']) body.append(name, form.elements[name].value);
      const [cover] = form.elements.cover_image.files;
      if (cover) body.append('cover_image', cover, cover.name);
      busy(submit, async () => {
        try {
          const saved = book
            ? await call('PUT', `/books/${encodeURIComponent(book._id)}`, { form: body })
            : await call('POST', '/books/', { form: body });
          announce(book ? `Saved “${saved.title}”.` : `Added “${saved.title}”.`);
          showForm(null);
          await refresh();
        } catch (error) {
          formErrors.show(error);
        }
      });
    });
    replace(formSlot, form);
    if (book) form.querySelector('h2').focus();
  };

  showForm(null);
  await refresh();
}
