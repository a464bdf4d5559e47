; exceptions: the exceptions an instruction raises by itself, with their error codes
; (SDM Vol. 3A, 6.15): #DE, #DB (single step), #BP, #OF, #BR, #UD, #NP, #SS, #GP, and that
; faults report the faulting instruction while traps report the next one.
%include "lib.inc"

%macro expect 1
  mov dword [resume_eip], %%next
  mov dword [fault_at], %%insn
%%insn:
  %1
%%next:
  call report
%endmacro

report:
  pushfd
  push eax
  mov eax, [caught_eip]
  cmp eax, [fault_at]
  pop eax
  je .fault
  print "trap  "
  jmp .go
.fault:
  print "fault "
.go:
  call report_caught
  popfd
  ret

main:
  call catch_exceptions
  set_desc GDT_FREE, 0, 0xFFFFF, 0x12, 0xC        ; data, P=0: not present
  set_desc GDT_FREE + 8, 0, 0xFFFFF, 0x92, 0xC    ; a present data segment for SS tests
  set_desc GDT_FREE + 16, 0, 0xFFFFF, 0x98, 0xC   ; execute-only code

  print "#DE: "
  xor ecx, ecx
  expect {div ecx}
  print "#DB: "
  mov dword [resume_eip], .db_next
  mov dword [fault_at], .db_nop
  pushfd
  or dword [esp], 0x100
  popfd
.db_nop:
  nop
.db_next:
  call report
  print "#BP: "
  expect {int3}
  print "#OF: "
  mov al, 0x7F
  add al, 1
  expect {into}
  print "#BR: "
  mov eax, 10
  expect {bound eax, [bounds]}
  print "#UD: "
  expect {ud2}
  print "#NP: "
  mov ax, GDT_FREE
  expect {mov ds, ax}
  print "#GP: "
  mov ax, 0x1234
  expect {mov es, ax}
  print "#GP: "
  expect {mov ss, ax}
  print "ok:  "
  mov ax, KCODE                                   ; a readable code segment may go to DS
  expect {mov ds, ax}
  mov ax, KDATA
  mov ds, ax
  print "#GP: "
  mov ax, GDT_FREE + 16                           ; an execute-only one may not
  expect {mov ds, ax}
  print "#GP: "
  mov dword [idt + 0x90 * 8 + 4], 0                ; not present and DPL 0
  expect {int 0x90}
  print "#SS: "
  mov ax, GDT_FREE
  expect {mov ss, ax}
  print "#UD: "
  expect {mov eax, cr1}
  print "#DE: "
  mov eax, 0
  mov edx, 1
  mov ecx, 1
  expect {div ecx}
  print "ok:  "
  mov edx, 0
  mov eax, 100
  mov ecx, 7
  expect {div ecx}
  print "quotient "
  udec eax
  print " remainder "
  udec edx
  print 10
  ret

section .data
bounds: dd 0, 5
fault_at: dd 0
