/* SPDX-License-Identifier: MIT */
/* Multiboot v1 header: page-aligned modules, memory info; ELF entry point. */
#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0x00000003
	.section .multiboot, "a"
	.balign 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)
