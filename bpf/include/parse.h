/* The IP header and the first bytes of L4, parsed from wherever a hook finds the packet: an skb through
 * bpf_skb_load_bytes (cgroup_skb), or kernel memory through bpf_probe_read_kernel (tracing programs,
 * netfilter). `kind` is a constant at every call, so the compiler keeps only the reader that hook may
 * call. XDP and TC read the packet directly (flow.bpf.c) and do not use this. */
#ifndef XTRACE_PARSE_H
#define XTRACE_PARSE_H

#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "addr.h"

enum xt_src { XT_SRC_SKB, XT_SRC_KERNEL };

struct xt_ip {
	__u8 saddr[16];      /* IPv4 as ::ffff:a.b.c.d */
	__u8 daddr[16];
	__u32 l4_off;        /* the L4 header's offset from the IP header */
	__u32 l3_payload;    /* bytes after the IP header */
	__u8 family;         /* 4 or 6 */
	__u8 proto;          /* IPv6: the first next header (extension headers are not followed) */
	__u8 ecn;
	__u8 later_fragment; /* a non-first fragment: no L4 header */
};

static __always_inline int xt_read(const void *src, enum xt_src kind, __u32 off, void *dst, __u32 n)
{
	if (kind == XT_SRC_SKB)
		return bpf_skb_load_bytes(src, off, dst, n);
	return bpf_probe_read_kernel(dst, n, (const __u8 *)src + off);
}

/* The IP header at `src`; 1 when it is one (IPv4 with a whole header, or IPv6), else 0. */
static __always_inline int xt_parse_ip(const void *src, enum xt_src kind, struct xt_ip *ip)
{
	__u8 vhl = 0;

	if (xt_read(src, kind, 0, &vhl, 1))
		return 0;
	if ((vhl >> 4) == 4) {
		struct iphdr h;
		__u32 ihl;

		if (xt_read(src, kind, 0, &h, sizeof(h)))
			return 0;
		ihl = (h.ihl & 0xF) * 4;
		if (ihl < sizeof(h))
			return 0;
		ip->family = 4;
		ip->proto = h.protocol;
		ip->ecn = h.tos & 3;
		ip->later_fragment = (h.frag_off & bpf_htons(0x1FFF)) != 0;
		map_v4(ip->saddr, h.saddr);
		map_v4(ip->daddr, h.daddr);
		ip->l4_off = ihl;
		ip->l3_payload = bpf_ntohs(h.tot_len) > ihl ? bpf_ntohs(h.tot_len) - ihl : 0;
		return 1;
	}
	if ((vhl >> 4) == 6) {
		struct ipv6hdr h;

		if (xt_read(src, kind, 0, &h, sizeof(h)))
			return 0;
		ip->family = 6;
		ip->proto = h.nexthdr;
		ip->ecn = (bpf_ntohl(*(__be32 *)&h) >> 20) & 3;
		ip->later_fragment = 0;
		__builtin_memcpy(ip->saddr, &h.saddr, 16);
		__builtin_memcpy(ip->daddr, &h.daddr, 16);
		ip->l4_off = sizeof(h);
		ip->l3_payload = bpf_ntohs(h.payload_len);
		return 1;
	}
	return 0;
}

/* The ports of a TCP or UDP packet (host order); 0 and 0 for another protocol or a later fragment. */
static __always_inline void xt_parse_ports(const void *src, enum xt_src kind, const struct xt_ip *ip, __u16 *sport, __u16 *dport)
{
	__be16 ports[2] = {};

	if ((ip->proto == IPPROTO_TCP || ip->proto == IPPROTO_UDP) && !ip->later_fragment)
		xt_read(src, kind, ip->l4_off, ports, sizeof(ports));
	*sport = bpf_ntohs(ports[0]);
	*dport = bpf_ntohs(ports[1]);
}

#endif
