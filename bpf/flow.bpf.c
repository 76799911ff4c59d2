// SPDX-License-Identifier: GPL-2.0
/* xdp mode: count every packet per flow and per watched address, both directions,
 * and log matching packets through a ring buffer. XDP (or TC) sees ingress, TC egress. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "flow.h"
#include "addr.h"
#include "ratelimit.h"

#define ETH_P_8021AD_ 0x88A8
#define ETH_P_ROCE 0x8915
#define ROCE_V2_PORT 4791
#define GRH_LEN 40
#define BTH_LEN 12
#define IP_MF 0x2000
#define IP_OFFSET 0x1FFF
#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_AUTH 51
#define NEXTHDR_DEST 60
#define MAX_V6_EXT 6
#define TC_NEXT (-1) /* TC_ACT_UNSPEC for cls_bpf, TCX_NEXT for tcx: let the packet go on */

const volatile struct xt_config xt_cfg = {};

/* Keeps the types userspace decodes but no map names (the event, the enums) in the object's BTF,
 * where test/unit/layout.test.ts checks src/bpf/layout.ts against them. */
struct xt_btf_anchor {
	struct xt_event event;
	struct xt_epb epb;
	struct xt_epb_tail epb_tail;
	enum xt_epb_const epb_const;
	enum xt_dir dir;
	enum xt_kind kind;
	enum xt_stat stat;
	enum xt_flow_const flow_const;
	struct xt_cap cap;
};
const struct xt_btf_anchor *xt_btf_anchor __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 65536); /* set from --max-flows before load */
	__type(key, struct xt_flow_key);
	__type(value, struct xt_flow_val);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XT_MAX_WATCH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xt_lpm_key);
	__type(value, __u32); /* slot in watch_stats */
} watch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XT_MAX_WATCH);
	__type(key, __u32);
	__type(value, struct xt_ip_val);
} watch_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XT_MAX_IFACES + 1);
	__type(key, __u32);
	__type(value, struct xt_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");


struct pkt {
	struct xt_flow_key key;
	__u32 hdr_len; /* bytes up to the end of the L4 header: what every GSO segment repeats */
	__u8 tcp_flags;
	__u8 roce_opcode;
	__u8 is_ip;
	__u16 ethertype;
	__u32 roce_qp;
};

enum { PARSE_OK = 0, PARSE_NON_IP, PARSE_FRAGMENT, PARSE_TRUNCATED };

/* -w: matching packets, header then bytes (sized by userspace before load) */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} packets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xt_cap);
} cap_scratch SEC(".maps");

/* -w: the realtime clock minus the monotonic one (ns), which userspace keeps current: a block's
 * timestamp is bpf_ktime_get_ns() plus this. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} cap_clock SEC(".maps");

/* Wake the reader when the record about to be written takes the ring's backlog across this much: a
 * wakeup per packet costs more than the packet, and so would one per packet while the backlog stays
 * above (a reader that is behind is awake anyway). Userspace also reads every 50 ms, so a ring is never
 * left waiting for long, even when two CPUs race past the threshold and neither wakes it. The packets
 * ring's threshold is xt_cfg.cap_wake (a quarter of the ring). */
#define XT_WAKE_EVENTS (64 << 10)

static __always_inline __u64 wake_flags(void *ring, __u64 threshold, __u64 size)
{
	__u64 avail = bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA);

	return avail < threshold && avail + size >= threshold ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/* Plain adds (counters.h's rule): every program here runs in softirq (XDP, TC ingress) or with BH off
 * (TC egress), so nothing interrupts it on its CPU to touch the same per-CPU slot. */
static __always_inline void stat_add(struct xt_stats *s, int idx, __u64 n)
{
	if (s)
		s->v[idx & (XT_STAT_MAX - 1)] += n;
}

static __always_inline void parse_bth(struct pkt *p, __u8 *bth)
{
	p->roce_opcode = bth[0];
	p->roce_qp = ((__u32)bth[5] << 16) | ((__u32)bth[6] << 8) | bth[7];
}

/* A non-first fragment: no L4 header, so no ports and no ICMP type. */
static __always_inline int fragment(struct pkt *p)
{
	if (p->key.proto == IPPROTO_ICMP || p->key.proto == IPPROTO_ICMPV6) {
		p->key.icmp_type = XT_ICMP_NONE;
		p->key.icmp_code = XT_ICMP_NONE;
	}
	return PARSE_FRAGMENT;
}

/* L4 from `pos`; returns PARSE_* */
static __always_inline int parse_l4(struct pkt *p, void *pos, void *data, void *data_end)
{
	if (p->key.proto == IPPROTO_TCP) {
		struct tcphdr *th = pos;
		if ((void *)(th + 1) > data_end)
			return PARSE_TRUNCATED;
		if (th->doff < 5) /* a header shorter than its fixed part: malformed */
			return PARSE_TRUNCATED;
		p->key.sport = bpf_ntohs(th->source);
		p->key.dport = bpf_ntohs(th->dest);
		p->tcp_flags = ((__u8 *)th)[13];
		p->hdr_len = (pos - data) + th->doff * 4;
	} else if (p->key.proto == IPPROTO_UDP) {
		struct udphdr *uh = pos;
		if ((void *)(uh + 1) > data_end)
			return PARSE_TRUNCATED;
		p->key.sport = bpf_ntohs(uh->source);
		p->key.dport = bpf_ntohs(uh->dest);
		p->hdr_len = (pos - data) + sizeof(*uh);
		if (p->key.dport == ROCE_V2_PORT) {
			__u8 *bth = (void *)(uh + 1);
			if ((void *)(bth + BTH_LEN) > data_end)
				return PARSE_TRUNCATED;
			p->key.kind = XT_KIND_ROCE_V2;
			parse_bth(p, bth);
		}
	} else if (p->key.proto == IPPROTO_ICMP || p->key.proto == IPPROTO_ICMPV6) {
		__u8 *ih = pos;
		p->hdr_len = pos - data;
		if ((void *)(ih + 2) > data_end) {
			p->key.icmp_type = XT_ICMP_NONE;
			p->key.icmp_code = XT_ICMP_NONE;
			return PARSE_TRUNCATED;
		}
		p->key.icmp_type = ih[0];
		p->key.icmp_code = ih[1];
	} else {
		p->hdr_len = pos - data;
	}
	return PARSE_OK;
}

static __always_inline int parse_frame(struct pkt *p, void *data, void *data_end)
{
	struct ethhdr *eth = data;
	void *pos = eth + 1;
	__u16 proto;

	if (pos > data_end)
		return PARSE_TRUNCATED;
	proto = bpf_ntohs(eth->h_proto);

#pragma unroll
	for (int i = 0; i < 2; i++) { /* 802.1Q and 802.1ad, up to two tags */
		if (proto != ETH_P_8021Q && proto != ETH_P_8021AD_)
			break;
		if (pos + 4 > data_end)
			return PARSE_TRUNCATED;
		if (i == 0)
			p->key.vlan = bpf_ntohs(*(__be16 *)pos) & 0x0FFF;
		proto = bpf_ntohs(*(__be16 *)(pos + 2));
		pos += 4;
	}
	p->ethertype = proto;

	if (proto == ETH_P_IP) {
		struct iphdr *iph = pos;
		__u32 ihl;

		if ((void *)(iph + 1) > data_end)
			return PARSE_TRUNCATED;
		ihl = iph->ihl * 4;
		if (ihl < sizeof(*iph))
			return PARSE_TRUNCATED;
		p->is_ip = 1;
		p->key.family = 4;
		p->key.proto = iph->protocol;
		map_v4(p->key.src, iph->saddr);
		map_v4(p->key.dst, iph->daddr);
		p->hdr_len = (pos - data) + ihl;
		if (bpf_ntohs(iph->frag_off) & IP_OFFSET)
			return fragment(p);
		pos += ihl;
		return parse_l4(p, pos, data, data_end);
	}

	if (proto == ETH_P_IPV6) {
		struct ipv6hdr *ip6 = pos;
		__u8 nh;

		if ((void *)(ip6 + 1) > data_end)
			return PARSE_TRUNCATED;
		p->is_ip = 1;
		p->key.family = 6;
		__builtin_memcpy(p->key.src, &ip6->saddr, 16);
		__builtin_memcpy(p->key.dst, &ip6->daddr, 16);
		nh = ip6->nexthdr;
		pos = ip6 + 1;
#pragma unroll
		for (int i = 0; i < MAX_V6_EXT; i++) {
			__u8 *ext = pos;
			if (nh != NEXTHDR_HOP && nh != NEXTHDR_ROUTING && nh != NEXTHDR_DEST &&
			    nh != NEXTHDR_FRAGMENT && nh != NEXTHDR_AUTH)
				break;
			if ((void *)(ext + 8) > data_end) {
				p->key.proto = nh;
				return PARSE_TRUNCATED;
			}
			if (nh == NEXTHDR_FRAGMENT) {
				__u16 off = bpf_ntohs(*(__be16 *)(ext + 2)) & 0xFFF8;
				nh = ext[0];
				pos += 8;
				if (off) {
					p->key.proto = nh;
					p->hdr_len = pos - data;
					return fragment(p);
				}
			} else if (nh == NEXTHDR_AUTH) {
				nh = ext[0];
				pos += ((__u32)ext[1] + 2) * 4;
			} else {
				nh = ext[0];
				pos += ((__u32)ext[1] + 1) * 8;
			}
		}
		p->key.proto = nh;
		p->hdr_len = pos - data;
		/* More extension headers than the loop follows: the L4 header is not reached, and the
		 * protocol is unknown, so no flow claims an extension header as its protocol. */
		if (nh == NEXTHDR_HOP || nh == NEXTHDR_ROUTING || nh == NEXTHDR_DEST ||
		    nh == NEXTHDR_FRAGMENT || nh == NEXTHDR_AUTH) {
			p->is_ip = 0;
			return PARSE_TRUNCATED;
		}
		return parse_l4(p, pos, data, data_end);
	}

	if (proto == ETH_P_ROCE) {
		__u8 *grh = pos;
		if ((void *)(grh + GRH_LEN + BTH_LEN) > data_end)
			return PARSE_TRUNCATED;
		p->is_ip = 1;
		p->key.family = 6;
		p->key.kind = XT_KIND_ROCE_V1;
		__builtin_memcpy(p->key.src, grh + 8, 16);
		__builtin_memcpy(p->key.dst, grh + 24, 16);
		p->hdr_len = (pos - data) + GRH_LEN + BTH_LEN;
		parse_bth(p, grh + GRH_LEN);
		return PARSE_OK;
	}
	return PARSE_NON_IP;
}

static __always_inline int parse(struct pkt *p, void *data, void *data_end)
{
	struct ethhdr *eth = data;
	int rc = parse_frame(p, data, data_end);

	/* Not IP (or its IP header malformed): the packet log shows its MAC addresses and EtherType. */
	if ((rc == PARSE_NON_IP || (rc == PARSE_TRUNCATED && !p->is_ip)) && (void *)(eth + 1) <= data_end) {
		p->key.kind = XT_KIND_ETHER;
		p->key.family = 0;
		p->key.proto = 0;
		__builtin_memset(p->key.src, 0, 16);
		__builtin_memset(p->key.dst, 0, 16);
		__builtin_memcpy(p->key.src, eth->h_source, ETH_ALEN);
		__builtin_memcpy(p->key.dst, eth->h_dest, ETH_ALEN);
	}
	return rc;
}

static __always_inline void log_packet(struct pkt *p, struct xt_stats *s, __u32 len, __u64 segs,
				       __u64 now)
{
	struct xt_event *e;

	if (!rate_ok(xt_cfg.rate_limit, now)) {
		stat_add(s, XT_STAT_EV_SUPPRESSED, 1);
		return;
	}
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		stat_add(s, XT_STAT_EV_DROPPED, 1);
		return;
	}
	e->ts_ns = now;
	__builtin_memcpy(e->src, p->key.src, 16);
	__builtin_memcpy(e->dst, p->key.dst, 16);
	e->ifindex = p->key.ifindex;
	e->len = len;
	e->sport = p->key.sport;
	e->dport = p->key.dport;
	e->proto = p->key.proto;
	e->dir = p->key.dir;
	e->kind = p->key.kind;
	e->family = p->key.family;
	e->tcp_flags = p->tcp_flags;
	e->roce_opcode = p->roce_opcode;
	e->segs = segs > 0xFFFF ? 0xFFFF : segs;
	e->roce_qp = p->roce_qp;
	e->vlan = p->key.vlan;
	e->icmp_type = p->key.icmp_type;
	e->icmp_code = p->key.icmp_code;
	e->ethertype = p->ethertype;
	e->pad = 0;
	bpf_ringbuf_submit(e, wake_flags(&events, XT_WAKE_EVENTS, sizeof(*e) + 8));
	stat_add(s, XT_STAT_EV_SENT, 1);
}

static __always_inline void count_watch(const __u8 *addr, int out, __u64 pkts, __u64 bytes)
{
	struct xt_lpm_key k = { .prefixlen = 128 };
	struct xt_ip_val *v;
	__u32 *slot;

	__builtin_memcpy(k.addr, addr, 16);
	slot = bpf_map_lookup_elem(&watch, &k);
	if (!slot)
		return;
	v = bpf_map_lookup_elem(&watch_stats, slot);
	if (!v)
		return;
	if (out) {
		v->out_packets += pkts;
		v->out_bytes += bytes;
	} else {
		v->in_packets += pkts;
		v->in_bytes += bytes;
	}
}

static __always_inline void count_flow(struct pkt *p, struct xt_stats *s, __u64 pkts, __u64 bytes,
				       __u64 now)
{
	struct xt_flow_val *v = bpf_map_lookup_elem(&flows, &p->key);

	if (!v) {
		struct xt_flow_val init = { .first_ns = now };
		if (bpf_map_update_elem(&flows, &p->key, &init, BPF_NOEXIST) == 0)
			stat_add(s, XT_STAT_FLOWS_CREATED, 1);
		v = bpf_map_lookup_elem(&flows, &p->key);
		if (!v) {
			stat_add(s, XT_STAT_FLOW_FAILED, 1);
			return;
		}
	}
	if (!v->first_ns)
		v->first_ns = now;
	v->packets += pkts;
	v->bytes += bytes;
	v->last_ns = now;
	v->tcp_flags |= p->tcp_flags;
}

/* The `stats` entry of an interface: its place in the configured list, else the spare one. */
static __always_inline __u32 stats_slot(__u32 ifindex)
{
	for (__u32 i = 0; i < XT_MAX_IFACES; i++) {
		if (xt_cfg.ifindex[i] == ifindex)
			return i;
		if (!xt_cfg.ifindex[i])
			break;
	}
	return XT_MAX_IFACES;
}

/* The counters of the interface in `stats` slot `slot`, this CPU's copy. */
static __always_inline struct xt_stats *stats_at(__u32 slot)
{
	return bpf_map_lookup_elem(&stats, &slot);
}

/* Counts a parsed packet. `segs` > 1 for a GSO packet seen by TC: the wire carries `segs`
 * frames, each repeating the headers. `tag` is 4 when TC sees an 802.1Q tag the kernel moved
 * into metadata (every wire frame carries it), else 0. */
static __always_inline void account(struct pkt *p, int rc, __u32 len, __u32 segs, __u32 tag, int kept,
				    struct xt_stats *s, __u64 now)
{
	__u64 pkts = 1, bytes = len + tag;

	if (segs > 1 && rc == PARSE_OK && p->hdr_len < len) {
		pkts = segs;
		bytes = len + (__u64)(segs - 1) * p->hdr_len + (__u64)segs * tag;
	}
	stat_add(s, p->key.dir == XT_DIR_INGRESS ? XT_STAT_RX_PACKETS : XT_STAT_TX_PACKETS, pkts);
	stat_add(s, p->key.dir == XT_DIR_INGRESS ? XT_STAT_RX_BYTES : XT_STAT_TX_BYTES, bytes);
	if (rc == PARSE_NON_IP)
		stat_add(s, XT_STAT_NON_IP, pkts);
	if (rc == PARSE_FRAGMENT)
		stat_add(s, XT_STAT_FRAGMENTS, pkts);
	if (rc == PARSE_TRUNCATED)
		stat_add(s, XT_STAT_TRUNCATED, pkts);
	if (p->key.kind == XT_KIND_ETHER) { /* no flow: logged with its EtherType when the filter keeps it */
		if (xt_cfg.log_enabled && kept)
			log_packet(p, s, len + tag, pkts, now);
		return;
	}
	count_flow(p, s, pkts, bytes, now);
	if (xt_cfg.watch_count) {
		count_watch(p->key.src, 1, pkts, bytes);
		count_watch(p->key.dst, 0, pkts, bytes);
	}
	if (xt_cfg.log_enabled && kept)
		log_packet(p, s, len + tag, pkts, now);
}


/* min(v, max), on the register the caller then uses: clang may otherwise test one copy of a
 * value and pass another, whose bounds the verifier does not know. */
static __always_inline __u32 bound(__u32 v, const __u32 max)
{
	asm volatile("if %[v] <= %[max] goto +1\n\t"
		     "%[v] = %[max]"
		     : [v] "+r"(v)
		     : [max] "i"(max));
	return v;
}

/* The --filter expression's verdict on buf[0..n) of a packet `len` bytes long: nonzero to keep it.
 * A marker until userspace splices the translated expression in (then r1..r5 are its registers:
 * buf, n, len, A, X); without a filter the marker's value, nonzero, keeps every packet. */
static __always_inline __u64 pcap_filter(__u8 *buf, __u32 n, __u32 len)
{
	__u64 ret;

	asm volatile("r1 = %[buf]\n\t"
		     "r2 = %[n]\n\t"
		     "r3 = %[len]\n\t"
		     "r0 = %[mark]\n\t"
		     "%[ret] = r0"
		     : [ret] "=r"(ret)
		     : [buf] "r"(buf), [n] "r"((__u64)n), [len] "r"((__u64)len), [mark] "i"(XT_FILTER_MARK)
		     : "r0", "r1", "r2", "r3", "r4", "r5", "memory");
	return ret;
}

/* This CPU's copy of the packet as a whole pcapng Enhanced Packet Block, into the `packets` ring: the
 * fixed part before the data, the padding and the tail after it, one bpf_ringbuf_output of exactly the
 * block's length (a runtime size, on every kernel with ring buffers; a reserve would need a constant
 * one). Userspace writes the records to the file as they are.
 *
 * A global function: the verifier checks it once, on its own, not again on every path that reaches
 * it (a filter's protochain loop leaves the program by many paths, each of which would otherwise
 * walk this too). Its arguments are scalars only (pointers to a global function need 5.12; scalars
 * 5.6): it looks up the scratch copy and the counters itself, the same per-CPU entries the caller has. */
__attribute__((noinline)) int xt_capture_epb(__u32 n, __u32 len, __u32 iface, __u32 dir, __u64 now)
{
	__u32 zero = 0;
	struct xt_cap *c = bpf_map_lookup_elem(&cap_scratch, &zero);
	struct xt_stats *s = stats_at(iface);
	__u64 *off = bpf_map_lookup_elem(&cap_clock, &zero);
	__u64 ts = now + (off ? *off : 0);
	__u32 caplen = bound(n < xt_cfg.snaplen ? n : xt_cfg.snaplen, XT_CAP_MAX);
	__u32 padded = bound((caplen + 3) & ~3U, XT_CAP_MAX);
	__u32 block_len = sizeof(c->epb) + padded + sizeof(struct xt_epb_tail);
	struct xt_epb_tail *t;
	__u8 *p;

	if (!c)
		return 0;
	c->epb.block_type = XT_EPB_TYPE;
	c->epb.block_len = block_len;
	c->epb.iface_id = iface;
	c->epb.len = len;
	c->epb.ts_high = ts >> 32;
	c->epb.ts_low = (__u32)ts;
	c->epb.caplen = caplen;
	/* the padding is zero (the copy's bytes there belong to an earlier packet): four zero bytes from
	 * caplen on, of which the tail, written next, takes back what is not padding */
	p = &c->data[caplen];
	p[0] = 0;
	p[1] = 0;
	p[2] = 0;
	p[3] = 0;
	t = (void *)&c->data[padded];
	t->opt_code = XT_EPB_OPT_FLAGS;
	t->opt_len = 4;
	t->flags = dir == XT_DIR_INGRESS ? XT_EPB_INBOUND : XT_EPB_OUTBOUND;
	t->opt_end = 0;
	t->block_len = block_len;
	if (bpf_ringbuf_output(&packets, c, block_len, wake_flags(&packets, xt_cfg.cap_wake, block_len + 8))) {
		stat_add(s, XT_STAT_CAP_DROPPED, 1);
		return 0;
	}
	stat_add(s, XT_STAT_CAP_SENT, 1);
	return 1;
}

/* Filter and capture over the copy in `c`: n bytes copied of a `len`-byte packet. Returns whether
 * the filter kept it (the packet log follows the same verdict). */
static __always_inline int filter_capture(struct xt_cap *c, __u32 n, __u32 len, __u32 iface, __u8 dir,
					  struct xt_stats *s, __u64 now)
{
	if (xt_cfg.filter && !pcap_filter(c->data, n, len))
		return 0;
	if (xt_cfg.filter)
		stat_add(s, XT_STAT_FILTERED, 1);
	if (xt_cfg.capture && iface < XT_MAX_IFACES)
		xt_capture_epb(n, len, iface, dir, now);
	return 1;
}

static __always_inline struct xt_cap *scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&cap_scratch, &zero);
}

/* Bytes to copy of a `len`-byte packet: no more than the filter reads and the capture keeps. */
static __always_inline __u32 copy_len(__u32 len)
{
	__u32 want = xt_cfg.copy_bytes;

	return len < want ? len : want;
}

/* XDP: the frame's first bytes into the scratch copy. */
static __always_inline int xdp_filter_capture(struct xdp_md *ctx, __u32 len, __u32 slot, struct xt_stats *s,
					      __u64 now)
{
	struct xt_cap *c = scratch();
	__u32 n = bound(copy_len(len), XT_CAP_MAX);

	if (!c)
		return 1;
	if (n < ETH_HLEN || bpf_xdp_load_bytes(ctx, 0, c->data, n))
		n = 0;
	return filter_capture(c, n, len, slot, XT_DIR_INGRESS, s, now);
}

/* TC: the skb's first bytes (linear or not), with the VLAN tag the kernel keeps as metadata put
 * back after the MAC addresses, as AF_PACKET capture shows it. */
static __always_inline __u32 tc_copy(struct __sk_buff *skb, struct xt_cap *c, __u32 len, __u32 tag)
{
	__u32 n = bound(copy_len(len), XT_CAP_MAX - 4), rest;

	if (n < ETH_HLEN)
		return 0;
	if (!tag)
		return bpf_skb_load_bytes(skb, 0, c->data, n) ? 0 : n;
	if (bpf_skb_load_bytes(skb, 0, c->data, 12))
		return 0;
	*(__be16 *)&c->data[12] = (__be16)skb->vlan_proto;
	*(__be16 *)&c->data[14] = bpf_htons(skb->vlan_tci);
	rest = bound(n - 12, XT_CAP_MAX - 16);
	if (rest < 1 || bpf_skb_load_bytes(skb, 12, &c->data[16], rest))
		return 16;
	return rest + 16;
}

static __always_inline int tc_filter_capture(struct __sk_buff *skb, __u8 dir, __u32 slot, struct xt_stats *s,
					     __u64 now)
{
	struct xt_cap *c = scratch();
	__u32 tag = skb->vlan_present ? 4 : 0;

	if (!c)
		return 1;
	return filter_capture(c, tc_copy(skb, c, skb->len, tag), skb->len + tag, slot, dir, s, now);
}

SEC("xdp")
int xt_xdp_ingress(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct pkt p = { .key = { .ifindex = ctx->ingress_ifindex, .dir = XT_DIR_INGRESS } };
	__u32 slot = stats_slot(ctx->ingress_ifindex);
	struct xt_stats *s = stats_at(slot);
	__u64 now = bpf_ktime_get_ns(); /* one clock read a packet: the capture's time and the flow's */
	int kept = 1;

	if (xt_cfg.filter || xt_cfg.capture)
		kept = xdp_filter_capture(ctx, data_end - data, slot, s, now);
	account(&p, parse(&p, data, data_end), data_end - data, 1, 0, kept, s, now);
	return XDP_PASS;
}

/* Wire frames in a GSO packet. gso_segs is 0 where the sender did not set it (tap/virtio,
 * SKB_GSO_DODGY: the stack computes it later); then it follows from gso_size. */
static __always_inline __u32 gso_frames(struct __sk_buff *skb, __u32 hdr_len)
{
	__u32 segs = skb->gso_segs;
	__u32 size = skb->gso_size;

	if (segs == 0 && size > 0 && skb->len > hdr_len)
		segs = (skb->len - hdr_len + size - 1) / size;
	return segs ? segs : 1;
}

/* TC sees socket buffers: a GSO packet carries several wire frames. */
static __always_inline int tc_handle(struct __sk_buff *skb, __u8 dir)
{
	struct pkt p = { .key = { .ifindex = skb->ifindex, .dir = dir } };
	int rc = parse(&p, (void *)(long)skb->data, (void *)(long)skb->data_end);
	__u32 slot = stats_slot(skb->ifindex);
	struct xt_stats *s = stats_at(slot);
	__u64 now = bpf_ktime_get_ns(); /* one clock read a packet: the capture's time and the flow's */
	int kept = 1;

	/* Headers of a non-linear skb may end past its linear part. Pull only then: a pull on a
	 * cloned skb (every TCP skb is one) copies its head. */
	if (rc == PARSE_TRUNCATED && skb->len > skb->data_end - skb->data) {
		__builtin_memset(&p, 0, sizeof(p));
		p.key.ifindex = skb->ifindex;
		p.key.dir = dir;
		bpf_skb_pull_data(skb, skb->len < 256 ? skb->len : 256);
		rc = parse(&p, (void *)(long)skb->data, (void *)(long)skb->data_end);
	}
	if (skb->vlan_present) /* the outer tag, which the kernel moved to metadata */
		p.key.vlan = skb->vlan_tci & 0x0FFF;
	if (xt_cfg.filter || xt_cfg.capture)
		kept = tc_filter_capture(skb, dir, slot, s, now);
	account(&p, rc, skb->len, gso_frames(skb, p.hdr_len), skb->vlan_present ? 4 : 0, kept, s, now);
	return TC_NEXT;
}

SEC("tc")
int xt_tc_egress(struct __sk_buff *skb)
{
	return tc_handle(skb, XT_DIR_EGRESS);
}

/* Ingress on devices where XDP is the wrong hook (veth: native XDP turns off the peer's GSO,
 * generic XDP sees a GSO packet as one frame). */
SEC("tc")
int xt_tc_ingress(struct __sk_buff *skb)
{
	return tc_handle(skb, XT_DIR_INGRESS);
}

char LICENSE[] SEC("license") = "GPL";
