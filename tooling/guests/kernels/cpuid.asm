; cpuid: EFLAGS.ID can be toggled (the CPUID-present test), the vendor string, the family, and
; the feature bits this project's machine promises as QEMU's -cpu pentium2 does (SDM Vol. 2A,
; CPUID): PSE, TSC, CX8, PGE, CMOV. Model, stepping and the other bits are not compared, nor
; is FPU: pagurus has no x87 yet and says so (issue 4), where QEMU's pentium2 has one.
%include "lib.inc"

%macro feature 2                ; feature "name", bit
  print %1
  bt edx, %2
  setc al
  movzx eax, al
  udec eax
  print 10
%endmacro

main:
  pushfd
  pop eax
  mov ebx, eax
  xor eax, 1 << 21
  push eax
  popfd
  pushfd
  pop eax
  xor eax, ebx
  shr eax, 21
  and eax, 1
  print "EFLAGS.ID toggles: "
  udec eax
  print 10
  xor eax, eax
  cpuid
  mov [vendor], ebx
  mov [vendor + 4], edx
  mov [vendor + 8], ecx
  print "max basic leaf >= 1: "
  cmp eax, 1
  setae al
  movzx eax, al
  udec eax
  print 10, "vendor: "
  mov esi, vendor
  mov ecx, 12
.v:
  mov al, [esi]
  call putc
  inc esi
  loop .v
  print 10
  mov eax, 1
  cpuid
  print "family: "
  shr eax, 8
  and eax, 0xF
  udec eax
  print 10
  feature "PSE: ", 3
  feature "TSC: ", 4
  feature "CX8: ", 8
  feature "PGE: ", 13
  feature "CMOV: ", 15
  ret

section .data
vendor: times 12 db 0
