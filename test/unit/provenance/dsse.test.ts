import { describe, expect, it } from 'vitest';
import { envelopeLine, IN_TOTO_PAYLOAD_TYPE, pae, parseEnvelopes } from '../../../src/provenance/dsse.js';

describe('DSSE', () => {
  it('encodes PAE as the DSSE protocol test vector does', () => {
    // secure-systems-lab/dsse protocol.md: PAE("http://example.com/HelloWorld", "hello world")
    expect(pae('http://example.com/HelloWorld', Buffer.from('hello world')).toString()).toBe('DSSEv1 29 http://example.com/HelloWorld 11 hello world');
    // lengths count bytes, not characters
    expect(pae('t', Buffer.from('é')).toString()).toBe('DSSEv1 1 t 2 é');
  });

  it('writes one envelope per line and reads it back; names a line that is not one', () => {
    const line = envelopeLine(IN_TOTO_PAYLOAD_TYPE, Buffer.from('{"a":1}'), [{ keyid: 'SHA256:x', sig: 'AAAA' }]);
    expect(line.endsWith('}\n')).toBe(true);
    expect(line.split('\n')).toHaveLength(2);
    expect(JSON.parse(line)).toEqual({
      payload: Buffer.from('{"a":1}').toString('base64'),
      payloadType: IN_TOTO_PAYLOAD_TYPE,
      signatures: [{ keyid: 'SHA256:x', sig: 'AAAA' }],
    });
    const { envelopes, errors } = parseEnvelopes(`${line}not json\n{"payload":"!!","payloadType":"x","signatures":[{"sig":"AAAA"}]}\n`);
    expect(envelopes).toHaveLength(1);
    expect(envelopes[0]?.payload.toString()).toBe('{"a":1}');
    expect(errors).toEqual(['line 2 is not JSON', 'line 3 is not a DSSE envelope (payload: not base64)']);
  });
});
