; uart_regs: the 16550A's registers through its ports, without interrupts reaching the CPU
; (PC16550D data sheet): scratch, divisor latch behind LCR.DLAB, IER read-back, IIR with and
; without FIFOs, the THR-empty interrupt identification and its clearing by an IIR read, LSR,
; and loopback mode (MCR bit 4): modem outputs appear in MSR, a sent byte is received.
%include "lib.inc"

%macro rd 2                     ; rd "label", register offset: prints the register
  print %1
  mov dx, COM1 + %2
  in al, dx
  movzx eax, al
  hex2 eax
%endmacro
%macro wr 2                     ; wr offset, value
  mov dx, COM1 + %1
  mov al, %2
  out dx, al
%endmacro

; in8 offset -> AL (no printing in between: printing writes THR, or DLL while DLAB is set)
%macro in8 1
  mov dx, COM1 + %1
  in al, dx
%endmacro

main:
  wr 7, 0x5A
  rd "scratch ", 7
  wr 3, 0x83
  wr 0, 0x0C
  wr 1, 0x00
  in8 0
  mov bl, al
  in8 1
  mov bh, al
  wr 3, 0x03
  wr 3, 0x83
  wr 0, 0x01                    ; back to 115200 so the console keeps working
  wr 3, 0x03
  print ", divisor low "
  movzx eax, bl
  hex2 eax
  print " high "
  movzx eax, bh
  hex2 eax
  rd ", LCR ", 3
  print 10
  wr 1, 0x0F
  rd "IER ", 1
  wr 1, 0x00
  rd ", IIR (FIFOs on, nothing pending) ", 2
  rd ", LSR ", 5
  print 10
  wr 1, 0x02
  in8 2
  mov bl, al
  in8 2
  mov bh, al
  wr 1, 0x00
  print "THR-empty enabled: IIR "
  movzx eax, bl
  hex2 eax
  print ", read again "
  movzx eax, bh
  hex2 eax
  print 10
  wr 2, 0x00
  rd "FIFOs off: IIR ", 2
  wr 2, 0xC7
  print 10
  ; loopback: let the console drain first, since sent bytes now go to the receiver
.drain:
  mov dx, COM1 + 5
  in al, dx
  test al, 0x40
  jz .drain
  wr 4, 0x1F                    ; loop, OUT2, OUT1, RTS, DTR
  mov dx, COM1 + 6
  in al, dx
  mov bl, al
  in al, dx
  mov bh, al
  wr 0, 'Z'
.wait:
  mov dx, COM1 + 5
  in al, dx
  test al, 1
  jz .wait
  mov cl, al
  mov dx, COM1
  in al, dx
  mov ch, al
  mov dx, COM1 + 5
  in al, dx
  mov ah, al
  wr 4, 0x03                    ; loopback off
  print "loopback: MSR "
  movzx eax, bl
  and eax, 0xF0                 ; the delta bits depend on the modem lines before; not compared
  hex2 eax
  print " then "
  movzx eax, bh
  hex2 eax
  print ", LSR.DR after send "
  movzx eax, cl
  and eax, 1
  udec eax
  print ", received '"
  mov al, ch
  call putc
  print "'", 10
  ret
