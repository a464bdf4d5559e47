; cmpxchg8b: compares EDX:EAX with m64; equal: ZF=1 and ECX:EBX is stored; different: ZF=0
; and m64 is loaded into EDX:EAX (SDM Vol. 2A, CMPXCHG8B). A register operand is #UD.
%include "lib.inc"

%macro show 0
  setz cl
  movzx ecx, cl
  print "ZF "
  udec ecx
  print " EDX:EAX "
  hex edx
  hex eax
  print " m64 "
  hex [qword_value + 4]
  hex [qword_value]
  print 10
%endmacro

main:
  call catch_exceptions
  print "equal:     "
  mov edx, 0x11111111
  mov eax, 0x22222222
  mov ecx, 0x33333333
  mov ebx, 0x44444444
  cmpxchg8b [qword_value]
  show
  print "different: "
  mov edx, 0x11111111
  mov eax, 0x22222222
  mov ecx, 0x55555555
  mov ebx, 0x66666666
  cmpxchg8b [qword_value]
  show
  print "locked:    "
  mov edx, 0x33333333
  mov eax, 0x44444444
  mov ecx, 0x77777777
  mov ebx, 0x88888888
  lock cmpxchg8b [qword_value]
  show
  print "register operand: "
  mov dword [resume_eip], .r
  db 0x0F, 0xC7, 0xC8                     ; cmpxchg8b eax: mod=11 is undefined
.r:
  call report_caught
  ret

section .data
align 8
qword_value: dd 0x22222222, 0x11111111
