; double_fault: a #GP whose IDT gate is not present raises #NP while being delivered; two
; contributory exceptions make a #DF with error code 0 (SDM Vol. 3A, 6.15, table 6-5). The #DF
; handler is a task gate, as a kernel must do to survive a bad stack: the switch saves the
; faulting task's state in TSS0 and links back to it.
%include "lib.inc"

main:
  mov dword [tss1 + 32], df_task           ; EIP
  mov dword [tss1 + 36], 0x00000002        ; EFLAGS
  mov dword [tss1 + 56], df_stack_top      ; ESP
  mov dword [tss1 + 72], KDATA
  mov dword [tss1 + 76], KCODE
  mov dword [tss1 + 80], KDATA
  mov dword [tss1 + 84], KDATA
  mov dword [tss1 + 88], KDATA
  mov dword [tss1 + 92], KDATA
  mov word [tss1 + 102], 104
  mov eax, cr3
  mov [tss1 + 28], eax
  set_desc TSS1, tss1, 103, 0x89, 0
  set_gate 8, 0, TASKGATE, TSS1
  mov dword [idt + 13 * 8 + 4], 0          ; #GP gate not present
  print "raising #GP with no #GP handler", 10
  mov ecx, 0xC0FFEE
  mov ax, 0x1234
mark:
  mov ds, ax
  print "not reached", 10
  ret

df_task:
  pop eax                                  ; the error code, pushed on the new task's stack
  print "double fault: error "
  hex eax
  print ", task "
  str ax
  hex4 eax
  print ", back link "
  hex4 [tss1]
  print ", NT "
  pushfd
  pop eax
  shr eax, 14
  and eax, 1
  udec eax
  print 10, "faulting task: ECX "
  hex [tss0 + 44]
  print ", EIP at the faulting MOV "
  mov eax, [tss0 + 32]
  cmp eax, mark
  sete al
  movzx eax, al
  udec eax
  print 10
  exit_with 0

section .bss
alignb 16
df_stack: resb 4096
df_stack_top:
