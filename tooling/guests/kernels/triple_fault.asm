; triple_fault: loads an empty IDT and divides by zero. #DE cannot be delivered (#GP), neither
; can that (#DF), so the processor shuts down (SDM Vol. 3A, 6.15, interrupt 8). QEMU with
; -no-reboot then exits with status 0; pagurus ends the run with a register dump and its own
; exit code, so this kernel is not part of the QEMU comparison (see kernels.json).
%include "lib.inc"

main:
  print "about to triple fault", 10
  lidt [empty_idt]
  mov eax, 0x12345678
  xor ecx, ecx
  div ecx
  print "not reached", 10
  ret

section .data
empty_idt: dw 0
           dd 0
