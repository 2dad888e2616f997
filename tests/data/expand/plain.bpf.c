// SPDX-License-Identifier: GPL-2.0
/* No vmlinux.h: UAPI headers only.  SEC and map macros in an XDP program,
 * indented with four spaces. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 1);
} counters SEC(".maps");

SEC("xdp")
int count_packets(struct xdp_md *ctx)
{
    __u32 key = 0;
    __u64 *value = bpf_map_lookup_elem(&counters, &key);

    if (value) {
        *value += 1;
        if (*value % 1000 == 0)
            bpf_printk("%llu packets, last from ifindex %u", *value, ctx->ingress_ifindex);
    }
    return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
