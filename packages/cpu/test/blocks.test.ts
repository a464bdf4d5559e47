import { IoPortMap, PhysicalMemoryMap } from "@pagurus/bus";
import type { RegIndex } from "@pagurus/spec";
import { Exception, Reg, Seg } from "@pagurus/spec";
import { describe, expect, it } from "vitest";
import { Ia32Cpu } from "../src/index.js";
import { FLAT_CODE, FLAT_DATA, type SysCpu, sysCpu } from "./helpers.js";

/*
 * Compiled blocks (src/blocks.ts): a hot address's straight-line code runs as a generated
 * function. These check that a block never runs stale bytes, whoever changed them (the CPU
 * itself inside or outside the block, or a write to RAM the CPU does not see), and that
 * blocks are exact: the same state as the interpreter after any budget, with precise faults.
 */

/** Sums 1..1000 by patching the immediate of `p: mov eax, imm32` from inside the same block. */
const SELF_PATCHING = `
       mov ecx, 1000
       xor ebx, ebx
       jmp l
       align 4
       nop
    l: mov [p + 1], ecx       ; aligned: the fast path's store, into the block's own bytes
    p: mov eax, 0
       add ebx, eax
       dec ecx
       jnz l
       hlt`;

describe("compiled blocks run current bytes", () => {
  it("a store into the block's own later bytes takes effect (aligned fast-path store)", () => {
    const s = sysCpu(SELF_PATCHING, {}, { blockThreshold: 2 });
    expect((s.sym("p") + 1) % 4).toBe(0);
    expect(s.cpu.run({ instructions: 100_000 })).toBe("halt");
    expect(s.cpu.getReg(Reg.EBX)).toBe(500500);
  });

  it("a store into the block's own bytes takes effect (unaligned, general path)", () => {
    const s = sysCpu(
      `    mov ecx, 1000
           xor ebx, ebx
        l: mov [p + 1], ecx
        p: mov eax, 0
           add ebx, eax
           dec ecx
           jnz l
           hlt`,
      {},
      { blockThreshold: 2 },
    );
    expect(s.cpu.run({ instructions: 100_000 })).toBe("halt");
    expect(s.cpu.getReg(Reg.EBX)).toBe(500500);
  });

  it("a store into another block's bytes takes effect the next time that block runs", () => {
    const s = sysCpu(
      `    mov ecx, 1000
           xor ebx, ebx
        l: mov eax, ecx
           shl eax, 1
           mov [f + 1], eax      ; patch the subroutine's immediate
           call f
           add ebx, edx
           dec ecx
           jnz l
           hlt
           align 4
           nop
           nop
           nop
        f: mov edx, 0
           ret`,
      {},
      { blockThreshold: 2 },
    );
    expect(s.cpu.run({ instructions: 100_000 })).toBe("halt");
    expect(s.cpu.getReg(Reg.EBX)).toBe(1001000);
  });

  it("a write to RAM outside the CPU (a device, DMA, a monitor) is seen by the next run", () => {
    const s = sysCpu(
      `    mov ecx, 100
        l: mov eax, 1
           add ebx, eax
           dec ecx
           jnz l
           hlt`,
      {},
      { blockThreshold: 2 },
    );
    expect(s.cpu.run({ instructions: 200 })).toBe("budget");
    const ebx = s.cpu.getReg(Reg.EBX);
    expect(ebx).toBeGreaterThan(40);
    // Through the memory the CPU was built with, not through the CPU: `mov eax, 1` -> `mov eax, 1000`.
    s.mem.write32(s.sym("l") + 1, 1000);
    expect(s.cpu.run({ instructions: 100_000 })).toBe("halt");
    expect(s.cpu.getReg(Reg.EBX)).toBe(ebx + 1000 * (100 - ebx));
  });

  it("a write through the bus's PhysicalMemoryMap is seen by the next run", () => {
    const memory = new PhysicalMemoryMap({ ramSize: 1 << 20 });
    const cpu = new Ia32Cpu({ memory, io: new IoPortMap() }, { blockThreshold: 2 });
    cpu.setCr(0, cpu.getCr(0) | 1);
    cpu.setSegment(Seg.CS, FLAT_CODE);
    for (const s of [Seg.DS, Seg.ES, Seg.SS]) cpu.setSegment(s, FLAT_DATA);
    // l: add ebx, 1 ; dec ecx ; jnz l ; hlt
    memory.ram.set([0x83, 0xc3, 0x01, 0x49, 0x75, 0xfa, 0xf4], 0x2000);
    cpu.eip = 0x2000;
    cpu.setReg(Reg.ECX, 1000);
    expect(cpu.run({ instructions: 300 })).toBe("budget");
    expect(cpu.getReg(Reg.EBX)).toBe(100);
    memory.write8(0x2002, 7); // add ebx, 7, as a device or a monitor would write it
    expect(cpu.run({ instructions: 100_000 })).toBe("halt");
    expect(cpu.getReg(Reg.EBX)).toBe(100 + 7 * 900);
  });

  it("restoring older RAM (a snapshot) brings back the older code", () => {
    const s = sysCpu(
      `    mov ecx, 50
        l: add ebx, 3
           dec ecx
           jnz l
           hlt`,
      {},
      { blockThreshold: 2 },
    );
    const ram = s.mem.ram.slice();
    const cpuState = s.cpu.save();
    s.mem.ram[s.sym("l") + 2] = 5; // add ebx, 5
    expect(s.cpu.run({ instructions: 10_000 })).toBe("halt");
    expect(s.cpu.getReg(Reg.EBX)).toBe(250);
    s.mem.ram.set(ram);
    s.cpu.restore(cpuState);
    expect(s.cpu.run({ instructions: 10_000 })).toBe("halt");
    expect(s.cpu.getReg(Reg.EBX)).toBe(150);
  });
});

/** A program that exercises every compiled form, the general-path fallbacks and a fault. */
const WORKOUT = `
       mov esp, 0x9000
       mov esi, 0x6000
       mov ebp, 0x9e3779b9
       mov ecx, 300
  top: mov ebx, ecx
       and ebx, 63
       mov edx, [esi + ebx*4]
       add edx, eax
       rol edx, 5
       xor edx, ebp
       mov [esi + ebx*4], edx
       add eax, edx
       test cl, 1
       jz even
       sub edi, eax
       mov [esi + ebx*4 + 1], edi   ; unaligned: the general path
       add edi, [esi + ebx*4 + 1]
       jmp next
 even: call mix
       movzx edx, byte [esi + ebx]
       movzx eax, word [esi + ebx*2 + 2]
       lea edx, [edx + eax*2 + 7]
       cmp edx, 0x100
       jb small
       or eax, edx
       sar eax, 3
 small:
       call skip              ; returns past the next instruction
       inc edi
       inc eax
       imul edx, edx, 13
       add [esi + 0x200], edx
       sub dword [esi + 0x204], 7
       cmp dword [esi + 0x208], 0
       mov byte [esi + 0x20c], dl
       mov dh, [esi + 0x20d]
       test ecx, 7
       jnz next
       mov edx, 0x7000
       mov [edx], eax             ; page 7 is not direct RAM: the bus
       mov eax, [edx]
       cmp ecx, 200
       jne next
       mov edx, 0xfff0
       add ebx, ecx               ; flags the fault below must see
       mov eax, [edx + 0x20]      ; beyond DS's limit: #GP, handled below
       sub ebx, 1
 next: dec ecx
       jnz top
       mov [0x6300], eax
       mov ecx, 500
 tight: add eax, ecx          ; a loop a block runs inside itself, through a followed call
       xor eax, 0x55
       call twist
       inc ebx                ; skipped when twist bumps its return address
       dec ecx
       jnz tight
       hlt
 twist: rol eax, 3
       test cl, 3
       jz bump
       ret
  bump: add dword [esp], 1    ; return past the INC: the RET leaves the block
       ret
  skip: add dword [esp], 1
       ret
  mix: push eax
       imul eax, eax, 0x01000193
       shr eax, 7
       add edi, eax
       pop eax
       ret
   gp: add esp, 4               ; the error code
       add dword [esp], 3       ; skip the 3-byte faulting MOV
       push eax
       mov eax, [esp + 12]
       mov [0x6400], eax        ; the flags the fault saw
       pop eax
       iretd`;

function state(s: SysCpu) {
  const cpu = s.cpu;
  const regs = [0, 1, 2, 3, 4, 5, 6, 7].map((r) => cpu.getReg(r as RegIndex));
  return {
    regs,
    eip: cpu.eip,
    eflags: cpu.eflags,
    count: cpu.instructionCount,
    data: Array.from(s.mem.ram.subarray(0x6000, 0x9000)),
  };
}

function workout(blockThreshold: number): SysCpu {
  const s = sysCpu(WORKOUT, { [Exception.GP]: { label: "gp" } }, { blockThreshold });
  s.cpu.setSegment(Seg.DS, { selector: 0x10, base: 0, limit: 0xffff, access: 0xc093 & ~0x8000 });
  s.mem.fastPath.direct[7] = 0;
  s.cpu.flushTlb();
  return s;
}

describe("compiled blocks are exact", () => {
  it("match the interpreter after every budget, faults and bus accesses included", () => {
    const blocks = workout(1);
    const plain = workout(0);
    let steps = 0;
    let stop = "";
    let seed = 12345;
    while (stop !== "halt" && steps++ < 20_000) {
      seed = (Math.imul(seed, 1103515245) + 12345) | 0;
      const n = 1 + ((seed >>> 16) % 40);
      stop = blocks.cpu.run({ instructions: n });
      expect(plain.cpu.run({ instructions: n })).toBe(stop);
      expect(state(blocks)).toEqual(state(plain));
    }
    expect(stop).toBe("halt");
    expect(blocks.mem.r32(0x6400) & 2).toBe(2); // the #GP was taken
    expect(blocks.mem.r32(0x7000)).not.toBe(0); // and the bus written
  });

  it("match the interpreter when run to the end in one go, and run most of it compiled", () => {
    const blocks = workout(1);
    const plain = workout(0);
    let compiled = 0;
    const cpu = blocks.cpu as Ia32Cpu;
    const runBlocks = cpu.runBlocks.bind(cpu);
    cpu.runBlocks = (budget, hasUntil, untilLin) => {
      const n = runBlocks(budget, hasUntil, untilLin);
      compiled += n;
      return n;
    };
    expect(blocks.cpu.run({ instructions: 1_000_000 })).toBe("halt");
    expect(plain.cpu.run({ instructions: 1_000_000 })).toBe("halt");
    expect(state(blocks)).toEqual(state(plain));
    expect(compiled / blocks.cpu.instructionCount).toBeGreaterThan(0.8);
  });

  it("stop at `until` inside a hot loop", () => {
    const s = sysCpu(SELF_PATCHING, {}, { blockThreshold: 1 });
    const at = s.sym("p");
    for (let i = 0; i < 20; i++) {
      expect(s.cpu.run({ until: at, instructions: 100 })).toBe("address");
      expect(s.cpu.eip).toBe(at);
      expect(s.cpu.run({ instructions: 1 })).toBe("budget");
    }
  });
});

/** A random straight-line-heavy program (seeded) over the compiled forms and a few others. */
function randomProgram(seed: number, faults = false): string {
  let x = seed | 0;
  const rnd = (n: number) => {
    x = (Math.imul(x, 1103515245) + 12345) | 0;
    return (x >>> 8) % n;
  };
  const pick = <T>(a: readonly T[]): T => a[rnd(a.length)];
  const R = ["eax", "ebx", "ecx", "edx", "edi", "ebp"] as const;
  const R8 = ["al", "bl", "cl", "dl", "ah", "bh", "ch", "dh"] as const;
  const ALU = ["add", "or", "and", "sub", "xor", "cmp"] as const;
  const SH = ["shl", "shr", "sar", "rol", "ror", "rcl", "rcr"] as const;
  const CC = [
    "z",
    "nz",
    "b",
    "ae",
    "be",
    "a",
    "s",
    "ns",
    "l",
    "ge",
    "le",
    "g",
    "o",
    "no",
    "p",
    "np",
  ] as const;
  const imm = () => pick([0, 1, 7, 0x7f, 0x80, 0xff, 0x7fffffff, 0x80000000, 0xffffffff, rnd(1 << 30)]);
  const d = () => rnd(0x100);
  const lines: string[] = [];
  let label = 0;
  /** An instruction that writes flags, for a flag reader to follow. */
  const writer = () =>
    pick([
      () => `${pick(ALU)} ${pick(R)}, ${pick(R)}`,
      () => `${pick(ALU)} ${pick(R)}, ${imm()}`,
      () => `${pick(ALU)} ${pick(R)}, [esi + ${d()}]`,
      () => `${pick(ALU)} dword [esi + ${d()}], byte ${rnd(256) - 128}`,
      () => `${rnd(2) ? "inc" : "dec"} ${pick(R)}`,
      () => `${pick(SH)} ${pick(R)}, ${pick(["1", "cl", `${rnd(32)}`])}`,
      () => `imul ${pick(R)}, ${pick(R)}, ${imm()}`,
      () => `test ${pick(R8)}, ${rnd(256)}`,
      () => `cmp al, ${rnd(256)}`,
      () => `test al, ${rnd(256)}`,
    ])();
  for (let i = 0; i < 120; i++) {
    switch (rnd(22)) {
      case 0:
        lines.push(`${pick(ALU)} ${pick(R)}, ${pick(R)}`);
        break;
      case 1:
        lines.push(`${pick(ALU)} ${pick(R)}, ${rnd(2) ? `byte ${rnd(256) - 128}` : imm()}`);
        break;
      case 2:
        lines.push(`mov ${pick(R)}, ${rnd(2) ? pick(R) : imm()}`);
        break;
      case 3:
        lines.push(`mov ${pick(R)}, [esi + ${d()}]`);
        break;
      case 4:
        lines.push(`mov [esi + ${d()}], ${pick(R)}`);
        break;
      case 5:
        lines.push(`${pick(ALU)} ${rnd(2) ? `[esi + ${d()}], ${pick(R)}` : `${pick(R)}, [esi + ${d()}]`}`);
        break;
      case 6:
        lines.push(`${pick(ALU)} dword [esi + ${d()}], ${rnd(2) ? `byte ${rnd(256) - 128}` : imm()}`);
        break;
      case 7:
        lines.push(`movzx ${pick(R)}, ${rnd(2) ? "byte" : "word"} [esi + ${d()}]`);
        break;
      case 8:
        lines.push(rnd(2) ? `mov [esi + ${d()}], ${pick(R8)}` : `mov ${pick(R8)}, [esi + ${d()}]`);
        break;
      case 9:
        lines.push(`${rnd(2) ? "inc" : "dec"} ${pick(R)}`);
        break;
      case 10:
        lines.push(`${pick(SH)} ${pick(R)}, ${pick(["1", "cl", `${rnd(32)}`])}`);
        break;
      case 11:
        lines.push(`imul ${pick(R)}, ${pick(R)}, ${rnd(2) ? rnd(256) - 128 : imm()}`);
        break;
      case 12:
        lines.push(`lea ${pick(R)}, [${pick(R)} + ${pick(R)}*${pick([1, 2, 4, 8])} + ${rnd(1000) - 500}]`);
        break;
      case 13:
        lines.push(`push ${pick(R)}`, `${pick(ALU)} ${pick(R)}, ${pick(R)}`, `pop ${pick(R)}`);
        break;
      case 14:
        lines.push(`test ${pick(R)}, ${pick(R)}`, `test ${pick(R8)}, ${rnd(256)}`, "cdq");
        break;
      case 15:
      case 16:
        // A forward branch over an instruction or two.
        lines.push(
          writer(),
          `j${pick(CC)} f${label}`,
          `${pick(ALU)} ${pick(R)}, ${pick(R)}`,
          `mov [esi + ${d()}], ${pick(R)}`,
          `f${label}:`,
        );
        label++;
        break;
      case 17:
        lines.push(`call s${rnd(3)}`);
        break;
      case 18:
        // Forms blocks do not compile: the flags must be complete before them.
        lines.push(
          writer(),
          pick(["adc eax, ebx", "sbb edx, ecx", "setc al", "seto dl", "pushfd\npop ebp", "cmc", "bt ebx, 3"]),
        );
        break;
      case 19:
        lines.push(
          `mov ebx, ${pick(R)}`,
          "and ebx, 31",
          `mov ${pick(R)}, [esi + ebx*4]`,
          `add [esi + ebx*4 + 2], ${pick(R)}`,
        );
        break;
      case 20:
        // Pushes and pops on a misaligned stack (the general path) between aligned ones.
        lines.push(
          `push ${pick(R)}`,
          "sub esp, 2",
          `push ${pick(R)}`,
          `pop ${pick(R)}`,
          "add esp, 2",
          `pop ${pick(R)}`,
        );
        break;
      default:
        lines.push(`mov dword [esi + ${d()}], ${imm()}`);
        break;
    }
    // With DS limited to 0x61FF, a load from near the limit may be #GP: the handler goes on at
    // the loop's tail.
    if (faults && rnd(10) === 0) lines.push(writer(), `mov ${pick(R)}, [esi + ${0x1f0 + rnd(32)}]`);
  }
  const sub = (n: number) =>
    `s${n}: ${pick(ALU)} ${pick(R)}, ${pick(R)}\n ${pick(SH)} ${pick(R)}, ${rnd(32)}\n mov [esi + ${d()}], ${pick(R)}\n ret`;
  return `
       mov esp, 0x9000
       mov esi, 0x6000
       mov dword [ss:esi + 0x300], 40
  top: ${lines.join("\n")}
 tail: dec dword [ss:esi + 0x300]
       jnz top
       hlt
    gp: add esp, 4             ; the error code
       push eax
       mov eax, [esp + 12]     ; the EFLAGS the fault saw, summed up
       add [ss:0x6408], eax
       rol dword [ss:0x6408], 3
       pop eax
       mov dword [esp], tail
       inc dword [ss:0x6400]
       iretd
  ${sub(0)}
  ${sub(1)}
  ${sub(2)}`;
}

/** Runs two CPUs, compiled and interpreting, in lockstep at pseudo-random budgets to HLT. */
function lockstep(blocks: SysCpu, plain: SysCpu, seed: number): void {
  let budget = seed * 7919;
  let stop = "";
  for (let steps = 0; stop !== "halt" && steps < 100_000; steps++) {
    budget = (Math.imul(budget, 1103515245) + 12345) | 0;
    const n = 1 + ((budget >>> 16) % 60);
    stop = blocks.cpu.run({ instructions: n });
    expect(plain.cpu.run({ instructions: n })).toBe(stop);
    const a = state(blocks);
    const b = state(plain);
    if (JSON.stringify(a) !== JSON.stringify(b)) expect(a).toEqual(b);
  }
  expect(stop).toBe("halt");
}

describe("compiled blocks on random programs", () => {
  for (const seed of [7, 8, 9]) {
    it(`match the interpreter in lockstep, faults included (seed ${seed})`, () => {
      const source = randomProgram(seed, true);
      const make = (blockThreshold: number) => {
        const s = sysCpu(source, { [Exception.GP]: { label: "gp" } }, { blockThreshold });
        s.cpu.setSegment(Seg.DS, { selector: 0x10, base: 0, limit: 0x61ff, access: 0x4093 });
        return s;
      };
      const blocks = make(1);
      lockstep(blocks, make(0), seed);
      expect(blocks.mem.r32(0x6400)).toBeGreaterThan(0); // faults were taken
    });
  }

  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`match the interpreter in lockstep (seed ${seed})`, () => {
      const source = randomProgram(seed);
      lockstep(sysCpu(source, {}, { blockThreshold: 1 }), sysCpu(source, {}, { blockThreshold: 0 }), seed);
    });
  }
});
