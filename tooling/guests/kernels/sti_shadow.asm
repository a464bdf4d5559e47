; sti_shadow: STI delays interrupt recognition until after the next instruction (SDM Vol. 2B,
; STI): with IRQ 0 already pending at the PIC, "STI; CLI" takes no interrupt, "STI; NOP; CLI"
; takes it after the NOP, and "STI; HLT" takes it with the saved EIP after the HLT.
%include "lib.inc"

main:
  set_gate 0x20, irq0, INT32
  mov al, 0xFE                  ; unmask IRQ 0 only
  out 0x21, al
  call arm
  print "STI; CLI:      interrupts "
  sti
  cli
  udec [count]
  print 10
  print "STI; NOP; CLI: interrupts "
  sti
  nop
after_nop:
  cli
  udec [count]
  print ", taken after the NOP "
  mov eax, [frame_eip]
  cmp eax, after_nop
  sete al
  movzx eax, al
  udec eax
  print 10
  call arm
  print "STI; HLT:      interrupts "
  sti
  hlt
after_hlt:
  cli
  udec [count]
  print ", taken after the HLT "
  mov eax, [frame_eip]
  cmp eax, after_hlt
  sete al
  movzx eax, al
  udec eax
  print 10
  ret

; arm: PIT channel 0 in mode 0 (interrupt on terminal count) with a short count, then wait with
; IF=0 until the PIC's IRR shows IRQ 0 pending.
arm:
  mov al, 0x30                  ; channel 0, lobyte/hibyte, mode 0
  out 0x43, al
  mov al, 100
  out 0x40, al
  xor al, al
  out 0x40, al
  mov al, 0x0A                  ; OCW3: read IRR
  out 0x20, al
.wait:
  in al, 0x20
  test al, 1
  jz .wait
  ret

irq0:
  push eax
  inc dword [count]
  mov eax, [esp + 4]
  mov [frame_eip], eax
  mov al, 0x20                  ; non-specific EOI
  out 0x20, al
  pop eax
  iretd

section .data
count: dd 0
frame_eip: dd 0
