/**
 * Two network namespaces joined by a veth pair: A (where xtrace runs) and B (the peer).
 * Names are unique per process; destroy() removes everything and is safe to call twice.
 */
import { execFileSync } from 'node:child_process';

let seq = 0;

export interface LinkStats {
  rx_packets: number;
  rx_bytes: number;
  rx_dropped: number;
  tx_packets: number;
  tx_bytes: number;
  tx_dropped: number;
}

export interface PairOptions {
  /** keep IPv6 on the link (default: off, so the link carries only the test's traffic) */
  ipv6?: boolean;
  /** peer-side VLAN interface with this id on top of B's veth (and A's) */
  vlan?: number;
}

export class NetnsPair {
  readonly nsA: string;
  readonly nsB: string;
  readonly ifA: string;
  readonly ifB: string;
  readonly ipA: string;
  readonly ipB: string;
  readonly ip6A = 'fd00:78::1';
  readonly ip6B = 'fd00:78::2';
  readonly macA: string;
  readonly macB: string;
  private alive = true;

  constructor(opts: PairOptions = {}) {
    const id = `${process.pid % 10000}${seq++}`;
    const octet = (process.pid + seq * 7) % 200 + 20;
    this.nsA = `xtA${id}`;
    this.nsB = `xtB${id}`;
    this.ifA = `xta${id}`;
    this.ifB = `xtb${id}`;
    this.ipA = `10.${octet}.0.1`;
    this.ipB = `10.${octet}.0.2`;
    try {
      run('ip', 'netns', 'add', this.nsA);
      run('ip', 'netns', 'add', this.nsB);
      run('ip', 'link', 'add', this.ifA, 'netns', this.nsA, 'type', 'veth', 'peer', 'name', this.ifB, 'netns', this.nsB);
      for (const [ns, ifn, ip, ip6] of [
        [this.nsA, this.ifA, this.ipA, this.ip6A],
        [this.nsB, this.ifB, this.ipB, this.ip6B],
      ] as const) {
        const v6 = opts.ipv6 ? '0' : '1';
        this.exec(ns, 'sysctl', '-qw', `net.ipv6.conf.default.disable_ipv6=${v6}`, `net.ipv6.conf.all.disable_ipv6=${v6}`);
        this.exec(ns, 'sysctl', '-qw', `net.ipv6.conf.${ifn}.disable_ipv6=${v6}`);
        this.exec(ns, 'ip', 'link', 'set', 'lo', 'up');
        this.exec(ns, 'ip', 'addr', 'add', `${ip}/24`, 'dev', ifn);
        if (opts.ipv6) this.exec(ns, 'ip', '-6', 'addr', 'add', `${ip6}/64`, 'dev', ifn, 'nodad');
        this.exec(ns, 'ip', 'link', 'set', ifn, 'up');
      }
      this.macA = this.exec(this.nsA, 'cat', `/sys/class/net/${this.ifA}/address`).trim();
      this.macB = this.exec(this.nsB, 'cat', `/sys/class/net/${this.ifB}/address`).trim();
      // Static neighbours: no ARP/ND on the wire during a test.
      this.exec(this.nsA, 'ip', 'neigh', 'replace', this.ipB, 'lladdr', this.macB, 'dev', this.ifA, 'nud', 'permanent');
      this.exec(this.nsB, 'ip', 'neigh', 'replace', this.ipA, 'lladdr', this.macA, 'dev', this.ifB, 'nud', 'permanent');
      if (opts.ipv6) {
        this.exec(this.nsA, 'ip', '-6', 'neigh', 'replace', this.ip6B, 'lladdr', this.macB, 'dev', this.ifA, 'nud', 'permanent');
        this.exec(this.nsB, 'ip', '-6', 'neigh', 'replace', this.ip6A, 'lladdr', this.macA, 'dev', this.ifB, 'nud', 'permanent');
      }
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  /** A second veth between A and B on another subnet; returns its names and addresses. */
  addLink(): { ifA: string; ifB: string; ipA: string; ipB: string } {
    const n = `${this.ifA}x`.slice(0, 15);
    const m = `${this.ifB}x`.slice(0, 15);
    const octet = Number(this.ipA.split('.')[1]) + 1;
    const l = { ifA: n, ifB: m, ipA: `10.${octet}.1.1`, ipB: `10.${octet}.1.2` };
    run('ip', 'link', 'add', l.ifA, 'netns', this.nsA, 'type', 'veth', 'peer', 'name', l.ifB, 'netns', this.nsB);
    for (const [ns, ifn, ip] of [[this.nsA, l.ifA, l.ipA], [this.nsB, l.ifB, l.ipB]] as const) {
      this.exec(ns, 'ip', 'addr', 'add', `${ip}/24`, 'dev', ifn);
      this.exec(ns, 'ip', 'link', 'set', ifn, 'up');
    }
    return l;
  }

  exec(ns: string, cmd: string, ...args: string[]): string {
    return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** `ip -s link` counters of an interface in a namespace. */
  linkStats(ns: string, ifn: string): LinkStats {
    const j = JSON.parse(this.exec(ns, 'ip', '-j', '-s', 'link', 'show', 'dev', ifn)) as Array<{
      stats64: { rx: { packets: number; bytes: number; dropped: number }; tx: { packets: number; bytes: number; dropped: number } };
    }>;
    const s = j[0]!.stats64;
    return { rx_packets: s.rx.packets, rx_bytes: s.rx.bytes, rx_dropped: s.rx.dropped, tx_packets: s.tx.packets, tx_bytes: s.tx.bytes, tx_dropped: s.tx.dropped };
  }

  /** Absolute SNMP counters of a namespace (nstat -az, history untouched). */
  nstat(ns: string, ...names: string[]): Record<string, number> {
    const out = this.exec(ns, 'nstat', '-asz', ...names);
    const r: Record<string, number> = {};
    for (const line of out.split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f.length >= 2 && names.includes(f[0]!)) r[f[0]!] = Number(f[1]);
    }
    return r;
  }

  destroy(): void {
    if (!this.alive) return;
    this.alive = false;
    for (const ns of [this.nsA, this.nsB])
      try {
        run('ip', 'netns', 'del', ns);
      } catch {
        /* already gone */
      }
  }
}

function run(cmd: string, ...args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}
