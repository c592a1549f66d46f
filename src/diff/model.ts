// The diff report's shapes: layers of field and entry changes, outermost first. The tree and
// change shapes they hold come from src/disk/tree.ts.
import type { EntryChange, FieldChange } from '../disk/tree.js';

export type LayerStatus = 'same' | 'different' | 'not-compared';

export interface Layer {
  id: string;
  title: string;
  status: LayerStatus;
  /** Why a layer was not compared, or a hint about where the difference lies. */
  note?: string;
  fields: FieldChange[];
  entries: EntryChange[];
}

export interface SideSummary {
  label: string;
  image: string;
  manifest?: string;
  size?: number;
  sha256?: string;
}

export interface DiffReport {
  kilnDiffVersion: 1;
  a: SideSummary;
  b: SideSummary;
  identical: boolean;
  /** Ordered outermost first; the text report leads with the first differing one. */
  layers: Layer[];
}
