; pit_timer: PIT channel 0 in mode 2 (rate generator) at 1 kHz drives IRQ 0 through the master
; 8259A to vector 0x20 (SDM interrupts; 8254 and 8259A data sheets). The kernel HLTs until ten
; ticks arrived, checks ISR inside the handler and after EOI, and that a masked IRQ waits in IRR.
%include "lib.inc"

main:
  set_gate 0x20, irq0, INT32
  mov al, 0x34                  ; channel 0, lobyte/hibyte, mode 2
  out 0x43, al
  mov ax, 1193                  ; 1193182 Hz / 1193 = 1 kHz
  out 0x40, al
  mov al, ah
  out 0x40, al
  mov al, 0xFE
  out 0x21, al
  sti
.wait:
  hlt
  cmp dword [ticks], 10
  jb .wait
  cli
  print "ticks: "
  udec [ticks]
  print 10, "ISR inside handler: "
  hex2 [isr_inside]
  print 10, "ISR after EOI: "
  mov al, 0x0B
  out 0x20, al
  in al, 0x20
  movzx eax, al
  hex2 eax
  print 10
  ; masked: the request stays in IRR and nothing is delivered
  mov al, 0xFF
  out 0x21, al
  mov dword [ticks], 0
  mov al, 0x0A
  out 0x20, al
.irr:
  in al, 0x20
  test al, 1
  jz .irr
  sti
  nop
  nop
  cli
  print "masked: ticks "
  udec [ticks]
  print ", IRR bit 0 set 1", 10
  ; unmasking delivers the waiting request
  mov al, 0xFE
  out 0x21, al
  sti
  nop
  cli
  print "unmasked: ticks "
  udec [ticks]
  print 10
  ; the counter latch command freezes a value; read it only to show the protocol works
  mov al, 0x00
  out 0x43, al
  in al, 0x40
  mov ah, al
  in al, 0x40
  xchg al, ah
  print "latched count in range: "
  cmp ax, 1193
  setbe al
  movzx eax, al
  udec eax
  print 10
  ret

irq0:
  push eax
  inc dword [ticks]
  mov al, 0x0B                  ; OCW3: read ISR
  out 0x20, al
  in al, 0x20
  movzx eax, al
  mov [isr_inside], eax
  mov al, 0x20
  out 0x20, al
  pop eax
  iretd

section .data
ticks: dd 0
isr_inside: dd 0
