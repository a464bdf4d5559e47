/*
 * pagurus host CPU harness: runs batches of 32-bit x86 code snippets natively and reports the
 * architectural result, for differential testing of @pagurus/cpu (issue 4).
 *
 * Build: gcc -m32 -O2 -no-pie -fno-pie -o harness harness.c   (see build.sh)
 * Usage: harness [scratch_base_hex]   binary cases on stdin, binary results on stdout.
 *
 * Input, per case (little-endian u32 unless noted):
 *   code_len (0 ends the batch; bit 31 set: run in the 16-bit code segment), code bytes[code_len], eax ecx edx ebx esp ebp esi edi, eflags,
 *   scratch_seed
 * Output, per case:
 *   vector (0xFFFFFFFF when the code ran to its end), error_code, cr2, EIP relative to the code
 *   segment's base (CODE_BASE for the flat segment, where the 16-bit segment is based too),
 *   eax ecx edx ebx esp ebp esi edi, eflags, es cs ss ds fs gs (selectors, one u32 each),
 *   n_diffs, then n_diffs pairs (dword index, value) of the scratch dwords that differ from
 *   their initial fill.
 * `harness --selectors` prints the process's CS DS ES SS FS GS selectors in hex and exits: the
 * emulated side loads the same values so that segment-register reads and loads compare.
 *
 * The scratch area (SCRATCH_SIZE bytes at the base given on the command line) is filled from
 * scratch_seed with xorshift32, one value per dword, so the TypeScript side can recreate it
 * without shipping it over the pipe. Faults arrive as signals; the kernel's sigcontext carries
 * the hardware vector (trapno), the error code and the registers at the fault, which is exactly
 * what the emulated CPU must show when it raises the same exception.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <asm/ldt.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#define CODE_BASE 0x00040000u
#define CODE_SIZE 0x2000u
#define SCRATCH_SIZE 0x2000u
#define MAX_CODE (CODE_SIZE - 16)

/* Layout known to the asm below: eax ecx edx ebx esp ebp esi edi eflags (offsets 0..32). */
struct regs {
  uint32_t r[8];
  uint32_t eflags;
};

struct regs in_regs, out_regs;
/* ES CS SS DS FS GS after the code (or at the fault). */
uint32_t out_sregs[6];
uint32_t saved_ds, saved_es;
uint32_t host_esp;
/* Far pointer (offset, selector) the trampoline jumps through: flat CS or the 16-bit LDT segment. */
struct __attribute__((packed)) {
  uint32_t offset;
  uint16_t selector;
} code_entry;
uint32_t host_cs;
/* LDT entry 0, RPL 3: a 16-bit code segment based at CODE_BASE (modify_ldt). */
#define CODE16_SEL 0x07u
void run_case(void);
void harness_exit(void);

__asm__(".intel_syntax noprefix\n"
        ".text\n"
        ".globl run_case\n"
        "run_case:\n"
        "  push ebp\n push ebx\n push esi\n push edi\n"
        "  mov [host_esp], esp\n"
        "  mov [saved_ds], ds\n mov [saved_es], es\n"
        /* EFLAGS first, from the host stack; the MOVs after it leave flags alone. */
        "  push dword ptr [in_regs+32]\n"
        "  popfd\n"
        "  mov eax, [in_regs+0]\n mov ecx, [in_regs+4]\n mov edx, [in_regs+8]\n"
        "  mov ebx, [in_regs+12]\n mov ebp, [in_regs+20]\n mov esi, [in_regs+24]\n"
        "  mov edi, [in_regs+28]\n mov esp, [in_regs+16]\n"
        "  jmp fword ptr [code_entry]\n"
        ".globl harness_exit\n"
        "harness_exit:\n"
        /* The code may have loaded DS or ES with a null or read-only selector; SS can only
           hold a writable data segment, so store through SS and restore DS/ES from it. */
        "  mov ss:[out_regs+0], eax\n mov ss:[out_regs+4], ecx\n mov ss:[out_regs+8], edx\n"
        "  mov ss:[out_regs+12], ebx\n mov ss:[out_regs+16], esp\n mov ss:[out_regs+20], ebp\n"
        "  mov ss:[out_regs+24], esi\n mov ss:[out_regs+28], edi\n"
        "  mov ss:[out_sregs+0], es\n mov ss:[out_sregs+4], cs\n mov ss:[out_sregs+8], ss\n"
        "  mov ss:[out_sregs+12], ds\n mov ss:[out_sregs+16], fs\n mov ss:[out_sregs+20], gs\n"
        "  mov esp, ss:[host_esp]\n"
        "  pushfd\n pop dword ptr ss:[out_regs+32]\n"
        "  mov eax, ss:[saved_ds]\n mov ds, eax\n mov eax, ss:[saved_es]\n mov es, eax\n"
        /* Back to the flags C code expects (DF clear, no AC, no TF). */
        "  push 0x202\n popfd\n"
        "  pop edi\n pop esi\n pop ebx\n pop ebp\n"
        "  ret\n"
        ".att_syntax prefix\n");

static sigjmp_buf fault_jmp;
static volatile uint32_t fault_vector, fault_err, fault_cr2, fault_eip;

static void on_fault(int sig, siginfo_t *info, void *ctx_) {
  /* The code may have set EFLAGS.AC: with CR0.AM (Linux sets it) every unaligned access in
     this handler or in libc would raise #AC again. */
  __asm__ volatile("pushfl\n andl $~0x40000, (%%esp)\n popfl" ::: "cc", "memory");
  ucontext_t *ctx = (ucontext_t *)ctx_;
  greg_t *g = ctx->uc_mcontext.gregs;
  uint32_t eip = (uint32_t)g[REG_EIP];
  (void)info;
  /* In the 16-bit segment EIP is already relative to CODE_BASE. */
  if (((uint32_t)g[REG_CS] & 0xffff) == CODE16_SEL) eip += CODE_BASE;
  if (eip < CODE_BASE || eip >= CODE_BASE + CODE_SIZE) {
    /* A fault outside the test code is a harness bug: never report it as a CPU result. */
    fprintf(stderr, "harness: signal %d at eip %08x outside the code page\n", sig, eip);
    _exit(3);
  }
  fault_vector = (uint32_t)g[REG_TRAPNO];
  fault_err = (uint32_t)g[REG_ERR];
  fault_cr2 = (uint32_t)ctx->uc_mcontext.cr2;
  fault_eip = eip;
  out_regs.r[0] = (uint32_t)g[REG_EAX];
  out_regs.r[1] = (uint32_t)g[REG_ECX];
  out_regs.r[2] = (uint32_t)g[REG_EDX];
  out_regs.r[3] = (uint32_t)g[REG_EBX];
  out_regs.r[4] = (uint32_t)g[REG_UESP];
  out_regs.r[5] = (uint32_t)g[REG_EBP];
  out_regs.r[6] = (uint32_t)g[REG_ESI];
  out_regs.r[7] = (uint32_t)g[REG_EDI];
  out_regs.eflags = (uint32_t)g[REG_EFL];
  out_sregs[0] = (uint32_t)g[REG_ES] & 0xffff;
  out_sregs[1] = (uint32_t)g[REG_CS] & 0xffff;
  out_sregs[2] = (uint32_t)g[REG_SS] & 0xffff;
  out_sregs[3] = (uint32_t)g[REG_DS] & 0xffff;
  out_sregs[4] = (uint32_t)g[REG_FS] & 0xffff;
  out_sregs[5] = (uint32_t)g[REG_GS] & 0xffff;
  /* The kernel entered this handler with DS/ES/SS = USER_DS and FS/GS untouched (the code never
     loads FS/GS), so glibc's TLS and siglongjmp work as usual. */
  siglongjmp(fault_jmp, 1);
}

static int read_all(void *p, size_t n) { return fread(p, 1, n, stdin) == n; }
static void put32(uint32_t v) { fwrite(&v, 4, 1, stdout); }

static uint32_t initial[SCRATCH_SIZE / 4];

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--selectors") == 0) {
    uint32_t cs, ds, es, ss, fs, gs;
    __asm__("mov %%cs, %0\n mov %%ds, %1\n mov %%es, %2\n mov %%ss, %3\n mov %%fs, %4\n mov %%gs, %5"
            : "=r"(cs), "=r"(ds), "=r"(es), "=r"(ss), "=r"(fs), "=r"(gs));
    printf("%x %x %x %x %x %x\n", cs & 0xffff, ds & 0xffff, es & 0xffff, ss & 0xffff, fs & 0xffff, gs & 0xffff);
    return 0;
  }
  uint32_t scratch_base = argc > 1 ? (uint32_t)strtoul(argv[1], 0, 16) : 0x8000u;
  static char altstack[65536];
  static char inbuf[1 << 20], outbuf[1 << 20];
  setvbuf(stdin, inbuf, _IOFBF, sizeof inbuf);
  setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);

  uint8_t *code = mmap((void *)CODE_BASE, CODE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  uint32_t *scratch = mmap((void *)scratch_base, SCRATCH_SIZE, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (code != (void *)CODE_BASE || scratch != (void *)scratch_base) {
    fprintf(stderr, "harness: cannot map code at %08x and scratch at %08x (vm.mmap_min_addr?)\n", CODE_BASE,
            scratch_base);
    return 2;
  }
  __asm__("mov %%cs, %0" : "=r"(host_cs));
  host_cs &= 0xffff;
  struct user_desc code16 = {.entry_number = 0,
                             .base_addr = CODE_BASE,
                             .limit = 0xffff,
                             .seg_32bit = 0,
                             .contents = MODIFY_LDT_CONTENTS_CODE,
                             .read_exec_only = 0,
                             .limit_in_pages = 0,
                             .seg_not_present = 0,
                             .useable = 1};
  if (syscall(SYS_modify_ldt, 1, &code16, sizeof code16) != 0) {
    fprintf(stderr, "harness: modify_ldt failed: no 16-bit code segment\n");
    return 2;
  }
  stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
  sigaltstack(&ss, 0);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigaction(SIGSEGV, &sa, 0);
  sigaction(SIGBUS, &sa, 0);
  sigaction(SIGFPE, &sa, 0);
  sigaction(SIGILL, &sa, 0);
  sigaction(SIGTRAP, &sa, 0);

  for (;;) {
    uint32_t len, seed;
    if (!read_all(&len, 4) || len == 0) break;
    int code16 = (len & 0x80000000u) != 0;
    len &= 0x7fffffffu;
    if (len > MAX_CODE) {
      fprintf(stderr, "harness: code too long (%u)\n", len);
      return 2;
    }
    if (!read_all(code, len) || !read_all(&in_regs, sizeof in_regs) || !read_all(&seed, 4)) return 2;
    volatile uint32_t end = CODE_BASE + len;
    if (code16) {
      /* jmp far ptr16:32 (66 EA) back to harness_exit in the flat code segment. */
      uint32_t target = (uint32_t)(uintptr_t)harness_exit;
      uint16_t sel = (uint16_t)host_cs;
      code[len] = 0x66;
      code[len + 1] = 0xEA;
      memcpy(code + len + 2, &target, 4);
      memcpy(code + len + 6, &sel, 2);
      code_entry.offset = 0;
      code_entry.selector = CODE16_SEL;
    } else {
      /* jmp rel32 back to harness_exit. */
      code[len] = 0xE9;
      uint32_t rel = (uint32_t)(uintptr_t)harness_exit - (end + 5);
      memcpy(code + len + 1, &rel, 4);
      code_entry.offset = CODE_BASE;
      code_entry.selector = (uint16_t)host_cs;
    }

    uint32_t x = seed ? seed : 1;
    for (uint32_t i = 0; i < SCRATCH_SIZE / 4; i++) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      initial[i] = x;
    }
    memcpy(scratch, initial, SCRATCH_SIZE);

    volatile uint32_t vector = 0xFFFFFFFFu, err = 0, cr2 = 0, eip = end;
    if (sigsetjmp(fault_jmp, 1) == 0) {
      run_case();
      /* The far jump back is the harness's own: report the code's CS. */
      if (code16) out_sregs[1] = CODE16_SEL;
    } else {
      vector = fault_vector;
      err = fault_err;
      cr2 = fault_cr2;
      eip = fault_eip;
    }
    put32(vector);
    put32(err);
    put32(cr2);
    put32(eip - CODE_BASE);
    fwrite(out_regs.r, 4, 8, stdout);
    put32(out_regs.eflags);
    for (int i = 0; i < 6; i++) put32(out_sregs[i] & 0xffff);
    uint32_t n = 0;
    for (uint32_t i = 0; i < SCRATCH_SIZE / 4; i++) n += scratch[i] != initial[i];
    put32(n);
    for (uint32_t i = 0; i < SCRATCH_SIZE / 4; i++)
      if (scratch[i] != initial[i]) {
        put32(i);
        put32(scratch[i]);
      }
  }
  fflush(stdout);
  return 0;
}
