/*
 * The binary layout `mmusim cell` reads (docs/cells.md, "jailhouse's binary .cell files"), written for the
 * tests from that description: packed little-endian structures, revision 14, arm64. A configuration is one
 * initialised object of a structure ending in its arrays; `gcc -c` and `objcopy -O binary` turn it into the
 * bytes of a .cell file, as jailhouse's build does with its configs.
 */
#ifndef MMUSIM_TEST_LAYOUT_H
#define MMUSIM_TEST_LAYOUT_H

#include <stdint.h>

#define PACKED __attribute__((packed))

#define REVISION 14
#define ARCH_ARM64 2

/* Memory region flags. */
#define MEM_READ        0x0001
#define MEM_WRITE       0x0002
#define MEM_EXECUTE     0x0004
#define MEM_DMA         0x0008
#define MEM_IO          0x0010
#define MEM_COMM_REGION 0x0020
#define MEM_LOADABLE    0x0040
#define MEM_ROOTSHARED  0x0080
#define MEM_IO_32       0x40000

/* 32 bytes. */
struct region {
	uint64_t phys_start, virt_start, size, flags;
} PACKED;

/* 32 bytes: address, size, type, flags, divider, gate, clock register. */
struct console {
	uint64_t address;
	uint32_t size;
	uint16_t type, flags;
	uint32_t divider, gate_nr;
	uint64_t clock_reg;
} PACKED;

#define CONSOLE_PL011 3
#define CONSOLE_MMIO 1

/* 32 bytes. */
struct irqchip {
	uint64_t address;
	uint32_t id, pin_base, pin_bitmap[4];
} PACKED;

/* 56 bytes; only the ivshmem fields at the end are used by these tests. */
struct pci_device {
	uint8_t type, iommu;
	uint16_t domain, bdf;
	uint32_t bar_mask[6];
	uint16_t caps_start, num_caps;
	uint8_t num_msi_vectors, msi_64bits;
	uint16_t num_msix_vectors, msix_region_size;
	uint64_t msix_address;
	uint32_t shmem_regions_start;
	uint8_t shmem_dev_id, shmem_peers;
	uint16_t shmem_protocol;
} PACKED;

#define PCI_IVSHMEM 3

/* 132 bytes: the 8-byte header (signature, architecture, revision), then the cell's own fields and counts. */
struct cell_desc {
	char signature[5];
	uint8_t architecture;
	uint16_t revision;
	char name[32];
	uint32_t id, flags;
	uint32_t cpu_set_size, num_memory_regions, num_cache_regions, num_irqchips;
	uint32_t num_pio_regions, num_pci_devices, num_pci_caps, num_stream_ids;
	uint32_t vpci_irq_base;
	uint64_t cpu_reset_address, msg_reply_timeout;
	struct console console;
} PACKED;

/* 28 bytes: type, base, size and a 12-byte union. */
struct iommu {
	uint32_t type;
	uint64_t base;
	uint32_t size;
	uint8_t unit_specific[12];
} PACKED;

/* 356 bytes, then the root cell's descriptor. */
struct system {
	char signature[5];
	uint8_t architecture;
	uint16_t revision;
	uint32_t flags;
	struct region hypervisor_memory;
	struct console debug_console;
	uint64_t pci_mmconfig_base;
	uint8_t pci_mmconfig_end_bus, pci_is_virtual;
	uint16_t pci_domain;
	struct iommu iommu_units[8];
	uint8_t maintenance_irq, gic_version, padding[2];
	uint64_t gicd_base, gicc_base, gich_base, gicv_base, gicr_base;
	struct cell_desc root_cell;
} PACKED;

_Static_assert(sizeof(struct region) == 32, "region");
_Static_assert(sizeof(struct console) == 32, "console");
_Static_assert(sizeof(struct irqchip) == 32, "irqchip");
_Static_assert(sizeof(struct pci_device) == 56, "pci_device");
_Static_assert(sizeof(struct cell_desc) == 132, "cell_desc");
_Static_assert(sizeof(struct system) == 356 + 132, "system");

#endif
