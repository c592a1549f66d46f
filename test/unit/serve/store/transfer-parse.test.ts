import { describe, expect, it } from 'vitest';
import { EXPORT_FORMAT, ImportError, parseExportLine } from '../../../../src/serve/nodes/store/transfer.js';

// The import reads a file an operator hands it: every malformed line is refused with its line
// number, before anything reaches SQL (column names are interpolated, so they are checked here).

const header = { header: { kiln: 'registry-export', format: EXPORT_FORMAT, schemaVersion: 1, source: 'sqlite' } };
const node = { name: 'pi-01', role: 'agent', plan: 'install', state: 'registered', source: 'db', created_at: '2026-01-01T00:00:00.000Z', self_heal: 0 };

function refusal(text: string): string {
  try {
    parseExportLine(text, 7);
  } catch (e) {
    expect(e).toBeInstanceOf(ImportError);
    return (e as Error).message;
  }
  throw new Error(`accepted: ${text}`);
}

describe('registry export lines', () => {
  it('reads each kind of line back as written', () => {
    expect(parseExportLine(JSON.stringify(header), 1)).toEqual(header);
    expect(parseExportLine(JSON.stringify({ node }), 2)).toEqual({ node });
    const event = { id: 3, node: 'pi-01', type: 'registered', at: '2026-01-01T00:00:00.000Z', data: '{"source":"db"}', agent: 'rack1' };
    expect(parseExportLine(JSON.stringify({ event }), 3)).toEqual({ event });
    expect(parseExportLine('{"end":{"nodes":1,"events":1}}', 4)).toEqual({ end: { nodes: 1, events: 1 } });
  });

  it('refuses a column that is not in the schema, so no name from the file reaches SQL unchecked', () => {
    expect(refusal(JSON.stringify({ node: { ...node, 'name) VALUES (1); DROP TABLE nodes; --': 'x' } }))).toMatch(/line 7: unknown node column/);
    expect(refusal(JSON.stringify({ node: { ...node, role: { nested: true } } }))).toMatch(/node column role is not text, a number or null/);
    const { plan: _plan, ...noPlan } = node;
    expect(refusal(JSON.stringify({ node: noPlan }))).toMatch(/node without plan/);
  });

  it('refuses other formats, kinds and shapes by line number', () => {
    expect(refusal('not json')).toBe('registry import, line 7: not JSON');
    expect(refusal('[1]')).toMatch(/not a JSON object/);
    expect(refusal('{"header":{"kiln":"registry-export","format":2,"schemaVersion":1,"source":"sqlite"}}')).toMatch(/format 2; this kiln reads format 1/);
    expect(refusal('{"node":{},"event":{}}')).toMatch(/expected one of header, node, event, end/);
    expect(refusal('{"snapshot":{}}')).toMatch(/unknown line kind "snapshot"/);
    expect(refusal('{"event":{"id":0,"node":"a","type":"t","at":"x","data":"{}"}}')).toMatch(/event id is not a positive integer/);
    expect(refusal('{"event":{"id":1,"node":"a","type":"t","at":"x","data":{}}}')).toMatch(/event without node, type, at or data text/);
  });
});
