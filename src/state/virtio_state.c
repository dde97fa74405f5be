// SPDX-License-Identifier: MIT
/* Sections of the PCI functions and virtio devices. */
#include <errno.h>

#include <kite/log.h>
#include <kite/state.h>
#include <kite/vm.h>

int state_virtio_register(struct vm *vm, struct state_registry *reg, const struct vm_device_refs *d)
{
	bool any = d->vcon || d->rng;

	for (unsigned i = 0; i < KITE_MAX_DISKS; i++)
		any |= d->blk[i] != NULL;
	if (any) {
		pr_err("snapshots of VMs with virtio devices are not supported yet");
		return -ENOTSUP;
	}
	return 0;
}
