// `sha256sum` check files, read and written one way: the build's SHA256SUMS (written by the manifest
// step, read by `kiln verify`) and upstream's sha256sum-arm64.txt (read by `kiln pin k3s`). Lines
// are `<64 hex>  <name>` (text mode) or `<64 hex> *<name>` (binary mode). Pure text in, data out.

export interface SumEntry {
  sha256: string;
  file: string;
}

export interface ReadSums {
  /** Good lines in file order, hash lowercased, with their 1-based line numbers. */
  entries: (SumEntry & { line: number })[];
  /** Lines that are neither blank (nor, with `comments`, a `#` comment) nor a sum line. */
  malformed: { line: number; text: string }[];
}

const SUM_LINE = /^([0-9a-fA-F]{64}) [ *](\S.*)$/;

/** Reads every line; the caller decides what a malformed line means (refuse, or report them all). */
export function readSha256Sums(text: string, opts: { comments?: boolean } = {}): ReadSums {
  const out: ReadSums = { entries: [], malformed: [] };
  text.split(/\r?\n/).forEach((raw, i) => {
    if (raw.trim() === '' || (opts.comments && raw.startsWith('#'))) return;
    const m = SUM_LINE.exec(raw);
    const sha = m?.[1];
    const file = m?.[2]?.trimEnd();
    if (sha === undefined || file === undefined) out.malformed.push({ line: i + 1, text: raw });
    else out.entries.push({ line: i + 1, sha256: sha.toLowerCase(), file });
  });
  return out;
}

/** The file's text, in the order given (text mode, as `sha256sum` writes it). */
export function sha256SumsText(entries: readonly SumEntry[]): string {
  return entries.map((e) => `${e.sha256}  ${e.file}\n`).join('');
}
