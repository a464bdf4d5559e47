; cmos: the MC146818 RTC/CMOS behind ports 0x70/0x71: status registers A-D after a BIOS-less boot,
; the memory sizes a PC BIOS expects in the CMOS (base 0x15-0x16, extended 0x17-0x18 and
; 0x30-0x31 capped at 0xFFFF KiB, above-16M 0x34-0x35 in 64 KiB units), time registers in valid
; BCD (the time itself is not printed), and the periodic interrupt on IRQ 8 through the slave PIC.
%include "lib.inc"

%macro rd 1                      ; AL = CMOS[%1]
  mov al, %1
  out 0x70, al
  in al, 0x71
%endmacro

%macro show 2
  print %1
  rd %2
  movzx eax, al
  hex2 eax
  print 10
%endmacro

; is_bcd: AL -> CF=0 when both nibbles are below 10
is_bcd:
  push eax
  mov ah, al
  and al, 0x0F
  cmp al, 10
  jae .bad
  shr ah, 4
  cmp ah, 10
  jae .bad
  pop eax
  clc
  ret
.bad:
  pop eax
  stc
  ret

main:
  set_gate 0x28, irq8, INT32
  print "register A (without UIP): "
  rd 0x0A
  and eax, 0x7F
  hex2 eax
  print 10
  show "register B: ", 0x0B
  show "register D: ", 0x0D
  show "base memory low/high: ", 0x15
  show "                      ", 0x16
  show "extended memory 0x17/0x18: ", 0x17
  show "                           ", 0x18
  show "extended memory 0x30/0x31: ", 0x30
  show "                           ", 0x31
  show "above 16M 0x34/0x35: ", 0x34
  show "                     ", 0x35
  ; wait for no update in progress, then check the time registers
.uip:
  rd 0x0A
  test al, 0x80
  jnz .uip
  xor ebx, ebx
  rd 0x00
  call is_bcd
  adc ebx, 0
  rd 0x02
  call is_bcd
  adc ebx, 0
  rd 0x04
  call is_bcd
  adc ebx, 0
  rd 0x07
  call is_bcd
  adc ebx, 0
  rd 0x08
  call is_bcd
  adc ebx, 0
  rd 0x09
  call is_bcd
  adc ebx, 0
  print "time registers not in BCD: "
  udec ebx
  print 10
  ; periodic interrupt: rate 6 (1024 Hz), PIE in register B, IRQ 8 on the slave, cascade on IRQ 2
  rd 0x0C                        ; clear pending flags
  mov al, 0x0A
  out 0x70, al
  in al, 0x71
  and al, 0xF0
  or al, 0x06
  mov ah, al
  mov al, 0x0A
  out 0x70, al
  mov al, ah
  out 0x71, al
  mov al, 0x0B
  out 0x70, al
  in al, 0x71
  or al, 0x40
  mov ah, al
  mov al, 0x0B
  out 0x70, al
  mov al, ah
  out 0x71, al
  mov al, 0xFB                   ; master: unmask IRQ 2 (cascade)
  out 0x21, al
  mov al, 0xFE                   ; slave: unmask IRQ 8
  out 0xA1, al
  sti
.wait:
  hlt
  cmp dword [ticks], 3
  jb .wait
  cli
  print "periodic interrupts: "
  udec [ticks]
  print ", register C had PF "
  mov eax, [reg_c]
  shr eax, 6
  and eax, 1
  udec eax
  print " IRQF "
  mov eax, [reg_c]
  shr eax, 7
  udec eax
  print 10
  ; PIE off again
  mov al, 0x0B
  out 0x70, al
  in al, 0x71
  and al, ~0x40
  mov ah, al
  mov al, 0x0B
  out 0x70, al
  mov al, ah
  out 0x71, al
  ret

irq8:
  push eax
  inc dword [ticks]
  mov al, 0x0C                   ; reading C acknowledges the RTC interrupt
  out 0x70, al
  in al, 0x71
  and eax, 0xC0
  mov [reg_c], eax
  mov al, 0x20
  out 0xA0, al
  out 0x20, al
  pop eax
  iretd

section .data
ticks: dd 0
reg_c: dd 0
