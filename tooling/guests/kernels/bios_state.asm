; bios_state: the chip state a Multiboot kernel finds at entry, before it touches anything: the
; 8259A masks (IMR), PIT counter 0's read-back status, ISR, port 0x61, port 0x92 and the i8042
; command byte. Multiboot promises none of it; QEMU leaves what SeaBIOS programmed, and pagurus
; recreates it so that kernels behave the same on both. Left out: PIT status bit 7 (OUT; QEMU
; reports it low in mode 2 where the 8254 data sheet has it high between pulses) and bit 6
; (null count: set until the next PIT clock after a count is written, and pagurus programs the
; PIT at entry while SeaBIOS did long before), and port 0x61 bit 4 (the refresh toggle, time).
%define EARLY_HOOK entry_state
%include "lib.inc"

%macro show 2                   ; show "label", port
  print %1
  in al, %2
  movzx eax, al
  hex2 eax
%endmacro

main:
  ret

; called by lib's start-up code before it reprograms the PIC (EARLY_HOOK)
entry_state:
  show "PIC IMR master ", 0x21
  show " slave ", 0xA1
  mov al, 0x0B
  out 0x20, al
  show " ISR ", 0x20
  mov al, 0xE2                  ; read-back: status of counter 0
  out 0x43, al
  in al, 0x40
  and eax, 0x3F
  print 10, "PIT counter 0 status (mode, access, BCD) "
  hex2 eax
  print ", port 0x61 without bit 4 "
  in al, 0x61
  and eax, 0xEF
  hex2 eax
  show ", port 0x92 ", 0x92
  print 10, "i8042 command byte "
.w:
  in al, 0x64
  test al, 2
  jnz .w
  mov al, 0x20
  out 0x64, al
.r:
  in al, 0x64
  test al, 1
  jz .r
  in al, 0x60
  movzx eax, al
  hex2 eax
  print 10
  ret
