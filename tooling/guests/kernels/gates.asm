; gates: INT n through every IDT gate type (SDM Vol. 3A, 6.11-6.12): 32-bit interrupt gate
; (IF cleared), 32-bit trap gate (IF kept), 16-bit interrupt and trap gates (16-bit frame of
; IP, CS, FLAGS), and a task gate (a task switch to TSS1 and back with IRET).
%include "lib.inc"

LOW_CODE equ 0x7000            ; 16-bit gates push a 16-bit IP: the INT must sit below 64 KiB

main:
  set_gate 0x40, int32_handler, INT32
  set_gate 0x41, int32_handler, TRAP32
  ; 16-bit handlers run in a 16-bit code segment whose base is the handler
  set_desc GDT_FREE, handler16, 0xFFFF, 0x9A, 0
  set_gate 0x42, 0, INT16, GDT_FREE
  set_gate 0x43, 0, TRAP16, GDT_FREE
  ; the task gate's task: TSS1 with its own stack and EIP
  mov dword [tss1 + 32], task_entry          ; EIP
  mov dword [tss1 + 36], 0x00000002          ; EFLAGS
  mov dword [tss1 + 56], task_stack_top      ; ESP
  mov dword [tss1 + 72], KDATA               ; ES
  mov dword [tss1 + 76], KCODE               ; CS
  mov dword [tss1 + 80], KDATA               ; SS
  mov dword [tss1 + 84], KDATA               ; DS
  mov dword [tss1 + 88], KDATA               ; FS
  mov dword [tss1 + 92], KDATA               ; GS
  mov word [tss1 + 102], 104
  mov eax, cr3
  mov [tss1 + 28], eax
  set_desc TSS1, tss1, 103, 0x89, 0
  set_gate 0x44, 0, TASKGATE, TSS1

  sti
  print "interrupt gate 32: "
  int 0x40
  call show32
  print "trap gate 32:      "
  int 0x41
  call show32
  ; copy the INT instructions below 64 KiB and call them there
  mov esi, low_start
  mov edi, LOW_CODE
  mov ecx, low_end - low_start
  rep movsb
  print "interrupt gate 16: "
  mov al, 0x42
  call LOW_CODE
  call show16
  print "trap gate 16:      "
  mov al, 0x43
  call LOW_CODE
  call show16
  cli
  print "task gate:         "
  int 0x44
  print "back in task "
  str ax
  hex4 eax
  print ", NT "
  pushfd
  pop eax
  shr eax, 14
  and eax, 1
  udec eax
  print ", TSS1 type "
  movzx eax, byte [gdt + TSS1 + 5]
  hex2 eax
  print 10
  ret

show32:
  print "IF inside "
  udec [seen_if]
  print ", frame CS "
  hex4 [seen_cs]
  print ", frame EFLAGS.IF "
  udec [seen_frame_if]
  print 10
  ret

show16:
  print "IF inside "
  udec [seen_if]
  print ", frame CS "
  hex4 [seen_cs]
  print ", frame FLAGS.IF "
  udec [seen_frame_if]
  print ", frame IP "
  hex4 [seen_ip]
  print 10
  ret

int32_handler:
  push eax
  pushfd
  pop eax
  shr eax, 9
  and eax, 1
  mov [seen_if], eax
  mov eax, [esp + 8]
  mov [seen_cs], eax
  mov eax, [esp + 12]
  shr eax, 9
  and eax, 1
  mov [seen_frame_if], eax
  pop eax
  iretd

; the code copied to LOW_CODE: INT AL via a self-modified immediate would be unusual, so one
; INT per vector, chosen by AL.
low_start:
  cmp al, 0x42
  jne .t
  int 0x42
  ret
.t:
  int 0x43
  ret
low_end:

bits 16
handler16:
  push ax
  push bp
  mov bp, sp                        ; SS is 32-bit: use ESP-relative addressing
  pushf
  pop ax
  shr ax, 9
  and ax, 1
  mov [dword seen_if], ax
  mov ax, [ss:esp + 4]              ; IP
  mov [dword seen_ip], ax
  mov ax, [ss:esp + 6]              ; CS
  mov [dword seen_cs], ax
  mov ax, [ss:esp + 8]              ; FLAGS
  shr ax, 9
  and ax, 1
  mov [dword seen_frame_if], ax
  pop bp
  pop ax
  iret
bits 32

task_entry:
  print "in task "
  str ax
  hex4 eax
  print ", back link "
  hex4 [tss1 + 0]
  print ", NT "
  pushfd
  pop eax
  shr eax, 14
  and eax, 1
  udec eax
  print ", TSS0 type "
  movzx eax, byte [gdt + TSS0 + 5]
  hex2 eax
  print 10
  iretd
  jmp task_entry                    ; a later switch to this task resumes here

section .data
seen_if: dd 0
seen_cs: dd 0
seen_frame_if: dd 0
seen_ip: dd 0

section .bss
task_stack: resb 4096
task_stack_top:
