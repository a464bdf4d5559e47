; task_cr3: with paging on, a hardware task switch loads CR3 from the new TSS (SDM Vol. 3A,
; 7.3 step 8, and 7.5): the same linear page shows a different frame in each task. A switch does
; not save CR3 into the old task's TSS (7.3 step 5 lists what it saves), so the way back loads
; whatever TSS0.CR3 holds: here a copy of the first directory, which shows that it was loaded.
%include "lib.inc"

WINDOW equ 0x400000             ; linear page mapped differently in the two address spaces
FRAME0 equ 0x300000
FRAME1 equ 0x301000

main:
  mov dword [FRAME0], 0xAAAA0000
  mov dword [FRAME1], 0xBBBB1111
  ; address space 0: lib's identity map with WINDOW -> FRAME0
  mov eax, 3
  call paging_build
  mov eax, WINDOW
  call pte_of
  mov dword [eax], FRAME0 | 3
  ; address space 1: a copy of the directory, its own table for 4..8 MiB with WINDOW -> FRAME1
  mov esi, page_dir
  mov edi, pd1
  mov ecx, 1024
  rep movsd
  mov esi, page_tables + 4096
  mov edi, pt1
  mov ecx, 1024
  rep movsd
  mov dword [pt1], FRAME1 | 3
  mov eax, pt1
  or eax, 3
  mov [pd1 + 4], eax
  mov esi, page_dir
  mov edi, pd0b
  mov ecx, 1024
  rep movsd
  mov dword [tss0 + 28], pd0b
  call paging_on
  print "task 0 sees "
  hex [WINDOW]
  print 10
  mov dword [tss1 + 28], pd1
  mov dword [tss1 + 32], task1
  mov dword [tss1 + 36], 2
  mov dword [tss1 + 56], task_stack_top
  mov dword [tss1 + 72], KDATA
  mov dword [tss1 + 76], KCODE
  mov dword [tss1 + 80], KDATA
  mov dword [tss1 + 84], KDATA
  mov dword [tss1 + 88], KDATA
  mov dword [tss1 + 92], KDATA
  mov word [tss1 + 102], 104
  set_desc TSS1, tss1, 103, 0x89, 0
  call TSS1:0
  print "back in task 0: sees "
  hex [WINDOW]
  print ", CR3 loaded from TSS0 (the copy) "
  mov eax, cr3
  cmp eax, pd0b
  sete al
  movzx eax, al
  udec eax
  print 10
  call paging_off
  ret

task1:
  print "task 1 sees "
  hex [WINDOW]
  print ", CR3 is pd1 "
  mov eax, cr3
  cmp eax, pd1
  sete al
  movzx eax, al
  udec eax
  print 10
  iretd

section .bss
alignb 4096
pd1: resb 4096
pd0b: resb 4096
pt1: resb 4096
task_stack: resb 4096
task_stack_top:
