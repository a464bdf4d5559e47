; aout_kludge: a flat image (no ELF header) that boots through the Multiboot header's address
; fields (flags bit 16; Multiboot 0.6.96 section 3.1.3): header_addr, load_addr, load_end_addr,
; bss_end_addr, entry_addr. The loader must zero the BSS and enter at entry_addr.
; format: aout
%define MB_FLAGS 0x00010003
%include "lib.inc"

main:
  print "booted from a flat image through the a.out kludge", 10
  print "magic "
  hex [mb_magic]
  print 10, "bss zeroed: "
  mov edi, bss_probe
  mov ecx, 256
  xor eax, eax
  repe scasd
  sete al
  udec eax
  print 10, "load address of the header "
  hex mb_header
  print 10
  ret

section .bss
bss_probe: resd 256
