/* The tests' non-root cell (Emulator.Tests/Hypervisor/CellFileBuilder.cs Guest()), written as a C configuration. */
#include "layout.h"

struct {
	struct cell_desc cell;
	uint64_t cpus[1];
	struct region mem_regions[7];
	struct irqchip irqchips[1];
	struct pci_device pci_devices[1];
} PACKED config = {
	.cell = {
		.signature = { 'J', 'H', 'C', 'L', 'L' },
		.architecture = ARCH_ARM64,
		.revision = REVISION,
		.name = "guest",
		.cpu_set_size = sizeof(config.cpus),
		.num_memory_regions = 7,
		.num_irqchips = 1,
		.num_pci_devices = 1,
	},
	.cpus = { 0xc },
	.mem_regions = {
		/* state table */ { 0x7faf0000, 0x7faf0000, 0x1000, MEM_READ | MEM_ROOTSHARED },
		/* no read/write section */ { 0 },
		/* output of peer 0 */ { 0x7faf1000, 0x7faf1000, 0x7f000, MEM_READ | MEM_ROOTSHARED },
		/* output of peer 1 (this cell) */ { 0x7fb70000, 0x7fb70000, 0x7f000, MEM_READ | MEM_WRITE | MEM_ROOTSHARED },
		/* sub-page UART */ { 0x09040000, 0x09040000, 0x100, MEM_READ | MEM_WRITE | MEM_IO | MEM_IO_32 },
		/* code */ { 0x70000000, 0x0, 0x10000, MEM_READ | MEM_WRITE | MEM_EXECUTE | MEM_LOADABLE },
		/* communication region */ { 0, 0x80000000, 0x1000, MEM_READ | MEM_WRITE | MEM_COMM_REGION },
	},
	.irqchips = { { .address = 0x08000000, .pin_base = 32 } },
	.pci_devices = { { .type = PCI_IVSHMEM, .shmem_regions_start = 0, .shmem_dev_id = 1, .shmem_peers = 2, .shmem_protocol = 1 } },
};
