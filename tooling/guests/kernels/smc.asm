; smc: self-modifying code (SDM Vol. 3A, 8.1.3): a store into code that is about to run takes
; effect, whether the code was executed before (a decoded-instruction cache must notice) or the
; store is in the same page as the running code, and a store through a second linear mapping
; of the same frame (paging) too, after a jump.
%include "lib.inc"

ALIAS equ 0x600000              ; a second mapping of the page that holds `patched`

main:
  print "first run:         "
  call patched
  hex eax
  print 10
  mov dword [patched + 1], 0x22222222       ; the imm32 of "mov eax, imm32"
  print "after a store:     "
  call patched
  hex eax
  print 10
  ; a loop that rewrites its own next instruction
  mov ecx, 3
  xor ebx, ebx
.loop:
  mov byte [.inc + 2], cl                   ; "add ebx, imm8": patch the imm8
  jmp .inc
.inc:
  add ebx, 0x7F
  loop .loop
  print "loop sum (3+2+1):  "
  udec ebx
  print 10
  ; through paging: map the code's page a second time and patch through that mapping
  mov eax, 3
  call paging_build
  mov eax, patched
  and eax, 0xFFFFF000
  mov ebx, eax
  mov eax, ALIAS
  call pte_of
  or ebx, 3
  mov [eax], ebx
  call paging_on
  mov eax, patched
  and eax, 0xFFF
  mov dword [ALIAS + eax + 1], 0x33333333
  jmp .after
.after:
  print "through an alias:  "
  call patched
  hex eax
  print 10
  call paging_off
  ret

patched:
  mov eax, 0x11111111
  ret
