/* The tests' board (Emulator.Tests/Hypervisor/CellFileBuilder.cs Board()), written as a C configuration. */
#include "layout.h"

struct {
	struct system header;
	uint64_t cpus[1];
	struct region mem_regions[7];
	struct irqchip irqchips[1];
	struct pci_device pci_devices[1];
} PACKED config = {
	.header = {
		.signature = { 'J', 'H', 'S', 'Y', 'S' },
		.architecture = ARCH_ARM64,
		.revision = REVISION,
		.hypervisor_memory = { .phys_start = 0x7fc00000, .size = 0x400000 },
		.debug_console = { .address = 0x09000000, .size = 0x1000, .type = CONSOLE_PL011, .flags = CONSOLE_MMIO },
		.pci_mmconfig_base = 0x08e00000,
		.pci_is_virtual = 1,
		.maintenance_irq = 25,
		.gic_version = 3,
		.gicd_base = 0x08000000,
		.gicr_base = 0x080a0000,
		.root_cell = {
			.name = "board",
			.cpu_set_size = sizeof(config.cpus),
			.num_memory_regions = 7,
			.num_irqchips = 1,
			.num_pci_devices = 1,
		},
	},
	.cpus = { 0xf },
	.mem_regions = {
		/* ivshmem state table */ { 0x7faf0000, 0x7faf0000, 0x1000, MEM_READ },
		/* no read/write section */ { 0 },
		/* output of peer 0 */ { 0x7faf1000, 0x7faf1000, 0x7f000, MEM_READ | MEM_WRITE },
		/* output of peer 1 */ { 0x7fb70000, 0x7fb70000, 0x7f000, MEM_READ },
		/* UART */ { 0x09000000, 0x09000000, 0x1000, MEM_READ | MEM_WRITE | MEM_IO },
		/* second UART */ { 0x09040000, 0x09040000, 0x1000, MEM_READ | MEM_WRITE | MEM_IO },
		/* RAM */ { 0x40000000, 0x40000000, 0x3fa00000, MEM_READ | MEM_WRITE | MEM_EXECUTE },
	},
	.irqchips = { { .address = 0x08000000, .pin_base = 32, .pin_bitmap = { 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff } } },
	.pci_devices = { { .type = PCI_IVSHMEM, .shmem_regions_start = 0, .shmem_dev_id = 0, .shmem_peers = 2, .shmem_protocol = 1 } },
};
