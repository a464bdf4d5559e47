; syscalls: a user-mode program that talks to its kernel only through INT 0x80 (a DPL 3 trap
; gate): write(buffer, length), getpid(), add(a, b), and exit(status), in the Linux i386
; register convention (EAX number, EBX/ECX/EDX arguments, result in EAX). A bad buffer pointer
; into kernel space gets -EFAULT, an unknown number -ENOSYS.
%include "lib.inc"

SYS_EXIT  equ 1
SYS_WRITE equ 4
SYS_GETPID equ 20
SYS_ADD   equ 200

main:
  set_gate 0x80, syscall_entry, TRAP32 | DPL3
  print "kernel: starting the user program", 10
  mov eax, user_main
  call run_user
  print "kernel: user program exited with status "
  udec eax
  print 10
  ret

syscall_entry:
  push ds
  push es
  push ebx
  push ecx
  push edx
  push esi
  mov si, KDATA
  mov ds, si
  mov es, si
  cmp eax, SYS_WRITE
  je .write
  cmp eax, SYS_GETPID
  je .getpid
  cmp eax, SYS_ADD
  je .add
  cmp eax, SYS_EXIT
  je .exit
  mov eax, -38                  ; -ENOSYS
  jmp .ret
.write:
  ; the buffer must lie in user memory: here, below the kernel's own image is refused
  cmp ecx, user_area_start
  jb .fault
  mov eax, ecx
  add eax, edx
  cmp eax, user_area_end
  ja .fault
  mov esi, ecx
  mov ecx, edx
.w:
  test ecx, ecx
  jz .wdone
  mov al, [esi]
  call putc
  inc esi
  dec ecx
  jmp .w
.wdone:
  mov eax, edx
  jmp .ret
.fault:
  mov eax, -14                  ; -EFAULT
  jmp .ret
.getpid:
  mov eax, 42
  jmp .ret
.add:
  mov eax, ebx
  add eax, ecx
  jmp .ret
.exit:
  mov eax, ebx
  pop esi
  pop edx
  pop ecx
  pop ebx
  pop es
  pop ds
  add esp, 12                   ; drop the IRET frame's EIP, CS, EFLAGS: leave through run_user
  add esp, 8                    ; and the ring-3 SS:ESP
  jmp user_return
.ret:
  pop esi
  pop edx
  pop ecx
  pop ebx
  pop es
  pop ds
  iretd

; ---- the user program: ring 3, no I/O, only system calls ----
user_area_start:
user_main:
  mov eax, SYS_WRITE
  mov ebx, 1
  mov ecx, msg_hello
  mov edx, msg_hello_len
  int 0x80
  mov [written], eax
  mov eax, SYS_GETPID
  int 0x80
  add al, '0' - 40              ; 42 -> '2'
  mov [msg_pid + msg_pid_digit], al
  mov eax, SYS_WRITE
  mov ebx, 1
  mov ecx, msg_pid
  mov edx, msg_pid_len
  int 0x80
  mov eax, SYS_ADD
  mov ebx, 40
  mov ecx, 2
  int 0x80
  cmp eax, 42
  jne .bad
  mov eax, SYS_WRITE
  mov ebx, 1
  mov ecx, msg_add
  mov edx, msg_add_len
  int 0x80
.bad:
  mov eax, SYS_WRITE            ; a kernel pointer: -EFAULT
  mov ebx, 1
  mov ecx, 0x1000
  mov edx, 4
  int 0x80
  cmp eax, -14
  jne .nofault
  mov eax, SYS_WRITE
  mov ebx, 1
  mov ecx, msg_efault
  mov edx, msg_efault_len
  int 0x80
.nofault:
  mov eax, 99                   ; unknown: -ENOSYS
  int 0x80
  cmp eax, -38
  jne .noenosys
  mov eax, SYS_WRITE
  mov ebx, 1
  mov ecx, msg_enosys
  mov edx, msg_enosys_len
  int 0x80
.noenosys:
  mov eax, SYS_EXIT
  mov ebx, [written]
  int 0x80
  jmp $

msg_hello: db "user: hello from ring 3 through write()", 10
msg_hello_len equ $ - msg_hello
msg_pid: db "user: getpid() = 4?", 10
msg_pid_len equ $ - msg_pid
msg_pid_digit equ msg_pid_len - 2
msg_add: db "user: add(40, 2) = 42", 10
msg_add_len equ $ - msg_add
msg_efault: db "user: write(kernel pointer) = -EFAULT", 10
msg_efault_len equ $ - msg_efault
msg_enosys: db "user: syscall 99 = -ENOSYS", 10
msg_enosys_len equ $ - msg_enosys
written: dd 0
user_area_end:
