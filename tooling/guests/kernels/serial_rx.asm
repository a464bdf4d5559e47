; serial_rx: the 16550's received-data interrupt on IRQ 4 (IER bit 0, MCR OUT2, IIR 0x04, LSR
; bit 0). Once the kernel prints "ready", the host sends "ping\n" on the serial line (see
; kernels.json "input"); the kernel HLTs until the line arrives and echoes it. FIFOs are off so
; every byte is one interrupt.
%include "lib.inc"

main:
  set_gate 0x24, irq4, INT32
  mov dx, COM1 + 2              ; FCR: no FIFO
  xor al, al
  out dx, al
  mov dx, COM1 + 4              ; MCR: DTR, RTS, OUT2 (the PC's IRQ enable)
  mov al, 0x0B
  out dx, al
  mov dx, COM1 + 2
  in al, dx
  print "IIR with IER=0: "
  movzx eax, al
  hex2 eax
  print 10
  mov dx, COM1 + 1              ; IER: received data available
  mov al, 1
  out dx, al
  mov al, 0xEF                  ; unmask IRQ 4
  out 0x21, al
  print "ready", 10
  sti
.wait:
  cli
  cmp byte [done], 0
  jne .got
  sti
  hlt
  jmp .wait
.got:
  print "received: "
  mov esi, line
.echo:
  mov al, [esi]
  inc esi
  cmp al, 10
  je .end
  call putc
  jmp .echo
.end:
  print 10, "IIR in the first interrupt: "
  hex2 [iir_seen]
  print ", bytes "
  udec [length]
  print 10
  mov dx, COM1 + 1
  xor al, al
  out dx, al
  ret

irq4:
  pushad
  mov dx, COM1 + 2
  in al, dx
  movzx eax, al
  cmp dword [iir_seen], -1
  jne .more
  mov [iir_seen], eax
.more:
  mov dx, COM1 + 5
  in al, dx
  test al, 1
  jz .out
  mov dx, COM1
  in al, dx
  mov ebx, [length]
  cmp ebx, 63
  jae .more
  mov [line + ebx], al
  inc dword [length]
  cmp al, 10
  jne .more
  mov byte [done], 1
  jmp .more
.out:
  mov al, 0x20
  out 0x20, al
  popad
  iretd

section .data
done: db 0
align 4
length: dd 0
iir_seen: dd -1
line: times 64 db 0
