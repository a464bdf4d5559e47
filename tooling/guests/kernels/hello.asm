; hello: the smallest kernel: Multiboot entry state as the spec promises it, then a greeting.
%include "lib.inc"

main:
  print "hello from a multiboot kernel", 10
  print "magic "
  hex [mb_magic]
  print 10
  ; CR0.PE=1 and PG=0 at entry (Multiboot 3.2); print only those bits, the rest is the loader's.
  mov eax, cr0
  and eax, 0x80000001
  print "cr0.pg|pe "
  hex eax
  print 10
  pushfd
  pop eax
  and eax, 0x00020200       ; VM and IF must be clear
  print "eflags.vm|if "
  hex eax
  print 10
  ; A20 on: 0x100000 and 0x000000 are different bytes.
  mov byte [0x000500], 0x11
  mov byte [0x100500], 0x22
  movzx eax, byte [0x000500]
  print "a20 low byte "
  hex2 eax
  print 10
  ret
