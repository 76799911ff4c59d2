/** Renderers for the limit mode's records: text (the earlier tool's event lines) and json. */
import type { LimitCounters, LimitEventRecord, LimitStatsRecord, LimitSummaryRecord } from '../records/index.js';
import { humanBytes } from './human.js';
import type { Sink } from '../records/index.js';
import { out } from './stdout.js';

export type LimitOutput = 'text' | 'json';

export type LimitSink = Sink<LimitStatsRecord | LimitSummaryRecord, LimitEventRecord>;

const VIA: Record<string, string> = { sock_create: 'at socket creation', send: 'at its first send', recv: 'at its first receive', learnt: 'from its learnt IP:port' };
const who = (r: { pid: number; comm: string }): string => `PID=${r.pid} (${r.comm})`;
const ipPort = (ip: string | undefined): string => ip ?? '?';

/** `[send]  PID=1234 (iperf3) sent: 1448 bytes (1 packets)` and the other events, as the earlier tool printed them. */
export function limitEventLine(r: LimitEventRecord): string {
  switch (r.event) {
    case 'map':
      return `[map]   ${who(r)} socket -> process learnt ${VIA[r.via ?? ''] ?? ''} (PROCESS_MAP)`.replace('  (', ' (');
    case 'parse':
      return `[parse] IP=${ipPort(r.ip)} port=${r.port} proto=${r.proto} ${who(r)} (PACKET_PARSE)`;
    case 'send':
      return `[send]  ${who(r)} ${r.direction === 'egress' ? 'sent' : 'received'}: ${r.bytes} bytes (${r.packets} packets)${r.congestion_signal ? ' +congestion signal' : ''}`;
    case 'drop':
      return `[drop]  ${who(r)} dropped: ${r.bytes} bytes (${r.packets} packets) (${r.direction === 'egress' ? 'SEND_DROP' : 'RECV_DROP'})`;
    case 'learn':
      return `[learn] ${who(r)} IP=${ipPort(r.ip)} port=${r.port} proto=${r.proto} learnt for ${r.proto === 'UDP' ? 'UDP ingress ' : ''}attribution (IP_AND_PORT)`;
    case 'fork':
      return `[fork]  ${who(r)} forked PID=${r.child}: limited with it`;
    case 'exit':
      return `[exit]  ${who(r)} exited`;
  }
}

export const rateText = (bytesPerS: number): string => `${humanBytes(Math.round(bytesPerS))}/s`;

/** `2.00 MiB/s = 16.8 Mbit/s`: -r is in bytes (binary), iperf3 -b and tc rate in bits (decimal) */
export function rateBoth(bytesPerS: number): string {
  const bits = bytesPerS * 8;
  const [v, u] = bits >= 1e9 ? [bits / 1e9, 'Gbit/s'] : bits >= 1e6 ? [bits / 1e6, 'Mbit/s'] : [bits / 1e3, 'kbit/s'];
  return `${rateText(bytesPerS)} = ${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${u}`;
}

function targetText(c: LimitCounters): string {
  return c.target === 'cgroup' ? `cgroup ${c.cgroup}` : `PID=${c.pid} (${c.comm})${c.alive ? '' : ', exited,'}`;
}

/** `[limit] PID=1234 (iperf3) egress: target 2.00 MiB/s, achieved 1.98 MiB/s; passed ..., dropped ..., congestion signals 5` */
export function limitStatsLine(c: LimitCounters): string {
  return (
    `[limit] ${targetText(c)} ${c.direction}: target ${rateText(c.rate_target_bytes_per_s)}, achieved ${rateText(c.rate_achieved_bytes_per_s)}; ` +
    `passed ${humanBytes(c.passed_bytes)} (${c.passed_packets} pkts), dropped ${humanBytes(c.dropped_bytes)} (${c.dropped_packets} pkts), congestion signals ${c.congestion_signals}${c.direction === 'ingress' ? `, ACKs held ${c.acks_held}` : ''}`
  );
}

export function limitSummaryText(s: LimitSummaryRecord): string {
  const lines = [`summary: ${s.duration_s} s, enforced at ${s.hook}; ${s.sockets_tagged} sockets tagged, ${s.sockets_paced} paced (${s.sockets_restored} given back their own settings); events ${s.events_sent} sent, ${s.events_suppressed} suppressed (--event-limit), ${s.events_lost} lost`];
  for (const c of s.limits) lines.push(`  ${limitStatsLine(c).replace(/^\[limit\] /, '').replace('achieved', 'achieved on average')}`);
  return lines.join('\n');
}

export function makeLimitSink(format: LimitOutput): LimitSink {
  if (format === 'json')
    return {
      event: (r) => out(JSON.stringify(r) + '\n'),
      records: (rs) => {
        for (const r of rs) out(JSON.stringify(r) + '\n');
      },
      flush: () => undefined,
    };
  return {
    event: (r) => out(limitEventLine(r) + '\n'),
    records: (rs) => {
      for (const r of rs) out((r.type === 'summary' ? limitSummaryText(r) : limitStatsLine(r)) + '\n');
    },
    flush: () => undefined,
  };
}
