// Hash routes, so the server needs to serve one page and a reload keeps the view.

export type Route =
  | { view: 'fleet' }
  | { view: 'node'; name: string }
  | { view: 'images' }
  | { view: 'image'; name: string }
  | { view: 'diff'; a: string; b: string };

export function parseRoute(hash: string): Route {
  const [path = '', query = ''] = hash.replace(/^#/, '').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const q = new URLSearchParams(query);
  if (parts[0] === 'nodes' && parts[1]) return { view: 'node', name: parts[1] };
  if (parts[0] === 'images' && parts[1] === 'diff') return { view: 'diff', a: q.get('a') ?? '', b: q.get('b') ?? '' };
  if (parts[0] === 'images' && parts[1]) return { view: 'image', name: parts[1] };
  if (parts[0] === 'images') return { view: 'images' };
  return { view: 'fleet' };
}

export function href(r: Route): string {
  const e = encodeURIComponent;
  switch (r.view) {
    case 'fleet':
      return '#/';
    case 'node':
      return `#/nodes/${e(r.name)}`;
    case 'images':
      return '#/images';
    case 'image':
      return `#/images/${e(r.name)}`;
    case 'diff':
      return `#/images/diff?a=${e(r.a)}&b=${e(r.b)}`;
  }
}
