// Opens the gateway's /docs page in a real Chromium and checks what a new user would:
// every operation of the OpenAPI description is on the page, and a login tried from
// the page ("Try it out", then "Execute") comes back with a token.
// Usage: node docs-browser.mjs API_URL EMAIL PASSWORD
import { chromium } from 'playwright-core';

const [api, email, password] = process.argv.slice(2);
const fail = (message) => {
  console.error(`docs page: FAILED: ${message}`);
  process.exit(1);
};

const description = await (await fetch(`${api}/openapi.json`)).json();
const expected = Object.entries(description.paths).flatMap(([path, operations]) =>
  Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
).sort();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  // This machine's network is closed: without these, Chromium's own background
  // connections are refused at every start.
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
try {
  const page = await browser.newPage();
  const outside = [];
  page.on('request', (request) => {
    if (!request.url().startsWith(api)) outside.push(request.url());
  });
  await page.goto(`${api}/docs/`);
  await page.locator('.opblock').first().waitFor({ timeout: 20000 });
  const shown = (await page.locator('.opblock-summary').evaluateAll((blocks) =>
    blocks.map((block) => {
      const method = block.querySelector('.opblock-summary-method').textContent.trim();
      const path = block.querySelector('.opblock-summary-path').getAttribute('data-path');
      return `${method} ${path}`;
    }),
  )).sort();
  if (JSON.stringify(shown) !== JSON.stringify(expected)) {
    fail(`the page shows ${JSON.stringify(shown)}, the description has ${JSON.stringify(expected)}`);
  }

  const login = page.locator('#operations-users-login');
  await login.locator('.opblock-summary').click();
  await login.getByRole('button', { name: 'Try it out' }).click();
  await login.locator('textarea.body-param__text').fill(JSON.stringify({ email, password }));
  await login.getByRole('button', { name: 'Execute' }).click();
  const answer = login.locator('.live-responses-table .response-col_description pre').first();
  await answer.waitFor({ timeout: 20000 });
  const text = await answer.textContent();
  const body = JSON.parse(text);
  if (typeof body?.data?.token !== 'string' || body.data.token.split('.').length !== 3) {
    fail(`the login from the page answered ${text}`);
  }
  if (outside.length > 0) fail(`the page fetched from elsewhere: ${outside.join(', ')}`);
  console.log(`docs page: ${shown.length} operations shown; a login from the page returned a token`);
} finally {
  await browser.close();
}
