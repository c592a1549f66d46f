import type { VerifyReport } from './model.js';

export function renderVerifyText(r: VerifyReport): string {
  const width = Math.max(...r.checks.map((c) => c.subject.length), 10);
  const lines = r.checks.map((c) => `${c.status === 'ok' ? 'ok  ' : c.status === 'fail' ? 'FAIL' : 'skip'}  ${c.subject.padEnd(width)}  ${c.detail}`);
  const failed = r.checks.filter((c) => c.status === 'fail').length;
  const passed = r.checks.filter((c) => c.status === 'ok').length;
  const head = `kiln verify: ${r.target}${r.device ? ` on ${r.device}` : ''}`;
  const verdict = r.ok ? `VERIFIED: ${passed} checks passed` : `FAILED: ${failed} of ${r.checks.length} checks failed`;
  return `${[head, ...lines, verdict].join('\n')}\n`;
}
