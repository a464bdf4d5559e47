; vmm_tables_over: the monitor's scenario (b), claims 1, 5 and 9. Before turning paging on,
; the kernel maps the top 4 MiB with one 4 MiB page, so that enabling paging is the event that
; puts guest memory over the stub; then it moves its own GDT and IDT to the top of the linear
; space (LGDT, LIDT), reloads every segment register from there and takes interrupts through
; the new IDT. Bare, nothing special; under the monitor, the stub must have left that region.
%include "lib.inc"

TOP      equ 0xFFC00000
BACKING  equ 0x00C00000         ; physical 12..16 MiB behind the top 4 MiB
NEW_GDT  equ 0xFFFFE000         ; linear addresses in the top region
NEW_IDT  equ 0xFFFFF000

main:
  mov eax, 3
  call paging_build
  mov dword [page_dir + (TOP >> 22) * 4], BACKING | 0x83    ; PS|RW|P
  mov eax, cr4
  or eax, 0x10                  ; CR4.PSE
  mov cr4, eax
  call paging_on                ; the event: paging on with the top 4 MiB mapped
  print "paging on with the top 4 MiB mapped", 10

  ; copy the GDT and the IDT into the top page pair
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
  mov fs, ax
  mov gs, ax
  mov ss, ax
  sgdt [table_desc]
  print "GDT at "
  hex [table_desc + 2]
  sidt [table_desc]
  print " IDT at "
  hex [table_desc + 2]
  print 10

  ; an interrupt through the moved IDT: a gate written into the copy
  mov eax, 0x30
  mov ebx, int30
  mov ecx, KCODE
  mov edx, INT32
  call gate_at_top
  mov eax, 7
  int 0x30
  print "int 0x30 through the moved IDT returned "
  hex eax
  print 10
  ; a fault through it: #PF on an unmapped page, caught by the copied handlers
  mov eax, 14
  mov ebx, pf_handler
  mov ecx, KCODE
  mov edx, INT32
  call gate_at_top
  mov dword [0x20000000], 1     ; not mapped
  print "page fault handled, cr2 "
  hex [fault_cr2]
  print 10
  ret

int30:
  add eax, 0x100
  iretd

pf_handler:
  push eax
  mov eax, cr2
  mov [fault_cr2], eax
  ; map the page (4 MiB page at 0x20000000 -> physical 8 MiB) and retry
  mov dword [page_dir + (0x20000000 >> 22) * 4], 0x00800000 | 0x83
  pop eax
  add esp, 4
  iretd

; gate_at_top: like idt_set, but in the IDT copy at NEW_IDT. EAX vector, EBX handler, ECX selector, EDX type.
gate_at_top:
  push edi
  lea edi, [NEW_IDT + eax * 8]
  mov [edi], bx
  mov [edi + 2], cx
  mov byte [edi + 4], 0
  mov [edi + 5], dl
  shr ebx, 16
  mov [edi + 6], bx
  pop edi
  ret

section .data
table_desc: dw 0
            dd 0
fault_cr2:  dd 0
