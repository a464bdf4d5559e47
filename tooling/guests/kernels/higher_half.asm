; higher_half: an ELF kernel linked at 0xC0100000 and loaded at 1 MiB by its program header's
; physical address (p_paddr); the entry point is e_entry translated to a physical address, as
; QEMU's and GRUB's loaders do. It turns on paging with a 4 MiB page at 3 GiB and runs there.
; link: high
%define KERNEL_VIRT_BASE 0xC0000000
%include "lib.inc"

main:
  print "running at "
  call .here
.here:
  pop eax
  and eax, 0xFFF00000
  hex eax
  print 10, "magic "
  hex [mb_magic]
  print 10, "CR0.PG "
  mov eax, cr0
  shr eax, 31
  udec eax
  print 10, "the same byte through both mappings: "
  mov byte [KERNEL_VIRT_BASE + 0x200000], 0x5A
  movzx eax, byte [0x200000]
  hex2 eax
  print 10
  ret
