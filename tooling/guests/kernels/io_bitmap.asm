; io_bitmap: at CPL 3 with IOPL 0, IN/OUT consult the TSS I/O permission bitmap (SDM Vol. 1,
; 19.5): ring 3 may print on COM1 because its eight ports are allowed; port 0x70 is denied;
; a 16-bit access needs both bits clear; with IOPL 3 every port is allowed and CLI works.
%include "lib.inc"

IOMAP equ 104

main:
  call catch_exceptions
  ; a TSS with the bitmap: every port denied except COM1 0x3F8-0x3FF and port 0x80
  mov edi, tss_io + IOMAP
  mov ecx, 8192 + 1
  mov al, 0xFF
  rep stosb
  mov byte [tss_io + IOMAP + 0x3F8 / 8], 0x00
  mov byte [tss_io + IOMAP + 0x80 / 8], 0xFE
  mov dword [tss_io + 4], ring0_stack_top
  mov dword [tss_io + 8], KDATA
  mov word [tss_io + 102], IOMAP
  set_desc GDT_FREE, tss_io, IOMAP + 8192, 0x89, 0
  mov ax, GDT_FREE
  ltr ax
  set_gate 0x82, report_gate, INT32 | DPL3
  mov eax, user_io
  call run_user
  print "ring 3 with IOPL 3:", 10
  pushfd
  or dword [esp], 3 << 12
  popfd
  mov eax, user_iopl3
  call run_user
  ret

report_gate:
  call report_caught
  iretd

; ring-3 code: prints directly through COM1 (allowed by the bitmap)
user_io:
  print "ring 3 prints on COM1 through the I/O bitmap", 10
  print "out 0x80 (allowed): "
  mov dword [resume_eip], .a
  out 0x80, al
.a:
  int 0x82
  print "in 0x71 (denied): "
  mov dword [resume_eip], .b
  in al, 0x71
.b:
  int 0x82
  print "in 0x81 (denied, next to an allowed one): "
  mov dword [resume_eip], .c
  in al, 0x81
.c:
  int 0x82
  print "16-bit in 0x80 (0x81 denied): "
  mov dword [resume_eip], .d
  in ax, 0x80
.d:
  int 0x82
  print "16-bit in 0x3FE (both allowed): "
  mov dword [resume_eip], .e
  mov dx, 0x3FE
  in ax, dx
.e:
  int 0x82
  print "CLI at IOPL 0: "
  mov dword [resume_eip], .f
  cli
.f:
  int 0x82
  int 0x7F

user_iopl3:
  print "in 0x71 (IOPL 3): "
  mov dword [resume_eip], .a
  in al, 0x71
.a:
  int 0x82
  print "CLI/STI at IOPL 3: "
  mov dword [resume_eip], .b
  cli
  sti
.b:
  int 0x82
  int 0x7F

section .bss
alignb 16
tss_io: resb IOMAP + 8192 + 1
