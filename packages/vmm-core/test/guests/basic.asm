; A small guest kernel for the monitor's own tests: flat binary loaded at 0x10000, entered in
; flat 32-bit protected mode at CPL 0 (as a Multiboot loader leaves it). It prints over port
; 0xE9 and ends by writing its result to port 0xF4. It exercises what a deprivileged kernel
; must not do by itself: LGDT/LIDT, segment reloads, MOV to CR3/CR0 (paging on), CLI/STI,
; PUSHF/POPF, INT n to its own handler, a #PF it handles itself, IRET to user mode and a
; system call back, I/O.
bits 32
org 0x10000

%define PD      0x80000
%define PT0     0x81000
%define PT_HIGH 0x82000

start:
    mov esp, 0x70000
    lgdt [gdt_desc]
    jmp 0x08:.reload
.reload:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    lidt [idt_desc]
    mov esi, msg_hello
    call print

    ; The TSS: SS0:ESP0 for user -> kernel transitions.
    mov dword [tss + 4], 0x6f000
    mov dword [tss + 8], 0x10
    mov ax, 0x28
    ltr ax

    ; Identity-map the first 4 MiB, user-accessible, and turn paging on.
    mov edi, PT0
    xor eax, eax
    mov ecx, 1024
.fill:
    mov edx, eax
    or edx, 7
    mov [edi], edx
    add edi, 4
    add eax, 0x1000
    loop .fill
    mov dword [PD], PT0 | 7
    mov eax, PD
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    mov esi, msg_paging
    call print

    ; CLI/STI and PUSHF/POPF keep the guest's own view of IF.
    cli
    pushfd
    pop eax
    shr eax, 9
    and eax, 1
    add al, '0'
    call putc
    sti
    pushfd
    pop eax
    shr eax, 9
    and eax, 1
    add al, '0'
    call putc
    cli
    mov al, 10
    call putc

    ; A software interrupt to our own handler.
    mov eax, 0x1234
    int 0x40
    cmp eax, 0x1235
    jne fail
    mov esi, msg_int
    call print

    ; A page fault our handler fixes: map 0x400000 (PT_HIGH) on demand.
    mov dword [0x400010], 0xabcd
    cmp dword [0x400010], 0xabcd
    jne fail
    mov esi, msg_pf
    call print

    ; To user mode and back through a system call.
    push dword 0x23             ; user SS
    push dword 0x60000          ; user ESP
    push dword 0x202            ; EFLAGS (IF)
    push dword 0x1b             ; user CS
    push dword user_code
    iretd

user_code:
    mov ebx, ds                 ; 0: IRET to ring 3 nulled the DPL 0 data segments (SDM IRET)
    mov eax, 1                  ; "print"
    mov esi, msg_user
    int 0x80
    mov eax, 3                  ; "print EBX as a digit"
    int 0x80
    mov eax, 2                  ; "exit"
    int 0x80
.spin:
    jmp .spin

; ---- handlers --------------------------------------------------------------------------
int40:
    inc eax
    iretd

pf_handler:
    push eax
    mov eax, cr2
    and eax, 0xffc00000
    cmp eax, 0x400000
    jne fail
    ; a page table for 4-8 MiB whose pages map onto 1-2 MiB
    mov edi, PT_HIGH
    mov eax, 0x100000 | 7
    mov ecx, 1024
.f:
    mov [edi], eax
    add edi, 4
    add eax, 0x1000
    loop .f
    mov dword [PD + 4], PT_HIGH | 7
    pop eax
    add esp, 4                  ; error code
    iretd

syscall:
    push ds                     ; null, from user mode: the kernel loads its own
    push eax
    mov ax, 0x10
    mov ds, ax
    pop eax
    cmp eax, 1
    jne .digit
    call print
    pop ds
    iretd
.digit:
    cmp eax, 3
    jne .exit
    mov esi, msg_ds
    call print
    mov al, bl
    add al, '0'
    call putc
    mov al, 10
    call putc
    pop ds
    iretd
.exit:
    mov esi, msg_bye
    call print
    mov al, 0
    out 0xf4, al
.halt:
    hlt
    jmp .halt

gp_handler:
fail:
    mov esi, msg_fail
    call print
    mov al, 1
    out 0xf4, al
    jmp $

; ---- output ----------------------------------------------------------------------------
putc:
    out 0xe9, al
    ret
print:
    push eax
.next:
    lodsb
    test al, al
    jz .done
    call putc
    jmp .next
.done:
    pop eax
    ret

msg_hello:  db "hello from the guest", 10, 0
msg_paging: db "paging on", 10, 0
msg_int:    db "int 0x40 ok", 10, 0
msg_pf:     db "page fault handled", 10, 0
msg_user:   db "user mode syscall", 10, 0
msg_bye:    db "bye", 10, 0
msg_ds:     db "user ds ", 0
msg_fail:   db "FAIL", 10, 0

align 8
gdt:
    dq 0
    dq 0x00cf9a000000ffff       ; 0x08 kernel code
    dq 0x00cf92000000ffff       ; 0x10 kernel data
    dq 0x00cffa000000ffff       ; 0x18 user code
    dq 0x00cff2000000ffff       ; 0x20 user data
tss_desc:
    dw 103, tss - $$            ; limit, base 15..0 (the image sits at 0x10000)
    db 0x01, 0x89, 0x00, 0x00   ; base 23..16 = 0x01, 32-bit available TSS
gdt_end:
gdt_desc:
    dw gdt_end - gdt - 1
    dd gdt

%macro gate 2                   ; handler, type/DPL byte
    dw (%1 - $$ + 0x10000) & 0xffff
    dw 0x08
    db 0, %2
    dw (%1 - $$ + 0x10000) >> 16
%endmacro

align 8
idt:
%assign v 0
%rep 0x81
  %if v == 13
    gate gp_handler, 0x8e
  %elif v == 14
    gate pf_handler, 0x8e
  %elif v == 0x40
    gate int40, 0x8e
  %elif v == 0x80
    gate syscall, 0xee
  %else
    gate fail, 0x8e
  %endif
%assign v v + 1
%endrep
idt_end:
idt_desc:
    dw idt_end - idt - 1
    dd idt

align 16
tss:
    times 104 db 0
