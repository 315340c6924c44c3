// The exactly-once names of the file and HDFS sinks: a final file (or an HDFS commit manifest) is named by
// the sequence range it holds, so a sink restarted after a crash reads from the names alone what is
// delivered. Sequences are zero-padded to one width so that a plain listing sorts in sequence order.

/** Digits of a sequence number in a name: Number.MAX_SAFE_INTEGER has 16. */
export const SEQ_WIDTH = 16;

export interface SeqRange {
  readonly first: number;
  readonly last: number;
}

/** A sequence number as it appears in a name. */
export function padSeq(seq: number): string {
  return String(seq).padStart(SEQ_WIDTH, '0');
}

/** `<stem>-<first>-<last>.<ext>`: the same readings always get the same name. */
export function rangedName(stem: string, first: number, last: number, ext: string): string {
  return `${stem}-${padSeq(first)}-${padSeq(last)}.${ext}`;
}

/** The name of a final data file: `<prefix>-<gateway>-<first>-<last>.<ext>`. */
export function finalName(
  prefix: string,
  gatewayId: string,
  first: number,
  last: number,
  ext: string,
): string {
  return rangedName(`${prefix}-${gatewayId}`, first, last, ext);
}

const SEQ = `(\\d{${SEQ_WIDTH}})`;
const ANY_RANGED = new RegExp(`^.+-${SEQ}-${SEQ}\\.[a-z.]+$`);

/**
 * The range in a ranged name, or undefined for any other name. With `stem` and `ext`, only names of exactly
 * that stem and extension count (a sink recognises its own files among another gateway's or prefix's).
 */
export function parseRangedName(name: string, stem?: string, ext?: string): SeqRange | undefined {
  const re =
    stem === undefined && ext === undefined
      ? ANY_RANGED
      : new RegExp(`^${literal(stem, '.+')}-${SEQ}-${SEQ}\\.${literal(ext, '[a-z.]+')}$`);
  const m = re.exec(name);
  return m ? { first: Number(m[1]), last: Number(m[2]) } : undefined;
}

/** `s` as a literal pattern, or `otherwise` when it is not given. */
function literal(s: string | undefined, otherwise: string): string {
  return s === undefined ? otherwise : escapeRe(s);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
