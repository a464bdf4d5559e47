; pic_priority: the 8259A pair with several requests pending at once (8259A data sheet; SDM
; 6.3.3): the PIT (IRQ 0, mode 0), the i8042 (IRQ 1, after its self-test), the RTC (IRQ 8 on the
; slave, through IR2) and the 16550's THR-empty interrupt (IRQ 4). It checks IRR, that the
; requests arrive in fixed priority order, then in the order a specific-priority rotation sets,
; poll mode, ISR with a specific EOI, and IMR read-back.
%include "lib.inc"

main:
  set_gate 0x20, irq_handler.i0, INT32
  set_gate 0x21, irq_handler.i1, INT32
  set_gate 0x24, irq_handler.i4, INT32
  set_gate 0x28, irq_handler.i8, INT32
  call arm_all
  print "master IRR (IRQ 0, 1, 4): "
  mov al, 0x0A
  out 0x20, al
  in al, 0x20
  and eax, 0x13
  hex2 eax
  print ", slave IRR (IRQ 8): "
  mov al, 0x0A
  out 0xA0, al
  in al, 0xA0
  and eax, 0x01
  hex2 eax
  print 10
  call take_all
  print "fixed priority order:    "
  call show_order

  call arm_all
  mov al, 0xC1                  ; OCW2: set priority, IRQ 1 lowest, so IRQ 2 highest
  out 0x20, al
  call take_all
  print "after IRQ 1 made lowest: "
  call show_order
  mov al, 0xC7                  ; back to IRQ 7 lowest (fixed order)
  out 0x20, al

  ; poll mode: with IF=0 the poll command acknowledges the highest request (OCW3 P=1)
  mov al, 0x30                  ; PIT counter 0, mode 0, short count
  out 0x43, al
  mov al, 50
  out 0x40, al
  xor al, al
  out 0x40, al
  call wait_irr0
  mov al, 0xFE                  ; IRQ 0 unmasked (IF stays 0): a masked line is not polled
  out 0x21, al
  mov al, 0x0C
  out 0x20, al
  in al, 0x20
  movzx eax, al
  print "poll: "
  hex2 eax
  mov al, 0x0B
  out 0x20, al
  in al, 0x20
  movzx eax, al
  print ", ISR after poll: "
  hex2 eax
  mov al, 0x60                  ; specific EOI for IR0
  out 0x20, al
  mov al, 0x0B
  out 0x20, al
  in al, 0x20
  movzx eax, al
  print ", after specific EOI: "
  hex2 eax
  print 10
  mov al, 0xA5
  out 0x21, al
  in al, 0x21
  movzx eax, al
  print "IMR read back: "
  hex2 eax
  print 10
  mov al, 0xFF
  out 0x21, al
  ret

; arm_all: every line masked, then the four requests made pending; waits until IRR shows them.
arm_all:
  mov al, 0xFF
  out 0x21, al
  out 0xA1, al
  mov dword [count], 0
  mov al, 0x30                  ; PIT counter 0, mode 0
  out 0x43, al
  mov al, 50
  out 0x40, al
  xor al, al
  out 0x40, al
  call kbc_wait
  mov al, 0x60                  ; i8042: write the command byte: keyboard interrupt on
  out 0x64, al
  call kbc_wait
  mov al, 0x01
  out 0x60, al
  call kbc_wait
  mov al, 0xAA                  ; controller self-test: 0x55 arrives in the output buffer
  out 0x64, al
  mov al, 0x0C                  ; RTC: clear flags, then periodic interrupt at 1024 Hz
  out 0x70, al
  in al, 0x71
  mov al, 0x0A
  out 0x70, al
  mov al, 0x26
  out 0x71, al
  mov al, 0x0B
  out 0x70, al
  mov al, 0x42
  out 0x71, al
  mov dx, COM1 + 1              ; UART: THR-empty interrupt
  mov al, 0x02
  out dx, al
  call wait_irr0
.irr:
  mov al, 0x0A
  out 0x20, al
  in al, 0x20
  and al, 0x12
  cmp al, 0x12
  jne .irr
.slave:
  mov al, 0x0A
  out 0xA0, al
  in al, 0xA0
  test al, 1
  jz .slave
  ret

wait_irr0:
  mov al, 0x0A
  out 0x20, al
.w:
  in al, 0x20
  test al, 1
  jz .w
  ret

kbc_wait:
  in al, 0x64
  test al, 2
  jnz kbc_wait
  ret

; take_all: unmask IRQ 0, 1, 2, 4 and 8 and let the four interrupts in
take_all:
  mov al, 0xE8
  out 0x21, al
  mov al, 0xFE
  out 0xA1, al
  sti
.w:
  cmp dword [count], 4
  jb .w
  cli
  mov al, 0xFF
  out 0x21, al
  out 0xA1, al
  ret

show_order:
  xor ecx, ecx
.n:
  movzx eax, byte [order + ecx]
  hex2 eax
  print " "
  inc ecx
  cmp ecx, 4
  jb .n
  print 10
  ret

irq_handler:
.i0:
  push eax
  mov al, 0x20
  jmp .record
.i1:
  push eax
  in al, 0x60                   ; empty the output buffer: IRQ 1 drops
  mov al, 0x21
  jmp .record
.i4:
  push eax
  push edx
  mov dx, COM1 + 2              ; reading IIR clears the THR-empty interrupt
  in al, dx
  mov dx, COM1 + 1
  xor al, al
  out dx, al
  pop edx
  mov al, 0x24
  jmp .record
.i8:
  push eax
  mov al, 0x0B                  ; periodic interrupt off, then read C to drop IRQ 8
  out 0x70, al
  mov al, 0x02
  out 0x71, al
  mov al, 0x0C
  out 0x70, al
  in al, 0x71
  mov al, 0x20
  out 0xA0, al
  mov al, 0x28
.record:
  push ebx
  mov ebx, [count]
  cmp ebx, 8
  jae .full
  mov [order + ebx], al
.full:
  inc dword [count]
  pop ebx
  mov al, 0x20
  out 0x20, al
  pop eax
  iretd

section .data
count: dd 0
order: times 8 db 0
