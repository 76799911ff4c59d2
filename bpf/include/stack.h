/* Structures that cross the kernel/user boundary for bpf/stack.bpf.c (the stack mode).
 * src/modes/stack/layout.ts mirrors them; test/unit/layout.test.ts checks the mirror against the
 * BTF of build/bpf/stack.bpf.o. */
#ifndef XTRACE_STACK_H
#define XTRACE_STACK_H

/* The receive-path stages, in the order a packet passes them, then the drop stage. */
enum xt_stage {
	XT_STAGE_NETIF_RECEIVE = 0, /* netif_receive_skb */
	XT_STAGE_IP_RCV_FINISH,     /* ip_rcv_finish / ip6_rcv_finish */
	XT_STAGE_LOCAL_DELIVER,     /* ip_local_deliver / ip6_input */
	XT_STAGE_TCP_DO_RCV,        /* tcp_v4_do_rcv / tcp_v6_do_rcv */
	XT_STAGE_TCP_QUEUE_RCV,     /* tcp_queue_rcv */
	XT_STAGE_SOCK_READABLE,     /* sock_def_readable */
	XT_STAGE_APP_READ,          /* read by the application */
	XT_STAGE_DROP,              /* kfree_skb, with its reason */
	XT_STAGE_COUNT,
};

enum xt_stack_const {
	XT_LAT_BUCKETS = 40, /* log2 of nanoseconds: bucket b holds [2^(b-1), 2^b) ns, 0 holds 0 */
};

/* Per-CPU counters, one array slot each. */
enum xt_stack_stat {
	XT_SS_EV_SENT = 0,
	XT_SS_EV_SUPPRESSED, /* over --rate-limit */
	XT_SS_EV_LOST,       /* ring buffer full */
	XT_SS_MAX = 8,
};

/* One stage's counters: packets seen, and the latency histogram from the first stage that saw the skb. */
struct xt_stage_val {
	__u64 packets;
	__u64 lat_count; /* packets with a known latency (the skb was seen at an earlier stage) */
	__u64 lat_sum_ns;
	__u64 lat[XT_LAT_BUCKETS];
};

/* Addresses are 16 bytes: IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d). */
struct xt_stack_event {
	__u64 ts_ns;      /* bpf_ktime_get_ns() */
	__u64 skb;        /* the skb's kernel address: follows one packet across stages */
	__u64 latency_ns; /* since the first stage that saw this skb; 0 when unknown */
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 seq;
	__u32 ack;
	__u32 len;        /* TCP payload bytes; at the read stage, bytes copied to the application */
	__u32 pid;        /* the reading process (read stage), else 0 */
	__u32 cpu;
	__u32 drop_reason; /* enum skb_drop_reason (drop stage) */
	__u32 ifindex;    /* the skb's device, 0 when unknown */
	__u16 sport;      /* host byte order */
	__u16 dport;
	__u8 stage;       /* enum xt_stage */
	__u8 family;      /* 4 or 6 */
	__u8 tcp_flags;
	__u8 pad;
	char comm[16];
	__u32 pad2;
};

struct xt_stack_config {
	__u32 rate_limit; /* events per second, 0 = unlimited */
	__u8 emit;        /* 0 with --stats: count, send no events */
	__u8 net_filter;  /* 1 when net/mask apply (source or destination) */
	__u16 port;       /* 0 = any; else source or destination port */
	__u8 net[16];
	__u8 mask[16];
	__u32 netns_ino;  /* 0 = every network namespace; else only packets and sockets of this one (--netns) */
};

#endif
