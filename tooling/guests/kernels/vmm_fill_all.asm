; vmm_fill_all: the monitor's scenarios (c) and (d), claims 10, 11 and 12. The kernel maps
; every page of the 4 GiB linear space (1024 4 MiB pages), so a monitor has no unused region
; left for its stub: it must take a random region and keep serving the guest's content there
; from its own side. The kernel then writes and reads every page of the space, checking each
; value through another mapping of the same frame (aliases stay coherent, nothing is a copy),
; and finally hammers the upper quarter of the space over and over, the way a guest that
; keeps touching the stub's region would: the monitor should move the stub away until it
; finds a quiet place. Bare, all of this is plain memory traffic.
;
; Mapping: slots 0-15 (0..64 MiB) are the identity; slot i >= 16 maps physical slot 8 + (i & 7),
; so slots i and i ^ 8 alias the same 4 MiB of RAM (32..64 MiB). Needs 64 MiB of RAM.
%include "lib.inc"

HAMMER_FROM  equ 768            ; slots 768..1023: the upper quarter
HAMMER_PASSES equ 3

main:
  mov edi, pd
  xor ebx, ebx
.slot:
  mov eax, ebx
  cmp ebx, 16
  jb .identity
  and eax, 7
  add eax, 8
.identity:
  shl eax, 22
  or eax, 0x83                  ; PS|RW|P
  mov [edi + ebx * 4], eax
  inc ebx
  cmp ebx, 1024
  jb .slot
  mov eax, cr4
  or eax, 0x10
  mov cr4, eax
  mov eax, pd
  mov cr3, eax
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax
  print "all 4 GiB mapped", 10

  ; (c) every page from 64 MiB up: write a value that depends only on the physical address,
  ; then read it back through the other alias of the same frame.
  mov esi, 0x04000000
.write:
  mov eax, esi
  and eax, 0x01FFFFFF           ; offset in the 32 MiB that slots >= 16 share
  xor eax, 0x5EED0000
  mov [esi], eax
  mov [esi + 0x800], esi
  mov edx, esi
  xor edx, 0x02000000           ; slot i ^ 8: same frame
  cmp [edx], eax
  jne .bad
  add esi, 4096
  jnz .write
  print "every page written, each read back through its alias", 10
  mov esi, 0x04000000
.verify:
  mov eax, esi
  and eax, 0x01FFFFFF
  xor eax, 0x5EED0000
  cmp [esi], eax
  jne .bad
  ; the last writer of +0x800 was the highest alias: slot 1016 + (i & 7)
  mov eax, esi
  or eax, 0xFE000000
  cmp [esi + 0x800], eax
  jne .bad
  add esi, 4096
  jnz .verify
  print "every page verified", 10

  ; (d) hammer the upper quarter: sixteen dwords of every page, pass after pass
  xor ebp, ebp
.pass:
  mov esi, HAMMER_FROM << 22
.page:
  xor ecx, ecx
.dword:
  mov eax, [esi + ecx]
  add ecx, 256
  cmp ecx, 4096
  jb .dword
  mov eax, esi
  and eax, 0x01FFFFFF
  xor eax, 0x5EED0000
  cmp [esi], eax
  jne .bad
  add esi, 4096
  jnz .page
  inc ebp
  cmp ebp, HAMMER_PASSES
  jb .pass
  print "upper quarter hammered "
  udec ebp
  print " times, contents intact", 10
  ret
.bad:
  print "MISMATCH at "
  hex esi
  print 10
  exit_with 1

section .bss
alignb 4096
pd: resb 4096
