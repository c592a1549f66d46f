// One plain closing line for CI ("N passed, N failed, N skipped"), whatever the runner printed
// above it: read from vitest's JSON reports in the directory given.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

let passed = 0;
let failed = 0;
let skipped = 0;
for (const project of ['unit', 'integration']) {
  let report;
  try {
    report = JSON.parse(readFileSync(join(process.argv[2], `${project}.json`), 'utf8'));
  } catch {
    continue; // that project did not run (the unit tests failed first)
  }
  passed += report.numPassedTests;
  failed += report.numFailedTests;
  skipped += report.numPendingTests + (report.numTodoTests ?? 0);
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
