; pagefault: every #PF error code a 32-bit non-PAE CPU can report (SDM Vol. 3A, 4.7): P (0 not
; present / 1 protection), W/R, U/S, for reads, writes and instruction fetches, with CR2.
%include "lib.inc"

NP_PAGE  equ 0x400000           ; PTE not present
SUP_PAGE equ 0x401000           ; present, writable, supervisor only
RO_PAGE  equ 0x402000           ; present, user, read only

%macro case 2                   ; case "label", instruction
  print %1
  mov dword [resume_eip], %%next
  %2
%%next:
  call report_caught
%endmacro

main:
  call catch_exceptions
  mov eax, 7
  call paging_build
  mov eax, NP_PAGE
  call pte_of
  and dword [eax], ~1
  mov eax, SUP_PAGE
  call pte_of
  and dword [eax], ~4
  mov eax, RO_PAGE
  call pte_of
  and dword [eax], ~2
  call paging_on

  case "supervisor read, not present:     ", {mov eax, [NP_PAGE + 0x10]}
  case "supervisor write, not present:    ", {mov dword [NP_PAGE + 0x20], 1}
  case "supervisor fetch, not present:    ", {jmp NP_PAGE + 0x30}
  case "supervisor write, read-only WP=0: ", {mov dword [RO_PAGE], 1}
  mov eax, cr0
  or eax, 1 << 16
  mov cr0, eax
  case "supervisor write, read-only WP=1: ", {mov dword [RO_PAGE + 4], 1}
  case "supervisor read, user page:       ", {mov eax, [RO_PAGE + 8]}
  set_gate 0x82, report_gate, INT32 | DPL3
  mov eax, user_code
  call run_user
  print "done", 10
  ret

; Ring 3 has no I/O permission, so the user cases are named and reported from ring 0, in order.
report_gate:
  pushad
  mov eax, [label_no]
  inc dword [label_no]
  mov esi, [user_labels + eax * 4]
.c:
  mov al, [esi]
  inc esi
  test al, al
  jz .d
  call putc
  jmp .c
.d:
  popad
  call report_caught
  iretd

user_code:
  mov dword [resume_eip], .u1
  mov eax, [NP_PAGE + 0x40]
.u1:
  int 0x82
  mov dword [resume_eip], .u2
  mov dword [NP_PAGE + 0x50], 1
.u2:
  int 0x82
  mov dword [resume_eip], .u3
  mov eax, [SUP_PAGE + 0x60]
.u3:
  int 0x82
  mov dword [resume_eip], .u4
  mov dword [SUP_PAGE + 0x70], 1
.u4:
  int 0x82
  mov dword [resume_eip], .u5
  mov dword [RO_PAGE + 0x80], 1
.u5:
  int 0x82
  mov dword [resume_eip], .u6
  jmp SUP_PAGE + 0x90
.u6:
  int 0x82
  mov dword [resume_eip], .u7
  jmp NP_PAGE + 0xA0
.u7:
  int 0x82
  mov dword [resume_eip], .u8
  mov eax, [RO_PAGE + 0xB0]
.u8:
  int 0x82
  int 0x7F

section .data
label_no: dd 0
user_labels: dd l1, l2, l3, l4, l5, l6, l7, l8
l1: db "user read, not present:           ", 0
l2: db "user write, not present:          ", 0
l3: db "user read, supervisor page:       ", 0
l4: db "user write, supervisor page:      ", 0
l5: db "user write, read-only page:       ", 0
l6: db "user fetch, supervisor page:      ", 0
l7: db "user fetch, not present:          ", 0
l8: db "user read, read-only page:        ", 0
