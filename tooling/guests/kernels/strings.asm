; strings: the string instructions (SDM Vol. 2B, MOVS/STOS/LODS/CMPS/SCAS, REP prefixes):
; forward and backward (DF), REP with ECX=0, REPE/REPNE stopping conditions and the registers
; they leave, a 16-bit address-size REP (CX, SI, DI), and a segment override on the source.
%include "lib.inc"

%macro regs 0                   ; ESI EDI ECX relative to the buffers
  print " ESI=src+"
  mov eax, esi
  sub eax, src
  udec eax
  print " EDI=dst+"
  mov eax, edi
  sub eax, dst
  udec eax
  print " ECX="
  udec ecx
%endmacro

main:
  cld
  mov esi, src
  mov edi, dst
  mov ecx, 5
  rep movsb
  print "rep movsb 5:      '"
  call show_dst
  print "'"
  regs
  print 10
  std
  mov esi, src + 7
  mov edi, dst + 7
  mov ecx, 2
  rep movsd                      ; backwards, dwords: src[4..7] then src[0..3]... from the end
  cld
  print "std rep movsd 2:  '"
  call show_dst
  print "'"
  regs
  print 10
  mov esi, src
  mov edi, dst
  xor ecx, ecx
  rep stosb
  print "rep stosb ECX=0:  "
  regs
  print 10
  mov esi, src
  mov edi, cmpbuf
  mov ecx, 16
  repe cmpsb                     ; stops after the first difference (at index 3)
  setz al
  movzx edx, al
  print "repe cmpsb:       ZF="
  udec edx
  mov eax, edi
  sub eax, cmpbuf
  print " EDI=cmp+"
  udec eax
  print " ECX="
  udec ecx
  print 10
  mov edi, src
  mov al, 'f'
  mov ecx, 16
  repne scasb
  setz al
  movzx edx, al
  print "repne scasb 'f':  ZF="
  udec edx
  mov eax, edi
  sub eax, src
  print " EDI=src+"
  udec eax
  print " ECX="
  udec ecx
  print 10
  ; 16-bit addressing: REP uses CX and SI/DI; the copy must sit below 64 KiB
  mov esi, src
  mov edi, 0x7000
  mov ecx, 16
  rep movsb
  mov ecx, 0xABCD0004            ; only CX counts with a 16-bit address size
  mov esi, 0x12340000 + 0x7000   ; and only SI/DI address
  mov edi, 0x56780000 + 0x7100
  a16 rep movsb
  print "a16 rep movsb:    ECX="
  hex ecx
  print " ESI="
  hex esi
  print " EDI="
  hex edi
  print " copied '"
  mov esi, 0x7100
  mov ecx, 4
.c:
  mov al, [esi]
  call putc
  inc esi
  loop .c
  print "'", 10
  ; a segment override on the source of MOVS (the destination is always ES)
  set_desc GDT_FREE, src + 2, 0xFFFF, 0x92, 0x0
  mov ax, GDT_FREE
  mov fs, ax
  xor esi, esi
  mov edi, dst
  mov ecx, 3
  db 0x64                        ; FS: prefix
  rep movsb
  print "fs: rep movsb 3:  '"
  call show_dst
  print "'", 10
  db 0x64
  lodsb
  print "lodsb after:      '"
  call putc
  print "'", 10
  ret

show_dst:
  pushad
  mov esi, dst
  mov ecx, 8
.s:
  mov al, [esi]
  test al, al
  jnz .p
  mov al, '.'
.p:
  call putc
  inc esi
  loop .s
  popad
  ret

section .data
src: db "abcdefghijklmnop"
cmpbuf: db "abcXefghijklmnop"
dst: times 16 db 0
