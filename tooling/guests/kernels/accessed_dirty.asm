; accessed_dirty: the processor sets PDE.A and PTE.A on the first access through them and PTE.D
; on the first write (SDM Vol. 3A, 4.8), also when the translation was cached by a read; a 4 MiB
; PDE gets A and D itself. CR0.WP decides whether ring 0 may write a read-only page.
%include "lib.inc"

PAGE_A equ 0x500000
PAGE_B equ 0x501000
BIG    equ 0x800000             ; a 4 MiB page (PDE 2), identity mapped

%macro show 1                   ; show "name", PTE/PDE address in EAX
  push eax
  print %1
  mov eax, [eax]
  and eax, 0x60
  shr eax, 5
  print "A="
  push eax
  and eax, 1
  udec eax
  pop eax
  shr eax, 1
  print " D="
  udec eax
  print 10
  pop eax
%endmacro

main:
  call catch_exceptions
  mov eax, 3                    ; P|RW, A=D=0 everywhere
  call paging_build
  mov dword [page_dir + 8], BIG | 0x83   ; PS|RW|P, A=D=0
  mov eax, cr4
  or eax, 0x10
  mov cr4, eax
  call paging_on
  mov eax, page_dir + 4
  show "PDE 1 before:        "
  mov eax, PAGE_A
  call pte_of
  show "PTE A before:        "
  mov ebx, [PAGE_A]
  show "PTE A after read:    "
  mov eax, page_dir + 4
  show "PDE 1 after read:    "
  mov eax, PAGE_A
  call pte_of
  mov dword [PAGE_A], 5
  show "PTE A after write:   "
  mov eax, PAGE_B
  call pte_of
  mov dword [PAGE_B], 5
  show "PTE B after write:   "
  mov eax, page_dir + 8
  show "4M PDE before:       "
  mov ebx, [BIG + 0x1234]
  show "4M PDE after read:   "
  mov dword [BIG + 0x1234], 7
  show "4M PDE after write:  "
  ; clearing A and D by hand takes effect after INVLPG: the next write sets them again
  mov eax, PAGE_A
  call pte_of
  and dword [eax], ~0x60
  invlpg [PAGE_A]
  mov dword [PAGE_A], 6
  show "PTE A cleared, write:"

  ; CR0.WP: ring 0 writes to a read-only page succeed with WP=0 and fault with WP=1
  mov eax, PAGE_B
  call pte_of
  and dword [eax], ~2
  invlpg [PAGE_B]
  print "WP=0 write read-only: "
  mov dword [resume_eip], .w0
  mov dword [PAGE_B], 0x1111
.w0:
  call report_caught
  mov eax, cr0
  or eax, 1 << 16
  mov cr0, eax
  print "WP=1 write read-only: "
  mov dword [resume_eip], .w1
  mov dword [PAGE_B + 4], 0x2222
.w1:
  call report_caught
  print "CR0.WP "
  mov eax, cr0
  shr eax, 16
  and eax, 1
  udec eax
  print ", value written with WP=0 "
  hex [PAGE_B]
  print 10
  ret
