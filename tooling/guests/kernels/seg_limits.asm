; seg_limits: the checks on every data access (SDM Vol. 3A, 5.3 and 6.15 #GP): byte and page
; granular limits, an access straddling the limit, expand-down segments, writes to read-only
; data and reads through a null selector all raise #GP(0); loading CS with a far JMP sets the
; descriptor's accessed bit (3.4.5.1). QEMU's TCG skips these, so expected/seg_limits.txt is
; written from the SDM, not recorded from QEMU.
%include "lib.inc"
%include "seg_test.inc"

main:
  call catch_exceptions
  set_test_descriptors
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
