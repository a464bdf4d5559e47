; call_gate: a far CALL from ring 3 through a 32-bit call gate with DPL 3 to ring-0 code: the
; stack switches to TSS.SS0:ESP0, the gate's parameter count of dwords is copied from the old
; stack, RETF n returns to ring 3 (SDM Vol. 3A, 5.8). A gate with DPL 0 raises #GP from ring 3.
%include "lib.inc"

GATE3 equ GDT_FREE              ; call gate, DPL 3, 2 parameters
GATE0 equ GDT_FREE + 8          ; call gate, DPL 0

; set_call_gate selector, offset, dpl-and-count
%macro set_call_gate 3
  pushad
  mov eax, %2
  mov ebx, eax
  and eax, 0xFFFF
  or eax, KCODE << 16
  mov [gdt + %1], eax
  and ebx, 0xFFFF0000
  or ebx, 0x8C00 | %3            ; P, type 0xC (32-bit call gate)
  mov [gdt + %1 + 4], ebx
  popad
%endmacro

main:
  call catch_exceptions
  set_call_gate GATE3, gate_target, 0x6000 | 2
  set_call_gate GATE0, gate_target, 0x0000 | 2
  set_gate 0x82, report_gate, INT32 | DPL3
  print "call gate from ring 0 (no privilege change): "
  push dword 0x0A0A0A0A
  push dword 0x0B0B0B0B
  call GATE3:0                  ; RETF 8 takes the two parameters off
  print "returned EAX "
  hex eax
  print 10
  mov eax, user_code
  call run_user
  print "ring 3 returned EAX "
  hex eax
  print 10
  ret

report_gate:
  call report_caught
  iretd


gate_target:
  push ebp
  mov ebp, esp
  print "CPL "
  mov ax, cs
  and eax, 3
  udec eax
  print ", params "
  hex [ebp + 12]
  print " "
  hex [ebp + 16]
  print ", caller CS "
  hex4 [ebp + 8]
  mov ax, [ebp + 8]
  test ax, 3
  jz .same
  print ", caller SS "
  hex4 [ebp + 24]
  print ", ESP0 - ESP "
  mov eax, ring0_stack_top
  sub eax, ebp
  udec eax
.same:
  print 10
  mov eax, [ebp + 12]
  add eax, [ebp + 16]
  pop ebp
  retf 8

user_code:
  push dword 0x11110000
  push dword 0x00002222
  call GATE3:0
  mov ebx, eax
  mov dword [resume_eip], .a
  call GATE0:0
.a:
  int 0x82
  mov eax, ebx
  int 0x7F
