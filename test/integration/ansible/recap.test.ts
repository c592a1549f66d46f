import { describe, expect, it } from 'vitest';
import { changedTasks, parseRecap, tasksWith } from './recap.js';

// The idempotence assertion is only as good as this parser: pin it to real 2.14 output.
const output = `
PLAY [Node baseline] ***********************************************************

TASK [common : NTP servers] ****************************************************
ok: [a]
changed: [b]

TASK [common : Offline: enable or disable ssh.service] *************************
skipping: [a]

RUNNING HANDLER [common : Reload ssh] ******************************************
changed: [b]

PLAY RECAP *********************************************************************
a                          : ok=19   changed=0    unreachable=0    failed=0    skipped=7    rescued=0    ignored=0
b                          : ok=19   changed=2    unreachable=0    failed=1    skipped=4    rescued=0    ignored=0
`;

describe('ansible-playbook output parsing', () => {
  it('sums the recap over hosts', () => {
    expect(parseRecap(output)).toEqual({ ok: 38, changed: 2, unreachable: 0, failed: 1 });
  });

  it('names the tasks and handlers that changed', () => {
    expect(changedTasks(output)).toEqual(['common : NTP servers', 'common : Reload ssh']);
  });

  it('names the tasks with another status', () => {
    expect(tasksWith(output, 'skipping')).toEqual(['common : Offline: enable or disable ssh.service']);
    expect(tasksWith(output, 'ok')).toEqual(['common : NTP servers']);
  });

  it('refuses output without a recap instead of reading it as zero changes', () => {
    expect(() => parseRecap('ERROR! the playbook could not be found')).toThrow(/no PLAY RECAP/);
  });
});
