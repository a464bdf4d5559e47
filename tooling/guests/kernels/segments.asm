; segments: protected-mode segment loads (SDM Vol. 3A, 5.3-5.8): execute-only code and null
; selectors, RPL/DPL rules for data segment loads, conforming code segments, and what LAR, LSL,
; VERR, VERW and ARPL report. Limit checks on accesses are in seg_limits: QEMU's TCG does not
; make them, so they are compared with the SDM instead.
%include "lib.inc"
%include "seg_test.inc"

main:
  call catch_exceptions
  set_test_descriptors

  mov ax, XONLY
  expect "execute-only code to DS:   ", {mov ds, ax}
  mov ax, KDATA
  mov ds, ax
  xor ax, ax
  expect "null FS, load:             ", {mov fs, ax}
  expect "null SS at CPL 0:          ", {mov ss, ax}
  mov ax, KDATA | 3
  expect "RPL 3 > DPL 0 into ES:     ", {mov es, ax}
  mov ax, KDATA
  mov es, ax
  mov ax, DPL3DATA
  expect "DPL 3 data into ES at CPL 0:", {mov es, ax}
  mov ax, KDATA
  mov es, ax

  print "LAR/LSL/VERR/VERW (ZF, value):", 10
  mov esi, selectors
.each:
  movzx ebx, word [esi]
  test ebx, 0x8000
  jnz .done
  print "  "
  hex4 ebx
  print " LAR "
  xor eax, eax
  lar eax, bx
  call zf
  ; without the accessed bit: QEMU does not set it when a far JMP loads CS, the SDM says the
  ; processor does (3.4.5.1); seg_limits checks it against the SDM. Bits 19:16 are undefined
  ; (LAR: "masked by 00FxFF00H"): v86 returns the limit bits there, QEMU zero.
  and eax, ~0x000F0100
  hex eax
  print " LSL "
  xor eax, eax
  lsl eax, bx
  call zf
  hex eax
  print " VERR "
  verr bx
  call zf
  print " VERW "
  verw bx
  call zf
  print 10
  add esi, 2
  jmp .each
.done:
  print "ARPL 0x0008 by 0x0003: "
  mov ax, 0x0008
  mov cx, 0x0003
  arpl ax, cx
  call zf
  hex4 eax
  print 10
  ; a conforming segment runs at the caller's CPL
  mov eax, user_code
  call run_user
  print "in a conforming segment called from ring 3: CPL "
  udec eax
  print 10
  ret

; zf: prints ZF and a space, keeps EFLAGS
zf:
  pushfd
  push eax
  setz al
  movzx eax, al
  udec eax
  print " "
  pop eax
  popfd
  ret

user_code:
  call CONFORM:conforming
  int 0x7F

conforming:
  mov ax, cs
  and eax, 3
  retf

section .data
selectors: dw 0, KCODE, KDATA, UCODE, TSS0, SMALL, EXPDOWN, XONLY, DPL3DATA, CONFORM, 0x1234, 0xFFFF
