/* SPDX-License-Identifier: MIT */
/* XEN_ELFNOTE_PHYS32_ENTRY: the PVH entry point (32-bit, paging off). */
	.section .note.Xen, "a", @note
	.balign 4
	.long 4				/* name size */
	.long 4				/* descriptor size */
	.long 18			/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long kit_pvh_entry
	.balign 4
