/** Drives test/lib/traffic.ts and raw frames inside a namespace. */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const TRAFFIC = fileURLToPath(new URL('./traffic.js', import.meta.url));

export function traffic(ns: string, ...args: Array<string | number>): string {
  return execFileSync('ip', ['netns', 'exec', ns, process.execPath, TRAFFIC, ...args.map(String)], { encoding: 'utf8', timeout: 60_000 }).trim();
}

/** Starts a server (udp-echo, tcp-sink) and resolves once it prints "ready". */
export async function server(ns: string, ...args: Array<string | number>): Promise<{ proc: ChildProcess; output: () => Promise<string> }> {
  const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, TRAFFIC, ...args.map(String)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const closed = new Promise<string>((r) => proc.on('close', () => r(out)));
  await new Promise<void>((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve();
    });
    proc.on('close', (code) => reject(new Error(`traffic server exited ${code}`)));
  });
  return { proc, output: () => closed.then((o) => o.replace('ready', '').trim()) };
}

/** Runs `body` while UDP echo servers answer on `ports`; they are stopped whatever happens. */
export async function echoing(ns: string, host: string, ports: number[], body: () => unknown): Promise<void> {
  const servers: Array<Awaited<ReturnType<typeof server>>> = [];
  try {
    for (const port of ports) servers.push(await server(ns, 'udp-echo', host, port));
    await body();
  } finally {
    for (const s of servers) s.proc.kill();
  }
}

/** Sends `count` copies of a raw Ethernet frame out of `ifname` (AF_PACKET, via python3). */
export function rawFrames(ns: string, ifname: string, frame: Buffer, count: number): void {
  const py = [
    'import socket,sys',
    's=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)',
    's.bind((sys.argv[1],0))',
    'f=bytes.fromhex(sys.argv[2])',
    'for _ in range(int(sys.argv[3])): s.send(f)',
  ].join('\n');
  execFileSync('ip', ['netns', 'exec', ns, 'python3', '-c', py, ifname, frame.toString('hex'), String(count)], { timeout: 30_000 });
}

const mac = (m: string): Buffer => Buffer.from(m.replace(/:/g, ''), 'hex');

export function ethHeader(dst: string, src: string, ...types: number[]): Buffer {
  const b = Buffer.alloc(12 + 2 * types.length);
  mac(dst).copy(b, 0);
  mac(src).copy(b, 6);
  types.forEach((t, i) => b.writeUInt16BE(t, 12 + 2 * i));
  return b;
}

export function ipv4Header(src: string, dst: string, proto: number, payloadLen: number, opts: { ihlWords?: number; fragOffset8?: number; mf?: boolean } = {}): Buffer {
  const ihl = opts.ihlWords ?? 5;
  const h = Buffer.alloc(ihl * 4);
  h[0] = 0x40 | ihl;
  h.writeUInt16BE(ihl * 4 + payloadLen, 2);
  h.writeUInt16BE(((opts.mf ? 1 : 0) << 13) | (opts.fragOffset8 ?? 0), 6);
  h[8] = 64;
  h[9] = proto;
  src.split('.').forEach((o, i) => (h[12 + i] = Number(o)));
  dst.split('.').forEach((o, i) => (h[16 + i] = Number(o)));
  if (ihl > 5) h.fill(0x01, 20); // NOP options
  let sum = 0;
  for (let i = 0; i < h.length; i += 2) sum += h.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  h.writeUInt16BE(~sum & 0xffff, 10);
  return h;
}

export function udpHeader(sport: number, dport: number, payloadLen: number): Buffer {
  const u = Buffer.alloc(8);
  u.writeUInt16BE(sport, 0);
  u.writeUInt16BE(dport, 2);
  u.writeUInt16BE(8 + payloadLen, 4);
  return u; // checksum 0: none (IPv4)
}

/** InfiniBand Base Transport Header. */
export function bth(opcode: number, destQp: number, psn = 1): Buffer {
  const b = Buffer.alloc(12);
  b[0] = opcode;
  b.writeUInt16BE(0xffff, 2);
  b[5] = (destQp >> 16) & 0xff;
  b[6] = (destQp >> 8) & 0xff;
  b[7] = destQp & 0xff;
  b[9] = (psn >> 16) & 0xff;
  b.writeUInt16BE(psn & 0xffff, 10);
  return b;
}

/** The raw sender of rawFlows: `count` frames with a 16-bit value from `first` at `offset`, again until `seconds` have passed (0: once). */
const RAW_FLOWS_PY = [
  'import socket,sys,struct,time',
  's=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)',
  's.bind((sys.argv[1],0))',
  'f=bytearray(bytes.fromhex(sys.argv[2]))',
  'o=int(sys.argv[3]);a=int(sys.argv[4]);n=int(sys.argv[5])',
  'end=time.time()+float(sys.argv[6])',
  'while True:',
  '  for i in range(n):',
  '    struct.pack_into(">H",f,o,(a+i)&0xffff)',
  '    s.send(f)',
  '  if time.time()>=end: break',
].join('\n');

const rawFlowsArgs = (ns: string, ifname: string, frame: Buffer, offset: number, first: number, count: number, seconds: number): string[] =>
  ['netns', 'exec', ns, 'python3', '-c', RAW_FLOWS_PY, ifname, frame.toString('hex'), String(offset), String(first), String(count), String(seconds)];

/**
 * Sends `count` copies of a raw frame, each with a different 16-bit value (from `first`) written
 * big-endian at `offset` (a UDP source port, say): `count` distinct flows.
 */
export function rawFlows(ns: string, ifname: string, frame: Buffer, offset: number, first: number, count: number): void {
  execFileSync('ip', rawFlowsArgs(ns, ifname, frame, offset, first, count, 0), { timeout: 60_000 });
}

/** rawFlows over and over for `seconds`, in the background: a flood of `count` flows. */
export function rawFlowsFor(ns: string, ifname: string, frame: Buffer, offset: number, first: number, count: number, seconds: number): ChildProcess {
  return spawn('ip', rawFlowsArgs(ns, ifname, frame, offset, first, count, seconds), { stdio: 'ignore' });
}
