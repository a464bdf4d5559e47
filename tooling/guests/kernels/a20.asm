; a20: the A20 gate through System Control Port A (0x92, bit 1) and through the i8042's output
; port (command 0xD1 writes it, 0xD0 reads it): with A20 off, address bit 20 is forced to 0, so
; 1 MiB + x aliases x (SDM Vol. 3A, 8.7.13.4; the PC/AT's A20M#). The kernel runs above 1 MiB,
; so the tests run from a copy below 1 MiB with interrupts off.
%include "lib.inc"

LOW equ 0x8000
%define L(x) ((x) - low_start + LOW)
PROBE equ 0x200                 ; the bytes compared: 0x000200 and 0x100200
RES equ 0x7F00                  ; results, below 1 MiB: with A20 off, stores above it alias too

main:
  print "port 0x92 at start: "
  in al, 0x92
  movzx eax, al
  hex2 eax
  print 10
  mov esi, low_start
  mov edi, LOW
  mov ecx, low_end - low_start
  rep movsb
  mov byte [PROBE], 0x11
  mov byte [0x100000 + PROBE], 0x22
  call LOW
  print "A20 on:             1 MiB + 0x200 reads "
  hex2 [RES]
  print 10, "A20 off by 0x92:    1 MiB + 0x200 reads "
  hex2 [RES + 1]
  print ", port 0x92 "
  hex2 [RES + 4]

  print 10, "A20 on by 0x92:     1 MiB + 0x200 reads "
  hex2 [RES + 2]
  print 10, "A20 off by i8042:   1 MiB + 0x200 reads "
  hex2 [RES + 3]
  print ", output port A20 bit "
  movzx eax, byte [RES + 5]
  shr eax, 1
  and eax, 1
  udec eax
  print 10
  print "A20 on by i8042:    1 MiB + 0x200 reads "
  mov al, [0x100000 + PROBE]
  movzx eax, al
  hex2 eax
  print 10
  ret

low_start:
  mov ebp, L(kbc_wait)            ; absolute: this code runs from its copy
  mov al, [0x100000 + PROBE]
  mov [RES], al
  in al, 0x92                     ; A20 off through port 0x92
  and al, ~2
  out 0x92, al
  mov al, [0x100000 + PROBE]
  mov [RES + 1], al
  in al, 0x92
  mov [RES + 4], al
  or al, 2                        ; and on again
  out 0x92, al
  mov al, [0x100000 + PROBE]
  mov [RES + 2], al
  ; the i8042: write the output port with A20 clear (keep bit 0, the CPU reset line, high)
  call ebp
  mov al, 0xD1
  out 0x64, al
  call ebp
  mov al, 0x01
  out 0x60, al
  call ebp
  in al, 0x92                     ; both drive the same gate: clear 0x92's bit too
  and al, ~2
  out 0x92, al
  mov al, [0x100000 + PROBE]
  mov [RES + 3], al
  call ebp
  mov al, 0xD0                    ; read the output port
  out 0x64, al
.full:
  in al, 0x64
  test al, 1
  jz .full
  in al, 0x60
  mov [RES + 5], al
  call ebp
  mov al, 0xD1                    ; A20 on again
  out 0x64, al
  call ebp
  mov al, 0x03
  out 0x60, al
  call ebp
  in al, 0x92
  or al, 2
  out 0x92, al
  ret

kbc_wait:                         ; until the input buffer is empty
  in al, 0x64
  test al, 2
  jnz kbc_wait
  ret
low_end:

