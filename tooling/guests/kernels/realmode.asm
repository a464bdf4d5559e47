; realmode: protected mode -> real mode -> protected mode, as SDM Vol. 3A 9.9.2 describes: a
; far jump to a 16-bit segment with real-mode-like limits, clear CR0.PE, a far jump to load a
; real-mode CS, segment:offset addressing (segment * 16 + offset), then back to 32-bit protected
; mode. The real-mode part runs from a copy below 64 KiB and prints through COM1 itself.
%include "lib.inc"

LOW equ 0x8000
%define L(x) ((x) - low_start + LOW)

main:
  mov esi, low_start
  mov edi, LOW
  mov ecx, low_end - low_start
  rep movsb
  mov eax, cr0
  print "CR0.PE before: "
  and eax, 1
  udec eax
  print 10
  mov [saved_esp], esp
  jmp LOW
back32:
  mov ax, KDATA
  mov ds, ax
  mov es, ax
  mov fs, ax
  mov gs, ax
  mov ss, ax
  mov esp, [saved_esp]
  print "back in 32-bit protected mode, CR0.PE "
  mov eax, cr0
  and eax, 1
  udec eax
  print 10, "MSW read in real mode: PE "
  movzx eax, word [0x8F04]
  and eax, 1
  udec eax
  print 10, "word written at 0800:0F00 seen at linear 0x8F00: "
  hex4 [0x8F00]
  print 10, "word written at FFFF:0010 seen at linear 0x100000: "
  hex4 [0x100000]
  print 10, "return IP the real-mode CALL pushed at 0000:7BFE: "
  hex4 [0x7BFE]
  print 10
  ret

low_start:
  jmp CODE16:L(pm16)
bits 16
pm16:
  mov ax, DATA16
  mov ds, ax
  mov es, ax
  mov ss, ax
  mov eax, cr0
  and eax, ~1
  mov cr0, eax
  jmp 0x0000:L(real)
real:
  xor ax, ax
  mov ds, ax
  mov ss, ax
  mov sp, 0x7C00
  mov si, L(msg)
  mov bx, L(rputs)              ; absolute: this code runs from its copy
  call bx
  mov ax, 0x0800
  mov es, ax
  mov word [es:0x0F00], 0xBEEF
  smsw [0x8F04]
  mov ax, 0xFFFF                  ; with A20 on, FFFF:0010 is 1 MiB, not a wrap to 0
  mov es, ax
  mov bx, [es:0x0010]
  mov word [es:0x0010], 0x1234
  push word 0xCAFE
  add sp, 2
  mov si, L(msg2)
  mov bx, L(rputs)              ; absolute: this code runs from its copy
  call bx
  mov eax, cr0
  or eax, 1
  mov cr0, eax
  jmp dword KCODE:back32

rputs:
  mov dx, COM1 + 5
.w:
  in al, dx
  test al, 0x20
  jz .w
  mov al, [si]
  test al, al
  jz .d
  mov dx, COM1
  out dx, al
  inc si
  jmp rputs
.d:
  ret

msg: db "in real mode: CS=0, printing with 16-bit code", 10, 0
msg2: db "leaving real mode", 10, 0
bits 32
low_end:

section .data
saved_esp: dd 0
