#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist-js/ (npm run build). Every error ends here, once:
// describeFailure turns it into the message and the exit code (src/cli/failure.ts).
import { commandOf, describeFailure } from '../dist-js/cli/failure.js';
import { main } from '../dist-js/cli/index.js';

main(process.argv).catch((err) => {
  const { text, code } = describeFailure(err, commandOf(process.argv.slice(2)));
  process.stderr.write(text);
  process.exit(code);
});
