/* Structures that cross the kernel/user boundary for bpf/limit.bpf.c (the limit mode).
 * src/modes/limit/layout.ts mirrors them; test/unit/layout.test.ts checks the mirror against the
 * BTF of build/bpf/limit.bpf.o. */
#ifndef XTRACE_LIMIT_H
#define XTRACE_LIMIT_H

enum xt_limit_const {
	XT_LIMIT_MAX_BUCKETS = 64, /* -p processes, or the one --cgroup */
};

/* What an event says, in the earlier tool's vocabulary. */
enum xt_limit_ev {
	XT_LEV_MAP = 0, /* a socket was tagged with its process (PROCESS_MAP) */
	XT_LEV_PARSE,   /* the first packet of a tagged socket at the enforcement hook (PACKET_PARSE) */
	XT_LEV_SEND,    /* a packet passed the bucket */
	XT_LEV_DROP,    /* a packet was over the bucket and dropped (SEND_DROP) */
	XT_LEV_LEARN,   /* a local IP:port learnt for attribution without the socket (IP_AND_PORT) */
	XT_LEV_FORK,    /* --children: a limited process forked; the child joined its bucket */
	XT_LEV_EXIT,    /* a limited process exited */
};

/* How a socket got its tag (XT_LEV_MAP's `how`). */
enum xt_limit_via {
	XT_VIA_SOCK_CREATE = 0, /* cgroup sock_create hook: created while limited */
	XT_VIA_SEND,            /* its first send after start */
	XT_VIA_RECV,            /* its first receive after start */
	XT_VIA_LEARNT,          /* its local IP:port was learnt (the enforcement hook found it there) */
};

/* Per-CPU counters, one array slot each. */
enum xt_limit_stat {
	XT_LS_EV_SENT = 0,
	XT_LS_EV_SUPPRESSED, /* over --event-limit */
	XT_LS_EV_LOST,       /* ring buffer full */
	XT_LS_TAGGED,        /* sockets tagged */
	XT_LS_PACE_ASKED,    /* TCP sockets queued for pacing (egress) or a window clamp (ingress) */
	XT_LS_PACED,         /* of those, set by the socket iterator */
	XT_LS_RESTORED,      /* paced sockets given back their own settings (at exit) */
	XT_LS_MAX = 8,
};

/* One bucket's counters (per CPU). */
struct xt_limit_counters {
	__u64 pass_bytes;
	__u64 pass_packets;
	__u64 drop_bytes;
	__u64 drop_packets;
	__u64 cn;         /* congestion signals: egress NET_XMIT_CN to TCP, ingress ECN CE marks */
	__u64 acks_held;  /* ingress, TCP: the receiver's pure ACKs held back while the bucket was empty */
};

/* Addresses are 16 bytes: IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d). Process names come from /proc. */
struct xt_limit_event {
	__u64 ts_ns;
	__u8 addr[16];   /* the local address (parse, learn) */
	__u32 tgid;
	__u32 bucket;
	__u32 bytes;     /* send, drop: the packet's IP length */
	__u32 child;     /* fork: the child's pid */
	__u16 port;      /* the local port, host order */
	__u8 kind;       /* enum xt_limit_ev */
	__u8 proto;      /* IPPROTO_TCP, IPPROTO_UDP, ... */
	__u8 family;     /* 4 or 6 */
	__u8 via;        /* map: enum xt_limit_via; send/drop: 1 when a congestion signal went with it */
	__u8 pad[2];
};

/* Local IP:port (and protocol) -> owner, for packets whose socket carries no tag. */
struct xt_learn_key {
	__u8 addr[16];
	__u16 port;
	__u8 proto;
	__u8 pad;
};

struct xt_learn_val {
	__u32 tgid;
	__u32 bucket;
};

/* A socket's tag, in socket-local storage: dies with the socket. */
struct xt_sk_tag {
	__u32 tgid;
	__u32 bucket;
	struct xt_learn_key learnt; /* what it wrote to the learn map (port 0: nothing); removed at release */
	__u8 parsed;                /* the parse event was sent */
	__u8 paced;                 /* queued for the socket iterator's pacing or window clamp */
	__u8 pad[2];
};

/* A TCP socket the socket iterator set (by cookie): what it had before, given back at exit. */
struct xt_paced {
	__u64 old_max_pacing_rate; /* SO_MAX_PACING_RATE before (egress) */
	__u32 old_window_clamp;    /* TCP_WINDOW_CLAMP before (ingress) */
	__u8 state;                /* 0: queued, 1: set, 2: given back */
	__u8 pad[3];
};

/* GCRA: the bucket is empty at `tat_ns`; full when tat_ns <= now. */
struct xt_bucket {
	struct bpf_spin_lock lock;
	__u32 pad;
	__u64 tat_ns;
};

struct xt_limit_config {
	__u64 rate;        /* bytes per second (IP bytes: headers included) */
	__u64 burst_ns;    /* -t: the bucket holds rate x burst_ns of bytes */
	__u64 mark_ns;     /* congestion signal once the bucket holds less than this much time of bytes */
	__u32 event_limit; /* events per second, 0 = unlimited */
	__u8 egress;       /* 1: limit sending, 0: receiving */
	__u8 cn;           /* signal congestion (egress: NET_XMIT_CN to TCP; ingress: ECN CE) */
	__u8 whole_cgroup; /* --cgroup: every packet is bucket 0's */
	__u8 need_learn;   /* tagged sockets also write the learn map (netfilter hook, UDP) */
	__u8 quiet;        /* --quiet: only fork and exit events (userspace follows the processes) */
	__u8 pace;         /* TCP: pace limited sockets at the rate (egress); clamp their window and hold their ACKs (ingress) */
	__u8 pad[6];
};

#endif
