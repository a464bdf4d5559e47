; vmm_demo: the built-in demo guest of `pagurus demo` (`pnpm start`), the invention in one
; kernel. Each step is ordinary for a bare machine; under the monitor each one is a reason for
; the stub to move (the console shows the moves as they happen):
;   1. paging on, then the top 4 MiB mapped by a page-table write (where monitors keep their
;      stub): the stub must move to a region the guest leaves unused (claims 1, 5, 9);
;   2. the GDT and IDT moved into the top of the space, where the stub was (claims 1, 5);
;   3. a new address space that maps all 4 GiB: no unused region is left, the stub takes a
;      random one and the core serves the guest's content there (claims 10, 11);
;   4. the upper 64 MiB hammered pass after pass: if the stub's region is there it is hot, and
;      the monitor moves it until it finds a quiet place (claim 12);
;   5. every page of the upper 64 MiB verified, then exit.
; Needs 64 MiB of RAM.
%include "lib.inc"

TOP        equ 0xFFC00000
BACKING    equ 0x00400000         ; physical 4..8 MiB backs the top 4 MiB in step 1
NEW_GDT    equ 0xFFFFE000
NEW_IDT    equ 0xFFFFF000
HAMMER     equ 0xFC000000         ; the upper 64 MiB
PASSES     equ 48

main:
  print "step 1: paging on, then the top 4 MiB mapped", 10
  mov eax, 3
  call paging_build
  call paging_on
  mov edi, pt_top
  mov eax, BACKING | 3
  mov ecx, 1024
.fill_top:
  stosd
  add eax, 4096
  loop .fill_top
  mov dword [page_dir + (TOP >> 22) * 4], pt_top + 3
  mov dword [TOP + 0x3FF000], 0x600D600D
  cmp dword [BACKING + 0x3FF000], 0x600D600D
  jne bad

  print "step 2: GDT and IDT moved to the top of the space", 10
  mov esi, gdt
  mov edi, NEW_GDT
  mov ecx, (gdt_end - gdt) / 4
  rep movsd
  mov esi, idt
  mov edi, NEW_IDT
  mov ecx, 256 * 2
  rep movsd
  mov word [table_desc], gdt_end - gdt - 1
  mov dword [table_desc + 2], NEW_GDT
  lgdt [table_desc]
  mov word [table_desc], 256 * 8 - 1
  mov dword [table_desc + 2], NEW_IDT
  lidt [table_desc]
  jmp KCODE:.reloaded
.reloaded:
  mov ax, KDATA
  mov ds, ax
  mov es, ax
  mov ss, ax
  mov eax, 0x30
  mov ebx, int30
  lea edi, [NEW_IDT + eax * 8]
  mov [edi], bx
  mov word [edi + 2], KCODE
  mov word [edi + 4], 0x8E00
  shr ebx, 16
  mov [edi + 6], bx
  mov eax, 41
  int 0x30
  cmp eax, 42
  jne bad

  print "step 3: all 4 GiB mapped", 10
  ; slots 0-15 identity (the kernel's 64 MiB), every other slot onto physical 32..64 MiB
  mov edi, pd_all
  xor ebx, ebx
.slot:
  mov eax, ebx
  cmp ebx, 16
  jb .identity
  and eax, 7
  add eax, 8
.identity:
  shl eax, 22
  or eax, 0x83
  mov [edi + ebx * 4], eax
  inc ebx
  cmp ebx, 1024
  jb .slot
  ; the GDT/IDT copies must stay reachable: slot 1023 keeps mapping them (physical 4..8 MiB
  ; as 4 KiB pages: it was pt_top), but as a 4 MiB page onto the same frames
  mov dword [pd_all + 1023 * 4], BACKING | 0x83
  mov eax, cr4
  or eax, 0x10
  mov cr4, eax
  mov eax, pd_all
  mov cr3, eax
  mov eax, 43
  int 0x30
  cmp eax, 44
  jne bad

  print "step 4: the upper 64 MiB hammered, "
  udec PASSES
  print " passes", 10
  ; first a value in every page (it depends only on the frame), then read, read, read
  mov esi, HAMMER
.stamp:
  mov eax, esi
  and eax, 0x01FFFFFF
  xor eax, 0x5EED0000
  mov [esi], eax
  add esi, 4096
  cmp esi, TOP
  jb .stamp
  xor ebp, ebp
.pass:
  mov esi, HAMMER
.page:
  xor ecx, ecx
.dword:
  mov eax, [esi + ecx]
  add ecx, 256
  cmp ecx, 4096
  jb .dword
  add esi, 4096
  cmp esi, TOP
  jb .page
  inc ebp
  cmp ebp, PASSES
  jb .pass

  print "step 5: every page of the upper 64 MiB verified", 10
  mov esi, HAMMER
.verify:
  mov eax, esi
  and eax, 0x01FFFFFF
  xor eax, 0x5EED0000
  cmp [esi], eax
  jne bad
  add esi, 4096
  cmp esi, TOP
  jb .verify
  print "demo guest done", 10
  ret

int30:
  inc eax
  iretd

bad:
  print "MISMATCH", 10
  exit_with 1

section .data
table_desc: dw 0
            dd 0

section .bss
alignb 4096
pt_top: resb 4096
pd_all: resb 4096
