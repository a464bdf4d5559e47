; mbinfo: prints the Multiboot information structure the loader handed over in EBX
; (Multiboot 0.6.96 section 3.3): flags, memory sizes, the command line after the kernel's own
; name, modules and the memory map. Run with --append and --module (see kernels.json).
%include "lib.inc"

; puts_after_space: ESI = C string; prints what follows its first space (the kernel's path comes
; first, as QEMU and GRUB pass it, and differs between machines).
puts_after_space:
  pushad
.skip:
  mov al, [esi]
  inc esi
  test al, al
  jz .done
  cmp al, ' '
  jne .skip
.out:
  mov al, [esi]
  inc esi
  test al, al
  jz .done
  call putc
  jmp .out
.done:
  popad
  ret

; puts_basename: ESI = C string; prints it from after its last '/'.
puts_basename:
  pushad
  mov edi, esi
.scan:
  mov al, [esi]
  inc esi
  test al, al
  jz .print
  cmp al, '/'
  jne .scan
  mov edi, esi
  jmp .scan
.print:
  mov esi, edi
.out:
  mov al, [esi]
  inc esi
  test al, al
  jz .done
  call putc
  jmp .out
.done:
  popad
  ret

main:
  mov ebx, [mb_info]
  print "magic "
  hex [mb_magic]
  print 10, "info at "
  hex ebx
  print 10, "flags "
  hex [ebx]
  print 10, "mem_lower "
  udec [ebx + 4]
  print " KiB", 10, "mem_upper "
  udec [ebx + 8]
  print " KiB", 10
  test dword [ebx], 1 << 1
  jz .nodev
  print "boot_device "
  hex [ebx + 12]
  print 10
.nodev:
  test dword [ebx], 1 << 2
  jz .nocmd
  print "cmdline after name '"
  mov esi, [ebx + 16]
  call puts_after_space
  print "'", 10
.nocmd:
  test dword [ebx], 1 << 3
  jz .nomods
  print "mods_count "
  udec [ebx + 20]
  print " mods_addr "
  hex [ebx + 24]
  print 10
  mov ecx, [ebx + 20]
  mov edi, [ebx + 24]
.mod:
  test ecx, ecx
  jz .nomods
  print "  module "
  hex [edi]
  print "-"
  hex [edi + 4]
  print " '"
  mov esi, [edi + 8]
  call puts_basename
  print "' first bytes "
  mov esi, [edi]
  hex2 [esi]
  hex2 [esi + 1]
  hex2 [esi + 2]
  hex2 [esi + 3]
  print 10
  add edi, 16
  dec ecx
  jmp .mod
.nomods:
  test dword [ebx], 1 << 6
  jz .nommap
  print "mmap_length "
  udec [ebx + 44]
  print " mmap_addr "
  hex [ebx + 48]
  print 10
  mov esi, [ebx + 48]
  mov edi, esi
  add edi, [ebx + 44]
.entry:
  cmp esi, edi
  jae .nommap
  print "  size "
  udec [esi]
  print " base "
  hex [esi + 8]
  hex [esi + 4]
  print " length "
  hex [esi + 16]
  hex [esi + 12]
  print " type "
  udec [esi + 20]
  print 10
  mov eax, [esi]
  lea esi, [esi + eax + 4]
  jmp .entry
.nommap:
  test dword [ebx], 1 << 9
  jz .noname
  ; the boot loader's name differs by design ("qemu", "pagurus"); say only that there is one
  mov esi, [ebx + 64]
  print "boot_loader_name present "
  movzx eax, byte [esi]
  test eax, eax
  setnz al
  udec eax
  print 10
.noname:
  ret
