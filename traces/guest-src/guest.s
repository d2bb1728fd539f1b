// A bare-metal AArch64 guest that builds two translation regimes and stops: the stage-1 tables of EL1&0 for
// TTBR0_EL1 (48-bit VA, start level 0) and TTBR1_EL1 (39-bit VA, start level 1) with the 4 KiB granule -- 1 GiB and
// 2 MiB blocks, pages, a contiguous group of 16 pages and one of 16 2 MiB blocks, read-only, execute-never, EL0,
// nG and access-flag-clear entries -- and, when QEMU starts it at EL2 (-M virt,virtualization=on), a stage 2 that
// remaps some IPAs, then drops to EL1. It enables the EL1 MMU, runs AT S1E1R on each VA of probe_vas (PAR_EL1
// into probe_pars: real translations, where QEMU's gva2gpa is a debug walk), then makes the real accesses of
// access_probes -- loads, stores, instruction fetches, and unprivileged (EL0) loads and stores -- recording each
// exception's syndrome (ESR_EL1/FAR_EL1, or ESR_EL2/FAR_EL2/HPFAR_EL2 for stage-2 faults) into access_results,
// writes DONE_MAGIC at DONE_PA and spins.
// The tables are static data: their descriptors are link-time addresses (the MMU is off while QEMU loads them).
// Built by Emulator.Tests/Guest/QemuGuestTests.cs with aarch64-linux-gnu-as and -ld (link.ld).

    .equ DONE_PA,    0x47fff000
    .equ DONE_MAGIC, 0x600df00d

    // Stage-1 block/page descriptor fields (Arm ARM D8.3, "Translation table descriptor formats").
    .equ VALID_BLOCK, 0x1            // bits[1:0] = 0b01 at level 1 or 2
    .equ VALID_PAGE,  0x3            // bits[1:0] = 0b11 at level 3
    .equ TABLE,       0x3
    .equ DEV,         (0 << 2)       // AttrIndx 0: MAIR Attr0 = Device-nGnRnE
    .equ WB,          (1 << 2)       // AttrIndx 1: MAIR Attr1 = Normal write-back
    .equ NC,          (2 << 2)       // AttrIndx 2: MAIR Attr2 = Normal non-cacheable
    .equ AP_EL0,      (1 << 6)       // AP = 0b01: EL1 and EL0 read/write
    .equ AP_RO,       (2 << 6)       // AP = 0b10: EL1 read-only
    .equ ISH,         (3 << 8)
    .equ AF,          (1 << 10)
    .equ NG,          (1 << 11)
    .equ CONTIG,      (1 << 52)
    .equ PXN,         (1 << 53)
    .equ UXN,         (1 << 54)

    // Stage-2 descriptor fields.
    .equ S2_DEV,      (0x0 << 2)     // MemAttr 0b0000: Device-nGnRnE
    .equ S2_WB,       (0xf << 2)     // MemAttr 0b1111: Normal write-back
    .equ S2_RO,       (1 << 6)       // S2AP 0b01: read-only
    .equ S2_RW,       (3 << 6)       // S2AP 0b11: read/write

    .equ MAIR, 0x44ff00
    // TCR_EL1: T0SZ 16, IRGN0/ORGN0 WB, SH0 inner, TG0 4K; T1SZ 25, IRGN1/ORGN1 WB, SH1 inner, TG1 4K (0b10); IPS 48 bits.
    .equ TCR, (16 | (1 << 8) | (1 << 10) | (3 << 12) | (25 << 16) | (1 << 24) | (1 << 26) | (3 << 28) | (2 << 30) | (5 << 32))
    // VTCR_EL2: T0SZ 32 (4 GiB IPA), SL0 1 (start at level 1), IRGN0/ORGN0 WB, SH0 inner, TG0 4K, PS 48 bits, RES1 bit 31.
    .equ VTCR, (32 | (1 << 6) | (1 << 8) | (1 << 10) | (3 << 12) | (5 << 16) | (1 << 31))
    .equ HCR, ((1 << 31) | 1)        // HCR_EL2: RW (EL1 is AArch64), VM (stage 2 on)

    .text
    .global _start
_start:
    mrs     x0, CurrentEL
    cmp     x0, #(2 << 2)
    b.ne    el1
    // At EL2: the vectors that record stage-2 faults, stage 2 for EL1&0, then EL1h with interrupts masked.
    ldr     x0, =vectors_el2
    msr     VBAR_EL2, x0
    ldr     x0, =s2_l1
    msr     VTTBR_EL2, x0
    ldr     x0, =VTCR
    msr     VTCR_EL2, x0
    ldr     x0, =HCR
    msr     HCR_EL2, x0
    mov     x0, #0x3c5
    msr     SPSR_EL2, x0
    adr     x0, el1
    msr     ELR_EL2, x0
    isb
    eret

el1:
    ldr     x0, =MAIR
    msr     MAIR_EL1, x0
    ldr     x0, =TCR
    msr     TCR_EL1, x0
    ldr     x0, =lo_l0
    msr     TTBR0_EL1, x0
    ldr     x0, =hi_l1
    msr     TTBR1_EL1, x0
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    mrs     x0, SCTLR_EL1
    orr     x0, x0, #1               // M
    orr     x0, x0, #(1 << 2)        // C
    orr     x0, x0, #(1 << 12)       // I
    msr     SCTLR_EL1, x0
    isb
    // Real translations (not QEMU's debug walk): AT S1E1R on each VA of probe_vas, PAR_EL1 into probe_pars.
    // An AT at EL1 whose stage-1 walk meets a stage-2 fault is not a PAR result but an exception to EL2: the EL2
    // vectors record it in the probe's slot of probe_at_exceptions (x20) and skip the AT.
    ldr     x2, =probe_vas
    ldr     x3, =probe_pars
    ldr     x20, =probe_at_exceptions
    ldr     x4, [x2], #8
1:  cbz     x4, 2f
    ldr     x5, [x2], #8
    stp     xzr, xzr, [x20]
    stp     xzr, xzr, [x20, #16]
    at      s1e1r, x5
    isb
    mrs     x6, PAR_EL1
    str     x6, [x3], #8
    add     x20, x20, #32
    sub     x4, x4, #1
    b       1b
2:
    // Real accesses: for each (kind, VA) of access_probes, an exception's ESR, FAR, HPFAR and the EL it was taken to
    // go into the probe's 32-byte slot of access_results (x20); a slot of zeros is an access that completed. Kinds:
    // 0 LDR, 1 LDR then STR of the value read (the store is the probe), 2 BLR (a fetch; the target holds zeros, so a
    // fetch that works takes an Unknown-reason exception, EC 0, at the target), 3 LDTR, 4 LDTR then STTR (EL0 access).
    ldr     x0, =vectors_el1
    msr     VBAR_EL1, x0
    isb
    ldr     x2, =access_probes
    ldr     x20, =access_results
    ldr     x4, [x2], #8
3:  cbz     x4, 9f
    ldr     x3, [x2], #8
    ldr     x5, [x2], #8
    stp     xzr, xzr, [x20]
    stp     xzr, xzr, [x20, #16]
    mov     x7, #0
    cmp     x3, #0
    b.eq    4f
    cmp     x3, #1
    b.eq    5f
    cmp     x3, #2
    b.eq    6f
    cmp     x3, #3
    b.eq    7f
    ldtr    x7, [x5]
    stp     xzr, xzr, [x20]
    stp     xzr, xzr, [x20, #16]
    sttr    x7, [x5]
    b       8f
4:  ldr     x7, [x5]
    b       8f
5:  ldr     x7, [x5]
    stp     xzr, xzr, [x20]
    stp     xzr, xzr, [x20, #16]
    str     x7, [x5]
    b       8f
6:  blr     x5
    b       8f
7:  ldtr    x7, [x5]
8:  add     x20, x20, #32
    sub     x4, x4, #1
    b       3b
9:
    // DONE_PA is identity-mapped by both stages.
    ldr     x1, =DONE_PA
    ldr     x0, =DONE_MAGIC
    str     x0, [x1]
    dsb     sy
spin:
    wfi
    b       spin

    .ltorg

    // EL1's synchronous exceptions from EL1 (offset 0x200; the others never happen): record, then resume after the
    // access -- at the BLR's return address for a fetch (an instruction abort, or EC 0 from the zeros it ran).
    .balign 2048
vectors_el1:
    .rept 4
    b       .
    .balign 128
    .endr
    mrs     x9, ESR_EL1
    mrs     x10, FAR_EL1
    mov     x12, #1
    stp     x9, x10, [x20]
    stp     xzr, x12, [x20, #16]
    lsr     x11, x9, #26
    cmp     x11, #0x21
    b.eq    1f
    cbz     x11, 1f
    mrs     x11, ELR_EL1
    add     x11, x11, #4
    msr     ELR_EL1, x11
    eret
1:  msr     ELR_EL1, x30
    eret
    .balign 128
    .rept 11
    b       .
    .balign 128
    .endr

    // EL2's synchronous exceptions from EL1 (offset 0x400): stage-2 faults. EL2 runs with its MMU off, and x20 is
    // both a VA and its PA (identity in both stages).
    .balign 2048
vectors_el2:
    .rept 8
    b       .
    .balign 128
    .endr
    mrs     x9, ESR_EL2
    mrs     x10, FAR_EL2
    mrs     x11, HPFAR_EL2
    mov     x12, #2
    stp     x9, x10, [x20]
    stp     x11, x12, [x20, #16]
    lsr     x11, x9, #26
    cmp     x11, #0x20
    b.eq    1f
    mrs     x11, ELR_EL2
    add     x11, x11, #4
    msr     ELR_EL2, x11
    eret
1:  msr     ELR_EL2, x30
    eret
    .balign 128
    .rept 7
    b       .
    .balign 128
    .endr

    // At PROBE_PA (link.ld): the number of VAs, the VAs, and at PROBE_PA + 0x1000 their PAR_EL1 after AT S1E1R.
    // (At most 64 VAs: the exception slots of the ATs follow at PROBE_PA + 0x1800.)
    .section .probe, "aw"
probe_vas:
    .quad (probe_end - probe_vas) / 8 - 1
    .quad 0x0, 0x09000010, 0x40080000, 0x47fff000, 0x7ffff008, 0x80000000, 0xbffff000, 0xc0000000
    .quad 0x8000000000, 0x803ffff000, 0x8040000000
    .quad 0x48000000, 0x4800f000, 0x48010000, 0x4801f000, 0x48020000, 0x48021000, 0x48022000, 0x48023000
    .quad 0x48024000, 0x48025000, 0x48026000, 0x48027000, 0x48028000
    .quad 0x48200000, 0x481ff000, 0x48300008, 0x48400000, 0x485ff000, 0x48600000
    .quad 0x44000000, 0x44005000, 0x44006000, 0x46000000, 0x46200000
    .quad 0xffffff8000000000, 0xffffff8000200000, 0xffffff800020f000, 0xffffff8000210000, 0xffffff800021f000
    .quad 0xffffff8000220000, 0xffffff800025f000, 0xffffff8000260000, 0xffffff8000400000, 0xffffff8002000000
    .quad 0xffffff8003fff000, 0xffffff8004000000, 0xffffffffc0000000, 0xfffffffffffff000, 0xffffffbfc0000000
    .quad 0x0001000000000000, 0xffff000000000000
probe_end:
    .balign 4096
probe_pars:
    .fill 256, 8, 0
probe_at_exceptions:                              // PROBE_PA + 0x1800: 32 bytes a probe (ESR, FAR, HPFAR, EL)
    .fill 256, 8, 0

    // At PROBE_PA + 0x2000: the number of accesses, then (kind, VA) pairs (kinds above); results at + 0x3000.
    // Stores write back the value just read; fetch targets map zeroed RAM (0x400f1000, 0x44001000, 0x47e00000, ...).
access_probes:
    .quad (access_end - access_probes - 8) / 16
    .quad 0, 0x40090000,   1, 0x400f0000,   2, 0x400f1000                          // RAM blocks: EL1 RWX
    .quad 1, 0x80000000,   0, 0x80001000,   2, 0x80002000                          // RAM read-only, XN
    .quad 0, 0x8000000000, 2, 0x8000003000, 3, 0x8000000008, 4, 0x80000f0000       // NC, EL0 read/write
    .quad 0, 0x48000000,   1, 0x48000008,   2, 0x48001000                          // contiguous pages
    .quad 0, 0x48005000,   1, 0x48006000,   0, 0x48006008,   2, 0x48007000        // stage 2: hole, read-only
    .quad 0, 0x48010000,   1, 0x48020000,   0, 0x48020008,   3, 0x48020010        // RO page, EL1 only
    .quad 3, 0x48021000,   4, 0x48021008,   2, 0x48021010                          // EL0 RW page, UXN
    .quad 0, 0x48023000,   1, 0x48023008                                           // AF clear
    .quad 0, 0x48024000,   0, 0x48025000,   0, 0x48026000,   0, 0x48027000        // invalid, reserved, nG, past the end
    .quad 0, 0x48200000,   1, 0x48200008,   0, 0x48400000,   0, 0x48600000        // remapped RO block, AF clear, hole
    .quad 0, 0x7ffff000,   0, 0xc0000000,   0, 0x8040000000, 0, 0x10000000000     // holes at levels 2, 1, 1 (S1PTW), 0
    .quad 0, 0x1000000000000                                                       // not canonical
    .quad 0, 0x44005000,   1, 0x44006000,   2, 0x44006008,   1, 0x46200008        // stage 2 under an identity block
    .quad 0, 0x46000000,   3, 0x40090000
    .quad 0, 0xffffff8000000000, 2, 0xffffff80000f1000, 3, 0xffffff8000000008     // TTBR1: the image block
    .quad 1, 0xffffff8000200000, 1, 0xffffff8000210000, 0, 0xffffff8000220000     // contiguous pages, RO group
    .quad 0, 0xffffff8000260000, 0, 0xffffff8002000000, 2, 0xffffff8002001000     // past the pages; PXN blocks
    .quad 1, 0xffffffffc0000000, 2, 0xffffffffc00f1000, 0, 0xffffffbfc0000000     // the top RO block; a hole
    .quad 0, 0xffff000000000000
access_end:
    .balign 4096
access_results:
    .fill 512, 8, 0

    .data
    .balign 4096
// ---- TTBR0_EL1: 48-bit VA, level 0 ----
lo_l0:
    .quad lo_l1a + TABLE                          // VA 0x0000_0000_0000
    .quad lo_l1b + TABLE                          // VA 0x0080_0000_0000
    .fill 510, 8, 0

    .balign 4096
lo_l1a:
    .quad 0x00000000 + VALID_BLOCK + DEV + AF + PXN + UXN   // 1 GiB of devices (UART, GIC), identity
    .quad lo_l2 + TABLE                                     // VA 0x4000_0000: RAM
    .quad 0x40000000 + VALID_BLOCK + WB + ISH + AF + AP_RO + PXN + UXN  // VA 0x8000_0000: RAM again, read-only
    .fill 509, 8, 0

    .balign 4096
lo_l1b:
    .quad 0x40000000 + VALID_BLOCK + NC + ISH + AF + AP_EL0 + NG    // VA 0x80_0000_0000: RAM, non-cacheable, EL0
    .quad 0x44005000 + TABLE                      // VA 0x80_4000_0000: a table at an IPA stage 2 leaves unmapped
    .fill 510, 8, 0

    .balign 4096
lo_l2:                                            // VA 0x4000_0000 + n * 2 MiB
    .set pa, 0x40000000
    .rept 64                                      // 128 MiB of RAM, identity (the code runs here)
    .quad pa + VALID_BLOCK + WB + ISH + AF
    .set pa, pa + 0x200000
    .endr
    .quad lo_l3 + TABLE                           // VA 0x4800_0000: pages
    .quad 0x46000000 + VALID_BLOCK + WB + ISH + AF + NG + AP_RO    // VA 0x4820_0000
    .quad 0x46200000 + VALID_BLOCK + WB + ISH + PXN + UXN          // VA 0x4840_0000: AF clear
    .fill 445, 8, 0

    .balign 4096
lo_l3:                                            // VA 0x4800_0000 + n * 4 KiB
    .set pa, 0x44000000
    .rept 16                                      // a contiguous group: 64 KiB to 0x4400_0000
    .quad pa + VALID_PAGE + WB + ISH + AF + CONTIG
    .set pa, pa + 0x1000
    .endr
    .set pa, 0x45000000
    .rept 16                                      // pages scattered three apart, going down
    .quad pa + VALID_PAGE + WB + ISH + AF
    .set pa, pa - 0x3000
    .endr
    .quad 0x44800000 + VALID_PAGE + WB + ISH + AF + AP_RO
    .quad 0x44801000 + VALID_PAGE + NC + ISH + AF + AP_EL0 + UXN
    .quad 0x09000000 + VALID_PAGE + DEV + AF + PXN + UXN           // the UART
    .quad 0x44803000 + VALID_PAGE + WB + ISH                       // AF clear
    .quad 0                                                        // invalid
    .quad 0x44805000 + VALID_BLOCK + WB + ISH + AF                 // 0b01 at level 3: reserved, faults
    .quad 0x44806000 + VALID_PAGE + WB + ISH + AF + NG
    .fill 473, 8, 0

// ---- TTBR1_EL1: 39-bit VA, level 1 (VA 0xffff_ff80_0000_0000 up) ----
    .balign 4096
hi_l1:
    .quad hi_l2 + TABLE
    .fill 510, 8, 0
    .quad 0x40000000 + VALID_BLOCK + WB + ISH + AF + AP_RO + UXN   // the top 1 GiB: RAM read-only

    .balign 4096
hi_l2:
    .quad 0x40000000 + VALID_BLOCK + WB + ISH + AF + UXN           // VA +0: the image
    .quad hi_l3 + TABLE                                            // VA +2 MiB: pages
    .fill 14, 8, 0
    .set pa, 0x42000000
    .rept 16                                      // VA +32 MiB: a contiguous group of 16 2 MiB blocks
    .quad pa + VALID_BLOCK + WB + ISH + AF + CONTIG + PXN + UXN
    .set pa, pa + 0x200000
    .endr
    .fill 480, 8, 0

    .balign 4096
hi_l3:
    .set pa, 0x43000000
    .rept 16                                      // a contiguous group
    .quad pa + VALID_PAGE + WB + ISH + AF + CONTIG + UXN
    .set pa, pa + 0x1000
    .endr
    .set pa, 0x43100000
    .rept 16                                      // another, read-only
    .quad pa + VALID_PAGE + WB + ISH + AF + CONTIG + AP_RO + UXN
    .set pa, pa + 0x1000
    .endr
    .set pa, 0x43200000
    .rept 32                                      // single pages at every other frame
    .quad pa + VALID_PAGE + WB + ISH + AF + UXN
    .set pa, pa + 0x2000
    .endr
    .fill 448, 8, 0

// ---- Stage 2 (used only when started at EL2): 32-bit IPA, level 1 ----
    .balign 4096
s2_l1:
    .quad 0x00000000 + VALID_BLOCK + S2_DEV + S2_RW + AF           // devices, identity
    .quad s2_l2 + TABLE                                            // IPA 0x4000_0000: RAM
    .fill 510, 8, 0

    .balign 4096
s2_l2:
    .set pa, 0x40000000
    .rept 32                                      // IPA 0x4000_0000-0x43ff_ffff identity
    .quad pa + VALID_BLOCK + S2_WB + S2_RW + ISH + AF
    .set pa, pa + 0x200000
    .endr
    .quad s2_l3 + TABLE                           // IPA 0x4400_0000: pages
    .set pa, 0x44200000
    .rept 15                                      // IPA 0x4420_0000-0x45ff_ffff identity
    .quad pa + VALID_BLOCK + S2_WB + S2_RW + ISH + AF
    .set pa, pa + 0x200000
    .endr
    .quad 0x47c00000 + VALID_BLOCK + S2_WB + S2_RW + ISH + AF     // IPA 0x4600_0000 -> PA 0x47c0_0000
    .quad 0x46200000 + VALID_BLOCK + S2_WB + S2_RO + ISH + AF     // IPA 0x4620_0000: read-only
    .set pa, 0x46400000
    .rept 14                                      // IPA 0x4640_0000-0x47ff_ffff identity (DONE_PA)
    .quad pa + VALID_BLOCK + S2_WB + S2_RW + ISH + AF
    .set pa, pa + 0x200000
    .endr
    .fill 448, 8, 0

    .balign 4096
s2_l3:                                            // IPA 0x4400_0000 + n * 4 KiB
    .set pa, 0x44000000
    .rept 5
    .quad pa + VALID_PAGE + S2_WB + S2_RW + ISH + AF
    .set pa, pa + 0x1000
    .endr
    .quad 0                                       // IPA 0x4400_5000: not mapped
    .quad 0x47e00000 + VALID_PAGE + S2_WB + S2_RO + ISH + AF      // IPA 0x4400_6000 -> PA 0x47e0_0000, read-only
    .set pa, 0x44007000
    .rept 505
    .quad pa + VALID_PAGE + S2_WB + S2_RW + ISH + AF
    .set pa, pa + 0x1000
    .endr
