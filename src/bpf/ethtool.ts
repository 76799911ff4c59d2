/**
 * A net device's driver statistics, the ones `ethtool -S` prints, through the kernel's ethtool
 * interface (the SIOCETHTOOL ioctl: string set ETH_SS_STATS, its names, then their values), without
 * the ethtool binary. Names and values as the driver gives them.
 */
import { type Ptr, SOCK, address, c, errno, socketFd, strerror, view } from './native.js';

const SIOCETHTOOL = 0x8946;
const ETHTOOL_GSTRINGS = 0x1b;
const ETHTOOL_GSTATS = 0x1d;
const ETHTOOL_GSSET_INFO = 0x37;
const ETH_SS_STATS = 1;
const ETH_GSTRING_LEN = 32;
const IFNAMSIZ = 16;

/** Why a device has no statistics (no such device, a driver without them, no privilege): null when it has. */
export type EthtoolResult = { stats: Map<string, bigint> } | { error: string };

function ethtoolCall(fd: number, ifname: string, data: Buffer): number {
  // struct ifreq: the name, then ifr_data, a pointer to the command's struct: koffi passes `data`'s address
  const ifr = Buffer.alloc(40);
  ifr.write(ifname.slice(0, IFNAMSIZ - 1), 0, 'latin1');
  const ptr = c.malloc(data.length) as Ptr;
  try {
    const mem = Buffer.from(view(ptr, data.length));
    data.copy(mem);
    ifr.writeBigUInt64LE(address(ptr), 16);
    const rc = c.ioctl(fd, SIOCETHTOOL, ifr) as number;
    if (rc < 0) return -errno();
    mem.copy(data);
    return 0;
  } finally {
    c.free(ptr);
  }
}

export function ethtoolStats(ifname: string): EthtoolResult {
  const fd = socketFd(SOCK.AF_INET, SOCK.DGRAM, 0);
  if (fd < 0) return { error: `socket: ${strerror(-fd)}` };
  try {
    const info = Buffer.alloc(20); // { cmd, reserved, sset_mask (u64), data[1] }
    info.writeUInt32LE(ETHTOOL_GSSET_INFO, 0);
    info.writeBigUInt64LE(1n << BigInt(ETH_SS_STATS), 8);
    let rc = ethtoolCall(fd, ifname, info);
    if (rc < 0) return { error: strerror(-rc) };
    const n = info.readBigUInt64LE(8) === 0n ? 0 : info.readUInt32LE(16);
    if (n === 0) return { stats: new Map() };
    const strings = Buffer.alloc(12 + n * ETH_GSTRING_LEN); // { cmd, string_set, len, data }
    strings.writeUInt32LE(ETHTOOL_GSTRINGS, 0);
    strings.writeUInt32LE(ETH_SS_STATS, 4);
    strings.writeUInt32LE(n, 8);
    rc = ethtoolCall(fd, ifname, strings);
    if (rc < 0) return { error: strerror(-rc) };
    const values = Buffer.alloc(8 + n * 8); // { cmd, n_stats, data (u64) }
    values.writeUInt32LE(ETHTOOL_GSTATS, 0);
    values.writeUInt32LE(n, 4);
    rc = ethtoolCall(fd, ifname, values);
    if (rc < 0) return { error: strerror(-rc) };
    const count = Math.min(n, values.readUInt32LE(4), strings.readUInt32LE(8));
    const stats = new Map<string, bigint>();
    for (let i = 0; i < count; i++) {
      const raw = strings.subarray(12 + i * ETH_GSTRING_LEN, 12 + (i + 1) * ETH_GSTRING_LEN);
      const z = raw.indexOf(0);
      stats.set(raw.toString('latin1', 0, z < 0 ? raw.length : z), values.readBigUInt64LE(8 + i * 8));
    }
    return { stats };
  } finally {
    c.close(fd);
  }
}
