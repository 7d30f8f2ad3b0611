// Uploads one file with tus-js-client in its IETF draft mode (`ietf-draft-05`, the
// draft's interop version 6), resuming with HEAD and PATCH whenever the connection
// breaks, and prints {"url", "retries"} as JSON on success.
// Usage: node tus-upload.mjs <uploads endpoint> <bearer token> <file>
import { readFileSync } from 'node:fs';
import { Upload } from 'tus-js-client';

const [endpoint, token, path] = process.argv.slice(2);
if (!endpoint || !token || !path) {
  console.error('usage: node tus-upload.mjs <endpoint> <token> <file>');
  process.exit(2);
}
const file = readFileSync(path);
let retries = 0;

const upload = new Upload(file, {
  endpoint,
  protocol: 'ietf-draft-05',
  headers: { Authorization: `Bearer ${token}` },
  // Many short waits: every broken connection costs one retry, and progress resets
  // the count, so a cut-off upload goes on as long as it makes progress.
  retryDelays: Array(40).fill(50),
  onShouldRetry: (error, attempt, options) => {
    retries += 1;
    const status = error.originalResponse ? error.originalResponse.getStatus() : 0;
    return status === 0 || status === 409 || status === 423 || status >= 500;
  },
  onError: (error) => {
    console.error(`upload failed: ${error}`);
    process.exit(1);
  },
  onSuccess: () => {
    console.log(JSON.stringify({ url: upload.url, retries }));
  },
});
upload.start();
