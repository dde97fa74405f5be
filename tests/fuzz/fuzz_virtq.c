// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the fuzzer's bytes are guest memory holding a split
 * virtqueue (descriptor table, avail ring, indirect tables, buffers); the
 * first bytes choose the queue size, features and starting index.  Every
 * popped buffer is read and written in full so ASan checks that the host
 * pointers the queue code hands out really are inside guest RAM.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <kite/gmem.h>
#include <kite/log.h>
#include <kite/util.h>
#include <kite/virtq.h>

#define FUZZ_MEM (256 * KiB)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct gmem *fuzz_mem(void)
{
	static struct gmem mem;
	static bool ready;

	if (!ready) {
		log_set_level(LOG_ERR);
		if (gmem_map(&mem, FUZZ_MEM, false) || gmem_add_region(&mem, 0, FUZZ_MEM))
			__builtin_trap();
		ready = true;
	}
	return &mem;
}

static void touch(struct virtq_elem *e)
{
	volatile uint8_t sink = 0;

	for (unsigned i = 0; i < e->nout + e->nin; i++) {
		uint8_t *p = e->iov[i].iov_base;

		sink ^= p[0] ^ p[e->iov[i].iov_len - 1];
		if (i >= e->nout)
			p[e->iov[i].iov_len - 1] = 0xa5;
	}
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gmem *mem = fuzz_mem();
	struct ratelimit rl = { 0 };
	struct iovec iov[64], slice[8];
	struct virtq_elem e = { .iov = iov, .cap = ARRAY_SIZE(iov) };
	struct virtq q = { .name = "fuzz", .rl = &rl };
	uint8_t hdr[16];

	if (size < 8)
		return 0;
	memset(mem->base, 0, FUZZ_MEM);
	memcpy(mem->base, data + 8, MIN(size - 8, (size_t)FUZZ_MEM));
	q.size = (uint16_t)(1u << (data[0] % 10));
	if (data[1] & 0x80)
		q.size = (uint16_t)(data[1] | data[2] << 8); /* also sizes that are not powers of two */
	q.event_idx = data[3] & 1;
	q.indirect = data[3] & 2;
	q.desc_gpa = (uint64_t)data[4] << 8;
	q.avail_gpa = q.desc_gpa + 16ull * q.size + ((uint64_t)data[5] << 4);
	q.used_gpa = ALIGN_UP(q.avail_gpa + 6 + 2ull * q.size, 4) + ((uint64_t)data[6] << 8);
	q.last_avail = q.used_idx = (uint16_t)(data[7] * 257);
	if (virtq_enable(&q, mem))
		return 0;
	for (int n = 0; n < 512; n++) {
		int r = virtq_pop(&q, &e);

		if (r <= 0)
			break;
		touch(&e);
		iov_to_buf(e.iov, e.nout, 0, hdr, sizeof(hdr));
		if (e.nin)
			iov_from_buf(e.iov + e.nout, e.nin, e.in_len - 1, hdr, 1);
		iov_slice(e.iov, e.nout + e.nin, e.out_len / 3, e.in_len / 2, slice, ARRAY_SIZE(slice));
		virtq_push(&q, e.head, (uint32_t)e.in_len);
		virtq_should_notify(&q);
		if (n % 7 == 0 && virtq_notify_on(&q))
			virtq_notify_off(&q);
	}
	return 0;
}
