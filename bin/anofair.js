#!/usr/bin/env node
// The CLI is compiled TypeScript; `npm run build` produces dist/.
import('../dist/src/cli/main.js').then((m) => m.main(process.argv)).catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    process.stderr.write('anofair: not built yet; run `npm run build` first\n');
  } else {
    process.stderr.write(`anofair: ${err && err.message ? err.message : String(err)}\n`);
  }
  process.exit(2);
});
