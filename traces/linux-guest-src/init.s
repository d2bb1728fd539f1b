// init for a Linux guest under QEMU (issue 16): no libc, raw AArch64 Linux system calls. It maps memory in several
// ways — anonymous pages touched one by one, every other page of a region (holes), a part made read-only with
// mprotect, an 8 MiB transparent-huge-page region, 2 MiB, 64 KiB (contiguous PTEs) and 32 MiB (contiguous PMDs)
// hugetlb pages, a tmpfs file mapped shared and writable, private and read-only, and executable — loads the modules
// it finds in the initramfs (/qemu_fw_cfg.ko publishes VMCOREINFO to QEMU's vmcoreinfo device), writes "READY"
// followed by the addresses to the console and spins at EL0, so a vCPU stopped by the debugger is likely in it.
        .equ SYS_openat, 56
        .equ SYS_close, 57
        .equ SYS_ftruncate, 46
        .equ SYS_write, 64
        .equ SYS_mount, 40
        .equ SYS_mmap, 222
        .equ SYS_mprotect, 226
        .equ SYS_madvise, 233
        .equ SYS_finit_module, 273
        .equ AT_FDCWD, -100
        .equ O_WRONLY, 1
        .equ O_RDWR_CREAT, 0x42
        .equ MAP_SHARED, 1
        .equ MAP_PRIVATE, 2
        .equ PROT_RX, 5
        .equ PROT_RW, 3
        .equ PROT_R, 1
        .equ MAP_PRIVATE_ANON, 0x22
        .equ MAP_HUGETLB, 0x40000
        .equ MADV_HUGEPAGE, 14

        .text
        .globl _start
_start:
        // mount("proc", "/proc", "proc", 0, 0) and sysfs on /sys
        adr     x0, s_proc
        adr     x1, s_procdir
        adr     x2, s_proc
        mov     x3, #0
        mov     x4, #0
        mov     x8, #SYS_mount
        svc     #0
        adr     x0, s_sysfs
        adr     x1, s_sysdir
        adr     x2, s_sysfs
        mov     x3, #0
        mov     x4, #0
        mov     x8, #SYS_mount
        svc     #0
        // modules: finit_module(open(path), "", 0)
        adr     x0, s_mod1
        bl      load_module
        adr     x0, s_mod2
        bl      load_module
        // hugetlb pools: 4 x 2 MiB, 16 x 64 KiB
        adr     x0, s_huge2m
        adr     x1, s_four
        bl      write_file
        adr     x0, s_huge64k
        adr     x1, s_sixteen
        bl      write_file
        adr     x0, s_huge32m
        adr     x1, s_one
        bl      write_file
        // tmpfs on /tmp, and a 64 KiB file in it (x22 = its descriptor)
        adr     x0, s_tmpfs
        adr     x1, s_tmpdir
        adr     x2, s_tmpfs
        mov     x3, #0
        mov     x4, #0
        mov     x8, #SYS_mount
        svc     #0
        mov     x0, #AT_FDCWD
        adr     x1, s_file
        mov     x2, #O_RDWR_CREAT
        mov     x3, #0x1a4
        mov     x8, #SYS_openat
        svc     #0
        mov     x22, x0
        mov     x1, #0x10000
        mov     x8, #SYS_ftruncate
        svc     #0

        adr     x20, results
        // 1. anonymous 256 KiB, every page touched, pages 16..23 then read-only
        mov     x0, #0x40000
        mov     x1, #MAP_PRIVATE_ANON
        bl      map
        str     x0, [x20], #8
        mov     x19, x0
        mov     x1, #0x40000
        mov     x2, #0x1000
        bl      touch
        add     x0, x19, #0x10000
        mov     x1, #0x8000
        mov     x2, #PROT_R
        mov     x8, #SYS_mprotect
        svc     #0
        // 2. anonymous 128 KiB, every other page touched (holes)
        mov     x0, #0x20000
        mov     x1, #MAP_PRIVATE_ANON
        bl      map
        str     x0, [x20], #8
        mov     x1, #0x20000
        mov     x2, #0x2000
        bl      touch
        // 3. transparent huge pages: 10 MiB mapped, the 8 MiB inside it aligned to 2 MiB advised and touched
        mov     x0, #0xa00000
        mov     x1, #MAP_PRIVATE_ANON
        bl      map
        ldr     x9, =0x1fffff
        add     x0, x0, x9
        and     x0, x0, #~0x1fffff
        str     x0, [x20], #8
        mov     x19, x0
        mov     x1, #0x800000
        mov     x2, #MADV_HUGEPAGE
        mov     x8, #SYS_madvise
        svc     #0
        mov     x0, x19
        mov     x1, #0x800000
        mov     x2, #0x1000
        bl      touch
        // 4. hugetlb 2 MiB pages (MAP_HUGE_2MB = 21 << 26), 4 MiB
        mov     x0, #0x400000
        ldr     x1, =(MAP_PRIVATE_ANON | MAP_HUGETLB | (21 << 26))
        bl      map
        str     x0, [x20], #8
        mov     x1, #0x400000
        mov     x2, #0x1000
        bl      touch
        // 5. hugetlb 64 KiB pages (contiguous PTEs, MAP_HUGE_64KB = 16 << 26), 512 KiB
        mov     x0, #0x80000
        ldr     x1, =(MAP_PRIVATE_ANON | MAP_HUGETLB | (16 << 26))
        bl      map
        str     x0, [x20], #8
        mov     x1, #0x80000
        mov     x2, #0x1000
        bl      touch
        // 6. the stack
        mov     x0, sp
        str     x0, [x20], #8
        // 7. hugetlb 32 MiB pages (contiguous PMDs, MAP_HUGE_32MB = 25 << 26), one
        mov     x0, #0x2000000
        ldr     x1, =(MAP_PRIVATE_ANON | MAP_HUGETLB | (25 << 26))
        bl      map
        str     x0, [x20], #8
        mov     x1, #0x2000000
        mov     x2, #0x1000
        bl      touch
        // 8. the file, shared and writable, every page written
        mov     x0, #0x10000
        mov     x1, #MAP_SHARED
        mov     x2, #PROT_RW
        mov     x3, x22
        bl      mapfd
        str     x0, [x20], #8
        mov     x1, #0x10000
        mov     x2, #0x1000
        bl      touch
        // 9. the file, private and read-only, every page read
        mov     x0, #0x10000
        mov     x1, #MAP_PRIVATE
        mov     x2, #PROT_R
        mov     x3, x22
        bl      mapfd
        str     x0, [x20], #8
        mov     x1, #0x10000
        bl      rtouch
        // 10. its first 16 KiB executable, every page read
        mov     x0, #0x4000
        mov     x1, #MAP_PRIVATE
        mov     x2, #PROT_RX
        mov     x3, x22
        bl      mapfd
        str     x0, [x20], #8
        mov     x1, #0x4000
        bl      rtouch

        // "READY" and the ten addresses in hex, one line
        adr     x0, s_ready
        mov     x1, #6
        bl      puts
        adr     x19, results
        mov     x21, #10
1:      ldr     x0, [x19], #8
        bl      puthex
        subs    x21, x21, #1
        b.ne    1b
        adr     x0, s_nl
        mov     x1, #1
        bl      puts
spin:   b       spin
        .ltorg

// map(x0 = length, x1 = flags): mmap(0, length, PROT_READ|PROT_WRITE, flags, -1, 0); a failure is 0
map:    mov     x3, x1
        mov     x1, x0
        mov     x0, #0
        mov     x2, #PROT_RW
        mov     x4, #-1
        mov     x5, #0
        mov     x8, #SYS_mmap
        svc     #0
        cmn     x0, #4096
        csel    x0, xzr, x0, hi
        ret

// mapfd(x0 = length, x1 = flags, x2 = prot, x3 = fd): mmap(0, length, prot, flags, fd, 0); a failure is 0
mapfd:  mov     x4, x3
        mov     x3, x1
        mov     x1, x0
        mov     x0, #0
        mov     x5, #0
        mov     x8, #SYS_mmap
        svc     #0
        cmn     x0, #4096
        csel    x0, xzr, x0, hi
        ret

// rtouch(x0 = base, x1 = length): reads a byte of every 4 KiB page (nothing when base is 0)
rtouch: cbz     x0, 2f
        mov     x3, #0
1:      ldrb    w4, [x0, x3]
        add     x3, x3, #0x1000
        cmp     x3, x1
        b.lo    1b
2:      ret

// touch(x0 = base, x1 = length, x2 = step): writes a byte every step bytes (nothing when base is 0)
touch:  cbz     x0, 2f
        mov     x3, #0
1:      strb    w3, [x0, x3]
        add     x3, x3, x2
        cmp     x3, x1
        b.lo    1b
2:      ret

// load_module(x0 = path)
load_module:
        mov     x1, x0
        mov     x0, #AT_FDCWD
        mov     x2, #0
        mov     x3, #0
        mov     x8, #SYS_openat
        svc     #0
        tbnz    x0, #63, 1f
        mov     x9, x0
        adr     x1, s_empty
        mov     x2, #0
        mov     x8, #SYS_finit_module
        svc     #0
        mov     x0, x9
        mov     x8, #SYS_close
        svc     #0
1:      ret

// write_file(x0 = path, x1 = NUL-terminated text)
write_file:
        mov     x10, x1
        mov     x1, x0
        mov     x0, #AT_FDCWD
        mov     x2, #O_WRONLY
        mov     x3, #0
        mov     x8, #SYS_openat
        svc     #0
        tbnz    x0, #63, 2f
        mov     x9, x0
        mov     x2, #0
1:      ldrb    w3, [x10, x2]
        cbz     w3, 3f
        add     x2, x2, #1
        b       1b
3:      mov     x1, x10
        mov     x8, #SYS_write
        svc     #0
        mov     x0, x9
        mov     x8, #SYS_close
        svc     #0
2:      ret

// puts(x0 = text, x1 = length) to stdout (the console)
puts:   mov     x2, x1
        mov     x1, x0
        mov     x0, #1
        mov     x8, #SYS_write
        svc     #0
        ret

// puthex(x0): " 0x" and 16 hex digits
puthex: adr     x1, hexbuf
        mov     x2, #15
1:      and     x3, x0, #0xf
        cmp     x3, #10
        add     x4, x3, #'0'
        add     x5, x3, #('a' - 10)
        csel    x3, x4, x5, lo
        add     x6, x1, #3
        strb    w3, [x6, x2]
        lsr     x0, x0, #4
        subs    x2, x2, #1
        b.ge    1b
        mov     x0, x1
        mov     x1, #19
        b       puts

s_proc:    .asciz "proc"
s_procdir: .asciz "/proc"
s_sysfs:   .asciz "sysfs"
s_sysdir:  .asciz "/sys"
s_mod1:    .asciz "/qemu_fw_cfg.ko"
s_mod2:    .asciz "/extra.ko"
s_empty:   .asciz ""
s_huge2m:  .asciz "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
s_huge64k: .asciz "/sys/kernel/mm/hugepages/hugepages-64kB/nr_hugepages"
s_huge32m: .asciz "/sys/kernel/mm/hugepages/hugepages-32768kB/nr_hugepages"
s_tmpfs:   .asciz "tmpfs"
s_tmpdir:  .asciz "/tmp"
s_file:    .asciz "/tmp/file"
s_one:     .asciz "1"
s_four:    .asciz "4"
s_sixteen: .asciz "16"
s_ready:   .ascii "READY\n"
s_nl:      .ascii "\n"

        .data
        .balign 8
hexbuf:  .ascii " 0x0000000000000000"
        .balign 8
results: .skip 80
