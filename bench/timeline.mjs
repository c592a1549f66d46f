// Reads a `kiln build --json` event log and prints where the time went: each stage, and within the
// rootfs stage the slowest package configuration steps (time until the next dpkg line, so it is
// the configure step plus any unpacking dpkg did before the next message).
import { readFileSync } from 'node:fs';

const events = readFileSync(process.argv[2], 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l));
const t = (e) => Date.parse(e.time) / 1000;
console.log('stage                 seconds  cached');
for (const e of events.filter((e) => e.event === 'stage-done')) {
  console.log(`${e.stage.padEnd(20)} ${e.seconds.toFixed(1).padStart(8)}  ${e.cached ? 'yes' : ''}`);
}
const lines = events.filter((e) => e.event === 'progress' && e.stage === 'rootfs');
const steps = lines
  .slice(0, -1)
  .map((e, i) => ({ what: e.message, secs: t(lines[i + 1]) - t(e) }))
  .sort((a, b) => b.secs - a.secs);
console.log('\nslowest steps inside the rootfs stage (emulated):');
for (const s of steps.slice(0, 20)) console.log(`${s.secs.toFixed(1).padStart(7)}s  ${s.what}`);
