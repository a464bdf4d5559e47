; reset: a guest-requested reset through the i8042 (command 0xFE pulses the CPU reset line).
; QEMU with -no-reboot and pagurus both end the run there with exit status 0.
%include "lib.inc"

main:
  print "asking the keyboard controller for a reset", 10
.wait:
  in al, 0x64
  test al, 2
  jnz .wait
  mov al, 0xFE
  out 0x64, al
  mov ecx, 1000000
.spin:
  loop .spin
  print "still running after the reset request", 10
  ret
