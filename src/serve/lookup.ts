import type { ImageInfo } from './images.js';
import type { NodeRecord } from './nodes/model.js';
import type { NodeRegistry } from './nodes/registry.js';
import type { TftpLookup } from './plan/tftp.js';

/**
 * Joins the registry and the images catalogue for the planners. A node without an image gets the
 * default image: the one named by --default-image, or the only image when there is exactly one.
 */
export class ServeLookup implements TftpLookup {
  constructor(
    private readonly registry: NodeRegistry,
    private images: Map<string, ImageInfo>,
    private readonly defaultName?: string,
  ) {}

  setImages(images: Map<string, ImageInfo>): void {
    this.images = images;
  }

  allImages(): ImageInfo[] {
    return [...this.images.values()];
  }

  image(name: string): ImageInfo | undefined {
    return this.images.get(name);
  }

  byPrefix(prefix: string): Promise<NodeRecord | undefined> {
    return this.registry.byPrefix(prefix);
  }

  byIp(ip: string): Promise<NodeRecord | undefined> {
    return this.registry.byIp(ip);
  }

  defaultImage(): ImageInfo | undefined {
    if (this.defaultName) return this.images.get(this.defaultName);
    return this.images.size === 1 ? [...this.images.values()][0] : undefined;
  }

  imageOf(node: NodeRecord): ImageInfo | undefined {
    return node.image ? this.images.get(node.image) : this.defaultImage();
  }
}
