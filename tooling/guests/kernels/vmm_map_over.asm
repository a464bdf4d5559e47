; vmm_map_over: the monitor's scenario (a), claims 1, 5 and 9. The kernel maps the top 4 MiB
; of the linear space, where a monitor likes to keep its stub, by writing a page-table entry
; while paging is on, then by loading CR3 with a second page directory that maps the 4 MiB
; below as well, and uses every page it mapped. Bare, this is ordinary paging; under the
; monitor each step may put guest memory where the stub sits, and the stub must move out of
; the way to a region the guest does not use, without the guest seeing a difference.
%include "lib.inc"

TOP     equ 0xFFC00000          ; the last 4 MiB of the linear space
NEXT    equ 0xFF800000          ; the 4 MiB below it
BACKING equ 0x00400000          ; physical 4..8 MiB (identity-mapped too) backs both windows

main:
  mov eax, 3
  call paging_build             ; identity 0..8 MiB, supervisor read/write
  call paging_on
  print "paging on", 10

  ; A page table for the top 4 MiB: page j -> BACKING + j * 4 KiB.
  mov edi, pt_top
  mov eax, BACKING | 3
  mov ecx, 1024
.fill_top:
  stosd
  add eax, 4096
  loop .fill_top
  ; The page-table write that puts guest memory over the stub (claim 5: the monitor must see it).
  mov dword [page_dir + (TOP >> 22) * 4], pt_top + 3
  print "top 4 MiB mapped", 10
  mov esi, TOP
  call stamp_and_check
  print "top 4 MiB: every page written and read back through its alias", 10

  ; A second address space: the same plus the 4 MiB below the top (a CR3 load, claim 5).
  mov esi, page_dir
  mov edi, page_dir2
  mov ecx, 1024
  rep movsd
  mov edi, pt_next
  mov eax, BACKING | 3
  mov ecx, 1024
.fill_next:
  stosd
  add eax, 4096
  loop .fill_next
  mov dword [page_dir2 + (NEXT >> 22) * 4], pt_next + 3
  mov eax, page_dir2
  mov cr3, eax
  print "second address space loaded", 10
  mov esi, NEXT
  call stamp_and_check
  mov esi, TOP
  call stamp_and_check
  print "8 MiB at the top: every page written and read back", 10
  ret

; stamp_and_check: ESI = a 4 MiB window backed by BACKING. Writes each page's linear address
; into its first and last dword, then reads both back through the identity alias of BACKING.
stamp_and_check:
  pushad
  xor ecx, ecx
.stamp:
  lea edi, [esi + ecx]
  mov [edi], edi
  mov eax, edi
  not eax
  mov [edi + 4092], eax
  add ecx, 4096
  cmp ecx, 0x400000
  jb .stamp
  xor ecx, ecx
.check:
  lea edi, [esi + ecx]
  mov eax, [BACKING + ecx]      ; the same frame through the identity mapping
  cmp eax, edi
  jne .bad
  mov eax, [BACKING + ecx + 4092]
  not eax
  cmp eax, edi
  jne .bad
  add ecx, 4096
  cmp ecx, 0x400000
  jb .check
  popad
  ret
.bad:
  print "MISMATCH at "
  hex edi
  print 10
  exit_with 1

section .bss
alignb 4096
pt_top:    resb 4096
pt_next:   resb 4096
page_dir2: resb 4096
