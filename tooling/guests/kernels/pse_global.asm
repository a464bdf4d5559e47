; pse_global: CR4.PSE 4 MiB pages (a PDE with PS maps 4 MiB; the offset is 22 bits),
; CR4.PGE with global pages, INVLPG making a changed PTE take effect, and a CR3 load making a
; changed non-global PTE take effect (SDM Vol. 3A, 4.3, 4.10.4). Only behaviour every correct
; TLB shows is printed: a stale entry may or may not survive, so none is looked at.
%include "lib.inc"

WINDOW equ 0x700000            ; a 4 KiB window whose PTE this kernel retargets
FRAME1 equ 0x200000
FRAME2 equ 0x201000
BIGLIN equ 0x1000000           ; 16 MiB linear -> 32 MiB physical through one 4 MiB page
BIGPHY equ 0x2000000

main:
  call catch_exceptions
  mov dword [FRAME1], 0x11111111
  mov dword [FRAME2], 0x22222222
  mov dword [BIGPHY + 0x3FFFFC], 0x44444444
  mov dword [BIGPHY + 0x123458], 0x33333333
  mov eax, 3
  call paging_build
  mov dword [page_dir + (BIGLIN >> 22) * 4], BIGPHY | 0x183   ; G|PS|RW|P
  mov eax, cr4
  or eax, 0x10 | 0x80           ; PSE, PGE
  mov cr4, eax
  print "CR4 "
  hex eax
  print 10
  ; the window maps FRAME1, as a global page
  mov eax, WINDOW
  call pte_of
  mov dword [eax], FRAME1 | 0x103
  call paging_on
  print "4M page read:       "
  hex [BIGLIN + 0x123458]
  print " last dword "
  hex [BIGLIN + 0x3FFFFC]
  print 10
  mov dword [BIGLIN + 0x10], 0x55555555
  print "4M page write seen at physical: "
  call paging_off
  hex [BIGPHY + 0x10]
  call paging_on
  print 10
  print "4M page end:        "
  mov dword [resume_eip], .e
  mov eax, [BIGLIN + 0x400000]
.e:
  call report_caught
  print "window:             "
  hex [WINDOW]
  print 10
  mov eax, WINDOW
  call pte_of
  mov dword [eax], FRAME2 | 0x103
  invlpg [WINDOW]
  print "after INVLPG:       "
  hex [WINDOW]
  print 10
  ; now non-global, retargeted back, and made visible by reloading CR3
  mov ebx, eax
  mov dword [ebx], FRAME1 | 0x003
  invlpg [WINDOW]
  mov eax, [WINDOW]
  mov dword [ebx], FRAME2 | 0x003
  mov eax, cr3
  mov cr3, eax
  print "after CR3 reload:   "
  hex [WINDOW]
  print 10
  mov dword [ebx], 0
  invlpg [WINDOW]
  print "not present:        "
  mov dword [resume_eip], .n
  mov eax, [WINDOW + 8]
.n:
  call report_caught
  ; clearing CR4.PGE flushes everything, global entries too
  mov dword [ebx], FRAME1 | 0x103
  invlpg [WINDOW]
  mov eax, [WINDOW]
  mov dword [ebx], FRAME2 | 0x103
  mov eax, cr4
  and eax, ~0x80
  mov cr4, eax
  print "after PGE off:      "
  hex [WINDOW]
  print 10
  ret
