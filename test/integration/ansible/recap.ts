/** Totals from the PLAY RECAP of an ansible-playbook run (summed over hosts). */
export interface Recap {
  ok: number;
  changed: number;
  unreachable: number;
  failed: number;
}

export function parseRecap(stdout: string): Recap {
  const section = stdout.slice(stdout.lastIndexOf('PLAY RECAP'));
  const rows = [...section.matchAll(/ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/g)];
  if (rows.length === 0) throw new Error(`no PLAY RECAP in ansible-playbook output:\n${stdout.slice(-2000)}`);
  const total: Recap = { ok: 0, changed: 0, unreachable: 0, failed: 0 };
  for (const r of rows) {
    total.ok += Number(r[1]);
    total.changed += Number(r[2]);
    total.unreachable += Number(r[3]);
    total.failed += Number(r[4]);
  }
  return total;
}

/** Names of the tasks (and handlers) that reported `status` on some host, once per report. */
export function tasksWith(stdout: string, status: 'changed' | 'skipping' | 'ok' | 'fatal'): string[] {
  const out: string[] = [];
  let task = '';
  for (const line of stdout.split('\n')) {
    const t = /^(?:TASK|RUNNING HANDLER) \[(.+?)\]/.exec(line);
    if (t?.[1]) task = t[1];
    else if (line.startsWith(`${status}:`)) out.push(task);
  }
  return out;
}

/** Names of the tasks that reported "changed", to say what broke idempotence. */
export function changedTasks(stdout: string): string[] {
  return tasksWith(stdout, 'changed');
}
