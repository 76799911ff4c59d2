/**
 * Where records go: one interface for every renderer (table, json, text; each mode's) and for the
 * exporter (src/export/exporter.ts takes a mode's metrics the same way). R: whole records (an
 * interval's, the summary); E: per-packet ones.
 */
export interface Sink<R, E = R> {
  /** whole records: an interval's, the summary */
  records(rs: readonly R[]): void;
  /** one per-packet record (the packet log, stack and limit events); renderers batch the lines */
  event(e: E): void;
  /** a per-packet line already rendered (the JSON fast path), newline included */
  line?(s: string): void;
  /** writes what is batched, before anything else is written */
  flush(): void;
}
