// SPDX-License-Identifier: GPL-2.0
/* limit mode: hold processes (or a cgroup) to a byte rate with a token bucket in the kernel.
 *
 * Enforcement: cgroup_skb egress/ingress programs (on the cgroup v2 root for -p, on the cgroup for
 * --cgroup), or netfilter LOCAL_OUT/LOCAL_IN programs (--hook netfilter: the network namespace of
 * the caller). The bucket is a GCRA: `tat_ns` is when the bucket will be empty, a packet of `len`
 * bytes costs len / rate seconds, it passes while the debt stays within the burst (-t). Integer
 * arithmetic only; a spin lock makes it exact when several CPUs send at once.
 *
 * Attribution (-p): a socket's owner is kept in socket-local storage (dies with the socket). Sockets
 * created while limiting are tagged at creation (cgroup sock_create); sockets that existed before
 * are tagged at their first send or receive in process context (fentry, kprobe, tp_btf or classic
 * tracepoint: the loader keeps the first the kernel serves). kprobe and classic tracepoint programs
 * cannot reach socket storage, and netfilter programs cannot read it: for them the owner goes into
 * a map keyed by the socket's local IP:port and protocol ("learnt"), which the enforcement programs
 * consult for a socket without a tag (and the cgroup ones move into the socket's storage). UDP
 * sockets are learnt too, so that a datagram to a socket that never sent is attributed.
 *
 * On egress over the limit with the congestion signal on, TCP gets NET_XMIT_CN (cgroup_skb egress
 * returns 2 or 3, as the kernel's HBM sample does): a drop that TCP sees as local congestion (it
 * keeps the segment queued and reduces its window), and, in the last `mark_ns` of the bucket, a
 * pass with the same signal so that it slows before the bucket is empty. Ingress can only drop; it
 * marks ECN-capable packets CE instead in that last part. */
#include <linux/bpf.h>
#include <linux/types.h>
#include <linux/ptrace.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "limit.h"
#include "addr.h"
#include "kernel.h"
#include "counters.h"
#include "parse.h"
#define XT_RL_LOCKFREE /* kprobe and tracepoint programs may not take a bpf_spin_lock */
#include "ratelimit.h"

#define AF_INET_ 2
#define AF_INET6_ 10
#define IP_OFFSET_ 0x1FFF
#define NF_DROP_ 0
#define NF_ACCEPT_ 1
#define SOL_SOCKET_ 1
#define SOL_TCP_ 6
#define SO_MAX_PACING_RATE_ 47
#define TCP_WINDOW_CLAMP_ 10
#define CG_DROP 0
#define CG_PASS 1
#define CG_DROP_CN 2
#define CG_PASS_CN 3

/* For the socket iterator (iter/tcp): the context, and the TCP socket's fields it reads. struct sock
 * sits at offset 0 of struct tcp_sock, so a tcp_sock pointer reads sock fields through a cast. */
struct bpf_iter_meta;
struct bpf_iter__tcp {
	struct bpf_iter_meta *meta;
	struct sock_common *sk_common;
	__u32 uid;
} __attribute__((preserve_access_index));

struct sock_common___family {
	unsigned short skc_family;
} __attribute__((preserve_access_index));

struct tcp_sock {
	__u32 srtt_us;    /* smoothed RTT << 3, in us */
	__u32 mss_cache;
	__u32 window_clamp;
} __attribute__((preserve_access_index));

struct sock___pacing {
	unsigned long sk_max_pacing_rate;
} __attribute__((preserve_access_index));


const volatile struct xt_limit_config xt_limit_cfg = {};

/* Keeps the types userspace decodes in the object's BTF (test/unit/layout.test.ts). */
struct xt_limit_btf_anchor {
	struct xt_limit_event event;
	struct xt_limit_counters counters;
	struct xt_learn_key lkey;
	struct xt_learn_val lval;
	struct xt_bucket bucket;
	enum xt_limit_ev ev;
	enum xt_limit_via via;
	enum xt_limit_stat stat;
	enum xt_limit_const limit_const;
	struct xt_paced paced;
	struct bpf_sock sock; /* the cgroup sock programs' context: the kernel wants its size in the BTF */
};
const struct xt_limit_btf_anchor *xt_limit_btf_anchor __attribute__((unused));

/* Limited processes (tgid) -> bucket; userspace fills it, --children adds forks, exits remove. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u32);
} limited SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XT_LIMIT_MAX_BUCKETS);
	__type(key, __u32);
	__type(value, struct xt_bucket);
} buckets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XT_LIMIT_MAX_BUCKETS);
	__type(key, __u32);
	__type(value, struct xt_limit_counters);
} limit_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XT_LS_MAX);
	__type(key, __u32);
	__type(value, __u64);
} limit_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct xt_sk_tag);
} sk_tags SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct xt_learn_key);
	__type(value, struct xt_learn_val);
} learnt SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} limit_events SEC(".maps");

/* TCP sockets queued for (and then given) pacing or a window clamp, by socket cookie: the socket
 * iterator sets them, and at exit gives them back what they had (a plain hash: nothing may be evicted
 * before it is given back). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct xt_paced);
} paced SEC(".maps");

static __always_inline void stat(int idx)
{
	xt_count(&limit_stats, idx, 1);
}

/* Sends an event built on the stack (bpf_ringbuf_output copies it: no reference to track across the
 * inlined helpers, which the 6.1 verifier lost, and 48 bytes cost nothing). Fork and exit always go,
 * over --event-limit and with --quiet: userspace follows the processes with them. */
static __always_inline void ev_send(struct xt_limit_event *e, int always)
{
	e->ts_ns = bpf_ktime_get_ns();
	if (!always && xt_limit_cfg.quiet)
		return;
	if (!always && !rate_ok(xt_limit_cfg.event_limit, e->ts_ns)) {
		stat(XT_LS_EV_SUPPRESSED);
		return;
	}
	if (bpf_ringbuf_output(&limit_events, e, sizeof(*e), 0)) {
		stat(XT_LS_EV_LOST);
		return;
	}
	stat(XT_LS_EV_SENT);
}

/* ---- attribution ---- */

/* Writes the socket's local IP:port to the learn map when it is not there for this process, and
 * the key to `out` when given; returns the port (0: none: not bound yet, or not TCP/UDP). */
static __always_inline __u16 learn_sock(struct sock *sk, __u32 tgid, __u32 bucket, struct xt_learn_key *out)
{
	struct xt_learn_key k = {};
	struct xt_learn_val v = {}, *old;
	struct xt_limit_event e = {};
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u16 proto = BPF_CORE_READ(sk, sk_protocol);

	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return 0;
	k.port = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (!k.port)
		return 0;
	k.proto = proto;
	if (family == AF_INET_)
		map_v4(k.addr, BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr));
	else if (family == AF_INET6_)
		BPF_CORE_READ_INTO(&k.addr, sk, __sk_common.skc_v6_rcv_saddr);
	else
		return 0;
	if (out)
		__builtin_memcpy(out, &k, sizeof(k));
	old = bpf_map_lookup_elem(&learnt, &k);
	if (old && old->tgid == tgid)
		return k.port;
	v.tgid = tgid;
	v.bucket = bucket;
	bpf_map_update_elem(&learnt, &k, &v, BPF_ANY);
	e.kind = XT_LEV_LEARN;
	e.tgid = tgid;
	e.bucket = bucket;
	__builtin_memcpy(e.addr, k.addr, 16);
	e.port = k.port;
	e.proto = k.proto;
	e.family = family == AF_INET_ ? 4 : 6;
	ev_send(&e, 0);
	return k.port;
}

static __always_inline void map_event(__u32 tgid, __u32 bucket, __u8 via)
{
	struct xt_limit_event e = {.kind = XT_LEV_MAP, .tgid = tgid, .bucket = bucket, .via = via};

	stat(XT_LS_TAGGED);
	ev_send(&e, 0);
}

/* fentry and tp_btf: a trusted socket pointer, so its storage can take the tag. */
static __always_inline int tag_btf(struct sock *sk, __u8 via)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 *b = bpf_map_lookup_elem(&limited, &tgid);
	struct xt_sk_tag *t;

	if (!b || !sk)
		return 0;
	t = bpf_sk_storage_get(&sk_tags, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!t)
		return 0;
	if (t->tgid == 0) {
		t->tgid = tgid;
		t->bucket = *b;
		map_event(tgid, t->bucket, via);
	}
	if ((xt_limit_cfg.need_learn || BPF_CORE_READ(sk, sk_protocol) == IPPROTO_UDP) &&
	    t->learnt.port != BPF_CORE_READ(sk, __sk_common.skc_num))
		learn_sock(sk, t->tgid, t->bucket, &t->learnt);
	return 0;
}

/* kprobe and classic tracepoint: a raw pointer: the tag goes to the learn map only. */
static __always_inline int tag_raw(struct sock *sk, __u8 via)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 *b = bpf_map_lookup_elem(&limited, &tgid);

	if (!b || !sk)
		return 0;
	learn_sock(sk, tgid, *b, 0);
	return 0;
}

/* ---- the packet and its owner ---- */

struct pkt {
	__u8 laddr[16]; /* the local side: source on egress, destination on ingress */
	__u16 lport;
	__u8 proto;
	__u8 family;
	__u8 ecn;
};

static __always_inline void local_side(struct pkt *p, const __u8 *src, const __u8 *dst, __u16 sport, __u16 dport)
{
	if (xt_limit_cfg.egress) {
		__builtin_memcpy(p->laddr, src, 16);
		p->lport = sport;
	} else {
		__builtin_memcpy(p->laddr, dst, 16);
		p->lport = dport;
	}
}

/* A packet's local side and protocol, from its IP header at `src` (an skb for cgroup_skb, kernel memory
 * for netfilter: see parse.h); 1 when it is IP. */
static __always_inline int parse_pkt(const void *src, enum xt_src kind, struct pkt *p)
{
	struct xt_ip ip = {};
	__u16 sport, dport;

	if (!xt_parse_ip(src, kind, &ip))
		return 0;
	p->family = ip.family;
	p->proto = ip.proto;
	p->ecn = ip.ecn;
	xt_parse_ports(src, kind, &ip, &sport, &dport);
	local_side(p, ip.saddr, ip.daddr, sport, dport);
	return 1;
}

/* The owner of a packet whose socket has no tag: its local IP:port (a socket bound to the
 * wildcard address: UDP, or a v6 socket taking IPv4). */
static __always_inline struct xt_learn_val *learnt_owner(struct pkt *p, struct xt_learn_key *found)
{
	struct xt_learn_key k = {};
	struct xt_learn_val *v;

	if (!p->lport)
		return 0;
	__builtin_memcpy(k.addr, p->laddr, 16);
	k.port = p->lport;
	k.proto = p->proto;
	v = bpf_map_lookup_elem(&learnt, &k);
	if (v || p->proto != IPPROTO_UDP)
		goto out;
	/* the wildcard of the family: ::ffff:0.0.0.0 or :: (no static arrays: libbpf 1.1 misplaces them) */
	__builtin_memset(k.addr, 0, 16);
	if (p->family == 4)
		k.addr[10] = k.addr[11] = 0xff;
	v = bpf_map_lookup_elem(&learnt, &k);
	if (v || p->family == 6)
		goto out;
	k.addr[10] = k.addr[11] = 0; /* a v6 socket on :: that takes IPv4 too */
	v = bpf_map_lookup_elem(&learnt, &k);
out:
	if (v && found)
		__builtin_memcpy(found, &k, sizeof(k));
	return v;
}

/* ---- the bucket ---- */

enum verdict { V_PASS = 0, V_MARK, V_OVER, V_OVER_KEPT /* over the burst, within the slack: taken */ };

/* How far past the burst the bucket is in debt, in ns (0: it is not). */
static __always_inline __u64 bucket_overdue(__u32 idx)
{
	struct xt_bucket *b = bpf_map_lookup_elem(&buckets, &idx);
	__u64 now = bpf_ktime_get_ns(), tat;

	if (!b)
		return 0;
	tat = *(volatile __u64 *)&b->tat_ns;
	return tat > now + xt_limit_cfg.burst_ns ? tat - now - xt_limit_cfg.burst_ns : 0;
}

/* `slack_ns`: how far past the burst a packet may still take the bucket into debt (ingress TCP, whose
 * sender is held back by its ACKs instead). */
static __always_inline enum verdict bucket_take(__u32 idx, __u32 len, __u64 slack_ns)
{
	struct xt_bucket *b = bpf_map_lookup_elem(&buckets, &idx);
	__u64 cost, now, tat, debt;
	enum verdict v = V_PASS;

	if (!b || !xt_limit_cfg.rate)
		return V_PASS;
	cost = (__u64)len * 1000000000ULL / xt_limit_cfg.rate;
	now = bpf_ktime_get_ns();
	bpf_spin_lock(&b->lock);
	tat = b->tat_ns;
	if (tat < now)
		tat = now; /* full: idle time refilled it (at most the burst) */
	debt = tat + cost - now;
	/* A full bucket passes even a packet bigger than it (a 64 KiB GSO packet under a small -t). */
	if (debt > xt_limit_cfg.burst_ns + slack_ns && tat > now) {
		v = V_OVER;
	} else {
		b->tat_ns = tat + cost;
		if (debt + xt_limit_cfg.mark_ns > xt_limit_cfg.burst_ns)
			v = V_MARK;
		if (debt > xt_limit_cfg.burst_ns)
			v = V_OVER_KEPT;
	}
	bpf_spin_unlock(&b->lock);
	return v;
}

static __always_inline void account(__u32 bucket, __u32 len, int passed, int cn)
{
	struct xt_limit_counters *c = bpf_map_lookup_elem(&limit_counters, &bucket);

	if (!c)
		return;
	/* Atomic even per CPU (counters.h): the egress program runs under a sending process, and the
	 * ingress program in softirq may interrupt it on the same CPU and the same bucket. */
	if (passed) {
		__sync_fetch_and_add(&c->pass_bytes, len);
		__sync_fetch_and_add(&c->pass_packets, 1);
	} else {
		__sync_fetch_and_add(&c->drop_bytes, len);
		__sync_fetch_and_add(&c->drop_packets, 1);
	}
	if (cn)
		__sync_fetch_and_add(&c->cn, 1);
}

static __always_inline void ack_held(__u32 bucket)
{
	struct xt_limit_counters *c = bpf_map_lookup_elem(&limit_counters, &bucket);

	if (c)
		__sync_fetch_and_add(&c->acks_held, 1);
}

static __always_inline void packet_event(__u32 tgid, __u32 bucket, __u32 len, int passed, int cn)
{
	struct xt_limit_event e = {.kind = passed ? XT_LEV_SEND : XT_LEV_DROP, .tgid = tgid, .bucket = bucket, .bytes = len, .via = cn};

	ev_send(&e, 0);
}

static __always_inline void parse_event(struct pkt *p, __u32 tgid, __u32 bucket)
{
	struct xt_limit_event e = {.kind = XT_LEV_PARSE, .tgid = tgid, .bucket = bucket, .port = p->lport, .proto = p->proto, .family = p->family};

	__builtin_memcpy(e.addr, p->laddr, 16);
	ev_send(&e, 0);
}

/* ---- enforcement: cgroup_skb ---- */

/* The IP protocol of the packet (IPv6: the first next header). */
static __always_inline __u8 cg_proto(struct __sk_buff *skb)
{
	__u8 vhl = 0, proto = 0;

	if (bpf_skb_load_bytes(skb, 0, &vhl, 1))
		return 0;
	bpf_skb_load_bytes(skb, (vhl >> 4) == 4 ? 9 : 6, &proto, 1);
	return proto;
}

/* A limited TCP socket's first packet queues it for the socket iterator (userspace runs it when the
 * count of queued sockets moves): egress, TCP paces it at the rate, so it sends smoothly instead of
 * bursting into the empty bucket and then waiting out its retransmission timer (200 ms at least: the
 * sender ran 200 ms on, 200 ms off, and one second in five carried a fifth less); ingress, its window
 * is clamped, so each burst the bucket drops is small (the sender retransmits what is dropped). */
static __always_inline void pace_ask(struct __sk_buff *skb, struct bpf_sock *sk, struct xt_sk_tag *t)
{
	struct xt_paced q = {};
	__u64 cookie;

	/* a listener (or a request socket) sees the handshake of a connection the process will accept:
	 * the connection's own socket is queued on its first packet instead */
	if (!sk || sk->state == BPF_TCP_LISTEN || sk->state == BPF_TCP_NEW_SYN_RECV)
		return;
	if (!t)
		t = bpf_sk_storage_get(&sk_tags, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!t || t->paced)
		return;
	t->paced = 1;
	cookie = bpf_get_socket_cookie(skb);
	if (bpf_map_update_elem(&paced, &cookie, &q, BPF_NOEXIST) == 0)
		stat(XT_LS_PACE_ASKED);
}

/* Whose packet this is: fills `o` and returns 1 for a packet of a limited process (-p) or of the cgroup
 * (--cgroup: bucket 0), else 0. A socket found through the learn map gets the tag in its storage. */
struct owner {
	struct pkt p;
	struct bpf_sock *sk; /* the full socket, when the packet has one */
	struct xt_sk_tag *t;
	__u32 tgid;
	__u32 bucket;
};

static __always_inline int owner_of(struct __sk_buff *skb, struct owner *o)
{
	struct xt_learn_val *lv;
	struct xt_learn_key key = {};
	struct bpf_sock *sk = skb->sk;

	if (sk)
		sk = bpf_sk_fullsock(sk);
	o->sk = sk;
	if (xt_limit_cfg.whole_cgroup)
		return 1;
	if (sk)
		o->t = bpf_sk_storage_get(&sk_tags, sk, 0, 0);
	if (o->t && o->t->tgid) {
		o->tgid = o->t->tgid;
		o->bucket = o->t->bucket;
		if (!o->t->parsed) {
			o->t->parsed = 1;
			if (parse_pkt(skb, XT_SRC_SKB, &o->p))
				parse_event(&o->p, o->tgid, o->bucket);
		}
		return 1;
	}
	if (!parse_pkt(skb, XT_SRC_SKB, &o->p))
		return 0;
	lv = learnt_owner(&o->p, &key);
	if (!lv)
		return 0;
	o->tgid = lv->tgid;
	o->bucket = lv->bucket;
	if (sk) { /* move the owner into the socket's storage */
		struct xt_sk_tag *t = bpf_sk_storage_get(&sk_tags, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);

		o->t = t;
		if (t && t->tgid == 0) {
			t->tgid = o->tgid;
			t->bucket = o->bucket;
			__builtin_memcpy(&t->learnt, &key, sizeof(key));
			t->parsed = 1;
			map_event(o->tgid, o->bucket, XT_VIA_LEARNT);
			parse_event(&o->p, o->tgid, o->bucket);
		}
	}
	return 1;
}

/* Ingress TCP with pacing on: data past the bucket is still taken, up to this much past the burst; the
 * sender is held back through the ACKs instead (lim_cg_ackgate), and only one that ignores them loses
 * data. */
#define XT_INGRESS_SLACK_NS 250000000ULL

static __always_inline int cg_limit(struct __sk_buff *skb)
{
	struct owner o = {};
	__u32 len = skb->len;
	enum verdict v;
	int tcp, cn = 0;

	if (!owner_of(skb, &o))
		return CG_PASS;
	tcp = (o.p.family ? o.p.proto : cg_proto(skb)) == IPPROTO_TCP;
	if (tcp && xt_limit_cfg.pace)
		pace_ask(skb, o.sk, o.t);
	v = bucket_take(o.bucket, len, !xt_limit_cfg.egress && tcp && xt_limit_cfg.pace ? XT_INGRESS_SLACK_NS : 0);
	if (xt_limit_cfg.egress) {
		int sig = xt_limit_cfg.cn && tcp;

		if (v == V_OVER) {
			account(o.bucket, len, 0, sig);
			packet_event(o.tgid, o.bucket, len, 0, sig);
			return xt_limit_cfg.cn ? CG_DROP_CN : CG_DROP; /* UDP: ENOBUFS to the sender, as a full queue */
		}
		cn = sig && (v == V_MARK || v == V_OVER_KEPT);
		account(o.bucket, len, 1, cn);
		packet_event(o.tgid, o.bucket, len, 1, cn);
		return cn ? CG_PASS_CN : CG_PASS;
	}
	if (v == V_OVER) {
		account(o.bucket, len, 0, 0);
		packet_event(o.tgid, o.bucket, len, 0, 0);
		return CG_DROP;
	}
	if ((v == V_MARK || v == V_OVER_KEPT) && xt_limit_cfg.cn && bpf_skb_ecn_set_ce(skb))
		cn = 1;
	account(o.bucket, len, 1, cn);
	packet_event(o.tgid, o.bucket, len, 1, cn);
	return CG_PASS;
}

/* A TCP segment that only acknowledges: no payload, no SYN, FIN or RST. */
static __always_inline int pure_ack(struct __sk_buff *skb)
{
	__u8 vhl = 0, th[14];
	__u16 total = 0;
	__u32 ip_len, tcp_len;

	if (bpf_skb_load_bytes(skb, 0, &vhl, 1))
		return 0;
	if ((vhl >> 4) == 4) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) || ip.protocol != IPPROTO_TCP)
			return 0;
		ip_len = (ip.ihl & 0xF) * 4;
		total = bpf_ntohs(ip.tot_len);
	} else if ((vhl >> 4) == 6) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)) || ip6.nexthdr != IPPROTO_TCP)
			return 0;
		ip_len = sizeof(ip6);
		total = bpf_ntohs(ip6.payload_len) + sizeof(ip6);
	} else {
		return 0;
	}
	if (ip_len > 60 || bpf_skb_load_bytes(skb, ip_len, th, sizeof(th)))
		return 0;
	tcp_len = (th[12] >> 4) * 4;
	/* ACK set; SYN, FIN, RST clear; nothing after the header */
	return (th[13] & 0x17) == 0x10 && total <= ip_len + tcp_len;
}

/* Ingress: a limited TCP receiver's pure ACKs wait (are dropped: the next one carries them) while the
 * bucket is past its burst. Its sender cannot send beyond the window those ACKs would open, so it
 * waits too, instead of sending what the bucket would drop and then retransmitting it: about one
 * (spurious) retransmission a retransmission timeout, where dropping the data cost 38-46%. */
SEC("cgroup_skb/egress")
int lim_cg_ackgate(struct __sk_buff *skb)
{
	struct owner o = {};

	if (!xt_limit_cfg.pace || !pure_ack(skb) || !owner_of(skb, &o))
		return CG_PASS;
	if (!bucket_overdue(o.bucket))
		return CG_PASS;
	ack_held(o.bucket);
	return CG_DROP;
}

SEC("cgroup_skb/egress")
int lim_cg_egress(struct __sk_buff *skb)
{
	return cg_limit(skb);
}

SEC("cgroup_skb/ingress")
int lim_cg_ingress(struct __sk_buff *skb)
{
	return cg_limit(skb);
}

/* ---- enforcement: netfilter (LOCAL_OUT, LOCAL_IN): the learn map attributes ---- */

static __always_inline int nf_limit(struct sk_buff *skb)
{
	struct pkt p = {};
	struct xt_learn_val *lv;
	unsigned char *nh = BPF_CORE_READ(skb, head) + BPF_CORE_READ(skb, network_header);
	__u32 len = BPF_CORE_READ(skb, len);
	__u32 tgid = 0, bucket = 0;

	if (!parse_pkt(nh, XT_SRC_KERNEL, &p))
		return NF_ACCEPT_;
	if (!xt_limit_cfg.whole_cgroup) {
		lv = learnt_owner(&p, 0);
		if (!lv)
			return NF_ACCEPT_;
		tgid = lv->tgid;
		bucket = lv->bucket;
	}
	if (bucket_take(bucket, len, 0) == V_OVER) {
		account(bucket, len, 0, 0);
		packet_event(tgid, bucket, len, 0, 0);
		return NF_DROP_;
	}
	account(bucket, len, 1, 0);
	packet_event(tgid, bucket, len, 1, 0);
	return NF_ACCEPT_;
}

SEC("netfilter")
int lim_nf_out(struct xt_nf_ctx *ctx)
{
	return nf_limit(ctx->skb);
}

SEC("netfilter")
int lim_nf_in(struct xt_nf_ctx *ctx)
{
	return nf_limit(ctx->skb);
}

/* ---- tagging at creation and release (cgroup sock hooks on the cgroup v2 root) ---- */

SEC("cgroup/sock_create")
int lim_sock_create(struct bpf_sock *sk)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 *b = bpf_map_lookup_elem(&limited, &tgid);
	struct xt_sk_tag *t;

	if (!b)
		return 1;
	t = bpf_sk_storage_get(&sk_tags, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (t && t->tgid == 0) {
		t->tgid = tgid;
		t->bucket = *b;
		map_event(tgid, t->bucket, XT_VIA_SOCK_CREATE);
	}
	return 1;
}

/* A tagged socket that wrote the learn map takes its entry with it (the release hook cannot read
 * the socket's addresses: the tag keeps the key). */
SEC("cgroup/sock_release")
int lim_sock_release(struct bpf_sock *sk)
{
	struct xt_sk_tag *t = bpf_sk_storage_get(&sk_tags, sk, 0, 0);
	struct xt_learn_val *v;

	if (!t || !t->learnt.port)
		return 1;
	v = bpf_map_lookup_elem(&learnt, &t->learnt);
	if (v && v->tgid == t->tgid)
		bpf_map_delete_elem(&learnt, &t->learnt);
	return 1;
}

/* ---- tagging sockets that existed before start: first send, first receive ---- */

SEC("fentry/tcp_sendmsg")
int BPF_PROG(tag_tcp_send_fentry, struct sock *sk)
{
	return tag_btf(sk, XT_VIA_SEND);
}

SEC("fentry/udp_sendmsg")
int BPF_PROG(tag_udp_send_fentry, struct sock *sk)
{
	return tag_btf(sk, XT_VIA_SEND);
}

SEC("fentry/udpv6_sendmsg")
int BPF_PROG(tag_udp6_send_fentry, struct sock *sk)
{
	return tag_btf(sk, XT_VIA_SEND);
}

SEC("fentry/tcp_recvmsg")
int BPF_PROG(tag_tcp_recv_fentry, struct sock *sk)
{
	return tag_btf(sk, XT_VIA_RECV);
}

SEC("fentry/udp_recvmsg")
int BPF_PROG(tag_udp_recv_fentry, struct sock *sk)
{
	return tag_btf(sk, XT_VIA_RECV);
}

SEC("fentry/udpv6_recvmsg")
int BPF_PROG(tag_udp6_recv_fentry, struct sock *sk)
{
	return tag_btf(sk, XT_VIA_RECV);
}

SEC("kprobe/tcp_sendmsg")
int BPF_KPROBE(tag_tcp_send_kprobe, struct sock *sk)
{
	return tag_raw(sk, XT_VIA_SEND);
}

SEC("kprobe/udp_sendmsg")
int BPF_KPROBE(tag_udp_send_kprobe, struct sock *sk)
{
	return tag_raw(sk, XT_VIA_SEND);
}

SEC("kprobe/udpv6_sendmsg")
int BPF_KPROBE(tag_udp6_send_kprobe, struct sock *sk)
{
	return tag_raw(sk, XT_VIA_SEND);
}

SEC("kprobe/tcp_recvmsg")
int BPF_KPROBE(tag_tcp_recv_kprobe, struct sock *sk)
{
	return tag_raw(sk, XT_VIA_RECV);
}

SEC("kprobe/udp_recvmsg")
int BPF_KPROBE(tag_udp_recv_kprobe, struct sock *sk)
{
	return tag_raw(sk, XT_VIA_RECV);
}

SEC("kprobe/udpv6_recvmsg")
int BPF_KPROBE(tag_udp6_recv_kprobe, struct sock *sk)
{
	return tag_raw(sk, XT_VIA_RECV);
}

/* sock:sock_send_length / sock:sock_recv_length (6.3+): after the call, in its process. */
SEC("tp_btf/sock_send_length")
int BPF_PROG(tag_send_tp_btf, struct sock *sk, int ret, int flags)
{
	return tag_btf(sk, XT_VIA_SEND);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(tag_recv_tp_btf, struct sock *sk, int ret, int flags)
{
	return tag_btf(sk, XT_VIA_RECV);
}

struct tp_sock_length {
	__u64 common;
	void *sk;
};

SEC("tracepoint/sock/sock_send_length")
int tag_send_tp(struct tp_sock_length *ctx)
{
	return tag_raw(ctx->sk, XT_VIA_SEND);
}

SEC("tracepoint/sock/sock_recv_length")
int tag_recv_tp(struct tp_sock_length *ctx)
{
	return tag_raw(ctx->sk, XT_VIA_RECV);
}

/* ---- processes: --children follows forks; exits leave the map ---- */

static __always_inline int on_fork(__u32 ptgid, __u32 child)
{
	__u32 *b = bpf_map_lookup_elem(&limited, &ptgid);
	struct xt_limit_event e = {.kind = XT_LEV_FORK, .tgid = ptgid, .child = child};

	if (!b)
		return 0;
	e.bucket = *b;
	if (bpf_map_update_elem(&limited, &child, b, BPF_NOEXIST))
		return 0;
	ev_send(&e, 1);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(fork_tp_btf, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);

	if (ctgid == ptgid) /* a thread */
		return 0;
	return on_fork(ptgid, ctgid);
}

struct tp_fork {
	__u64 common;
	char parent_comm[16];
	int parent_pid;
	char child_comm[16];
	int child_pid;
};

/* The classic tracepoint cannot tell a thread from a process: userspace checks the child's Tgid. */
SEC("tracepoint/sched/sched_process_fork")
int fork_tp(struct tp_fork *ctx)
{
	return on_fork(bpf_get_current_pid_tgid() >> 32, ctx->child_pid);
}

static __always_inline int on_exit(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	__u32 *b;
	struct xt_limit_event e = {.kind = XT_LEV_EXIT, .tgid = tgid};

	if ((__u32)id != tgid) /* a thread, not the process */
		return 0;
	b = bpf_map_lookup_elem(&limited, &tgid);
	if (!b)
		return 0;
	e.bucket = *b;
	bpf_map_delete_elem(&limited, &tgid);
	ev_send(&e, 1);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(exit_tp_btf)
{
	return on_exit();
}

SEC("tracepoint/sched/sched_process_exit")
int exit_tp(void *ctx)
{
	return on_exit();
}

/* ---- the socket iterator: pacing and window clamps, set and given back ---- */

/* Egress: TCP's pacing at the rate, in the bytes it counts (a segment without its IP header, which the
 * bucket counts: one header a segment at most). With BBR, whose gain cycle paces under the cap an eighth
 * of the time, the rate achieved is then about 0.97 of the limit. Ingress: a window of 100 ms of the rate (at least four segments, never
 * above what the socket had): what the sender may send past the ACKs held back. */
static __always_inline __u32 pace_value(struct tcp_sock *tp)
{
	__u64 mss = tp->mss_cache ? tp->mss_cache : 1448;
	__u64 v;

	if (xt_limit_cfg.egress) {
		__u64 ip = ((struct sock_common___family *)tp)->skc_family == AF_INET6_ ? 40 : 20;

		v = xt_limit_cfg.rate * mss / (mss + ip);
		return v > 0xFFFFFFFEULL ? 0xFFFFFFFE : v;
	}
	v = xt_limit_cfg.rate / 10; /* 100 ms of the rate: the bucket is back within its burst before the
				      * sender's retransmission timer (200 ms) fires */
	if (v < 4 * mss)
		v = 4 * mss;
	if (tp->window_clamp && v > tp->window_clamp)
		v = tp->window_clamp;
	return v;
}

/* The TCP socket the iterator is at, when its cookie is queued in `paced` in state `state`. */
static __always_inline struct tcp_sock *queued_socket(struct bpf_iter__tcp *ctx, __u8 state, struct xt_paced **q)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcp_sock *tp;
	__u64 cookie;

	if (!skc || skc->skc_state == BPF_TCP_LISTEN)
		return NULL;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return NULL;
	cookie = bpf_get_socket_cookie(tp);
	*q = bpf_map_lookup_elem(&paced, &cookie);
	return *q && (*q)->state == state ? tp : NULL;
}

SEC("iter/tcp")
int lim_pace(struct bpf_iter__tcp *ctx)
{
	struct xt_paced *q = NULL;
	struct tcp_sock *tp = queued_socket(ctx, 0, &q);
	int val;

	if (!tp || !q)
		return 0;
	val = pace_value(tp);
	if (xt_limit_cfg.egress) {
		q->old_max_pacing_rate = ((struct sock___pacing *)tp)->sk_max_pacing_rate;
		if (bpf_setsockopt(tp, SOL_SOCKET_, SO_MAX_PACING_RATE_, &val, sizeof(val)))
			return 0;
	} else {
		q->old_window_clamp = tp->window_clamp;
		if (bpf_setsockopt(tp, SOL_TCP_, TCP_WINDOW_CLAMP_, &val, sizeof(val)))
			return 0;
	}
	q->state = 1;
	stat(XT_LS_PACED);
	return 0;
}

SEC("iter/tcp")
int lim_unpace(struct bpf_iter__tcp *ctx)
{
	struct xt_paced *q = NULL;
	struct tcp_sock *tp = queued_socket(ctx, 1, &q);
	int val;

	if (!tp || !q)
		return 0;
	if (xt_limit_cfg.egress) {
		val = q->old_max_pacing_rate >= 0xFFFFFFFFULL ? -1 : (int)q->old_max_pacing_rate; /* ~0: unlimited */
		bpf_setsockopt(tp, SOL_SOCKET_, SO_MAX_PACING_RATE_, &val, sizeof(val));
	} else {
		val = q->old_window_clamp;
		bpf_setsockopt(tp, SOL_TCP_, TCP_WINDOW_CLAMP_, &val, sizeof(val));
	}
	q->state = 2;
	stat(XT_LS_RESTORED);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
