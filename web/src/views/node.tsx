import { useEffect, useState } from 'preact/hooks';
import type { NodeEvent, NodeRecord, NodeResponse } from '../../../src/serve/http/api-types.js';
import { api, errorText } from '../api.js';
import { formatAgo } from '../format.js';
import { onMessage } from '../live.js';
import { href } from '../route.js';
import { buildTimeline } from '../timeline.js';
import { ErrorNote, Progress, StateBadge } from './common.js';
import { TimelineChart } from './timeline-chart.js';

export function NodeView({ name, now }: { name: string; now: number }) {
  const [data, setData] = useState<NodeResponse>();
  const [error, setError] = useState<string>();
  const [gone, setGone] = useState(false);

  useEffect(() => {
    let live = true;
    setData(undefined);
    setGone(false);
    api.node(name).then(
      (d) => live && setData(d),
      (e) => live && setError(errorText(e)),
    );
    const off = onMessage((m) => {
      if (m.event.node !== name) return;
      if (m.node === null) {
        setGone(true);
        return;
      }
      const node = m.node;
      setData((d) =>
        d && !d.events.some((e) => e.id === m.event.id)
          ? { ...d, node, events: [...d.events, m.event].slice(-100), progress: node.state === 'installing' ? (m.progress ?? d.progress) : undefined }
          : d,
      );
    });
    return () => {
      live = false;
      off();
    };
  }, [name]);

  if (gone) {
    return (
      <section>
        <h1>{name}</h1>
        <p role="status">
          This node was removed. <a href={href({ view: 'fleet' })}>Back to the fleet</a>
        </p>
      </section>
    );
  }
  if (!data) return error ? <ErrorNote error={error} /> : <p role="status">Loading {name}…</p>;
  const { node } = data;
  return (
    <section aria-labelledby="node-h">
      <p class="crumbs">
        <a href={href({ view: 'fleet' })}>Fleet</a> › {node.name}
      </p>
      <h1 id="node-h">
        {node.name} <StateBadge node={node} />
      </h1>
      {node.state === 'installing' && <Progress p={data.progress} label={`install progress of ${node.name}`} />}
      {node.parked ? <p class="warn">Parked: {node.parked}. kiln does not answer this node until you unpark or reprovision it.</p> : null}
      {data.netboot ? <p class="warn">{data.netboot}</p> : null}
      <dl class="facts">
        <Fact k="Board" v={node.model ?? '–'} />
        <Fact k="Revision" v={node.boardRevision ?? '–'} />
        <Fact k="Serial" v={node.serial ?? '–'} />
        <Fact k="MAC" v={node.mac ?? '–'} />
        <Fact k="Address" v={node.ip ?? '–'} />
        <Fact k="Role" v={`${node.role}${node.clusterInit ? ' (starts the cluster)' : ''}`} />
        <Fact k="Plan" v={node.plan} />
        <Fact k="Image" v={node.image ?? '(default)'} />
        <Fact k="Last seen" v={formatAgo(node.lastSeen, now)} />
        <Fact k="Declared in" v={node.source === 'yaml' ? 'nodes.yaml' : 'the registry'} />
      </dl>
      <h2>Last install</h2>
      <TimelineChart t={buildTimeline(data.events)} />
      <Actions node={node} />
      <Settings node={node} />
      <h2>Events</h2>
      <EventList events={data.events} />
    </section>
  );
}

function Fact({ k, v }: { k: string; v: string }) {
  return (
    <div>
      <dt>{k}</dt>
      <dd>{v}</dd>
    </div>
  );
}

function Actions({ node }: { node: NodeRecord }) {
  const [error, setError] = useState<string>();
  const [done, setDone] = useState<string>();
  const [confirm, setConfirm] = useState<'reprovision' | 'remove' | undefined>();
  const [typed, setTyped] = useState('');
  const [reason, setReason] = useState('');
  const act = async (what: string, fn: () => Promise<unknown>) => {
    setError(undefined);
    setDone(undefined);
    try {
      await fn();
      setDone(what);
      setConfirm(undefined);
      setTyped('');
    } catch (e) {
      setError(errorText(e));
    }
  };
  const discovered = node.plan === 'discovered';
  return (
    <section class="actions" aria-labelledby="actions-h">
      <h2 id="actions-h">Actions</h2>
      <div class="row">
        {!discovered && (
          <button type="button" onClick={() => setConfirm('reprovision')}>
            Reprovision…
          </button>
        )}
        {node.parked ? (
          <button type="button" onClick={() => act('unparked', () => api.unpark(node.name))}>
            Unpark
          </button>
        ) : (
          !discovered && (
            <form
              class="inline"
              onSubmit={(e) => {
                e.preventDefault();
                void act('parked', () => api.park(node.name, reason ? { reason } : {}));
              }}
            >
              <label for="park-reason">Reason</label>
              <input id="park-reason" value={reason} onInput={(e) => setReason(e.currentTarget.value)} placeholder="optional" maxLength={200} />
              <button type="submit">Park</button>
            </form>
          )
        )}
        <button type="button" class="danger" onClick={() => setConfirm('remove')}>
          Remove…
        </button>
      </div>
      {confirm && (
        <form
          class="confirm"
          onSubmit={(e) => {
            e.preventDefault();
            if (typed !== node.name) return;
            void act(confirm === 'reprovision' ? 'reprovision requested' : 'removed', () =>
              confirm === 'reprovision' ? api.reprovision(node.name) : api.remove(node.name),
            );
          }}
        >
          <p>
            {confirm === 'reprovision'
              ? 'The node is reinstalled from scratch the next time it netboots: its disk is overwritten.'
              : 'The node leaves the registry; kiln stops answering it. Its events stay in the log.'}{' '}
            Type <strong class="mono">{node.name}</strong> to confirm.
          </p>
          <label for="confirm-name">Node name</label>
          <input id="confirm-name" value={typed} onInput={(e) => setTyped(e.currentTarget.value)} autocomplete="off" />
          <button type="submit" class={confirm === 'remove' ? 'danger' : ''} disabled={typed !== node.name}>
            {confirm === 'reprovision' ? 'Reprovision' : 'Remove'} {node.name}
          </button>
          <button type="button" onClick={() => setConfirm(undefined)}>
            Cancel
          </button>
        </form>
      )}
      <ErrorNote error={error} />
      {done && <p role="status">Done: {done}.</p>}
    </section>
  );
}

function Settings({ node }: { node: NodeRecord }) {
  const [disk, setDisk] = useState(node.disk ?? '');
  const [selfHeal, setSelfHeal] = useState(node.selfHeal ?? false);
  const [config, setConfig] = useState((node.configTxt ?? []).join('\n'));
  const [error, setError] = useState<string>();
  const [saved, setSaved] = useState(false);
  const save = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    setSaved(false);
    const lines = config.split('\n').map((l) => l.trim());
    try {
      await api.settings(node.name, { disk: disk.trim() === '' ? null : disk.trim(), selfHeal, configTxt: lines.filter((l) => l !== '') });
      setSaved(true);
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <form class="settings" onSubmit={save} aria-labelledby="settings-h">
      <h2 id="settings-h">Settings</h2>
      <label for="set-disk">Install disk</label>
      <input id="set-disk" name="disk" value={disk} onInput={(e) => setDisk(e.currentTarget.value)} placeholder="installer picks (mmcblk0, nvme0n1, sda…)" />
      <label class="check">
        <input type="checkbox" name="selfHeal" checked={selfHeal} onChange={(e) => setSelfHeal(e.currentTarget.checked)} /> Self-heal: reinstall by itself when
        its disk does not boot
      </label>
      <label for="set-config">config.txt extras for netboot (one line each, added after the image's own; the installed system keeps the image's)</label>
      <textarea
        id="set-config"
        name="configTxt"
        rows={4}
        value={config}
        onInput={(e) => setConfig(e.currentTarget.value)}
        placeholder="dtoverlay=disable-wifi"
      />
      <button type="submit">Save settings</button>
      <ErrorNote error={error} />
      {saved && <p role="status">Saved.</p>}
    </form>
  );
}

function EventList({ events }: { events: NodeEvent[] }) {
  if (events.length === 0) return <p class="empty">No events kept for this node.</p>;
  return (
    <table class="events">
      <thead>
        <tr>
          <th scope="col">#</th>
          <th scope="col">Time</th>
          <th scope="col">Event</th>
          <th scope="col">Data</th>
        </tr>
      </thead>
      <tbody>
        {[...events].reverse().map((e) => (
          <tr key={e.id} class={`ev-${e.type}`}>
            <td class="mono">{e.id}</td>
            <td class="mono">{e.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</td>
            <td>{e.type}</td>
            <td class="mono data">{Object.keys(e.data).length > 0 ? JSON.stringify(e.data) : ''}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
