; rdtsc: the time-stamp counter moves forward (two reads, the second larger), RDTSC works at
; ring 3 while CR4.TSD is clear and raises #GP(0) there when it is set (SDM Vol. 2B, RDTSC).
; No counter value is printed: it differs between machines and runs.
%include "lib.inc"

main:
  call catch_exceptions
  set_gate 0x82, report_gate, INT32 | DPL3
  rdtsc
  mov esi, eax
  mov edi, edx
  mov ecx, 1000
.spin:
  loop .spin
  rdtsc
  sub eax, esi
  sbb edx, edi
  print "second read larger: "
  mov ebx, eax
  or ebx, edx
  setnz bl
  test edx, edx
  js .neg
  movzx eax, bl
  udec eax
  jmp .p
.neg:
  print "0 (went backwards)"
.p:
  print 10
  print "ring 3, TSD=0: "
  mov eax, user_code
  call run_user
  mov eax, cr4
  or eax, 4
  mov cr4, eax
  print "ring 3, TSD=1: "
  mov eax, user_code
  call run_user
  print "ring 0, TSD=1: "
  mov dword [resume_eip], .r0
  rdtsc
.r0:
  call report_caught
  ret

report_gate:
  call report_caught
  iretd

user_code:
  mov dword [resume_eip], .a
  rdtsc
.a:
  int 0x82
  int 0x7F
