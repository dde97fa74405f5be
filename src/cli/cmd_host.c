// SPDX-License-Identifier: MIT
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <kite/cli.h>
#include <kite/kvm.h>
#include <kite/log.h>

struct host_info {
	char vendor[16];
	bool vmx, svm, under_hypervisor;
	bool kvm_intel, kvm_amd, kvm_pvm;
	bool ept, npt;
	const char *kind;   /* hardware | emulated | none */
	const char *detail;
};

static bool host_module(const char *name)
{
	char path[64];

	snprintf(path, sizeof(path), "/sys/module/%s", name);
	return access(path, F_OK) == 0;
}

static bool host_param_on(const char *path)
{
	char buf[8] = "";
	FILE *f = fopen(path, "r");

	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	return buf[0] == 'Y' || buf[0] == 'y' || buf[0] == '1';
}

static void host_cpuinfo(struct host_info *h)
{
	char line[4096];
	FILE *f = fopen("/proc/cpuinfo", "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "vendor_id", 9) && !h->vendor[0])
			sscanf(line, "vendor_id : %15s", h->vendor);
		if (!strncmp(line, "flags", 5)) {
			h->vmx = strstr(line, " vmx") != NULL;
			h->svm = strstr(line, " svm") != NULL;
			h->under_hypervisor = strstr(line, " hypervisor") != NULL;
			break;
		}
	}
	fclose(f);
}

static void host_probe(struct host_info *h)
{
	memset(h, 0, sizeof(*h));
	host_cpuinfo(h);
	h->kvm_intel = host_module("kvm_intel");
	h->kvm_amd = host_module("kvm_amd");
	h->kvm_pvm = host_module("kvm_pvm");
	h->ept = host_param_on("/sys/module/kvm_intel/parameters/ept");
	h->npt = host_param_on("/sys/module/kvm_amd/parameters/npt");
	if (h->kvm_pvm) {
		h->kind = "emulated";
		h->detail = "kvm_pvm: page-table-based KVM without VT-x/AMD-V for the guest; guest ring 0 is "
			    "emulated until the guest first enters ring 3";
	} else if (h->kvm_intel && h->ept) {
		h->kind = "hardware";
		h->detail = h->under_hypervisor ? "VT-x with EPT (nested)" : "VT-x with EPT";
	} else if (h->kvm_amd && h->npt) {
		h->kind = "hardware";
		h->detail = h->under_hypervisor ? "AMD-V with NPT (nested)" : "AMD-V with NPT";
	} else if (h->kvm_intel || h->kvm_amd) {
		h->kind = "hardware";
		h->detail = "VT-x/AMD-V without EPT/NPT (shadow paging)";
	} else {
		h->kind = "none";
		h->detail = "no KVM module loaded";
	}
}

static void host_print_text(const struct host_info *h, struct kvm *k, bool have_kvm)
{
	printf("virtualization: %s (%s)\n", h->kind, h->detail);
	printf("ring0: %s\n", !strcmp(h->kind, "hardware") ? "native" : !strcmp(h->kind, "emulated") ? "emulated" : "n/a");
	printf("cpu: %s, vmx %s, svm %s, under a hypervisor: %s\n", h->vendor[0] ? h->vendor : "unknown",
	       h->vmx ? "yes" : "no", h->svm ? "yes" : "no", h->under_hypervisor ? "yes" : "no");
	if (!have_kvm) {
		printf("kvm: /dev/kvm not usable\n");
		return;
	}
	printf("kvm: API %d, up to %d vCPUs, %u CPUID entries, %u MSRs\n", k->api_version, k->max_vcpus,
	       k->supported_cpuid->nent, k->msr_list->nmsrs);
	printf("capabilities:\n");
	for (unsigned i = 0; i < kvm_ncaps; i++)
		printf("  %-26s %-3s %s %s\n", kvm_caps[i].name, kvm_check_cap(k->fd, kvm_caps[i].cap) ? "yes" : "no",
		       kvm_caps[i].required ? "required:" : "optional:", kvm_caps[i].why);
}

static void host_print_json(const struct host_info *h, struct kvm *k, bool have_kvm)
{
	printf("{\"virtualization\": \"%s\", \"detail\": \"%s\", \"vendor\": \"%s\", \"vmx\": %s, \"svm\": %s, "
	       "\"under_hypervisor\": %s, \"kvm\": %s",
	       h->kind, h->detail, h->vendor, h->vmx ? "true" : "false", h->svm ? "true" : "false",
	       h->under_hypervisor ? "true" : "false", have_kvm ? "true" : "false");
	if (have_kvm) {
		printf(", \"api_version\": %d, \"max_vcpus\": %d, \"capabilities\": {", k->api_version, k->max_vcpus);
		for (unsigned i = 0; i < kvm_ncaps; i++)
			printf("%s\"%s\": %s", i ? ", " : "", kvm_caps[i].name,
			       kvm_check_cap(k->fd, kvm_caps[i].cap) ? "true" : "false");
		printf("}");
	}
	printf("}\n");
}

int cmd_host(int argc, char **argv)
{
	struct host_info h;
	struct kvm k;
	bool json = false, have_kvm;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else
			return cli_usage_error("host", "unknown argument '%s'", argv[i]);
	}
	host_probe(&h);
	have_kvm = kvm_open(&k, NULL) == 0;
	if (json)
		host_print_json(&h, &k, have_kvm);
	else
		host_print_text(&h, &k, have_kvm);
	if (have_kvm)
		kvm_close(&k);
	return have_kvm ? EXIT_OK : EXIT_FAILURE_VM;
}
