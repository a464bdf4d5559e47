; The bench:cpu loop kernel: a Multiboot v1 ELF that loops over arithmetic, memory and branches
; for ITERATIONS rounds, then writes its exit code to port 0xF4 (isa-debug-exit, which v86 also
; implements for its multiboot tests) and halts.
;
; It is assembled with NASM alone as a flat binary that is itself an ELF file (the headers are
; written out below), so rebuilding needs no linker and gives the same bytes anywhere:
;   nasm -f bin -o loop.elf loop.asm      (build-loop.sh; bench.test.ts checks the bytes)

bits 32
ITERATIONS equ 4000000
LOAD equ 0x100000
org LOAD

ehdr:
  db 0x7f, "ELF", 1, 1, 1, 0          ; ELFCLASS32, little-endian, version 1, System V
  times 8 db 0
  dw 2                                ; ET_EXEC
  dw 3                                ; EM_386
  dd 1                                ; EV_CURRENT
  dd _start                           ; e_entry
  dd phdr - ehdr                      ; e_phoff
  dd shdr - ehdr                      ; e_shoff: one null section header (loaders that read them want 40-byte entries)
  dd 0                                ; e_flags
  dw 52                               ; e_ehsize
  dw 32                               ; e_phentsize
  dw 1                                ; e_phnum
  dw 40                               ; e_shentsize
  dw 1                                ; e_shnum
  dw 0                                ; e_shstrndx
phdr:
  dd 1                                ; PT_LOAD
  dd 0                                ; p_offset: the whole file, headers included
  dd LOAD                             ; p_vaddr
  dd LOAD                             ; p_paddr
  dd file_end - ehdr                  ; p_filesz
  dd bss_end - ehdr                   ; p_memsz
  dd 7                                ; PF_R | PF_W | PF_X
  dd 0x1000
shdr:
  times 40 db 0

align 4
multiboot:                            ; flags 0: the loader takes the layout from the ELF headers
  dd 0x1badb002, 0, -0x1badb002

_start:
  cli
  mov esp, stack_top
  mov esi, table
  mov ecx, ITERATIONS
  xor eax, eax
  xor edi, edi
  mov ebp, 0x9e3779b9
.loop:
  mov ebx, ecx                        ; a table slot from the counter
  and ebx, 63
  mov edx, [esi + ebx*4]              ; load, mix, store back
  add edx, eax
  rol edx, 5
  xor edx, ebp
  mov [esi + ebx*4], edx
  add eax, edx
  test cl, 1                          ; a data-dependent branch every other round
  jz .even
  sub edi, eax
  jmp .next
.even:
  call mix                            ; a call, a push/pop pair and a return every other round
.next:
  dec ecx
  jnz .loop
  mov [result], eax
  mov [result + 4], edi
  mov al, 0                           ; isa-debug-exit: QEMU exits with (0 << 1) | 1
  out 0xf4, al
.halt:
  hlt
  jmp .halt

mix:
  push eax
  imul eax, eax, 0x01000193
  shr eax, 7
  add edi, eax
  pop eax
  ret

file_end:

; Data and stack live in their own pages, so no write lands in a page that holds code
; (v86's JIT, like any translation cache, drops compiled code on writes to its page).
section .bss align=4096
table: resd 64
result: resd 2
  resb 4096
stack_top:
bss_end:
