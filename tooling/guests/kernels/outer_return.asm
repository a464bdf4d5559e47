; outer_return: returning to an outer privilege level (IRET or RETF from ring 0 to ring 3) loads
; SS:ESP from the stack and clears DS, ES, FS and GS when they hold a segment the outer level
; may not use (DPL < CPL 3, data or non-conforming code), as SDM Vol. 2A (IRET, RET) and Vol. 3A
; 5.8.6 describe; segments with DPL 3 stay loaded.
%include "lib.inc"

GATE equ GDT_FREE               ; call gate, DPL 3, to ring-0 code

main:
  mov eax, to_ring0
  mov ebx, eax
  and eax, 0xFFFF
  or eax, KCODE << 16
  mov [gdt + GATE], eax
  and ebx, 0xFFFF0000
  or ebx, 0xEC00                ; P, DPL 3, 32-bit call gate, no parameters
  mov [gdt + GATE + 4], ebx
  set_gate 0x80, int_handler, INT32 | DPL3
  set_gate 0x82, report, INT32 | DPL3
  mov eax, user_code
  call run_user
  ret

; ring 0 through INT 0x80: loads kernel selectors into DS, ES and FS (GS keeps the user's), IRETs
int_handler:
  mov ax, KDATA
  mov ds, ax
  mov es, ax
  mov fs, ax
  iretd

; ring 0 through the call gate: the same, then RETF
to_ring0:
  mov ax, KDATA
  mov ds, ax
  mov es, ax
  mov fs, ax
  retf

; report (ring 0, called by INT 0x82 from ring 3): prints the ring-3 selectors it was given in
; EAX (DS:ES) and EBX (FS:GS)
report:
  push eax
  mov ax, KDATA
  mov ds, ax
  pop eax
  cmp dword [reports], 0
  jne .second
  print "after IRET to ring 3:"
  jmp .go
.second:
  print "after RETF to ring 3:"
.go:
  inc dword [reports]
  print "  DS "
  push eax
  shr eax, 16
  hex4 eax
  pop eax
  print " ES "
  hex4 eax
  print " FS "
  push ebx
  shr ebx, 16
  hex4 ebx
  pop ebx
  print " GS "
  hex4 ebx
  print 10
  iretd

%macro snapshot 0               ; EAX = DS:ES, EBX = FS:GS (selectors)
  mov ax, ds
  shl eax, 16
  mov ax, es
  mov bx, fs
  shl ebx, 16
  mov bx, gs
%endmacro

user_code:
  mov ax, UDATA
  mov ds, ax
  mov es, ax
  mov fs, ax
  mov gs, ax
  int 0x80
  snapshot
  int 0x82
  mov ax, UDATA
  mov ds, ax
  mov es, ax
  mov fs, ax
  call GATE:0
  snapshot
  int 0x82
  mov ax, UDATA                 ; lib's INT 0x7F handler stores through DS before reloading it
  mov ds, ax
  int 0x7F

section .data
reports: dd 0
