/**
 * A table-driven IA-32 disassembler for the i686 integer and system opcode maps (one-byte and
 * 0F), Intel syntax, for traces and error messages. It is not on the CPU's hot path, so it
 * favours a readable table (SDM Vol. 2, Appendix A) over speed.
 *
 * Lengths are exact for every valid encoding of that ISA (checked against iced-x86 by
 * packages/cpu/test/disasm.test.ts); x87 escapes decode to their correct length with a
 * placeholder text; anything else (MMX, SSE, VEX, undefined opcodes) is "(bad)" with the
 * length of its prefixes, opcode and ModRM form.
 */

export interface Disassembly {
  /** Bytes the instruction occupies, prefixes included. */
  length: number;
  /** Intel syntax, lower case, e.g. `add dword [eax+ecx*4+0x10], 0x5`. */
  text: string;
}

const CC = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"];
const REG8 = ["al", "cl", "dl", "bl", "ah", "ch", "dh", "bh"];
const REG16 = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"];
const REG32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
const SREG = ["es", "cs", "ss", "ds", "fs", "gs", "?", "?"];
const MEM16 = ["bx+si", "bx+di", "bp+si", "bp+di", "si", "di", "bp", "bx"];

/*
 * Operand codes (SDM Appendix A.2 letters): E (ModRM r/m), G (ModRM reg), M (memory only),
 * R (register, mod ignored), S (segment register), C/D (control/debug register), I (immediate),
 * J (relative), A (far pointer), O (moffs), Z (register in the opcode's low bits). Size letters:
 * b byte, w word, d dword, v word/dword by operand size, z immediate word/dword, s sign-extended
 * byte, p far pointer, a BOUND pair, q qword, m unsized. Fixed: AL, eAX, CL, DX, 1, and seg names.
 * A mnemonic "x|y" picks x for 16-bit and y for 32-bit operand size; "@x|y" by address size.
 */
const ONE: string[] = new Array(256).fill("");
const TWO: string[] = new Array(256).fill("");
const GROUPS: Record<string, string[]> = {
  g1: ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"],
  g2: ["rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar"],
  g3b: ["test Eb,Ib", "test Eb,Ib", "not Eb", "neg Eb", "mul Eb", "imul Eb", "div Eb", "idiv Eb"],
  g3v: ["test Ev,Iz", "test Ev,Iz", "not Ev", "neg Ev", "mul Ev", "imul Ev", "div Ev", "idiv Ev"],
  g4: ["inc Eb", "dec Eb", "", "", "", "", "", ""],
  g5: ["inc Ev", "dec Ev", "call Ev", "call Mp", "jmp Ev", "jmp Mp", "push Ev", ""],
  g6: ["sldt Ew", "str Ew", "lldt Ew", "ltr Ew", "verr Ew", "verw Ew", "", ""],
  g7: ["sgdt Mm", "sidt Mm", "lgdt Mm", "lidt Mm", "smsw Ew", "", "lmsw Ew", "invlpg Mm"],
  g8: ["", "", "", "", "bt Ev,Ib", "bts Ev,Ib", "btr Ev,Ib", "btc Ev,Ib"],
  g9: ["", "cmpxchg8b Mq", "", "", "", "", "", ""],
  g1a: ["pop Ev", "", "", "", "", "", "", ""],
  g11b: ["mov Eb,Ib", "", "", "", "", "", "", ""],
  g11v: ["mov Ev,Iz", "", "", "", "", "", "", ""],
};

function fill(): void {
  const alu = GROUPS.g1;
  for (let i = 0; i < 8; i++) {
    const m = alu[i];
    ONE[i * 8] = `${m} Eb,Gb`;
    ONE[i * 8 + 1] = `${m} Ev,Gv`;
    ONE[i * 8 + 2] = `${m} Gb,Eb`;
    ONE[i * 8 + 3] = `${m} Gv,Ev`;
    ONE[i * 8 + 4] = `${m} AL,Ib`;
    ONE[i * 8 + 5] = `${m} eAX,Iz`;
  }
  Object.assign(ONE, {
    6: "push es",
    7: "pop es",
    14: "push cs",
    22: "push ss",
    23: "pop ss",
    30: "push ds",
    31: "pop ds",
    39: "daa",
    47: "das",
    55: "aaa",
    63: "aas",
    96: "pusha|pushad",
    97: "popa|popad",
    98: "bound Gv,Ma",
    99: "arpl Ew,Gw",
    104: "push Iz",
    105: "imul Gv,Ev,Iz",
    106: "push Is",
    107: "imul Gv,Ev,Is",
    108: "insb",
    109: "insw|insd",
    110: "outsb",
    111: "outsw|outsd",
    128: "g1 Eb,Ib",
    129: "g1 Ev,Iz",
    130: "g1 Eb,Ib",
    131: "g1 Ev,Is",
    132: "test Eb,Gb",
    133: "test Ev,Gv",
    134: "xchg Eb,Gb",
    135: "xchg Ev,Gv",
    136: "mov Eb,Gb",
    137: "mov Ev,Gv",
    138: "mov Gb,Eb",
    139: "mov Gv,Ev",
    140: "mov Ew,Sw",
    141: "lea Gv,Mm",
    142: "mov Sw,Ew",
    143: "g1a",
    144: "nop",
    152: "cbw|cwde",
    153: "cwd|cdq",
    154: "call Ap",
    155: "wait",
    156: "pushf|pushfd",
    157: "popf|popfd",
    158: "sahf",
    159: "lahf",
    160: "mov AL,Ob",
    161: "mov eAX,Ov",
    162: "mov Ob,AL",
    163: "mov Ov,eAX",
    164: "movsb",
    165: "movsw|movsd",
    166: "cmpsb",
    167: "cmpsw|cmpsd",
    168: "test AL,Ib",
    169: "test eAX,Iz",
    170: "stosb",
    171: "stosw|stosd",
    172: "lodsb",
    173: "lodsw|lodsd",
    174: "scasb",
    175: "scasw|scasd",
    192: "g2 Eb,Ib",
    193: "g2 Ev,Ib",
    194: "ret Iw",
    195: "ret",
    196: "les Gv,Mp",
    197: "lds Gv,Mp",
    198: "g11b",
    199: "g11v",
    200: "enter Iw,Ib",
    201: "leave",
    202: "retf Iw",
    203: "retf",
    204: "int3",
    205: "int Ib",
    206: "into",
    207: "iret|iretd",
    208: "g2 Eb,1",
    209: "g2 Ev,1",
    210: "g2 Eb,CL",
    211: "g2 Ev,CL",
    212: "aam Ib",
    213: "aad Ib",
    214: "salc",
    215: "xlatb",
    224: "loopne Jb",
    225: "loope Jb",
    226: "loop Jb",
    227: "@jcxz|jecxz Jb",
    228: "in AL,Ib",
    229: "in eAX,Ib",
    230: "out Ib,AL",
    231: "out Ib,eAX",
    232: "call Jz",
    233: "jmp Jz",
    234: "jmp Ap",
    235: "jmp Jb",
    236: "in AL,DX",
    237: "in eAX,DX",
    238: "out DX,AL",
    239: "out DX,eAX",
    241: "int1",
    244: "hlt",
    245: "cmc",
    246: "g3b",
    247: "g3v",
    248: "clc",
    249: "stc",
    250: "cli",
    251: "sti",
    252: "cld",
    253: "std",
    254: "g4",
    255: "g5",
  });
  for (let r = 0; r < 8; r++) {
    ONE[0x40 + r] = "inc Zv";
    ONE[0x48 + r] = "dec Zv";
    ONE[0x50 + r] = "push Zv";
    ONE[0x58 + r] = "pop Zv";
    if (r > 0) ONE[0x90 + r] = "xchg Zv,eAX";
    ONE[0xb0 + r] = "mov Zb,Ib";
    ONE[0xb8 + r] = "mov Zv,Iv";
    ONE[0xd8 + r] = "x87";
  }
  for (let c = 0; c < 16; c++) {
    ONE[0x70 + c] = `j${CC[c]} Jb`;
    TWO[0x40 + c] = `cmov${CC[c]} Gv,Ev`;
    TWO[0x80 + c] = `j${CC[c]} Jz`;
    TWO[0x90 + c] = `set${CC[c]} Eb`;
  }
  for (let r = 0; r < 8; r++) TWO[0xc8 + r] = "bswap Zd";
  // 0F 19-1F are NOP Ev (hint space); 0F 0D and 0F 18 outside their prefetch forms too.
  for (let o = 0x19; o <= 0x1f; o++) TWO[o] = "nop Ev,Gv";
  TWO[0x0d] = "nop Ev,Gv";
  TWO[0x18] = "nop Ev,Gv";
  Object.assign(TWO, {
    0: "g6",
    1: "g7",
    2: "lar Gv,Ew",
    3: "lsl Gv,Ew",
    6: "clts",
    8: "invd",
    9: "wbinvd",
    11: "ud2",
    32: "mov Rd,Cd",
    33: "mov Rd,Dd",
    34: "mov Cd,Rd",
    35: "mov Dd,Rd",
    48: "wrmsr",
    49: "rdtsc",
    50: "rdmsr",
    51: "rdpmc",
    160: "push fs",
    161: "pop fs",
    162: "cpuid",
    163: "bt Ev,Gv",
    164: "shld Ev,Gv,Ib",
    165: "shld Ev,Gv,CL",
    168: "push gs",
    169: "pop gs",
    170: "rsm",
    171: "bts Ev,Gv",
    172: "shrd Ev,Gv,Ib",
    173: "shrd Ev,Gv,CL",
    175: "imul Gv,Ev",
    176: "cmpxchg Eb,Gb",
    177: "cmpxchg Ev,Gv",
    178: "lss Gv,Mp",
    179: "btr Ev,Gv",
    180: "lfs Gv,Mp",
    181: "lgs Gv,Mp",
    182: "movzx Gv,Eb",
    183: "movzx Gv,Ew",
    185: "ud1 Gv,Ev",
    186: "g8",
    187: "btc Ev,Gv",
    188: "bsf Gv,Ev",
    189: "bsr Gv,Ev",
    190: "movsx Gv,Eb",
    191: "movsx Gv,Ew",
    192: "xadd Eb,Gb",
    193: "xadd Ev,Gv",
    199: "g9",
    255: "ud0 Gv,Ev",
  });
}
fill();

/** 0F opcodes outside the i686 integer/system map that still take a ModRM (MMX/SSE/...), for lengths of "(bad)". */
function twoByteHasModrm(op: number): boolean {
  if (op >= 0x10 && op <= 0x17) return true;
  if (op >= 0x28 && op <= 0x2f) return true;
  if (op >= 0x50 && op <= 0x7f) return op !== 0x77;
  if (op >= 0xc2 && op <= 0xc6) return true;
  if (op >= 0xd0 && op <= 0xfe) return true;
  return op === 0x0d || op === 0x18 || op === 0xae || op === 0xb8 || op === 0x78 || op === 0x79;
}

const PREFIX_SEG: Record<number, string> = { 38: "es", 46: "cs", 54: "ss", 62: "ds", 100: "fs", 101: "gs" };

function hex(v: number): string {
  return `0x${(v >>> 0).toString(16)}`;
}

class Cursor {
  p: number;
  readonly bytes: Uint8Array;
  constructor(bytes: Uint8Array, start: number) {
    this.bytes = bytes;
    this.p = start;
  }
  u8(): number {
    const v = this.p < this.bytes.length ? this.bytes[this.p] : 0;
    this.p++;
    return v;
  }
  u16(): number {
    return this.u8() | (this.u8() << 8);
  }
  u32(): number {
    return (this.u16() | (this.u16() << 16)) >>> 0;
  }
}

/**
 * Decodes one instruction at `bytes[offset]` in a 16- or 32-bit code segment. `address` (the
 * instruction's EIP) makes relative branch targets absolute in the text. Bytes past the end of
 * `bytes` read as zero, so the length of a truncated instruction is still reported.
 */
export function disassemble(bytes: Uint8Array, offset: number, mode: 16 | 32, address?: number): Disassembly {
  const c = new Cursor(bytes, offset);
  let o16 = mode === 16;
  let a16 = mode === 16;
  let seg: string | null = null;
  let rep = "";
  let lock = false;
  for (let n = 0; n < 15; n++) {
    const b = c.p < bytes.length ? bytes[c.p] : 0;
    if (b === 0x66) o16 = mode !== 16;
    else if (b === 0x67) a16 = mode !== 16;
    else if (b === 0xf0) lock = true;
    else if (b === 0xf2) rep = "repne ";
    else if (b === 0xf3) rep = "rep ";
    else if (b in PREFIX_SEG) seg = PREFIX_SEG[b];
    else break;
    c.p++;
  }
  const op = c.u8();
  let entry: string;
  let twoByte = false;
  let op2 = 0;
  if (op === 0x0f) {
    twoByte = true;
    op2 = c.u8();
    entry = TWO[op2];
  } else entry = ONE[op];

  const bad = (): Disassembly => ({ length: c.p - offset, text: "(bad)" });
  if (entry === "" && twoByte) {
    if (twoByteHasModrm(op2)) skipModrm(c, a16);
    // 0F 70-73 (MMX shifts/shuffle) and 0F C2/C4-C6 carry an imm8.
    if ((op2 >= 0x70 && op2 <= 0x73) || op2 === 0xc2 || op2 === 0xc4 || op2 === 0xc5 || op2 === 0xc6) c.u8();
    return bad();
  }
  if (entry === "x87") {
    skipModrm(c, a16);
    return { length: c.p - offset, text: `(x87 ${op.toString(16)})` };
  }

  let modrm = -1;
  const needsModrm = (s: string) => /(^|[ ,])([EGMSRCD][a-z])/.test(s) || s.startsWith("g");
  let groupReg = -1;
  if (entry.startsWith("g")) {
    const [g, ops] = entry.split(" ");
    modrm = c.u8();
    groupReg = (modrm >> 3) & 7;
    const table = GROUPS[g];
    if (g === "g1" || g === "g2") entry = `${table[groupReg]} ${ops}`;
    else entry = table[groupReg];
    if (entry === "") {
      skipMemory(c, modrm, a16);
      return bad();
    }
  } else if (needsModrm(entry)) modrm = c.u8();

  const space = entry.indexOf(" ");
  let mnem = space < 0 ? entry : entry.slice(0, space);
  const operands = space < 0 ? [] : entry.slice(space + 1).split(",");
  if (mnem.startsWith("@")) {
    const [x, y] = mnem.slice(1).split("|");
    mnem = a16 ? x : y;
  } else if (mnem.includes("|")) {
    const [x, y] = mnem.split("|");
    mnem = o16 ? x : y;
  }
  if (op === 0x90 && rep === "rep ") {
    mnem = "pause";
    rep = "";
  }

  const vsize = o16 ? 16 : 32;
  const mod = modrm >> 6;
  const rm = modrm & 7;
  const reg = (modrm >> 3) & 7;
  let memText: string | null = null;
  const memory = (): string => {
    if (memText === null) memText = decodeMemory(c, modrm, a16, seg);
    return memText;
  };
  const sizeWord = (bits: number | "p" | "a" | "m" | "q"): string => {
    switch (bits) {
      case 8:
        return "byte ";
      case 16:
        return "word ";
      case 32:
        return "dword ";
      case "q":
        return "qword ";
      case "p":
        return o16 ? "dword " : "fword ";
      case "a":
        return o16 ? "dword " : "qword ";
      default:
        return "";
    }
  };
  const regName = (bits: number, r: number) => (bits === 8 ? REG8[r] : bits === 16 ? REG16[r] : REG32[r]);
  const sizeOf = (l: string): number => (l === "b" ? 8 : l === "w" ? 16 : l === "d" ? 32 : vsize);

  // ModRM operands consume their displacement before any immediate: decode them in byte order.
  const texts: string[] = [];
  const deferred: number[] = [];
  for (let i = 0; i < operands.length; i++) {
    const t = operands[i];
    // Fixed operands (AL, CL, DX, eAX, 1) are resolved with the immediates below; their first
    // letter must not be taken for an operand kind (C = control register, D = debug register).
    const kind = t === "CL" || t === "DX" ? "" : t[0];
    const l = t.slice(1);
    switch (kind) {
      case "E":
        texts[i] = mod === 3 ? regName(sizeOf(l), rm) : sizeWord(sizeOf(l)) + memory();
        break;
      case "M":
        if (mod === 3) {
          texts[i] = "(bad)";
          break;
        }
        texts[i] = sizeWord(l === "p" || l === "a" || l === "q" ? l : "m") + memory();
        break;
      case "G":
        texts[i] = regName(sizeOf(l), reg);
        break;
      case "S":
        texts[i] = SREG[reg];
        break;
      case "R":
        texts[i] = REG32[rm];
        break;
      case "C":
        texts[i] = `cr${reg}`;
        break;
      case "D":
        texts[i] = `dr${reg}`;
        break;
      case "Z":
        texts[i] = regName(sizeOf(l), op2 ? op2 & 7 : op & 7);
        break;
      default:
        deferred.push(i);
    }
  }
  if (modrm >= 0 && memText === null && mod !== 3 && !entry.includes("R")) memory();
  for (const i of deferred) {
    const t = operands[i];
    switch (t) {
      case "Ib":
        texts[i] = hex(c.u8());
        break;
      case "Is": {
        // A byte sign-extended to the operand size: shown signed.
        const v = (c.u8() << 24) >> 24;
        texts[i] = v < 0 ? `-${hex(-v)}` : hex(v);
        break;
      }
      case "Iw":
        texts[i] = hex(c.u16());
        break;
      case "Iz":
      case "Iv":
        texts[i] = hex(o16 ? c.u16() : c.u32());
        break;
      case "Jb":
      case "Jz": {
        const rel = t === "Jb" ? (c.u8() << 24) >> 24 : o16 ? (c.u16() << 16) >> 16 : c.u32() | 0;
        if (address === undefined) texts[i] = rel < 0 ? `$-${hex(-rel)}` : `$+${hex(rel)}`;
        else {
          const next = address + (c.p - offset);
          texts[i] = hex(o16 ? (next + rel) & 0xffff : (next + rel) >>> 0);
        }
        break;
      }
      case "Ap": {
        const off = o16 ? c.u16() : c.u32();
        const sel = c.u16();
        texts[i] = `${hex(sel)}:${hex(off)}`;
        break;
      }
      case "Ob":
      case "Ov": {
        const off = a16 ? c.u16() : c.u32();
        const size = t === "Ob" ? 8 : vsize;
        texts[i] = `${sizeWord(size)}${seg ? `${seg}:` : ""}[${hex(off)}]`;
        break;
      }
      case "AL":
        texts[i] = "al";
        break;
      case "CL":
        texts[i] = "cl";
        break;
      case "DX":
        texts[i] = "dx";
        break;
      case "eAX":
        texts[i] = o16 ? "ax" : "eax";
        break;
      case "1":
        texts[i] = "1";
        break;
      default:
        texts[i] = t;
    }
  }
  const length = c.p - offset;
  if (length > 15) return { length, text: "(bad)" };
  const isString = /^(movs|cmps|stos|lods|scas|ins|outs)[bwd]$/.test(mnem);
  let prefix = lock ? "lock " : "";
  // F3 is REPE on the comparing string instructions (CMPS, SCAS), REP on the others.
  if (rep && (isString || mnem === "nop"))
    prefix += rep === "rep " && /^(cmps|scas)/.test(mnem) ? "repe " : rep;
  const segNote = isString && seg ? ` ${seg}:` : "";
  const text = `${prefix}${mnem}${texts.length ? ` ${texts.join(", ")}` : segNote}`;
  return { length, text };
}

/** The length alone (same decoding as {@link disassemble}). */
export function instructionLength(bytes: Uint8Array, offset: number, mode: 16 | 32): number {
  return disassemble(bytes, offset, mode).length;
}

function skipModrm(c: Cursor, a16: boolean): void {
  const modrm = c.u8();
  skipMemory(c, modrm, a16);
}

function skipMemory(c: Cursor, modrm: number, a16: boolean): void {
  if (modrm >> 6 !== 3) decodeMemory(c, modrm, a16, null);
}

function decodeMemory(c: Cursor, modrm: number, a16: boolean, seg: string | null): string {
  const mod = modrm >> 6;
  const rm = modrm & 7;
  const parts: string[] = [];
  let disp = 0;
  if (a16) {
    if (mod === 0 && rm === 6) disp = c.u16();
    else {
      parts.push(MEM16[rm]);
      if (mod === 1) disp = (c.u8() << 24) >> 24;
      else if (mod === 2) disp = (c.u16() << 16) >> 16;
    }
  } else {
    let base = rm;
    if (rm === 4) {
      const sib = c.u8();
      const scale = sib >> 6;
      const index = (sib >> 3) & 7;
      base = sib & 7;
      if (base === 5 && mod === 0) {
        disp = c.u32() | 0;
        base = -1;
      }
      if (base >= 0) parts.push(REG32[base]);
      if (index !== 4) parts.push(scale ? `${REG32[index]}*${1 << scale}` : REG32[index]);
    } else if (mod === 0 && rm === 5) {
      disp = c.u32() | 0;
      base = -1;
    } else parts.push(REG32[rm]);
    if (mod === 1) disp = (c.u8() << 24) >> 24;
    else if (mod === 2) disp = c.u32() | 0;
  }
  let inner = parts.join("+");
  if (parts.length === 0) inner = hex(disp);
  else if (disp > 0) inner += `+${hex(disp)}`;
  else if (disp < 0) inner += `-${hex(-disp)}`;
  return `${seg ? `${seg}:` : ""}[${inner}]`;
}
