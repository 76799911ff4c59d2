/** Renderers for the stack mode's records: table (default), json (one object a line), text. */
import type { StackCounters, StackHooksRecord, StackRecord, StackStatsRecord, StackSummaryRecord, StageStats } from '../records/index.js';
import { columns } from './human.js';
import type { Sink } from '../records/index.js';
import { lineBatcher, out } from './stdout.js';

export type StackOutput = 'table' | 'json' | 'text';
type StackInterval = StackStatsRecord | StackSummaryRecord | StackHooksRecord;

export type StackSink = Sink<StackInterval, StackRecord>;

/** `12:34:56.789012` from an ISO time with microseconds appended by the mode */
const clock = (ts: string): string => ts.slice(11, 26).replace('Z', '');

/** `850ns`, `12.3us`, `4.56ms`, `1.20s` */
export function humanNs(ns: number): string {
  if (ns < 1000) return `${ns}ns`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(1)}us`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(2)}ms`;
  return `${(ns / 1e9).toFixed(2)}s`;
}

const TABLE_HEADER = ['KERNEL FUNCTION', 'SRC IP', 'DST IP', 'SRC PORT', 'DST PORT', 'SEQ', 'ACK SEQ', 'TIMESTAMP', 'LEN', 'FLAGS', 'CPU', 'LATENCY', 'PID/COMM | DROP REASON'];
const WIDTHS = [18, 15, 15, 8, 8, 10, 10, 15, 6, 11, 3, 8];
const RIGHT = new Set([3, 4, 5, 6, 8, 10, 11]);

function cells(r: StackRecord): string[] {
  const last = r.drop_reason ? `${r.drop_reason}${r.teardown ? ' (teardown)' : ''}` : r.pid ? `${r.pid}/${r.comm}` : '';
  return [r.stage, r.src, r.dst, String(r.sport), String(r.dport), String(r.seq), String(r.ack), clock(r.ts), String(r.len), r.tcp_flags || '.', String(r.cpu), r.latency_ns === undefined ? '-' : humanNs(r.latency_ns), last];
}

/** One table row, in fixed columns so that rows line up as they stream. */
export function stackRow(r: StackRecord): string {
  const c = cells(r);
  return c.map((x, i) => (i === c.length - 1 ? x : RIGHT.has(i) ? x.padStart(WIDTHS[i]!) : x.padEnd(WIDTHS[i]!))).join(' ').trimEnd();
}

export const stackHeader = (): string => TABLE_HEADER.map((h, i) => (i === TABLE_HEADER.length - 1 ? h : RIGHT.has(i) ? h.padStart(WIDTHS[i]!) : h.padEnd(WIDTHS[i]!))).join(' ');

/** `12:34:56.789012 tcp_v4_do_rcv 10.0.0.1:5000 -> 10.0.0.2:80 seq 1 ack 2 len 100 [PSH|ACK] cpu 1 +12.3us` */
export function stackLine(r: StackRecord): string {
  const ep = (a: string, p: number): string => `${a.includes(':') ? `[${a}]` : a}:${p}`;
  const parts = [clock(r.ts), r.stage, ep(r.src, r.sport), '->', ep(r.dst, r.dport), `seq ${r.seq}`, `ack ${r.ack}`, `len ${r.len}`, `[${r.tcp_flags || '.'}]`, `cpu ${r.cpu}`];
  if (r.latency_ns !== undefined) parts.push(`+${humanNs(r.latency_ns)}`);
  if (r.pid) parts.push(`pid ${r.pid} ${r.comm}`);
  if (r.drop_reason) parts.push(`reason ${r.drop_reason}${r.teardown ? ' (socket teardown)' : ''}`);
  return parts.join(' ');
}

/** bcc-style log2 histogram of one stage's latencies. */
export function histogram(s: StageStats): string {
  if (s.latency_hist.length === 0) return '';
  const max = Math.max(...s.latency_hist.map((b) => b.count));
  const rows = s.latency_hist.map((b) => {
    const lo = b.below_ns / 2 >= 1 ? b.below_ns / 2 : 0;
    const bar = '*'.repeat(Math.max(1, Math.round((b.count / max) * 40)));
    return `  ${humanNs(lo).padStart(8)} -> ${humanNs(b.below_ns).padEnd(8)}: ${String(b.count).padStart(8)} |${bar.padEnd(40)}|`;
  });
  const avg = s.latency_count ? humanNs(Math.round(s.latency_sum_ns / s.latency_count)) : '-';
  return [`${s.stage} latency since the first stage (${s.latency_count} packets, avg ${avg}):`, ...rows].join('\n');
}

export function countersText(c: StackCounters, hist: boolean): string {
  const rows = c.stages.map((s) => [s.stage, s.hook ?? 'unavailable', s.scope ?? '-', String(s.packets), s.latency_count ? humanNs(Math.round(s.latency_sum_ns / s.latency_count)) : '-']);
  const lines = [columns(['STAGE', 'HOOK', 'SEES', 'PACKETS', 'AVG LATENCY'], rows, new Set([3, 4]))];
  const drops = Object.entries(c.drops);
  lines.push(`drops: ${drops.length ? drops.map(([k, v]) => `${k} ${v}`).join(', ') : 'none'}`);
  const teardown = Object.entries(c.teardown);
  if (teardown.length) lines.push(`freed at socket teardown (not drops): ${teardown.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  lines.push(`events: ${c.events_sent} sent, ${c.events_suppressed} suppressed by --rate-limit, ${c.events_lost} lost (ring buffer full)`);
  if (hist) for (const s of c.stages) if (s.latency_hist.length) lines.push(histogram(s));
  return lines.join('\n');
}

export function hooksText(r: StackHooksRecord): string {
  const lines: string[] = ['hooks per stage (first that the kernel serves wins):'];
  for (const s of r.stages) {
    lines.push(`  ${s.stage}: ${s.serves ?? 'unavailable'}${s.scope ? ` (sees ${s.scope})` : ''}`);
    for (const t of s.tried) lines.push(`    ${t.outcome === 'serves' ? '+' : t.outcome === 'refused' ? '-' : ' '} ${t.hook} ${t.outcome}${t.reason ? `: ${t.reason}` : ''}`);
  }
  return lines.join('\n');
}

export function makeStackSink(format: StackOutput, write: (s: string) => void = out): StackSink {
  const { push, flush } = lineBatcher(write);
  let header = format !== 'table';
  const line = format === 'json' ? (r: StackRecord) => JSON.stringify(r) : format === 'text' ? stackLine : stackRow;
  return {
    event: (r) => {
      if (!header) {
        header = true;
        push(stackHeader() + '\n');
      }
      push(line(r) + '\n');
    },
    records: (rs) => {
      flush();
      for (const r of rs) {
        if (format === 'json') write(JSON.stringify(r) + '\n');
        else if (r.type === 'stack_hooks') write(hooksText(r) + '\n');
        else if (r.type === 'stack_stats') write(`--- ${r.ts}\n${countersText(r, true)}\n`);
        else write(`=== summary after ${r.duration_s.toFixed(1)} s ===\n${countersText(r, true)}\n`);
      }
    },
    flush,
  };
}
