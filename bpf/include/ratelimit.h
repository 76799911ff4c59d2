/* The in-kernel event rate limit shared by the kernel programs: one token bucket for all CPUs,
 * tokens kept in nano-events so that refill needs no division. Include once per object.
 *
 * Two forms of the same bucket. The default takes a bpf_spin_lock. Kprobe and classic tracepoint
 * programs may not use a map that holds one ("tracing progs cannot use bpf_spin_lock yet"), so an
 * object with such programs defines XT_RL_LOCKFREE before including this and gets the lock-free form:
 * the refill of [last, now) belongs to the CPU whose compare-and-swap moves last_ns, tokens are taken
 * with an atomic add and given back when there were none (needs -mcpu=v3 and a 5.12+ kernel). */
#ifndef XTRACE_RATELIMIT_H
#define XTRACE_RATELIMIT_H

#define XT_RL_ONE 1000000000LL /* one event, in nano-events */

#ifdef XT_RL_LOCKFREE
struct rl_state {
	__u64 last_ns;
	__s64 nanotokens;
};
#else
struct rl_state {
	struct bpf_spin_lock lock;
	__u32 pad;
	__u64 nanotokens;
	__u64 last_ns;
};
#endif

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rl_state);
} ratelimit SEC(".maps");

#ifdef XT_RL_LOCKFREE
static __always_inline int rate_ok(__u32 rate, __u64 now)
{
	__u32 zero = 0;
	struct rl_state *rl;
	__s64 cap, add, t;
	__u64 last, elapsed;

	if (!rate)
		return 1;
	rl = bpf_map_lookup_elem(&ratelimit, &zero);
	if (!rl)
		return 0;
	cap = (__s64)rate * XT_RL_ONE;
	last = *(volatile __u64 *)&rl->last_ns;
	if (last == 0) {
		if (__sync_val_compare_and_swap(&rl->last_ns, 0, now) == 0)
			__sync_fetch_and_add(&rl->nanotokens, cap);
	} else if (now > last && __sync_val_compare_and_swap(&rl->last_ns, last, now) == last) {
		elapsed = now - last;
		if (elapsed > XT_RL_ONE)
			elapsed = XT_RL_ONE;
		add = (__s64)elapsed * rate;
		t = __sync_fetch_and_add(&rl->nanotokens, add) + add;
		if (t > cap) /* best effort: a concurrent take only lowers it */
			__sync_val_compare_and_swap(&rl->nanotokens, t, cap);
	}
	if (__sync_fetch_and_add(&rl->nanotokens, -XT_RL_ONE) >= XT_RL_ONE)
		return 1;
	__sync_fetch_and_add(&rl->nanotokens, XT_RL_ONE);
	return 0;
}
#else
/* 1 when an event may go out at `now` under `rate` events/s (0 = unlimited); burst: one second. */
static __always_inline int rate_ok(__u32 rate, __u64 now)
{
	__u32 zero = 0;
	struct rl_state *rl;
	__u64 cap, elapsed;
	int ok = 0;

	if (!rate)
		return 1;
	rl = bpf_map_lookup_elem(&ratelimit, &zero);
	if (!rl)
		return 0;
	cap = (__u64)rate * 1000000000ULL;
	bpf_spin_lock(&rl->lock);
	if (rl->last_ns == 0) {
		rl->nanotokens = cap;
		rl->last_ns = now;
	} else if (now > rl->last_ns) {
		/* Refill only forwards: `now` was read before the lock, so another CPU may have
		 * moved last_ns past it; an earlier timestamp must neither underflow nor rewind. */
		elapsed = now - rl->last_ns;
		if (elapsed > 1000000000ULL)
			elapsed = 1000000000ULL;
		rl->nanotokens += elapsed * rate;
		if (rl->nanotokens > cap)
			rl->nanotokens = cap;
		rl->last_ns = now;
	}
	if (rl->nanotokens >= 1000000000ULL) {
		rl->nanotokens -= 1000000000ULL;
		ok = 1;
	}
	bpf_spin_unlock(&rl->lock);
	return ok;
}
#endif

#endif
