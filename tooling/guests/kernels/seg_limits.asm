; seg_limits: the checks on every data access (SDM Vol. 3A, 5.3 and 6.15 #GP): byte and page
; granular limits, an access straddling the limit, expand-down segments, writes to read-only
; data and reads through a null selector all raise #GP(0); loading CS with a far JMP sets the
; descriptor's accessed bit (3.4.5.1). QEMU's TCG skips these, so expected/seg_limits.txt is
; written from the SDM, not recorded from QEMU.
%include "lib.inc"

SMALL    equ GDT_FREE            ; data, base 0, limit 0xFFF bytes
EXPDOWN  equ GDT_FREE + 8        ; data, expand-down, limit 0xFFF, big: valid 0x1000..0xFFFFFFFF
RODATA   equ GDT_FREE + 16       ; read-only data, flat
XONLY    equ GDT_FREE + 24       ; execute-only code, flat
DPL3DATA equ GDT_FREE + 32       ; data, DPL 3, flat
CONFORM  equ GDT_FREE + 40       ; conforming code, DPL 0, flat
PAGEGRAN equ GDT_FREE + 48       ; data, limit 0 with G=1: offsets 0..0xFFF

%macro expect 2                  ; expect "label", instruction
  print %1
  mov dword [resume_eip], %%next
  %2
%%next:
  call report_caught
%endmacro

main:
  call catch_exceptions
  set_desc SMALL, 0, 0xFFF, 0x92, 0x4
  set_desc EXPDOWN, 0, 0xFFF, 0x96, 0x4
  set_desc RODATA, 0, 0xFFFFF, 0x90, 0xC
  set_desc XONLY, 0, 0xFFFFF, 0x98, 0xC
  set_desc DPL3DATA, 0, 0xFFFFF, 0xF2, 0xC
  set_desc CONFORM, 0, 0xFFFFF, 0x9E, 0xC
  set_desc PAGEGRAN, 0, 0, 0x92, 0xC
  mov ax, SMALL
  mov fs, ax
  expect "dword at limit - 3:        ", {mov eax, [fs:0xFFC]}
  expect "dword at limit - 2:        ", {mov eax, [fs:0xFFD]}
  expect "byte past the limit:       ", {mov al, [fs:0x1000]}
  mov ax, PAGEGRAN
  mov fs, ax
  expect "G=1 limit 0, offset 0xFFF: ", {mov al, [fs:0xFFF]}
  expect "G=1 limit 0, offset 0x1000:", {mov al, [fs:0x1000]}
  mov ax, EXPDOWN
  mov fs, ax
  expect "expand-down, offset 0x800: ", {mov al, [fs:0x800]}
  expect "expand-down, offset 0x2000:", {mov al, [fs:0x2000]}
  expect "expand-down, dword at FFE: ", {mov eax, [fs:0xFFE]}
  mov ax, RODATA
  mov fs, ax
  expect "read-only data, read:      ", {mov al, [fs:0x100]}
  expect "read-only data, write:     ", {mov byte [fs:0x7F00], 1}
  xor ax, ax
  mov fs, ax
  expect "null FS, load:             ", {mov fs, ax}
  expect "null FS, read:             ", {mov al, [fs:0x100]}
  print "code descriptor accessed after the far JMP at start: "
  movzx eax, byte [gdt + KCODE + 5]
  and eax, 1
  udec eax
  print 10
  ret
