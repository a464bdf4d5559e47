; vmm_processes: the monitor's scenario (e), claims 7 and 8. Two user-mode processes, each
; with its own address space (CR3) and stack, share the CPU under a timer: the PIT's IRQ 0
; preempts whichever runs and the kernel switches to the other. Each process makes system
; calls through INT 0x80 (add to my counter, yield, read the preemption count, exit), and
; the kernel prints the totals
; once both exited. Only what does not depend on timing is printed: the counters and that
; the timer did preempt. Under the monitor, INT 0x80, CLI/STI, PUSHF/POPF and IRET are the
; stub's to handle (claim 7); I/O, CR3 loads and page faults are the core's (claim 8).
%include "lib.inc"

ROUNDS equ 3000

main:
  ; two address spaces: the identity 0..8 MiB (user-accessible), plus a private page at
  ; 0x40000000 that maps a different frame in each (each process's own counter)
  mov eax, 7
  call paging_build
  mov esi, page_dir
  mov edi, pd_b
  mov ecx, 1024
  rep movsd
  mov dword [page_dir + (0x40000000 >> 22) * 4], pt_a + 7
  mov dword [pd_b + (0x40000000 >> 22) * 4], pt_b + 7
  mov dword [pt_a], 0x600000 | 7
  mov dword [pt_b], 0x601000 | 7
  mov dword [0x600000], 0
  mov dword [0x601000], 0
  mov dword [cr3_of], page_dir
  mov dword [cr3_of + 4], pd_b
  call paging_on

  set_gate 0x20, irq0, INT32
  set_gate 0x80, syscall, INT32 | DPL3
  ; Each process starts at `process` on its own user stack with IF set: an IRET frame at the
  ; top of its ring-0 stack, a PUSHAD image under it (EBX = the process number).
  mov edi, ring0_stack_a - 52
  xor eax, eax
  mov ecx, 8
  rep stosd
  mov edi, ring0_stack_b - 52
  mov ecx, 8
  rep stosd
  mov dword [ring0_stack_b - 52 + 16], 1
  mov dword [ring0_stack_a - 20], process
  mov dword [ring0_stack_a - 16], UCODE
  mov dword [ring0_stack_a - 12], 0x202
  mov dword [ring0_stack_a - 8], stack_a_top
  mov dword [ring0_stack_a - 4], UDATA
  mov dword [ring0_stack_b - 20], process
  mov dword [ring0_stack_b - 16], UCODE
  mov dword [ring0_stack_b - 12], 0x202
  mov dword [ring0_stack_b - 8], stack_b_top
  mov dword [ring0_stack_b - 4], UDATA
  mov dword [esp_of], ring0_stack_a - 52
  mov dword [esp_of + 4], ring0_stack_b - 52
  ; flat DPL 3 data for everyone: IRET to ring 3 keeps it, and ring 0 may use it too
  mov ax, UDATA
  mov ds, ax
  mov es, ax
  mov fs, ax
  mov gs, ax

  ; timer: PIT channel 0 at about 2 kHz through IRQ 0
  mov al, 0x34
  out 0x43, al
  mov ax, 597
  out 0x40, al
  mov al, ah
  out 0x40, al
  mov al, 0xFE
  out 0x21, al
  mov [kernel_esp], esp
  mov dword [current], 0
  mov esp, [esp_of]
  jmp enter_current

; The user program: EBX = its number. Adds 1 to its private counter ROUNDS times through
; system calls, yielding every 500, then exits.
process:
  xor esi, esi
.round:
  mov eax, 1                    ; add
  int 0x80
  inc esi
  mov eax, esi
  xor edx, edx
  mov ecx, 500
  div ecx
  test edx, edx
  jnz .no_yield
  mov eax, 2                    ; yield
  int 0x80
.no_yield:
  cmp esi, ROUNDS
  jb .round
.wait_timer:                    ; then stay until the timer has preempted someone twice
  mov eax, 4                    ; preemptions so far
  int 0x80
  cmp eax, 2
  jb .wait_timer
  mov eax, 3                    ; exit
  int 0x80
  jmp $

; The kernel side. Interrupt gates: IF is clear here.
syscall:
  pushad
  cmp eax, 1
  jne .yield
  inc dword [0x40000000]        ; the caller's own page (its CR3 is loaded)
  pushfd                        ; the flags the guest kernel sees: IF clear in a handler
  pop eax
  test eax, 0x200
  jnz .if_wrong
  popad
  iretd
.yield:
  cmp eax, 4
  jne .not_count
  mov eax, [preemptions]
  mov [esp + 28], eax           ; the caller's EAX in the PUSHAD image
  popad
  iretd
.not_count:
  cmp eax, 2
  jne .exit
  inc dword [yields]
  jmp switch
.exit:
  mov eax, [current]
  mov dword [done + eax * 4], 1
  cmp dword [done], 1
  jne switch
  cmp dword [done + 4], 1
  jne switch
  ; both exited: back to the kernel's own stack and report
  mov esp, [kernel_esp]
  mov dword [tss0 + 4], ring0_stack_top
  mov al, 0xFF
  out 0x21, al
  mov eax, page_dir
  mov cr3, eax
  print "process A counted "
  udec [0x600000]
  print ", process B counted "
  udec [0x601000]
  print 10, "yields "
  udec [yields]
  print 10, "timer preempted: "
  cmp dword [preemptions], 0
  je .none
  print "yes", 10
  ret
.none:
  print "no", 10
  ret
.if_wrong:
  print "IF set inside an interrupt gate", 10
  exit_with 1

irq0:
  pushad
  mov al, 0x20
  out 0x20, al                  ; EOI
  inc dword [preemptions]
  ; fall into switch

; switch: the current process's registers are on this stack (PUSHAD over an IRET frame);
; save its ESP and resume the other one, unless it has exited.
switch:
  mov eax, [current]
  mov [esp_of + eax * 4], esp
  xor eax, 1
  cmp dword [done + eax * 4], 0
  jne .same
  mov [current], eax
.same:
  mov eax, [current]
  mov esp, [esp_of + eax * 4]
enter_current:
  mov eax, [current]
  mov eax, [cr3_of + eax * 4]
  mov cr3, eax
  mov eax, [current]
  mov dword [tss0 + 4], ring0_stack_a
  test eax, eax
  jz .stack_set
  mov dword [tss0 + 4], ring0_stack_b
.stack_set:
  ; each process's kernel stack: its frame must survive while the other runs
  popad
  iretd

section .data
current:     dd 0
cr3_of:      dd 0, 0
esp_of:      dd 0, 0
done:        dd 0, 0
yields:      dd 0
preemptions: dd 0
kernel_esp:  dd 0

section .bss
alignb 4096
pd_b:  resb 4096
pt_a:  resb 4096
pt_b:  resb 4096
       resb 4096
stack_a_top:
       resb 4096
stack_b_top:
       resb 2048
ring0_stack_a:
       resb 2048
ring0_stack_b:
