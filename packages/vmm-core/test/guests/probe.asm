; probe: a guest that goes looking for the monitor. Flat binary at 0x10000, entered like a
; Multiboot kernel (flat 32-bit protected mode, CPL 0, paging off). A pseudo-random sequence
; (seed at `seed`, patched by the test) picks addresses all over the 4 GiB, biased towards
; where a monitor would hide: the top 64 KiB (where the stub starts out) and the first 32 MiB
; above guest RAM (where the monitor's frames are). Reads are summed, writes go to the same
; places; then the same with paging on, through page tables that point at frames above RAM.
; The checksum printed over port 0xE9 must be the same bare and under the monitor: the
; guest must never see a stub or core byte, whatever it probes.
bits 32
org 0x10000

%define RAM   0x4000000         ; the test board's guest RAM (64 MiB)
%define PD    0x80000
%define PT0   0x81000
%define PTX   0x82000
%define PROBES 4000

start:
    mov esp, 0x70000
    mov ebx, [seed]
    xor ebp, ebp                ; checksum
    call probe_all
    mov eax, ebp
    call print_hex
    ; paging on: 0..4 MiB identity, and linear 0x40000000.. through a table whose entries
    ; point at frames above RAM (where the monitor's frames sit on the host)
    mov edi, PT0
    mov eax, 3
    mov ecx, 1024
.id:
    stosd
    add eax, 0x1000
    loop .id
    mov edi, PTX
    mov eax, RAM | 3
    mov ecx, 1024
.x:
    stosd
    add eax, 0x1000
    loop .x
    mov dword [PD], PT0 | 3
    mov dword [PD + (0x40000000 >> 22) * 4], PTX | 3
    mov eax, PD
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    xor ebp, ebp
    mov ecx, 1024
    mov esi, 0x40000000
.through:
    add ebp, [esi]
    mov dword [esi + 8], 0x5a5a5a5a
    add ebp, [esi + 8]
    add esi, 0x1000
    loop .through
    mov eax, ebp
    call print_hex
    mov al, 0
    out 0xf4, al
    hlt

; 4000 probes, paging off: linear = physical.
probe_all:
    mov ecx, PROBES
.next:
    imul ebx, ebx, 1103515245
    add ebx, 12345
    mov eax, ebx
    mov edx, ebx
    shr edx, 30
    cmp edx, 0
    je .top
    cmp edx, 1
    je .above
    jmp .any
.top:
    or eax, 0xFFFF0000          ; the top 64 KiB
    jmp .go
.above:
    and eax, 0x01FFFFFF         ; the 32 MiB above guest RAM
    add eax, RAM
    jmp .go
.any:
    cmp eax, RAM                ; guest RAM itself is left alone (this code lives there)
    jb .skip
.go:
    and eax, ~3
    add ebp, [eax]
    test ebx, 0x100
    jz .skip
    mov [eax], ebx              ; a write where the monitor might be
    add ebp, [eax]
.skip:
    loop .next
    ret

print_hex:
    mov ecx, 8
.digit:
    rol eax, 4
    mov edx, eax
    and edx, 15
    mov dl, [hexdigits + edx]
    push eax
    mov al, dl
    out 0xe9, al
    pop eax
    loop .digit
    mov al, 10
    out 0xe9, al
    ret

hexdigits: db "0123456789abcdef"
align 4
seed: dd 0x12345678
