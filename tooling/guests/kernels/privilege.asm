; privilege: ring 0 -> ring 3 with IRET, and back through an interrupt gate with DPL 3: the CPU
; switches to the stack in TSS.SS0:ESP0 and pushes the ring-3 SS:ESP (SDM Vol. 3A, 6.12.1).
; A gate with DPL 0 used from ring 3 raises #GP(vector * 8 + 2); CLI at IOPL 0 raises #GP(0).
%include "lib.inc"

main:
  call catch_exceptions
  set_gate 0x80, ring0_handler, INT32 | DPL3
  set_gate 0x81, ring0_handler, INT32
  set_gate 0x82, report_gate, INT32 | DPL3
  ; a ring-0 stack of its own so the switch is visible
  mov dword [tss0 + 4], r0_stack_top
  mov eax, user_code
  call run_user
  print "back in ring 0, CPL "
  mov ax, cs
  and eax, 3
  udec eax
  print 10
  ret

ring0_handler:
  mov [frame_esp], esp
  pushad
  print "handler: CPL "
  mov ax, cs
  and eax, 3
  udec eax
  print ", SS "
  mov ax, ss
  hex4 eax
  print ", ESP = TSS.ESP0 - "
  mov eax, r0_stack_top
  sub eax, [frame_esp]
  udec eax
  mov ebx, [frame_esp]
  print ", frame CS "
  hex4 [ebx + 4]
  print " SS "
  hex4 [ebx + 16]
  print " ESP = user stack top - "
  mov eax, user_stack_top
  sub eax, [ebx + 12]
  udec eax
  print 10
  popad
  iretd

user_code:
  mov eax, 0x11111111
  int 0x80
  ; the fault handlers print from ring 0, then resume here in ring 3
  mov dword [resume_eip], .a
  int 0x81
.a:
  call report_caught_user
  mov dword [resume_eip], .b
  cli
.b:
  call report_caught_user
  mov dword [resume_eip], .c
  mov ax, KDATA
  mov ds, ax
.c:
  call report_caught_user
  int 0x7F

; ring 3 cannot print (no I/O permission); ask ring 0 through INT 0x82
report_caught_user:
  int 0x82
  ret

report_gate:
  call report_caught
  iretd

section .bss
alignb 16
r0_stack: resb 4096
r0_stack_top:
frame_esp: resd 1
