; Benchmark guests for `pnpm bench:vmm`, one flat image with three entry points chosen by the
; first byte of `which` (patched by the benchmark): 0 CPU-bound, 1 system-call-heavy, 2
; page-fault-heavy. Flat binary at 0x10000, entered like the test guests (flat protected
; mode, CPL 0, paging off); each ends with OUT 0xF4.
bits 32
org 0x10000

%define PD    0x80000
%define PT0   0x81000

start:
    mov esp, 0x70000
    lgdt [gdt_desc]
    jmp 0x08:.flat
.flat:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    lidt [idt_desc]
    mov dword [tss + 4], 0x6f000
    mov dword [tss + 8], 0x10
    mov ax, 0x28
    ltr ax
    movzx eax, byte [which]
    cmp eax, 1
    je syscalls
    cmp eax, 2
    je faults

; 0: arithmetic, memory and branches, no traps at all
cpu_bound:
    mov ecx, 3000000
    xor eax, eax
    mov esi, 0x20000
.loop:
    add eax, ecx
    xor eax, 0x5a5a5a5a
    mov edx, ecx
    and edx, 0xffc
    mov [esi + edx], eax
    add eax, [esi + edx]
    dec ecx
    jnz .loop
    jmp done

; 1: ring 3 making INT 0x80 calls, the kernel returning with IRET
syscalls:
    push dword 0x23
    push dword 0x60000
    push dword 0x202
    push dword 0x1b
    push dword .user
    iretd
.user:
    mov ecx, 100000
.call:
    mov eax, ecx
    int 0x80
    dec ecx
    jnz .call
    mov eax, 0
    int 0x81
syscall:
    inc dword [ss:count]         ; DS is null here: IRET to ring 3 nulled it
    iretd
exit_call:
    jmp done

; 2: paging on, then a #PF handler that maps each page the kernel touches
faults:
    mov edi, PD
    xor eax, eax
    mov ecx, 1024
    rep stosd
    mov edi, PT0
    mov eax, 3
    mov ecx, 1024
.id:
    stosd
    add eax, 0x1000
    loop .id
    mov dword [PD], PT0 | 3
    ; 32 empty page tables for 0x40000000.., filled by the handler
    mov ecx, 32
    mov eax, 0x100000 | 3
    mov edi, PD + (0x40000000 >> 22) * 4
.pts:
    stosd
    add eax, 0x1000
    loop .pts
    mov edi, 0x100000
    xor eax, eax
    mov ecx, 32 * 1024
    rep stosd
    mov eax, PD
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    mov esi, 0x40000000
    mov ecx, 20000
.touch:
    mov dword [esi], ecx        ; faults: the handler maps it, the write retries
    add esi, 0x1000
    dec ecx
    jnz .touch
    jmp done

pf_handler:
    push eax
    push edx
    mov eax, cr2
    shr eax, 12
    and eax, 0x7fff             ; page index within the 128 MiB window
    mov edx, eax
    shl edx, 12
    and edx, 0x3fffff           ; back the window with 4 MiB of frames at 0x2000000
    add edx, 0x2000000 | 3
    mov [0x100000 + eax * 4], edx
    pop edx
    pop eax
    add esp, 4
    iretd

done:
    mov al, 0
    out 0xf4, al
    hlt

align 8
gdt:
    dq 0
    dq 0x00cf9a000000ffff
    dq 0x00cf92000000ffff
    dq 0x00cffa000000ffff
    dq 0x00cff2000000ffff
    dw 103, tss - $$
    db 0x01, 0x89, 0x00, 0x00
gdt_end:
gdt_desc:
    dw gdt_end - gdt - 1
    dd gdt

%macro gate 2
    dw (%1 - $$ + 0x10000) & 0xffff
    dw 0x08
    db 0, %2
    dw (%1 - $$ + 0x10000) >> 16
%endmacro
align 8
idt:
%assign v 0
%rep 0x82
  %if v == 14
    gate pf_handler, 0x8e
  %elif v == 0x80
    gate syscall, 0xee
  %elif v == 0x81
    gate exit_call, 0xee
  %else
    gate done, 0x8e
  %endif
%assign v v + 1
%endrep
idt_end:
idt_desc:
    dw idt_end - idt - 1
    dd idt
align 4
count: dd 0
tss: times 104 db 0
which: db 0
