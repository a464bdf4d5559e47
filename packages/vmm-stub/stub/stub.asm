; pagurus vmm-stub: the monitor's first portion (claims 2, 3, 14, 15, 26, 27).
;
; What the architecture requires to be present in whatever linear address space is current
; while the guest runs (docs/architecture.md section 4): an IDT with an entry for every vector, a GDT
; holding the guest's descriptors (privilege-compressed, filled by the core) and the
; monitor's own, a TSS whose SS0:ESP0 lead to the stub's stack, the first instructions of
; every trap handler, and a data page. 32-bit code that runs at CPL 0.
;
; Position independence. Nothing here contains an absolute address of the stub itself:
;  - the monitor's code and data segments (SEL_MON_CODE, SEL_MON_DATA) have their base at the
;    stub's current linear base, so EIP, ESP and every [disp32] operand are stub-relative
;    offsets, valid wherever the stub sits; IDT gate offsets and TSS.ESP0 are offsets too;
;  - guest memory is reached through SEL_MON_FLAT (base 0) or through the guest's own
;    segments, never through the stub's segments.
; Moving the stub (claims 1, 9, 10) is therefore: remap its 5 pages, rewrite the base of the
; three stub-based descriptors, and reload GDTR, IDTR and the segment caches. Not one code
; byte changes, so the cost does not depend on the code's size. The test assembles this file
; at two ORG values and checks the bytes are identical: any absolute self-reference would
; differ.
;
; Conventions: SDM = Intel SDM Vol. 3A. Frame offsets F_*, data page fields D_*.

bits 32
%ifndef STUB_ORG
%define STUB_ORG 0
%endif
org STUB_ORG

%define OFF(x) ((x) - stub_start)

PAGE            equ 4096
STUB_PAGES      equ 5
STUB_SIZE       equ STUB_PAGES * PAGE
STUB_VERSION    equ 1

; Pages (stub-relative offsets).
CODE_OFFSET     equ 0x0000          ; header + common trap code
ENTRIES_OFFSET  equ 0x1000          ; 256 entry stubs of ENTRY_SIZE bytes
ENTRY_SIZE      equ 16
IDT_OFFSET      equ 0x2000          ; 256 gates (SDM 6.11)
TSS_OFFSET      equ 0x2800          ; 32-bit TSS (SDM 7.2.1), same page as the IDT
TSS_SIZE        equ 104
GDT_OFFSET      equ 0x3000          ; the guest kernel's GDT: 256 descriptors
GDT_USER_OFFSET equ 0x3800          ; the guest user's GDT: 256 descriptors
GDT_ENTRIES     equ 256
DATA_OFFSET     equ 0x4000          ; data page

; GDT: slots 0..503 belong to the guest (the core copies the guest's descriptors there with
; compressed privilege, DPL 0 -> guest_rpl), 504.. to the monitor.
GUEST_GDT_SLOTS equ 252
SEL_MON_CODE    equ 252 * 8         ; 0x7E0: code, base = stub base, DPL 0
SEL_MON_DATA    equ 253 * 8         ; 0x7E8: data/stack, base = stub base, DPL 0
SEL_MON_FLAT    equ 254 * 8         ; 0x7F0: data, base 0, limit 4 GiB, DPL 0 (guest memory)
SEL_MON_TSS     equ 255 * 8         ; 0x7F8: the stub's TSS, base = stub base + TSS_OFFSET

; EFLAGS bits (SDM Vol. 1, 3.4.3).
EFL_TF          equ 0x100
EFL_IF          equ 0x200
EFL_IOPL        equ 0x3000
EFL_NT          equ 0x4000
EFL_RF          equ 0x10000
EFL_VM          equ 0x20000
; The bits a guest POPF may change in the real EFLAGS: CF PF AF ZF SF TF DF OF NT AC ID.
; IF and IOPL are virtual (D_VFLAGS): the real ones stay the monitor's (claim 7).
POPF_MASK       equ 0x244DD5
; IRET also loads RF (SDM Vol. 2, IRET).
IRET_MASK       equ POPF_MASK | EFL_RF

; Vectors for which the CPU pushes an error code (SDM 6.13): 8, 10-14, 17.
ERROR_CODE_VECTORS equ 0x00027D00

; In a guest GDT slot's high dword: the AVL bit, set by the core when the guest's DPL was < 3.
KERNEL_ONLY_BIT equ 20

; Exit reasons: the value the stub OUTs to the host-call port (claim 8).
EXIT_TRAP           equ 1           ; a trap the stub hands to the core as is
EXIT_REFLECT_FAILED equ 2           ; the stub tried to reflect but the guest's IDT/TSS/stack forbids it
EXIT_ABORTED        equ 3           ; a fault hit while the stub touched guest memory; redo in the core
EXIT_STUB_FAULT     equ 4           ; the stub itself faulted outside a guest access: a monitor bug
EXIT_DELIVERY_FAILED equ 5          ; the trap itself is done (the frame is the guest's state after
                                    ; it), but delivering D_DELIVER_VECTOR (a pending virtual
                                    ; interrupt or the core's request) failed or faulted

; What the core asks for when the host call returns (D_CORE_REQUEST).
REQ_RESUME          equ 0
REQ_DELIVER         equ 1           ; deliver D_CORE_REQUEST_VECTOR through the guest's IDT
REQ_DELIVER_ERROR   equ 2           ; same, pushing D_CORE_REQUEST_ERROR

; Flags of `reflect`.
RF_ERROR        equ 1               ; push an error code on the guest's stack
RF_SOFT         equ 2               ; INT n: the gate's DPL must be >= the virtual CPL
RF_CR2          equ 4               ; #PF taken from the guest: its virtual CR2 becomes the real CR2

; Data page fields (stub-relative offsets). The core reads and writes them through the
; stub's frames; DS-relative in the code.
D_STUB_BASE         equ DATA_OFFSET + 0x00  ; where the stub is (written by the core on a move)
D_VMM_CR3           equ DATA_OFFSET + 0x04  ; the core's address space (claim 4); 0 = no switch
D_SHADOW_CR3_KERNEL equ DATA_OFFSET + 0x08  ; shadow page directory for virtual CPL 0; 0 = keep
D_SHADOW_CR3_USER   equ DATA_OFFSET + 0x0C  ; shadow page directory for virtual CPL 3; 0 = keep
D_HOST_CALL_PORT    equ DATA_OFFSET + 0x10  ; the I/O port the machine routes to vmm-core
D_VCPL              equ DATA_OFFSET + 0x14  ; the guest's virtual CPL (0 kernel, 3 user)
D_GUEST_RPL         equ DATA_OFFSET + 0x18  ; the ring the guest kernel really runs in (1 or 3)
D_VFLAGS            equ DATA_OFFSET + 0x1C  ; the guest's virtual IF and IOPL
D_PENDING_VECTOR    equ DATA_OFFSET + 0x20  ; a virtual interrupt to deliver when IF allows; -1 none
D_GUEST_IDTR_BASE   equ DATA_OFFSET + 0x24  ; the guest's virtual IDTR (its LIDT, via the core)
D_GUEST_IDTR_LIMIT  equ DATA_OFFSET + 0x28
D_GUEST_GDTR_BASE   equ DATA_OFFSET + 0x2C  ; the guest's virtual GDTR (its LGDT, via the core)
D_GUEST_GDTR_LIMIT  equ DATA_OFFSET + 0x30
D_GUEST_TSS_BASE    equ DATA_OFFSET + 0x34  ; linear base of the guest's TSS (its LTR); 0 = none
D_GUEST_CR2         equ DATA_OFFSET + 0x38  ; the guest's virtual CR2
D_GUEST_TOUCH       equ DATA_OFFSET + 0x3C  ; nonzero while the stub touches guest memory
D_EXIT_REASON       equ DATA_OFFSET + 0x40  ; EXIT_* of the last host call
D_CORE_REQUEST      equ DATA_OFFSET + 0x44  ; REQ_* (the core sets it, the stub clears it)
D_CORE_REQUEST_VECTOR equ DATA_OFFSET + 0x48
D_CORE_REQUEST_ERROR  equ DATA_OFFSET + 0x4C
D_STUB_HANDLED      equ DATA_OFFSET + 0x50  ; claim 7: traps the stub handled by itself
D_CORE_HANDLED      equ DATA_OFFSET + 0x54  ; claim 8: traps handed to the core
D_WORLD_SWITCHES    equ DATA_OFFSET + 0x58  ; CR3 loads of D_VMM_CR3
D_REFLECT_ABORTS    equ DATA_OFFSET + 0x5C  ; EXIT_ABORTED count
D_VIRQ_DELIVERED    equ DATA_OFFSET + 0x60  ; pending virtual interrupts the stub delivered
D_STUB_FAULTS       equ DATA_OFFSET + 0x64
D_STUB_FAULT_VECTOR equ DATA_OFFSET + 0x68
D_STUB_FAULT_EIP    equ DATA_OFFSET + 0x6C
D_FAULT_CR2         equ DATA_OFFSET + 0x70  ; CR2 at the last #PF taken from the guest
D_PHASE             equ DATA_OFFSET + 0x74  ; 0 while the trap itself is handled, 1 once it is done
D_DELIVER_VECTOR    equ DATA_OFFSET + 0x78  ; the vector a delivery after the trap is attempting
D_NO_GUEST_TOUCH    equ DATA_OFFSET + 0x7C  ; core: nonzero while the stub displaces guest pages
                                            ; (claim 10): the stub's own pages then sit where guest
                                            ; memory is, so it must not touch guest memory at all
; 0x80..0x9F: scratch of `reflect`.
D_TOUCH_FAULT_VECTOR equ DATA_OFFSET + 0xA0 ; the fault that ended the last guest touch
D_TOUCH_FAULT_ERROR  equ DATA_OFFSET + 0xA4 ; (EXIT_ABORTED, EXIT_DELIVERY_FAILED): vector,
D_TOUCH_FAULT_CR2    equ DATA_OFFSET + 0xA8 ; error code, CR2
D_IRQ_WAITING        equ DATA_OFFSET + 0xAC ; core: the guest's interrupt controller has a request
D_GDTR_KERNEL        equ DATA_OFFSET + 0xB0 ; LGDT operands (limit word, base dword) of the two
D_GDTR_USER          equ DATA_OFFSET + 0xB8 ; GDTs: rewritten by the core when the stub moves
D_R_ERROR           equ DATA_OFFSET + 0x80
D_R_FLAGS           equ DATA_OFFSET + 0x84
D_R_NEW_EIP         equ DATA_OFFSET + 0x88
D_R_NEW_CS          equ DATA_OFFSET + 0x8C
D_R_NEW_SS          equ DATA_OFFSET + 0x90
D_R_GATE_HI         equ DATA_OFFSET + 0x94
D_R_EFLAGS          equ DATA_OFFSET + 0x98
D_REFLECT_BITMAP    equ DATA_OFFSET + 0x100 ; 256 bits: 1 = the stub may reflect this vector itself
D_STUB_COUNT        equ DATA_OFFSET + 0x200 ; 256 dwords: stub-handled traps per vector
D_CORE_COUNT        equ DATA_OFFSET + 0x600 ; 256 dwords: core-handled traps per vector
D_STACK_BOTTOM      equ DATA_OFFSET + 0xA00
STACK_TOP           equ DATA_OFFSET + 0x1000 ; TSS.ESP0 (stub-relative: SS0's base is the stub's)

DEFAULT_HOST_CALL_PORT equ 0x0F40

; The saved guest state frame (claim 8). A trap from an outer ring switches to SS0:ESP0 =
; SEL_MON_DATA:STACK_TOP (SDM 6.12.1), so the frame always sits at FRAME_OFFSET.
F_GS        equ 0
F_FS        equ 4
F_ES        equ 8
F_DS        equ 12
F_EDI       equ 16
F_ESI       equ 20
F_EBP       equ 24
F_ESP_PUSHAD equ 28
F_EBX       equ 32
F_EDX       equ 36
F_ECX       equ 40
F_EAX       equ 44
F_VECTOR    equ 48
F_ERROR     equ 52
F_EIP       equ 56
F_CS        equ 60
F_EFLAGS    equ 64
F_ESP       equ 68
F_SS        equ 72
FRAME_SIZE  equ 76
FRAME_OFFSET equ STACK_TOP - FRAME_SIZE

; ---------------------------------------------------------------------------------------
; Page 0: header and common code.

stub_start:
; The header: a table of dwords the package's test compares with its TypeScript layout, and
; that lets the core check it loaded the image it was built for.
header:
    dd 0x54534750               ; "PGST"
    dd STUB_VERSION
    dd STUB_SIZE
    dd STUB_PAGES
    dd ENTRIES_OFFSET
    dd ENTRY_SIZE
    dd IDT_OFFSET
    dd TSS_OFFSET
    dd GDT_OFFSET
    dd GDT_ENTRIES
    dd GUEST_GDT_SLOTS
    dd DATA_OFFSET
    dd SEL_MON_CODE
    dd SEL_MON_DATA
    dd SEL_MON_FLAT
    dd SEL_MON_TSS
    dd FRAME_OFFSET
    dd FRAME_SIZE
    dd STACK_TOP
    dd OFF(common_entry)
    dd OFF(host_call)
    dd OFF(host_return)
    dd OFF(resume)
    dd DEFAULT_HOST_CALL_PORT
    dd D_STUB_BASE, D_VMM_CR3, D_SHADOW_CR3_KERNEL, D_SHADOW_CR3_USER, D_HOST_CALL_PORT
    dd D_VCPL, D_GUEST_RPL, D_VFLAGS, D_PENDING_VECTOR
    dd D_GUEST_IDTR_BASE, D_GUEST_IDTR_LIMIT, D_GUEST_GDTR_BASE, D_GUEST_GDTR_LIMIT
    dd D_GUEST_TSS_BASE, D_GUEST_CR2, D_GUEST_TOUCH, D_EXIT_REASON
    dd D_CORE_REQUEST, D_CORE_REQUEST_VECTOR, D_CORE_REQUEST_ERROR
    dd D_STUB_HANDLED, D_CORE_HANDLED, D_WORLD_SWITCHES, D_REFLECT_ABORTS, D_VIRQ_DELIVERED
    dd D_STUB_FAULTS, D_STUB_FAULT_VECTOR, D_STUB_FAULT_EIP, D_FAULT_CR2, D_PHASE, D_DELIVER_VECTOR
    dd D_NO_GUEST_TOUCH, D_TOUCH_FAULT_VECTOR, D_TOUCH_FAULT_ERROR, D_TOUCH_FAULT_CR2, D_IRQ_WAITING
    dd GDT_USER_OFFSET, D_GDTR_KERNEL, D_GDTR_USER
    dd D_REFLECT_BITMAP, D_STUB_COUNT, D_CORE_COUNT
header_end:

; Every entry stub jumps here with: [esp] vector, [esp+4] error code (real or dummy),
; [esp+8] EIP, CS, EFLAGS and, from an outer ring, ESP, SS (SDM 6.12.1, figure 6-4).
common_entry:
    test byte [esp + 12], 3     ; RPL of the interrupted CS: 0 = the stub itself faulted
    jz from_ring0
    pushad
    push ds
    push es
    push fs
    push gs
    mov ax, SEL_MON_DATA
    mov ds, ax
    mov ax, SEL_MON_FLAT
    mov es, ax
    cld
    mov ebp, esp                ; = FRAME_OFFSET: a trap from an outer ring starts at STACK_TOP
    mov dword [D_PHASE], 0
    mov eax, [ebp + F_VECTOR]
    cmp eax, 14
    jne .not_pf
    mov edx, cr2
    mov [D_FAULT_CR2], edx
.not_pf:
    cmp eax, 13
    je gp_entry
    bt dword [D_REFLECT_BITMAP], eax
    jnc to_core
    ; Claim 7: reflect the exception or INT n to the guest's own IDT, without the core.
    xor ecx, ecx
    cmp eax, 32
    jae .software               ; vectors 32-255 reach the stub only through INT n (DPL 3 gates)
    mov edx, ERROR_CODE_VECTORS
    bt edx, eax
    jnc .no_error
    or ecx, RF_ERROR
    cmp eax, 14
    jne .no_error
    or ecx, RF_CR2
    jmp .no_error
.software:
    or ecx, RF_SOFT
.no_error:
    mov ebx, [ebp + F_ERROR]
    call reflect
    jc reflect_failed
    jmp stub_done

to_core:
    mov eax, EXIT_TRAP
    jmp world_switch
reflect_failed:
    mov eax, EXIT_REFLECT_FAILED
    jmp world_switch

; #GP from the guest: the virtual interrupt flag operations (claim 7). CLI and STI fault at
; CPL > IOPL on any i386 (SDM Vol. 2, CLI/STI); PUSHF, POPF and IRET fault only with the CPU's
; virtualizationAssist. Anything else (privileged instructions, I/O, descriptors) is the core's.
gp_entry:
    cmp dword [D_NO_GUEST_TOUCH], 0
    jne to_core                 ; the opcode could be in a displaced page: the core reads it
    cmp dword [ebp + F_ERROR], 0
    jne to_core
    mov eax, [ebp + F_CS]
    and eax, 0xFFF8
    test dword [GDT_OFFSET + eax + 4], 1 << 22
    jz to_core                  ; 16-bit guest code: other operand sizes, the core's to decode
    mov eax, [ebp + F_CS]
    call seg_base
    jc to_core
    add eax, [ebp + F_EIP]
    mov dword [D_GUEST_TOUCH], 1
    movzx edx, byte [es:eax]    ; the opcode; a prefix (66h, F3h...) is left to the core
    mov dword [D_GUEST_TOUCH], 0
    cmp dl, 0xFA
    je .cli
    cmp dl, 0xFB
    je .sti
    cmp dl, 0x9C
    je .pushf
    cmp dl, 0x9D
    je .popf
    cmp dl, 0xCF
    je .iret
    jmp to_core

.cli:
    call iopl_allows_if
    jc .guest_gp
    and dword [D_VFLAGS], ~EFL_IF
    inc dword [ebp + F_EIP]
    jmp stub_done
.sti:
    ; STI holds interrupts off for one more instruction (SDM Vol. 2, STI). While the guest's
    ; interrupt controller has a request waiting (D_IRQ_WAITING, kept by the core), that
    ; shadow is visible: the core runs STI and the next instruction on the virtual CPU, which
    ; then takes the interrupt exactly where the hardware would.
    cmp dword [D_IRQ_WAITING], 0
    jne to_core
    call iopl_allows_if
    jc .guest_gp
    or dword [D_VFLAGS], EFL_IF
    inc dword [ebp + F_EIP]
    ; With a vector already in D_PENDING_VECTOR, resume delivers it at once; the one case
    ; where that is visible is the idle idiom STI; HLT: bare, the CPU halts and the interrupt
    ; wakes it with EIP after the HLT. So step over a HLT.
    cmp dword [D_PENDING_VECTOR], 0xFF
    ja stub_done
    mov eax, [ebp + F_CS]
    call seg_base
    jc stub_done
    add eax, [ebp + F_EIP]
    mov dword [D_GUEST_TOUCH], 1
    cmp byte [es:eax], 0xF4
    mov dword [D_GUEST_TOUCH], 0
    jne stub_done
    inc dword [ebp + F_EIP]
    jmp stub_done               ; resume delivers the pending virtual interrupt (claim 7)
.guest_gp:
    ; Bare, the guest would take #GP(0) here: give it to the guest's own handler.
    mov eax, 13
    xor ebx, ebx
    mov ecx, RF_ERROR
    call reflect
    jc reflect_failed
    jmp stub_done

.pushf:
    ; The image the guest would see: its virtual IF and IOPL, RF and VM clear (SDM Vol. 2, PUSHF).
    mov eax, [ebp + F_EFLAGS]
    and eax, ~(EFL_IF | EFL_IOPL | EFL_RF | EFL_VM)
    mov edx, [D_VFLAGS]
    and edx, EFL_IF | EFL_IOPL
    or eax, edx
    mov edx, [ebp + F_SS]
    mov esi, [ebp + F_ESP]
    sub esi, 4
    mov dword [D_GUEST_TOUCH], 1
    mov fs, dx
    mov [fs:esi], eax
    mov dword [D_GUEST_TOUCH], 0
    mov [ebp + F_ESP], esi
    inc dword [ebp + F_EIP]
    jmp stub_done

.popf:
    mov edx, [ebp + F_SS]
    mov esi, [ebp + F_ESP]
    mov dword [D_GUEST_TOUCH], 1
    mov fs, dx
    mov eax, [fs:esi]
    mov dword [D_GUEST_TOUCH], 0
    add esi, 4
    mov [ebp + F_ESP], esi
    mov edx, eax                ; the real EFLAGS take the guest's ordinary bits
    and edx, POPF_MASK
    mov ecx, [ebp + F_EFLAGS]
    and ecx, ~POPF_MASK
    or ecx, edx
    mov [ebp + F_EFLAGS], ecx
    ; Virtual bits as POPF treats them (SDM Vol. 2, POPF): IOPL only at CPL 0, IF only at
    ; CPL <= IOPL (the IOPL before the pop).
    mov ecx, [D_VFLAGS]
    mov ebx, ecx
    shr ebx, 12
    and ebx, 3                  ; virtual IOPL
    mov edx, [D_VCPL]
    cmp edx, ebx
    ja .popf_no_if
    and ecx, ~EFL_IF
    mov ebx, eax
    and ebx, EFL_IF
    or ecx, ebx
.popf_no_if:
    test edx, edx
    jnz .popf_no_iopl
    and ecx, ~EFL_IOPL
    and eax, EFL_IOPL
    or ecx, eax
.popf_no_iopl:
    mov [D_VFLAGS], ecx
    inc dword [ebp + F_EIP]
    jmp stub_done

.iret:
    ; The guest kernel's IRET (virtual CPL 0, 32-bit operand size): the hot half of every
    ; reflected interrupt, so done here rather than in the core. Task returns (NT), returns to
    ; V86 mode or to rings 1-2 go to the core. SDM Vol. 2, IRET, protected mode.
    cmp dword [D_VCPL], 0
    jne to_core
    test dword [ebp + F_EFLAGS], EFL_NT
    jnz to_core                 ; NT set now: a task return (SDM Vol. 2, IRET), the core's
    mov edx, [ebp + F_SS]
    mov esi, [ebp + F_ESP]
    mov dword [D_GUEST_TOUCH], 1
    mov fs, dx
    mov eax, [fs:esi + 8]       ; EFLAGS image
    mov ecx, [fs:esi + 4]       ; CS as the guest sees it
    mov ebx, [fs:esi]           ; EIP
    test eax, EFL_NT | EFL_VM
    jnz .iret_to_core
    mov edi, ecx
    and edi, 3
    jz .iret_same
    cmp edi, 3
    jne .iret_to_core
    ; Back to the guest's user mode: ESP and SS come off its kernel stack too.
    mov edi, [fs:esi + 12]
    mov edx, [fs:esi + 16]
    mov dword [D_GUEST_TOUCH], 0
    ; Whatever the hardware's IRET would refuse (SDM Vol. 2, IRET: "RETURN-TO-OUTER-
    ; PRIVILEGE-LEVEL") goes to the core, whose virtual CPU raises the guest's own fault:
    ; the machine's IRET below must not fault, and cannot tell, as the slots hold DPL 3.
    call iret_user_cs_ok
    jc to_core
    call iret_user_ss_ok
    jc to_core
    mov [ebp + F_ESP], edi
    and edx, 0xFFFF
    mov [ebp + F_SS], edx
    mov dword [D_VCPL], 3
    ; IRET to an outer ring nulls each data segment register whose DPL is below the new CPL
    ; (SDM Vol. 2, IRET). The slots hold DPLs compressed to 3; the core marks the guest's
    ; kernel-only descriptors with the AVL bit (KERNEL_ONLY) for this.
    push eax                    ; the EFLAGS image, for .iret_common
    mov eax, F_DS
    call null_if_kernel_only
    mov eax, F_ES
    call null_if_kernel_only
    mov eax, F_FS
    call null_if_kernel_only
    mov eax, F_GS
    call null_if_kernel_only
    pop eax
    jmp .iret_common
.iret_same:
    mov dword [D_GUEST_TOUCH], 0
    call iret_kernel_cs_ok      ; likewise "RETURN-TO-SAME-PRIVILEGE-LEVEL"
    jc to_core
    add esi, 12
    mov [ebp + F_ESP], esi
    or ecx, [D_GUEST_RPL]       ; the guest's ring 0 really is guest_rpl
.iret_common:
    and ecx, 0xFFFF
    mov [ebp + F_CS], ecx
    mov [ebp + F_EIP], ebx
    mov edx, eax                ; ordinary bits into the real EFLAGS...
    and edx, IRET_MASK
    mov ecx, [ebp + F_EFLAGS]
    and ecx, ~IRET_MASK
    or ecx, edx
    mov [ebp + F_EFLAGS], ecx
    and eax, EFL_IF | EFL_IOPL  ; ...IF and IOPL into the virtual ones (IRET at CPL 0 loads both)
    mov ecx, [D_VFLAGS]
    and ecx, ~(EFL_IF | EFL_IOPL)
    or ecx, eax
    mov [D_VFLAGS], ecx
    jmp stub_done               ; resume delivers a pending virtual interrupt if IF is now 1
.iret_to_core:
    mov dword [D_GUEST_TOUCH], 0
    jmp to_core

; The checks the hardware's IRET makes of the guest's new CS (selector ECX, EIP in EBX)
; against the guest's own descriptor: CF set when it would fault, or when the slot does not
; hold it (an LDT selector, a slot the core has not filled), so that the core decides. For a
; return to the guest kernel the slot's DPL is compressed: KERNEL_ONLY tells that the guest's
; was below 3 (SDM Vol. 2, IRET: a nonconforming CS needs DPL = RPL, a conforming one
; DPL <= RPL; rings 1 and 2 count as the kernel's here, as everywhere in ring compression).
iret_kernel_cs_ok:
    push eax
    push edx
    mov eax, GDT_OFFSET
    call code_slot_ok
    jc .done
    bt edx, KERNEL_ONLY_BIT
    cmc
.done:
    pop edx
    pop eax
    ret

iret_user_cs_ok:
    push eax
    push edx
    mov eax, GDT_USER_OFFSET
    call code_slot_ok
    jc .done
    test edx, 1 << 10
    jnz .done                   ; conforming: any DPL <= 3 (CF is clear)
    and edx, 3 << 13
    cmp edx, 3 << 13
    je .done                    ; nonconforming: DPL = 3 (CF is clear after an equal compare)
    stc
.done:
    pop edx
    pop eax
    ret

; The new SS (selector EDX) of an IRET to the guest's user mode: RPL 3 and a present,
; writable data segment with DPL 3 in the guest user's GDT. CF set otherwise.
iret_user_ss_ok:
    push eax
    push edx
    mov eax, edx
    and eax, 3
    cmp eax, 3
    jne .fail
    mov eax, edx
    and eax, 0xFFFF
    call slot_of
    jc .done
    mov eax, [GDT_USER_OFFSET + eax + 4]
    and eax, 0xFA00             ; P, DPL, S, code/data, writable
    cmp eax, 0xF200
    je .done                    ; CF is clear after an equal compare
.fail:
    stc
.done:
    pop edx
    pop eax
    ret

; EAX = a selector: EAX = its byte offset in a GDT of the guest's slots; CF on a null or LDT
; selector or one beyond the guest's slots.
slot_of:
    test eax, 4
    jnz .fail
    and eax, 0xFFF8
    jz .fail
    cmp eax, GUEST_GDT_SLOTS * 8
    jae .fail
    clc
    ret
.fail:
    stc
    ret

; The guest code segment for selector ECX in the GDT at stub offset EAX, with EIP in EBX:
; CF clear and EDX = its high dword when it is a present code segment whose limit covers
; EIP (a limit violation is IRET's #GP(0)).
code_slot_ok:
    push ecx
    push eax
    mov eax, ecx
    call slot_of
    pop ecx                     ; the GDT's offset
    jc .done
    add eax, ecx
    mov edx, [eax + 4]
    mov ecx, edx
    and ecx, 0x9800             ; P, S, code
    cmp ecx, 0x9800
    jne .fail
    mov ecx, [eax]              ; limit 15..0
    and ecx, 0xFFFF
    mov eax, edx
    and eax, 0xF0000            ; limit 19..16
    or ecx, eax
    bt edx, 23                  ; G: the limit counts 4 KiB pages
    jnc .compare
    shl ecx, 12
    or ecx, 0xFFF
.compare:
    cmp ebx, ecx
    ja .fail
    clc
    jmp .done
.fail:
    stc
.done:
    pop ecx
    ret

; Frame field EAX holds a data segment selector: set it to null when its GDT slot carries
; KERNEL_ONLY (a guest descriptor with DPL < 3). LDT selectors are left alone (the core's).
null_if_kernel_only:
    mov edx, [ebp + eax]
    test edx, 4
    jnz .keep
    and edx, 0xFFF8
    jz .keep
    bt dword [GDT_OFFSET + edx + 4], KERNEL_ONLY_BIT
    jnc .keep
    mov dword [ebp + eax], 0
.keep:
    ret

; CF clear when the guest's virtual CPL <= its virtual IOPL (CLI, STI allowed).
iopl_allows_if:
    mov eax, [D_VFLAGS]
    shr eax, 12
    and eax, 3
    cmp eax, [D_VCPL]           ; CF = IOPL < VCPL
    ret

; Base of the descriptor for selector EAX in the stub's GDT (the guest's slots), CF on an
; LDT or null selector (the core handles those).
seg_base:
    test eax, 4
    jnz .fail
    and eax, 0xFFF8
    jz .fail
    mov edx, [GDT_OFFSET + eax + 4]
    mov eax, [GDT_OFFSET + eax]
    shr eax, 16                 ; base 15..0
    mov ecx, edx
    and ecx, 0xFF000000         ; base 31..24
    or eax, ecx
    and edx, 0xFF               ; base 23..16
    shl edx, 16
    or eax, edx
    clc
    ret
.fail:
    stc
    ret

; Loads CR3 with EAX unless it is 0 or already loaded (a load flushes the TLB).
load_cr3:
    test eax, eax
    jz .done
    mov edx, cr3
    cmp eax, edx
    je .done
    mov cr3, eax
.done:
    ret

; The guest's shadow page directory for its current virtual CPL.
; Also the GDT for that CPL: the guest user's holds the guest's descriptors with their own
; DPLs, so that a guest user's load of a kernel segment faults as it does bare; the guest
; kernel's holds them with DPL raised to 3, the ring it really runs in (claim 6).
load_guest_cr3:
    cmp dword [D_VCPL], 0
    jne .user
    lgdt [D_GDTR_KERNEL]
    mov eax, [D_SHADOW_CR3_KERNEL]
    jmp load_cr3
.user:
    lgdt [D_GDTR_USER]
    mov eax, [D_SHADOW_CR3_USER]
    jmp load_cr3

; reflect: delivers vector EAX to the guest through its virtual IDT, as the CPU would for a
; guest kernel running at CPL 0 (claim 7; SDM 6.12.1): reads the gate from the guest's IDT
; (D_GUEST_IDTR_*), switches to the guest's ring-0 stack from its TSS when the guest was in
; user mode, pushes [SS, ESP,] EFLAGS, CS, EIP [, error code] as the guest expects to see
; them (virtual IF/IOPL, virtual RPLs), then rewrites the saved frame so that IRET enters the
; guest's handler. In: EAX vector, EBX error code, ECX RF_* flags. Out: CF clear on success;
; CF set, nothing changed, when the gate is absent, of another kind, or forbids INT n.
; The guest's memory is touched with D_GUEST_TOUCH set: a fault there aborts to the core
; (from_ring0) before the saved frame has been changed.
reflect:
    cmp dword [D_NO_GUEST_TOUCH], 0
    jne .fail                   ; the guest's IDT, TSS or stack could be displaced: the core delivers
    mov [D_R_ERROR], ebx
    mov [D_R_FLAGS], ecx
    lea edx, [eax * 8 + 7]
    cmp edx, [D_GUEST_IDTR_LIMIT]
    ja .fail
    mov edi, [D_GUEST_IDTR_BASE]
    lea edi, [edi + eax * 8]
    push eax
    mov eax, [D_SHADOW_CR3_KERNEL] ; the handler runs in the guest kernel's view
    call load_cr3
    lgdt [D_GDTR_KERNEL]        ; and with the guest kernel's descriptors (its SS below)
    pop eax
    mov dword [D_GUEST_TOUCH], 1
    mov esi, [es:edi]           ; selector 31..16, offset 15..0
    mov edi, [es:edi + 4]       ; offset 31..16, P, DPL, type
    mov edx, edi
    shr edx, 8
    and edx, 0x9F               ; P and the 5 type bits (S must be 0)
    cmp edx, 0x8E               ; 32-bit interrupt gate
    je .gate_ok
    cmp edx, 0x8F               ; 32-bit trap gate
    jne .fail_touch             ; task gates, 16-bit gates, not present: the core
.gate_ok:
    test dword [D_R_FLAGS], RF_SOFT
    jz .dpl_ok
    mov edx, edi
    shr edx, 13
    and edx, 3
    cmp edx, [D_VCPL]
    jb .fail_touch              ; INT n above the caller's privilege: #GP, the core's job
.dpl_ok:
    mov [D_R_GATE_HI], edi
    mov edx, edi
    and edx, 0xFFFF0000
    movzx eax, si
    or edx, eax
    mov [D_R_NEW_EIP], edx
    mov eax, esi
    shr eax, 16
    and eax, 0xFFFC
    or eax, [D_GUEST_RPL]       ; compressed privilege: the guest's ring 0 is guest_rpl
    mov [D_R_NEW_CS], eax
    mov eax, [ebp + F_EFLAGS]   ; the guest sees its virtual IF and IOPL
    and eax, ~(EFL_IF | EFL_IOPL)
    mov edx, [D_VFLAGS]
    and edx, EFL_IF | EFL_IOPL
    or eax, edx
    mov [D_R_EFLAGS], eax
    cmp dword [D_VCPL], 0
    jne .outer
    mov edx, [ebp + F_SS]       ; same virtual ring: the guest's current stack
    mov esi, [ebp + F_ESP]
    mov fs, dx
    jmp .push
.outer:
    mov edi, [D_GUEST_TSS_BASE] ; guest user -> guest kernel: its TSS's SS0:ESP0
    test edi, edi
    jz .fail_touch
    mov esi, [es:edi + 4]
    movzx edx, word [es:edi + 8]
    and edx, 0xFFFC
    or edx, [D_GUEST_RPL]
    mov fs, dx
    mov eax, [ebp + F_SS]
    and eax, 0xFFFC
    or eax, [D_VCPL]
    sub esi, 4
    mov [fs:esi], eax
    mov eax, [ebp + F_ESP]
    sub esi, 4
    mov [fs:esi], eax
.push:
    mov [D_R_NEW_SS], edx
    mov eax, [D_R_EFLAGS]
    sub esi, 4
    mov [fs:esi], eax
    mov eax, [ebp + F_CS]
    and eax, 0xFFFC
    or eax, [D_VCPL]
    sub esi, 4
    mov [fs:esi], eax
    mov eax, [ebp + F_EIP]
    sub esi, 4
    mov [fs:esi], eax
    test dword [D_R_FLAGS], RF_ERROR
    jz .written
    mov eax, [D_R_ERROR]
    sub esi, 4
    mov [fs:esi], eax
.written:
    mov dword [D_GUEST_TOUCH], 0
    ; Commit: from here on nothing can fault.
    mov [ebp + F_ESP], esi
    mov eax, [D_R_NEW_SS]
    mov [ebp + F_SS], eax
    mov eax, [D_R_NEW_EIP]
    mov [ebp + F_EIP], eax
    mov eax, [D_R_NEW_CS]
    mov [ebp + F_CS], eax
    and dword [ebp + F_EFLAGS], ~(EFL_TF | EFL_NT | EFL_RF | EFL_VM)
    test dword [D_R_GATE_HI], 0x100 ; type bit 0: trap gate keeps IF (SDM 6.12.1.3)
    jnz .keep_if
    and dword [D_VFLAGS], ~EFL_IF
.keep_if:
    mov dword [D_VCPL], 0
    test dword [D_R_FLAGS], RF_CR2
    jz .done
    mov eax, [D_FAULT_CR2]
    mov [D_GUEST_CR2], eax
.done:
    clc
    ret
.fail_touch:
    mov dword [D_GUEST_TOUCH], 0
.fail:
    stc
    ret

stub_done:
    inc dword [D_STUB_HANDLED]
    mov eax, [ebp + F_VECTOR]
    and eax, 0xFF
    inc dword [D_STUB_COUNT + eax * 4]
    mov dword [D_PHASE], 1      ; the trap is done: a fault from now on concerns a delivery
    ; fall through

; Back to the guest. First, claim 7: a pending virtual interrupt goes in as soon as the
; guest's virtual IF allows (STI, POPF, IRET emulated by the core...).
resume:
    test dword [D_VFLAGS], EFL_IF
    jz .enter
    mov eax, [D_PENDING_VECTOR]
    cmp eax, 0xFF
    ja .enter                   ; -1: none
    mov [D_DELIVER_VECTOR], eax
    xor ecx, ecx                ; external: no error code, no DPL check
    call reflect
    jc .pending_failed
    mov dword [D_PENDING_VECTOR], -1
    inc dword [D_VIRQ_DELIVERED]
    jmp resume
.pending_failed:
    mov eax, EXIT_DELIVERY_FAILED ; D_PENDING_VECTOR is still set
    jmp world_switch
.enter:
    call load_guest_cr3
    mov esp, ebp
    pop gs
    pop fs
    pop es
    pop ds
    popad
    add esp, 8                  ; vector, error code
    iret

; Claim 8: the core's turn. The guest state is saved in the frame; switch to the VMM's
; address space (claim 4: the stub is mapped at the same linear address in both) and make
; the host call. vmm-core runs inside the OUT (the machine routes D_HOST_CALL_PORT to it);
; it may change the frame, the data page, even move the stub (EIP and ESP are stub-relative,
; so execution continues right after the OUT wherever the stub now is). EAX = EXIT_*.
world_switch:
    mov [D_EXIT_REASON], eax
    inc dword [D_CORE_HANDLED]
    mov ecx, [ebp + F_VECTOR]
    and ecx, 0xFF
    inc dword [D_CORE_COUNT + ecx * 4]
    mov ecx, [D_VMM_CR3]
    test ecx, ecx
    jz .no_switch
    inc dword [D_WORLD_SWITCHES]
    mov cr3, ecx
.no_switch:
    mov edx, [D_HOST_CALL_PORT]
host_call:
    out dx, eax
host_return:
    mov dword [D_PHASE], 1      ; whatever the trap was, the core has dealt with it
    call load_guest_cr3
    mov eax, [D_CORE_REQUEST]
    test eax, eax
    jz resume
    mov dword [D_CORE_REQUEST], REQ_RESUME
    xor ecx, ecx
    cmp eax, REQ_DELIVER_ERROR
    jne .no_error
    mov ecx, RF_ERROR
.no_error:
    mov eax, [D_CORE_REQUEST_VECTOR]
    mov ebx, [D_CORE_REQUEST_ERROR]
    mov [D_DELIVER_VECTOR], eax
    call reflect
    jnc resume
    mov eax, EXIT_DELIVERY_FAILED
    jmp world_switch

; A trap taken inside the stub. While it touched guest memory (D_GUEST_TOUCH): the guest's
; stack, IDT, TSS or code is not reachable here (not present in the shadow tables, a bad
; selector...), so drop this nested frame and give the frame, untouched since the last thing
; that completed, to the core: the original trap (EXIT_ABORTED) or, once that was done, the
; delivery it was attempting (EXIT_DELIVERY_FAILED). Otherwise the monitor is broken: report
; to the core and stop.
from_ring0:
    mov ax, SEL_MON_DATA
    mov ds, ax
    cmp dword [D_GUEST_TOUCH], 0
    je .stub_fault
    mov dword [D_GUEST_TOUCH], 0
    inc dword [D_REFLECT_ABORTS]
    ; what the guest touch hit, for the core: the vector, its error code and CR2
    mov eax, [esp]
    mov [D_TOUCH_FAULT_VECTOR], eax
    mov eax, [esp + 4]
    mov [D_TOUCH_FAULT_ERROR], eax
    mov eax, cr2
    mov [D_TOUCH_FAULT_CR2], eax
    mov ax, SEL_MON_FLAT
    mov es, ax
    mov esp, FRAME_OFFSET
    mov ebp, esp
    mov eax, EXIT_ABORTED
    cmp dword [D_PHASE], 0
    je world_switch
    mov eax, EXIT_DELIVERY_FAILED
    jmp world_switch
.stub_fault:
    inc dword [D_STUB_FAULTS]
    mov eax, [esp]
    mov [D_STUB_FAULT_VECTOR], eax
    mov eax, [esp + 8]
    mov [D_STUB_FAULT_EIP], eax
    mov ecx, [D_VMM_CR3]
    test ecx, ecx
    jz .report
    mov cr3, ecx
.report:
    mov edx, [D_HOST_CALL_PORT]
    mov eax, EXIT_STUB_FAULT
    out dx, eax
.dead:
    cli
    hlt
    jmp .dead

code_end:
    times ENTRIES_OFFSET - ($ - $$) db 0xCC

; ---------------------------------------------------------------------------------------
; Page 1: one entry per vector (claim 3): push a dummy error code where the CPU pushes none
; (SDM 6.13), push the vector, jump to the common code. ENTRY_SIZE bytes each.
entries:
%assign v 0
%rep 256
    %if (ERROR_CODE_VECTORS >> v) & 1 == 0 || v >= 32
    push byte 0
    %endif
    push dword v
    jmp near common_entry
    times ENTRIES_OFFSET + (v + 1) * ENTRY_SIZE - ($ - $$) db 0xCC
%assign v v + 1
%endrep

; ---------------------------------------------------------------------------------------
; Page 2: the IDT (SDM 6.11) and the TSS. Gates are 32-bit interrupt gates (IF clear in the
; stub) to SEL_MON_CODE with stub-relative offsets. Vectors 0-31 have DPL 0, so a guest
; INT n for them is a #GP the core emulates and a CPU exception is never confused with an
; INT n; 32-255 have DPL 3 so the guest's INT n reaches the stub directly (claim 7). The
; core may change DPLs (data) but never needs to touch them on a move.
idt:
%assign v 0
%rep 256
    dw (ENTRIES_OFFSET + v * ENTRY_SIZE) & 0xFFFF
    dw SEL_MON_CODE
    db 0
    %if v < 32
    db 0x8E
    %else
    db 0xEE
    %endif
    dw (ENTRIES_OFFSET + v * ENTRY_SIZE) >> 16
%assign v v + 1
%endrep
    times TSS_OFFSET - ($ - $$) db 0

tss:
    dd 0                        ; previous task link
    dd STACK_TOP                ; ESP0: stub-relative, since SS0's base is the stub's base
    dd SEL_MON_DATA             ; SS0
    times 22 dd 0               ; ESP1..LDT: unused (no hardware task switching)
    dw 0                        ; T
    dw TSS_SIZE                 ; I/O map base beyond the limit: every guest IN/OUT traps
    times GDT_OFFSET - ($ - $$) db 0

; ---------------------------------------------------------------------------------------
; Page 3: the two GDTs, the guest kernel's and the guest user's. Guest slots first (null,
; filled by the core), then the monitor's, the same in both. Stub-based descriptors hold base
; 0 / TSS_OFFSET in the image: the core applies the relocation writes for the real base
; before first use (the package's `relocate`).
%macro monitor_descriptors 0
    ; SEL_MON_CODE: base = stub, limit STUB_SIZE-1 (byte granular), 32-bit code exec/read, DPL 0
    dw STUB_SIZE - 1, 0
    db 0, 0x9B, 0x40, 0
    ; SEL_MON_DATA: base = stub, limit STUB_SIZE-1, 32-bit data read/write (B=1), DPL 0
    dw STUB_SIZE - 1, 0
    db 0, 0x93, 0x40, 0
    ; SEL_MON_FLAT: base 0, limit 4 GiB (G=1), data read/write, DPL 0
    dw 0xFFFF, 0
    db 0, 0x93, 0xCF, 0
    ; SEL_MON_TSS: base = stub + TSS_OFFSET, limit 103, 32-bit available TSS, DPL 0
    dw TSS_SIZE - 1, TSS_OFFSET
    db 0, 0x89, 0x00, 0
%endmacro
gdt:
    times GUEST_GDT_SLOTS dq 0
    monitor_descriptors
gdt_user:
    times GUEST_GDT_SLOTS dq 0
    monitor_descriptors

; ---------------------------------------------------------------------------------------
; Page 4: the data page (fields D_*), then the stub's stack up to STACK_TOP.
data:
    times D_HOST_CALL_PORT - DATA_OFFSET db 0
    dd DEFAULT_HOST_CALL_PORT
    dd 0                        ; D_VCPL
    dd 3                        ; D_GUEST_RPL: the guest kernel runs at CPL 3 (docs/architecture.md section 4)
    dd 0                        ; D_VFLAGS
    dd -1                       ; D_PENDING_VECTOR
    times D_GDTR_KERNEL - ($ - $$) db 0
    dw GDT_ENTRIES * 8 - 1      ; D_GDTR_KERNEL: base = stub + GDT_OFFSET (the core writes it)
    dd GDT_OFFSET
    dw 0
    dw GDT_ENTRIES * 8 - 1      ; D_GDTR_USER: base = stub + GDT_USER_OFFSET
    dd GDT_USER_OFFSET
    times D_REFLECT_BITMAP - ($ - $$) db 0
    ; Reflected by the stub by default: #DE, #BP, #OF, #BR, #UD, #NM, #MF, #AC, #XM and every
    ; INT n >= 32. The core's: #DB, NMI, #DF, #TS, #NP, #SS, #GP, #PF, #MC and reserved ones.
    dd 0x000B00F9
    times 7 dd 0xFFFFFFFF
    times STUB_SIZE - ($ - $$) db 0
