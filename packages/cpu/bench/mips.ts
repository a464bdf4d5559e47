// Rough interpreter speed: a simple loop kernel in flat 32-bit protected mode.
// Run: npx -y pnpm@12 exec node --conditions=source --import ./tooling/cpu-harness/register-ts.mjs packages/cpu/bench/mips.ts
import { Reg, Seg } from "@pagurus/spec";
import { Ia32Cpu } from "../src/index.js";

const ram = new Uint8Array(16 << 20);
const direct = new Uint8Array(1 << 20);
direct.fill(3, 0, ram.length >>> 12);
const memory = {
  fastPath: { ram, direct },
  read8: (a: number) => ram[a] ?? 0xff,
  read16: (a: number) => (ram[a] ?? 0xff) | ((ram[a + 1] ?? 0xff) << 8),
  read32: (a: number) => (ram[a] | (ram[a + 1] << 8) | (ram[a + 2] << 16) | (ram[a + 3] << 24)) >>> 0,
  write8: (a: number, v: number) => {
    ram[a] = v;
  },
  write16: (a: number, v: number) => {
    ram[a] = v;
    ram[a + 1] = v >> 8;
  },
  write32: (a: number, v: number) => {
    for (let i = 0; i < 4; i++) ram[a + i] = v >> (8 * i);
  },
};
const io = { in8: () => 0xff, in16: () => 0xffff, in32: () => -1 >>> 0, out8() {}, out16() {}, out32() {} };
// loop: mov ecx, N ; l: add eax, ecx ; xor edx, eax ; mov [0x2000], eax ; mov ebx, [0x2000] ; inc esi ; cmp esi, edi ; dec ecx ; jnz l ; jmp loop
const code = [
  0xb9,
  0x00,
  0x00,
  0x10,
  0x00, // mov ecx, 0x100000
  0x01,
  0xc8, // add eax, ecx
  0x31,
  0xc2, // xor edx, eax
  0xa3,
  0x00,
  0x20,
  0x00,
  0x00, // mov [0x2000], eax
  0x8b,
  0x1d,
  0x00,
  0x20,
  0x00,
  0x00, // mov ebx, [0x2000]
  0x46, // inc esi
  0x39,
  0xfe, // cmp esi, edi
  0x49, // dec ecx
  0x75,
  0xef, // jnz -17
  0xeb,
  0xe4, // jmp start
];
// calls: push/call/ret/mov [ebp+d]/lea/movzx/cmp/jcc, a C-like function call per 14 instructions
const calls = [
  0xb9,
  0xe8,
  0x03,
  0x00,
  0x00, // outer: mov ecx, 1000
  0x51, // l: push ecx
  0xe8,
  0x09,
  0x00,
  0x00,
  0x00, // call f
  0x59, // pop ecx
  0x49, // dec ecx
  0x75,
  0xf6, // jnz l
  0xeb,
  0xef, // jmp outer
  0x90,
  0x90,
  0x90, // pad
  0x55, // f: push ebp
  0x89,
  0xe5, // mov ebp, esp
  0x8b,
  0x45,
  0x08, // mov eax, [ebp+8]
  0x8d,
  0x14,
  0x40, // lea edx, [eax+eax*2]
  0x0f,
  0xb6,
  0x1d,
  0x01,
  0x20,
  0x00,
  0x00, // movzx ebx, byte [0x2001]
  0x01,
  0xd0, // add eax, edx
  0x83,
  0xf8,
  0x64, // cmp eax, 100
  0x72,
  0x03, // jb +3
  0x83,
  0xe8,
  0x03, // sub eax, 3
  0xa3,
  0x00,
  0x30,
  0x00,
  0x00, // mov [0x3000], eax
  0x5d, // pop ebp
  0xc3, // ret
];
ram.set(process.argv[3] === "calls" ? calls : code, 0x1000);
const cpu = new Ia32Cpu({ memory, io });
cpu.setCr(0, cpu.getCr(0) | 1);
cpu.setSegment(Seg.CS, { selector: 8, base: 0, limit: 0xffffffff, access: 0xc09b });
for (const s of [Seg.DS, Seg.ES, Seg.SS])
  cpu.setSegment(s, { selector: 0x10, base: 0, limit: 0xffffffff, access: 0xc093 });
cpu.eip = 0x1000;
cpu.setReg(Reg.ESP, 0x80000);
const n = Number(process.argv[2] ?? 50_000_000);
cpu.run({ instructions: 2_000_000 });
const t0 = performance.now();
const c0 = process.cpuUsage();
const reason = cpu.run({ instructions: n });
if (reason !== "budget") throw new Error(`stopped early: ${reason} ${cpu.shutdownReport ?? ""}`);
const dt = (performance.now() - t0) / 1000;
const cu = process.cpuUsage(c0);
const ct = (cu.user + cu.system) / 1e6;
// CPU time is the fairer figure on a shared machine; wall time is what a user sees.
console.log(
  `${(n / ct / 1e6).toFixed(1)} MIPS by CPU time, ${(n / dt / 1e6).toFixed(1)} MIPS by wall time (${n} instructions)`,
);
