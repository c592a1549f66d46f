import { render } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import type { ImageSummary } from '../../src/serve/http/api-types.js';
import { api, currentSession, errorText, signIn, signOut, whenSignedOut } from './api.js';
import { applyMessage, type FleetState, fromResponse } from './fleet-state.js';
import { closeStream, type LinkState, onMessage, openStream } from './live.js';
import { href, parseRoute, type Route } from './route.js';
import { ErrorNote } from './views/common.js';
import { FleetView } from './views/fleet.js';
import { DiffView, ImagesView, ImageView } from './views/images.js';
import { NodeView } from './views/node.js';

type Session = 'unknown' | 'out' | 'in';

function useRoute(): Route {
  const [route, setRoute] = useState(parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

/** Re-renders every 10 s so "last seen" ages without events. */
function useNow(): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 10_000);
    return () => clearInterval(t);
  }, []);
  return now;
}

function SignIn({ onDone }: { onDone: () => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string>();
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    try {
      await signIn(token.trim());
      setToken('');
      onDone();
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <main class="signin">
      <h1>kiln</h1>
      <form onSubmit={submit}>
        <label for="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="current-password"
          required
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
        />
        <p class="dim">The file api-token in kiln serve's state dir.</p>
        <button type="submit">Sign in</button>
        <ErrorNote error={error} />
      </form>
    </main>
  );
}

function App() {
  const [session, setSession] = useState<Session>('unknown');
  const [fleet, setFleet] = useState<FleetState>();
  const [images, setImages] = useState<ImageSummary[]>([]);
  const [link, setLink] = useState<LinkState>('connecting');
  const [error, setError] = useState<string>();
  const route = useRoute();
  const now = useNow();

  useEffect(() => {
    whenSignedOut(() => setSession('out'));
    currentSession().then(
      (s) => setSession(s ? 'in' : 'out'),
      (e) => setError(String(e)),
    );
  }, []);

  const loadImages = useCallback(() => {
    api.images().then(
      (r) => setImages(r.images),
      (e) => setError(String(e)),
    );
  }, []);

  useEffect(() => {
    if (session !== 'in') return;
    let live = true;
    const off = onMessage((m) => setFleet((f) => (f ? applyMessage(f, m) : f)));
    api.nodes().then(
      (r) => {
        if (!live) return;
        setFleet(fromResponse(r, r.lastEventId));
        openStream(r.lastEventId, setLink);
      },
      (e) => setError(String(e)),
    );
    loadImages();
    return () => {
      live = false;
      off();
      closeStream();
    };
  }, [session, loadImages]);

  if (session === 'unknown') return <p role="status">Loading…</p>;
  if (session === 'out') return <SignIn onDone={() => setSession('in')} />;
  return (
    <>
      <header class="top">
        <a class="brand" href={href({ view: 'fleet' })}>
          kiln
        </a>
        <nav aria-label="Views">
          <a href={href({ view: 'fleet' })} aria-current={route.view === 'fleet' || route.view === 'node' ? 'page' : undefined}>
            Fleet
          </a>
          <a href={href({ view: 'images' })} aria-current={route.view.startsWith('image') || route.view === 'diff' ? 'page' : undefined}>
            Images
          </a>
        </nav>
        <span class={`link link-${link}`} role="status" aria-live="polite">
          {link === 'live' ? '● live' : link === 'connecting' ? '○ connecting' : '◌ reconnecting'}
        </span>
        <button type="button" class="signout" onClick={() => signOut().then(() => setSession('out'))}>
          Sign out
        </button>
      </header>
      <main>
        <ErrorNote error={error} />
        {route.view === 'fleet' && (fleet ? <FleetView fleet={fleet} images={images} now={now} /> : <p role="status">Loading the fleet…</p>)}
        {route.view === 'node' && <NodeView name={route.name} now={now} />}
        {route.view === 'images' && <ImagesView images={images} reload={loadImages} />}
        {route.view === 'image' && <ImageView name={route.name} />}
        {route.view === 'diff' && <DiffView a={route.a} b={route.b} />}
      </main>
    </>
  );
}

const root = document.getElementById('app');
if (root) render(<App />, root);
