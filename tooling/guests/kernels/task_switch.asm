; task_switch: hardware task switches (SDM Vol. 3A, 7.3): a far JMP to a TSS (no link, busy bit
; moves), a far CALL (NT set, back link written, both busy) returning with IRET, the registers
; a switch saves and loads, and #GP when calling a busy task.
%include "lib.inc"

main:
  call catch_exceptions
  mov dword [tss1 + 32], task_entry
  mov dword [tss1 + 36], 0x00000002
  mov dword [tss1 + 40], 0xAAAA0001        ; EAX
  mov dword [tss1 + 44], 0xAAAA0002        ; ECX
  mov dword [tss1 + 48], 0xAAAA0003        ; EDX
  mov dword [tss1 + 52], 0xAAAA0004        ; EBX
  mov dword [tss1 + 56], task_stack_top
  mov dword [tss1 + 60], 0xAAAA0006        ; EBP
  mov dword [tss1 + 64], 0xAAAA0007        ; ESI
  mov dword [tss1 + 68], 0xAAAA0008        ; EDI
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
  call show_types
  mov ebx, 0x5555AAAA
  print "far JMP to TSS1", 10
  jmp TSS1:0
  jmp after_jmp
after_jmp:
  print "back in TSS0 by far JMP, EBX kept "
  hex ebx
  print 10
  call show_types
  print "far CALL to TSS1", 10
  call TSS1:0
  print "back in TSS0 by IRET, NT "
  pushfd
  pop eax
  shr eax, 14
  and eax, 1
  udec eax
  print 10
  call show_types
  print "CALL to own busy TSS: "
  mov dword [resume_eip], .busy
  call TSS0:0
.busy:
  call report_caught
  ret

show_types:
  print "  TSS0 type "
  movzx eax, byte [gdt + TSS0 + 5]
  and eax, 0x0F
  hex2 eax
  print ", TSS1 type "
  movzx eax, byte [gdt + TSS1 + 5]
  and eax, 0x0F
  hex2 eax
  print ", TR "
  str ax
  hex4 eax
  print 10
  ret

task_entry:
  print "  in TSS1 (first entry): EAX "
  hex eax
  print " ECX "
  hex ecx
  print " EBX "
  hex ebx
  print " EDI "
  hex edi
  print ", NT "
  pushfd
  pop eax
  shr eax, 14
  and eax, 1
  udec eax
  print 10
  call show_types
  print "  TSS0 saved EBX "
  hex [tss0 + 52]
  print 10
  mov esi, 0x77777777
  jmp TSS0:0
  ; the far CALL resumes here
  print "  in TSS1 (second entry): ESI kept "
  hex esi
  print ", back link "
  hex4 [tss1]
  print ", NT "
  pushfd
  pop eax
  shr eax, 14
  and eax, 1
  udec eax
  print 10
  call show_types
  iretd

section .bss
alignb 16
task_stack: resb 4096
task_stack_top:
