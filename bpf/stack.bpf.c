// SPDX-License-Identifier: GPL-2.0
/* stack mode: follow TCP packets through the kernel's receive path.
 *
 * One body per stage (on_skb, on_sk, on_drop) behind thin per-hook wrappers: for each stage the
 * loader keeps the first candidate hook the running kernel serves (fentry, kprobe, tp_btf, classic
 * tracepoint, netfilter) and turns autoload off for the others. Kernel structs are read with CO-RE
 * (the local definitions below carry only the fields used; libbpf relocates them against the
 * running kernel's BTF), through bpf_probe_read_kernel so that the same body serves every hook type.
 *
 * A packet is followed by its skb's address: the first stage that sees it records the time, later
 * stages add the latency since then to their log2 histogram. Stages that only see the socket
 * (sock_def_readable, a read measured by sock_recv_length) take the packet the socket last received
 * at tcp_v4/v6_do_rcv. */
#include <linux/bpf.h>
#include <linux/types.h>
#include <linux/ptrace.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "stack.h"
#include "addr.h"
#include "kernel.h"
#include "counters.h"
#include "log2.h"
#include "parse.h"
#define XT_RL_LOCKFREE /* kprobe and tracepoint programs may not take a bpf_spin_lock */
#include "ratelimit.h"

#define AF_INET_ 2
#define AF_INET6_ 10
#define NO_HEADER 0xFFFF /* an skb header offset that was never set */
#define NF_ACCEPT_ 1

const volatile struct xt_stack_config xt_stack_cfg = {};

/* Keeps the types userspace decodes in the object's BTF (test/unit/layout.test.ts). */
struct xt_stack_btf_anchor {
	struct xt_stack_event event;
	struct xt_stage_val val;
	enum xt_stage stage;
	enum xt_stack_stat stat;
	enum xt_stack_const stack_const;
};
const struct xt_stack_btf_anchor *xt_stack_btf_anchor __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XT_STAGE_COUNT);
	__type(key, __u32);
	__type(value, struct xt_stage_val);
} stage_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XT_SS_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stack_counters SEC(".maps");

/* Drops by enum skb_drop_reason. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} drop_reasons SEC(".maps");

/* skb address -> when the first stage saw it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} skb_first SEC(".maps");

struct pkt {
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 seq;
	__u32 ack;
	__u32 len;
	__u16 sport;
	__u16 dport;
	__u8 family;
	__u8 flags;
	__u8 pad[2];
};

struct sk_last {
	__u64 skb;
	struct pkt p;
};

/* socket address -> the packet it last received at tcp_v4/v6_do_rcv. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct sk_last);
} sk_last SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} stack_events SEC(".maps");

static __always_inline void count(int idx)
{
	xt_count(&stack_counters, idx, 1);
}

/* IP and TCP headers of an skb: from skb->data where it points at the IP header (netif_receive_skb,
 * before the stack sets network_header), else from head + network_header. */
static __always_inline int parse_skb(struct sk_buff *skb, int l3_at_data, struct pkt *p)
{
	__u16 proto = BPF_CORE_READ(skb, protocol);
	unsigned char *l3, *l4;
	struct tcphdr th;
	struct xt_ip ip = {};
	__u32 l3_payload;

	if (l3_at_data) {
		l3 = BPF_CORE_READ(skb, data);
	} else {
		__u16 nh = BPF_CORE_READ(skb, network_header);

		if (nh == NO_HEADER)
			return -1;
		l3 = BPF_CORE_READ(skb, head) + nh;
	}
	if (proto != bpf_htons(ETH_P_IP) && proto != bpf_htons(ETH_P_IPV6))
		return -1;
	/* TCP only; a fragment, or IPv6 extension headers, are not followed */
	if (!xt_parse_ip(l3, XT_SRC_KERNEL, &ip) || ip.family != (proto == bpf_htons(ETH_P_IP) ? 4 : 6) || ip.proto != IPPROTO_TCP || ip.later_fragment)
		return -1;
	__builtin_memcpy(p->saddr, ip.saddr, 16);
	__builtin_memcpy(p->daddr, ip.daddr, 16);
	p->family = ip.family;
	l4 = l3 + ip.l4_off;
	l3_payload = ip.l3_payload;
	if (bpf_probe_read_kernel(&th, sizeof(th), l4))
		return -1;
	p->sport = bpf_ntohs(th.source);
	p->dport = bpf_ntohs(th.dest);
	p->seq = bpf_ntohl(th.seq);
	p->ack = bpf_ntohl(th.ack_seq);
	p->flags = ((__u8 *)&th)[13];
	p->len = l3_payload > th.doff * 4 ? l3_payload - th.doff * 4 : 0;
	return 0;
}

/* A TCP socket's addresses, seen from the receiving side: the peer is the source. */
static __always_inline int parse_sk(struct sock *sk, struct pkt *p)
{
	unsigned short family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u16 proto = 0;

	if (bpf_core_field_size(sk->sk_protocol) == 1)
		proto = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	else
		proto = BPF_CORE_READ(sk, sk_protocol);
	if (proto != IPPROTO_TCP)
		return -1;
	if (family == AF_INET_) {
		map_v4(p->saddr, BPF_CORE_READ(sk, __sk_common.skc_daddr));
		map_v4(p->daddr, BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr));
		p->family = 4;
	} else if (family == AF_INET6_) {
		BPF_CORE_READ_INTO(&p->saddr, sk, __sk_common.skc_v6_daddr);
		BPF_CORE_READ_INTO(&p->daddr, sk, __sk_common.skc_v6_rcv_saddr);
		p->family = 6;
	} else {
		return -1;
	}
	p->sport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	p->dport = BPF_CORE_READ(sk, __sk_common.skc_num);
	return 0;
}

static __always_inline int net_match(const __u8 *addr)
{
	for (int i = 0; i < 16; i++)
		if ((addr[i] & xt_stack_cfg.mask[i]) != xt_stack_cfg.net[i])
			return 0;
	return 1;
}

/* --netns: the socket's network namespace is the one asked for (always true without --netns). */
static __always_inline int sk_in_netns(struct sock *sk)
{
	return !xt_stack_cfg.netns_ino || (sk && BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum) == xt_stack_cfg.netns_ino);
}

/* --netns: the packet is in the namespace asked for: its socket's (`sk`, where the hook has it: TCP
 * has no use for skb->dev by then), else its device's, else skb->sk's. */
static __always_inline int skb_in_netns(struct sk_buff *skb, struct sock *sk)
{
	struct net_device *dev;

	if (!xt_stack_cfg.netns_ino)
		return 1;
	if (sk)
		return sk_in_netns(sk);
	dev = BPF_CORE_READ(skb, dev);
	if (dev)
		return BPF_CORE_READ(dev, nd_net.net, ns.inum) == xt_stack_cfg.netns_ino;
	return sk_in_netns(BPF_CORE_READ(skb, sk));
}

static __always_inline int wanted(const struct pkt *p)
{
	if (xt_stack_cfg.port && p->sport != xt_stack_cfg.port && p->dport != xt_stack_cfg.port)
		return 0;
	if (xt_stack_cfg.net_filter && !net_match(p->saddr) && !net_match(p->daddr))
		return 0;
	return 1;
}


static __always_inline void account(__u32 stage, __u64 lat, int known)
{
	struct xt_stage_val *v = bpf_map_lookup_elem(&stage_stats, &stage);

	if (!v)
		return;
	/* Atomic even per CPU: a program in process context (a read, a backlog) can be interrupted on
	 * its CPU by one in softirq context updating the same slot. */
	__sync_fetch_and_add(&v->packets, 1);
	if (known) {
		__u32 b = xt_log2_bucket(lat, XT_LAT_BUCKETS - 1);

		__sync_fetch_and_add(&v->lat_count, 1);
		__sync_fetch_and_add(&v->lat_sum_ns, lat);
		if (b < XT_LAT_BUCKETS)
			__sync_fetch_and_add(&v->lat[b], 1);
	}
}

static __always_inline void emit(__u32 stage, const struct pkt *p, __u64 skb, __u64 now, __u64 lat,
				 __u32 reason, __u32 ifindex, int task)
{
	struct xt_stack_event *e;

	if (!xt_stack_cfg.emit)
		return;
	if (!rate_ok(xt_stack_cfg.rate_limit, now)) {
		count(XT_SS_EV_SUPPRESSED);
		return;
	}
	e = bpf_ringbuf_reserve(&stack_events, sizeof(*e), 0);
	if (!e) {
		count(XT_SS_EV_LOST);
		return;
	}
	e->ts_ns = now;
	e->skb = skb;
	e->latency_ns = lat;
	__builtin_memcpy(e->saddr, p->saddr, 16);
	__builtin_memcpy(e->daddr, p->daddr, 16);
	e->seq = p->seq;
	e->ack = p->ack;
	e->len = p->len;
	e->cpu = bpf_get_smp_processor_id();
	e->drop_reason = reason;
	e->ifindex = ifindex;
	e->sport = p->sport;
	e->dport = p->dport;
	e->stage = stage;
	e->family = p->family;
	e->tcp_flags = p->flags;
	e->pad = 0;
	e->pad2 = 0;
	if (task) {
		e->pid = bpf_get_current_pid_tgid() >> 32;
		bpf_get_current_comm(e->comm, sizeof(e->comm));
	} else {
		e->pid = 0;
		__builtin_memset(e->comm, 0, sizeof(e->comm));
	}
	bpf_ringbuf_submit(e, 0);
	count(XT_SS_EV_SENT);
}

/* Latency of `skb` since its first stage; 0 and not known when no stage saw it before. */
static __always_inline __u64 since_first(__u64 skb, __u64 now, int *known)
{
	__u64 *t = bpf_map_lookup_elem(&skb_first, &skb);

	*known = t && now >= *t;
	return *known ? now - *t : 0;
}

/* A stage that sees the skb. `copied` >= 0 replaces the payload length (the read stage). */
static __always_inline int on_skb(__u32 stage, struct sk_buff *skb, struct sock *sk, int l3_at_data,
				  long copied)
{
	__u64 now = bpf_ktime_get_ns(), key = (__u64)skb, lat = 0;
	struct pkt p = {};
	int known = 0;

	if (!skb || parse_skb(skb, l3_at_data, &p) || !wanted(&p) || !skb_in_netns(skb, sk))
		return 0;
	if (stage == XT_STAGE_NETIF_RECEIVE)
		bpf_map_update_elem(&skb_first, &key, &now, BPF_ANY);
	else
		lat = since_first(key, now, &known);
	if (sk && stage == XT_STAGE_TCP_DO_RCV) {
		struct sk_last last = { .skb = key, .p = p };
		__u64 sk_key = (__u64)sk;

		bpf_map_update_elem(&sk_last, &sk_key, &last, BPF_ANY);
	}
	if (copied >= 0)
		p.len = copied;
	account(stage, lat, known);
	emit(stage, &p, key, now, lat, 0, BPF_CORE_READ(skb, dev, ifindex), stage == XT_STAGE_APP_READ);
	return 0;
}

/* A stage that sees only the socket: the packet is the one it last received. */
static __always_inline int on_sk(__u32 stage, struct sock *sk, long copied)
{
	__u64 now = bpf_ktime_get_ns(), sk_key = (__u64)sk, skb = 0, lat = 0;
	struct sk_last *last;
	struct pkt p = {};
	int known = 0;

	if (!sk || parse_sk(sk, &p) || !wanted(&p) || !sk_in_netns(sk))
		return 0;
	/* No peer: a listening socket woken by a new connection, no packet of a connection: not counted. */
	if (!p.sport)
		return 0;
	last = bpf_map_lookup_elem(&sk_last, &sk_key);
	if (last) {
		skb = last->skb;
		p.seq = last->p.seq;
		p.ack = last->p.ack;
		p.len = last->p.len;
		p.flags = last->p.flags;
		lat = since_first(skb, now, &known);
	}
	if (copied >= 0)
		p.len = copied;
	account(stage, lat, known);
	emit(stage, &p, skb, now, lat, 0, 0, stage == XT_STAGE_APP_READ);
	return 0;
}

static __always_inline int on_drop(struct sk_buff *skb, __u32 reason)
{
	__u64 now = bpf_ktime_get_ns(), key = (__u64)skb, lat;
	struct pkt p = {};
	__u64 one = 1, *n;
	int known = 0;

	if (!skb || parse_skb(skb, 0, &p) || !wanted(&p) || !skb_in_netns(skb, 0))
		return 0;
	lat = since_first(key, now, &known);
	bpf_map_delete_elem(&skb_first, &key);
	n = bpf_map_lookup_elem(&drop_reasons, &reason);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&drop_reasons, &reason, &one, BPF_NOEXIST);
	account(XT_STAGE_DROP, lat, known);
	emit(XT_STAGE_DROP, &p, key, now, lat, reason, BPF_CORE_READ(skb, dev, ifindex), 0);
	return 0;
}

static __always_inline struct sk_buff *deref_skb(struct sk_buff **pskb)
{
	struct sk_buff *skb = 0;

	bpf_probe_read_kernel(&skb, sizeof(skb), pskb);
	return skb;
}

/* 1. netif_receive_skb: __netif_receive_skb_core(struct sk_buff **pskb, ...) is where every
 * receive path meets (the net:netif_receive_skb tracepoint sits in it). */
SEC("fentry/__netif_receive_skb_core")
int BPF_PROG(st_netif_fentry, struct sk_buff **pskb)
{
	return on_skb(XT_STAGE_NETIF_RECEIVE, deref_skb(pskb), 0, 1, -1);
}

SEC("kprobe/__netif_receive_skb_core")
int BPF_KPROBE(st_netif_kprobe, struct sk_buff **pskb)
{
	return on_skb(XT_STAGE_NETIF_RECEIVE, deref_skb(pskb), 0, 1, -1);
}

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(st_netif_tp_btf, struct sk_buff *skb)
{
	return on_skb(XT_STAGE_NETIF_RECEIVE, skb, 0, 1, -1);
}

struct tp_skb_ctx {
	__u64 common;
	void *skbaddr;
	unsigned int len;
};

SEC("tracepoint/net/netif_receive_skb")
int st_netif_tp(struct tp_skb_ctx *ctx)
{
	return on_skb(XT_STAGE_NETIF_RECEIVE, ctx->skbaddr, 0, 1, -1);
}

/* 2. ip_rcv_finish / ip6_rcv_finish; netfilter PRE_ROUTING at the last priority runs right before. */
SEC("fentry/ip_rcv_finish")
int BPF_PROG(st_rcv_finish_fentry, void *net, struct sock *sk, struct sk_buff *skb)
{
	return on_skb(XT_STAGE_IP_RCV_FINISH, skb, 0, 0, -1);
}

SEC("fentry/ip6_rcv_finish")
int BPF_PROG(st_rcv6_finish_fentry, void *net, struct sock *sk, struct sk_buff *skb)
{
	return on_skb(XT_STAGE_IP_RCV_FINISH, skb, 0, 0, -1);
}

SEC("kprobe/ip_rcv_finish")
int BPF_KPROBE(st_rcv_finish_kprobe, void *net, struct sock *sk, struct sk_buff *skb)
{
	return on_skb(XT_STAGE_IP_RCV_FINISH, skb, 0, 0, -1);
}

SEC("kprobe/ip6_rcv_finish")
int BPF_KPROBE(st_rcv6_finish_kprobe, void *net, struct sock *sk, struct sk_buff *skb)
{
	return on_skb(XT_STAGE_IP_RCV_FINISH, skb, 0, 0, -1);
}

SEC("netfilter")
int st_rcv_finish_nf(struct xt_nf_ctx *ctx)
{
	on_skb(XT_STAGE_IP_RCV_FINISH, ctx->skb, 0, 0, -1);
	return NF_ACCEPT_;
}

/* 3. ip_local_deliver / ip6_input; netfilter LOCAL_IN at the last priority. */
SEC("fentry/ip_local_deliver")
int BPF_PROG(st_local_fentry, struct sk_buff *skb)
{
	return on_skb(XT_STAGE_LOCAL_DELIVER, skb, 0, 0, -1);
}

SEC("fentry/ip6_input")
int BPF_PROG(st_local6_fentry, struct sk_buff *skb)
{
	return on_skb(XT_STAGE_LOCAL_DELIVER, skb, 0, 0, -1);
}

SEC("kprobe/ip_local_deliver")
int BPF_KPROBE(st_local_kprobe, struct sk_buff *skb)
{
	return on_skb(XT_STAGE_LOCAL_DELIVER, skb, 0, 0, -1);
}

SEC("kprobe/ip6_input")
int BPF_KPROBE(st_local6_kprobe, struct sk_buff *skb)
{
	return on_skb(XT_STAGE_LOCAL_DELIVER, skb, 0, 0, -1);
}

SEC("netfilter")
int st_local_nf(struct xt_nf_ctx *ctx)
{
	on_skb(XT_STAGE_LOCAL_DELIVER, ctx->skb, 0, 0, -1);
	return NF_ACCEPT_;
}

/* 4. tcp_v4_do_rcv / tcp_v6_do_rcv; tcp:tcp_probe (established connections only) */
SEC("fentry/tcp_v4_do_rcv")
int BPF_PROG(st_do_rcv_fentry, struct sock *sk, struct sk_buff *skb)
{
	return on_skb(XT_STAGE_TCP_DO_RCV, skb, sk, 0, -1);
}

SEC("fentry/tcp_v6_do_rcv")
int BPF_PROG(st_do_rcv6_fentry, struct sock *sk, struct sk_buff *skb)
{
	return on_skb(XT_STAGE_TCP_DO_RCV, skb, sk, 0, -1);
}

SEC("kprobe/tcp_v4_do_rcv")
int BPF_KPROBE(st_do_rcv_kprobe, struct sock *sk, struct sk_buff *skb)
{
	return on_skb(XT_STAGE_TCP_DO_RCV, skb, sk, 0, -1);
}

SEC("kprobe/tcp_v6_do_rcv")
int BPF_KPROBE(st_do_rcv6_kprobe, struct sock *sk, struct sk_buff *skb)
{
	return on_skb(XT_STAGE_TCP_DO_RCV, skb, sk, 0, -1);
}

SEC("tp_btf/tcp_probe")
int BPF_PROG(st_do_rcv_tp_btf, struct sock *sk, struct sk_buff *skb)
{
	return on_skb(XT_STAGE_TCP_DO_RCV, skb, sk, 0, -1);
}

/* 5. tcp_queue_rcv: no tracepoint serves it */
SEC("fentry/tcp_queue_rcv")
int BPF_PROG(st_queue_fentry, struct sock *sk, struct sk_buff *skb)
{
	return on_skb(XT_STAGE_TCP_QUEUE_RCV, skb, 0, 0, -1);
}

SEC("kprobe/tcp_queue_rcv")
int BPF_KPROBE(st_queue_kprobe, struct sock *sk, struct sk_buff *skb)
{
	return on_skb(XT_STAGE_TCP_QUEUE_RCV, skb, 0, 0, -1);
}

/* 6. sock_def_readable; sock:sk_data_ready */
SEC("fentry/sock_def_readable")
int BPF_PROG(st_readable_fentry, struct sock *sk)
{
	return on_sk(XT_STAGE_SOCK_READABLE, sk, -1);
}

SEC("kprobe/sock_def_readable")
int BPF_KPROBE(st_readable_kprobe, struct sock *sk)
{
	return on_sk(XT_STAGE_SOCK_READABLE, sk, -1);
}

SEC("tp_btf/sk_data_ready")
int BPF_PROG(st_readable_tp_btf, struct sock *sk)
{
	return on_sk(XT_STAGE_SOCK_READABLE, sk, -1);
}

struct tp_sk_ctx {
	__u64 common;
	void *skaddr;
};

SEC("tracepoint/sock/sk_data_ready")
int st_readable_tp(struct tp_sk_ctx *ctx)
{
	return on_sk(XT_STAGE_SOCK_READABLE, ctx->skaddr, -1);
}

/* 7. read by the application: skb:skb_copy_datagram_iovec (the skb copied from), or
 * sock:sock_recv_length (the socket and the bytes read) */
SEC("tp_btf/skb_copy_datagram_iovec")
int BPF_PROG(st_read_tp_btf, struct sk_buff *skb, int len)
{
	return on_skb(XT_STAGE_APP_READ, skb, 0, 0, len);
}

SEC("tracepoint/skb/skb_copy_datagram_iovec")
int st_read_tp(struct tp_skb_ctx *ctx)
{
	return on_skb(XT_STAGE_APP_READ, ctx->skbaddr, 0, 0, ctx->len);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(st_read_len_tp_btf, struct sock *sk, int ret, int flags)
{
	if (ret <= 0)
		return 0;
	return on_sk(XT_STAGE_APP_READ, sk, ret);
}

/* drop: skb:kfree_skb(skb, location, reason) (the reason argument since 5.17) */
SEC("tp_btf/kfree_skb")
int BPF_PROG(st_drop_tp_btf, struct sk_buff *skb, void *location, int reason)
{
	return on_drop(skb, reason);
}

char LICENSE[] SEC("license") = "GPL";
