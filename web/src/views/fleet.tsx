import { useState } from 'preact/hooks';
import type { ImageSummary, NodeRecord, Role } from '../../../src/serve/http/api-types.js';
import { api, errorText } from '../api.js';
import { countByFilter, FILTERS, type Filter, type FleetState, ordered } from '../fleet-state.js';
import { formatAgo, shortSha } from '../format.js';
import { href } from '../route.js';
import { ErrorNote, Progress, StateBadge } from './common.js';

interface Props {
  fleet: FleetState;
  images: ImageSummary[];
  now: number;
}

function imageOf(n: NodeRecord, images: ImageSummary[]): { name: string; sha: string; isDefault: boolean } | undefined {
  const img = n.image ? images.find((i) => i.name === n.image) : images.find((i) => i.isDefault);
  if (!img) return n.image ? { name: n.image, sha: '', isDefault: false } : undefined;
  return { name: img.name, sha: img.sha256, isDefault: !n.image };
}

export function FleetView({ fleet, images, now }: Props) {
  const [filter, setFilter] = useState<Filter>('all');
  const counts = countByFilter(fleet);
  const rows = ordered(fleet, filter);
  const waiting = rows.filter((n) => n.plan === 'discovered');
  const nodes = rows.filter((n) => n.plan !== 'discovered');
  return (
    <section aria-labelledby="fleet-h">
      <h1 id="fleet-h">Fleet</h1>
      <fieldset class="filters">
        <legend class="sr-only">Show nodes by state</legend>
        {FILTERS.map((f) => (
          <button type="button" key={f} aria-pressed={filter === f} onClick={() => setFilter(f)} disabled={f !== 'all' && counts[f] === 0 && filter !== f}>
            {f} <span class="count">{counts[f]}</span>
          </button>
        ))}
      </fieldset>
      {waiting.length > 0 && (
        <section class="waiting" aria-labelledby="waiting-h">
          <h2 id="waiting-h">Waiting for approval ({waiting.length})</h2>
          <ul class="cards">
            {waiting.map((n) => (
              <Discovered key={n.name} node={n} now={now} />
            ))}
          </ul>
        </section>
      )}
      {nodes.length === 0 ? (
        <p class="empty">
          {filter === 'all' ? 'No nodes registered yet. Register one with kiln node add, or approve a discovered Pi above.' : `No ${filter} nodes.`}
        </p>
      ) : (
        <table class="nodes">
          <caption class="sr-only">Registered nodes</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">State</th>
              <th scope="col">Board</th>
              <th scope="col">Serial</th>
              <th scope="col">MAC</th>
              <th scope="col">Address</th>
              <th scope="col">Role</th>
              <th scope="col">Image</th>
              <th scope="col">Last seen</th>
            </tr>
          </thead>
          <tbody>
            {nodes.map((n) => {
              const img = imageOf(n, images);
              const p = fleet.progress[n.name];
              return (
                <tr key={n.name} data-node={n.name} data-state={n.state}>
                  <th scope="row" data-label="Name">
                    <a href={href({ view: 'node', name: n.name })}>{n.name}</a>
                  </th>
                  <td data-label="State">
                    <div>
                      <StateBadge node={n} /> <span class="plan">plan {n.plan}</span>
                      {n.state === 'installing' && <Progress p={p} label={`install progress of ${n.name}`} />}
                    </div>
                  </td>
                  <td data-label="Board">{n.model ?? '–'}</td>
                  <td data-label="Serial" class="mono">
                    {n.serial ?? '–'}
                  </td>
                  <td data-label="MAC" class="mono">
                    {n.mac ?? '–'}
                  </td>
                  <td data-label="Address" class="mono">
                    {n.ip ?? '–'}
                  </td>
                  <td data-label="Role">{n.clusterInit ? `${n.role} (init)` : n.role}</td>
                  <td data-label="Image">
                    {img ? (
                      <div>
                        {img.name}
                        {img.isDefault ? ' (default)' : ''} <span class="mono dim">{shortSha(img.sha)}</span>
                      </div>
                    ) : (
                      '–'
                    )}
                  </td>
                  <td data-label="Last seen">
                    <time dateTime={n.lastSeen ?? undefined} title={n.lastSeen ?? undefined}>
                      {formatAgo(n.lastSeen, now)}
                    </time>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Discovered({ node, now }: { node: NodeRecord; now: number }) {
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('agent');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const r = await api.approve(node.name, { name, role });
      location.hash = href({ view: 'node', name: r.node.name });
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const id = `approve-${node.name}`;
  return (
    <li class="card" data-discovered={node.name}>
      <p>
        <strong>{node.model ?? 'unknown board'}</strong> · serial <span class="mono">{node.serial ?? '–'}</span> · MAC{' '}
        <span class="mono">{node.mac ?? '–'}</span>
        {node.ip ? (
          <>
            {' '}
            · <span class="mono">{node.ip}</span>
          </>
        ) : null}{' '}
        · seen {formatAgo(node.lastSeen, now)}
      </p>
      <form onSubmit={submit} class="inline">
        <label for={`${id}-name`}>Name</label>
        <input
          id={`${id}-name`}
          name="name"
          required
          placeholder="e.g. rack1-pi3"
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
          autocomplete="off"
        />
        <label for={`${id}-role`}>Role</label>
        <select id={`${id}-role`} name="role" value={role} onChange={(e) => setRole(e.currentTarget.value as Role)}>
          <option value="agent">agent</option>
          <option value="server">server</option>
        </select>
        <button type="submit" disabled={busy || !name}>
          Approve
        </button>
      </form>
      <ErrorNote error={error} />
    </li>
  );
}
