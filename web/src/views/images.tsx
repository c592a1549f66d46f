import { useEffect, useState } from 'preact/hooks';
import type { ImageDetail, ImageSummary, VerifyStatus } from '../../../src/serve/http/api-types.js';
import { api, errorText } from '../api.js';
import { formatBytes, shortSha } from '../format.js';
import { href } from '../route.js';
import { ErrorNote } from './common.js';

function VerifyBadge({ v }: { v: VerifyStatus }) {
  const text = { unchecked: '… not checked', running: '↻ checking', ok: '✓ bytes match', failed: '✕ mismatch' }[v.state];
  return (
    <span class={`badge verify-${v.state}`} title={v.message ?? v.checkedAt ?? ''}>
      {text}
    </span>
  );
}

export function ImagesView({ images, reload }: { images: ImageSummary[]; reload: () => void }) {
  const [a, setA] = useState(images[0]?.name ?? '');
  const [b, setB] = useState(images[1]?.name ?? images[0]?.name ?? '');
  const [error, setError] = useState<string>();
  useEffect(() => {
    // A check in progress shows as running; look again until it ends.
    if (!images.some((i) => i.verify.state === 'running')) return;
    const t = setTimeout(reload, 1000);
    return () => clearTimeout(t);
  }, [images, reload]);
  const verify = async (name: string) => {
    setError(undefined);
    try {
      await api.verify(name);
      reload();
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <section aria-labelledby="images-h">
      <h1 id="images-h">Images</h1>
      {images.length === 0 ? (
        <p class="empty">No builds in the images dir. Build one with kiln build; kiln serve picks it up on restart.</p>
      ) : (
        <table class="images">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">sha256</th>
              <th scope="col">Size</th>
              <th scope="col">Built</th>
              <th scope="col">Packages</th>
              <th scope="col">Boards</th>
              <th scope="col">Verify</th>
            </tr>
          </thead>
          <tbody>
            {images.map((i) => (
              <tr key={i.name} data-image={i.name}>
                <th scope="row" data-label="Name">
                  <a href={href({ view: 'image', name: i.name })}>{i.name}</a>
                </th>
                <td data-label="sha256" class="mono" title={i.sha256}>
                  {shortSha(i.sha256)}
                </td>
                <td data-label="Size">{formatBytes(i.size)}</td>
                <td data-label="Built">{i.builtAt.slice(0, 10)}</td>
                <td data-label="Packages">{i.packageCount}</td>
                <td data-label="Boards">{i.boards.join(', ') || '–'}</td>
                <td data-label="Verify">
                  <VerifyBadge v={i.verify} />{' '}
                  <button type="button" onClick={() => verify(i.name)} disabled={i.verify.state === 'running'}>
                    Verify
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ErrorNote error={error} />
      {images.length > 0 && (
        <form
          class="inline compare"
          onSubmit={(e) => {
            e.preventDefault();
            location.hash = href({ view: 'diff', a, b });
          }}
        >
          <h2>Compare two builds</h2>
          <label for="diff-a">A</label>
          <select id="diff-a" value={a} onChange={(e) => setA(e.currentTarget.value)}>
            {images.map((i) => (
              <option key={i.name} value={i.name}>
                {i.name}
              </option>
            ))}
          </select>
          <label for="diff-b">B</label>
          <select id="diff-b" value={b} onChange={(e) => setB(e.currentTarget.value)}>
            {images.map((i) => (
              <option key={i.name} value={i.name}>
                {i.name}
              </option>
            ))}
          </select>
          <button type="submit">Compare</button>
        </form>
      )}
    </section>
  );
}

export function ImageView({ name }: { name: string }) {
  const [d, setD] = useState<ImageDetail>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    api.image(name).then(setD, (e) => setError(errorText(e)));
  }, [name]);
  if (!d) return error ? <ErrorNote error={error} /> : <p role="status">Loading {name}…</p>;
  const i = d.image;
  return (
    <section aria-labelledby="image-h">
      <p class="crumbs">
        <a href={href({ view: 'images' })}>Images</a> › {i.name}
      </p>
      <h1 id="image-h">{i.name}</h1>
      <dl class="facts">
        <div>
          <dt>sha256</dt>
          <dd class="mono wrap">{i.sha256}</dd>
        </div>
        <div>
          <dt>Size</dt>
          <dd>{formatBytes(i.size)}</dd>
        </div>
        <div>
          <dt>Built</dt>
          <dd>{i.builtAt}</dd>
        </div>
        <div>
          <dt>Packages</dt>
          <dd>{i.packageCount}</dd>
        </div>
        <div>
          <dt>Boards</dt>
          <dd>{i.boards.join(', ') || '–'}</dd>
        </div>
        <div>
          <dt>Verify</dt>
          <dd>
            <VerifyBadge v={i.verify} />
          </dd>
        </div>
      </dl>
      <details>
        <summary>Manifest</summary>
        <pre class="json">{JSON.stringify(d.manifest, null, 2)}</pre>
      </details>
      <details>
        <summary>SBOM</summary>
        {d.sbom === null ? <p class="empty">This build has no SBOM file.</p> : <pre class="json">{JSON.stringify(d.sbom, null, 2)}</pre>}
      </details>
    </section>
  );
}

export function DiffView({ a, b }: { a: string; b: string }) {
  return (
    <section aria-labelledby="diff-h" class="diff">
      <p class="crumbs">
        <a href={href({ view: 'images' })}>Images</a> › compare
      </p>
      <h1 id="diff-h">
        {a} ↔ {b}
      </h1>
      <p class="dim">kiln diff's report of the two builds, layer by layer (it can take a few seconds for large images).</p>
      <iframe title={`kiln diff ${a} ${b}`} src={api.diffUrl(a, b)} sandbox="" />
    </section>
  );
}
