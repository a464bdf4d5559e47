/**
 * EFLAGS bits that the Intel SDM (Vol. 2, "Flags Affected" of each instruction) calls undefined.
 * The differential test masks exactly these, per executed instruction, and nothing else: a
 * flag that the SDM defines must match the host bit for bit.
 *
 * Shift and rotate counts decide which flags are undefined, so those entries are functions of
 * the masked count; the generator always knows the count (it loads CL itself).
 */
export const CF = 0x1;
export const PF = 0x4;
export const AF = 0x10;
export const ZF = 0x40;
export const SF = 0x80;
export const TF = 0x100;
export const IF = 0x200;
export const DF = 0x400;
export const OF = 0x800;
export const IOPL = 0x3000;
export const NT = 0x4000;
export const RF = 0x10000;
export const AC = 0x40000;
export const ID = 0x200000;
export const ARITH = CF | PF | AF | ZF | SF | OF;

/** Undefined flags of instructions whose set does not depend on operands, with the SDM page. */
export const UNDEFINED_FLAGS: Readonly<Record<string, { mask: number; sdm: string }>> = {
  AND: { mask: AF, sdm: 'Vol. 2A "AND": "The state of the AF flag is undefined."' },
  OR: { mask: AF, sdm: 'Vol. 2B "OR": "The state of the AF flag is undefined."' },
  XOR: { mask: AF, sdm: 'Vol. 2B "XOR": "The state of the AF flag is undefined."' },
  TEST: { mask: AF, sdm: 'Vol. 2B "TEST": "The state of the AF flag is undefined."' },
  MUL: { mask: SF | ZF | AF | PF, sdm: 'Vol. 2B "MUL": "The SF, ZF, AF, and PF flags are undefined."' },
  IMUL: { mask: SF | ZF | AF | PF, sdm: 'Vol. 2A "IMUL": "The SF, ZF, AF, and PF flags are undefined."' },
  DIV: { mask: ARITH, sdm: 'Vol. 2A "DIV": "The CF, OF, SF, ZF, AF, and PF flags are undefined."' },
  IDIV: { mask: ARITH, sdm: 'Vol. 2A "IDIV": "The CF, OF, SF, ZF, AF, and PF flags are undefined."' },
  BT: { mask: OF | SF | AF | PF, sdm: 'Vol. 2A "BT": "The OF, SF, AF, and PF flags are undefined."' },
  BTS: { mask: OF | SF | AF | PF, sdm: 'Vol. 2A "BTS": "The OF, SF, AF, and PF flags are undefined."' },
  BTR: { mask: OF | SF | AF | PF, sdm: 'Vol. 2A "BTR": "The OF, SF, AF, and PF flags are undefined."' },
  BTC: { mask: OF | SF | AF | PF, sdm: 'Vol. 2A "BTC": "The OF, SF, AF, and PF flags are undefined."' },
  BSF: {
    mask: CF | OF | SF | AF | PF,
    sdm: 'Vol. 2A "BSF": "The CF, OF, SF, AF, and PF flags are undefined."',
  },
  BSR: {
    mask: CF | OF | SF | AF | PF,
    sdm: 'Vol. 2A "BSR": "The CF, OF, SF, AF, and PF flags are undefined."',
  },
  DAA: { mask: OF, sdm: 'Vol. 2A "DAA": "The OF flag is undefined."' },
  DAS: { mask: OF, sdm: 'Vol. 2A "DAS": "The OF flag is undefined."' },
  AAA: { mask: OF | SF | ZF | PF, sdm: 'Vol. 2A "AAA": "The OF, SF, ZF, and PF flags are undefined."' },
  AAS: { mask: OF | SF | ZF | PF, sdm: 'Vol. 2A "AAS": "The OF, SF, ZF, and PF flags are undefined."' },
  AAM: { mask: OF | AF | CF, sdm: 'Vol. 2A "AAM": "The OF, AF, and CF flags are undefined."' },
  AAD: { mask: OF | AF | CF, sdm: 'Vol. 2A "AAD": "The OF, AF, and CF flags are undefined."' },
};

/**
 * SHL/SAL, SHR, SAR (Vol. 2B "SAL/SAR/SHL/SHR", Flags Affected): with a masked count of 0 no
 * flag changes; otherwise AF is undefined, OF is undefined unless the count is 1, and CF is
 * undefined for SHL and SHR when the count is at least the operand width.
 */
export function shiftUndefined(kind: "SHL" | "SHR" | "SAR", maskedCount: number, width: number): number {
  if (maskedCount === 0) return 0;
  let mask = AF;
  if (maskedCount !== 1) mask |= OF;
  if (kind !== "SAR" && maskedCount >= width) mask |= CF;
  return mask;
}

/**
 * RCL, RCR, ROL, ROR (Vol. 2B "RCL/RCR/ROL/ROR", Flags Affected): "If the masked count is 0,
 * the flags are not affected. If the masked count is 1, then the OF flag is affected, otherwise
 * (masked count is greater than 1) the OF flag is undefined." Only CF and OF are touched.
 */
export function rotateUndefined(maskedCount: number): number {
  return maskedCount > 1 ? OF : 0;
}

/**
 * SHLD/SHRD (Vol. 2B, Flags Affected): count 0 changes nothing; a shift leaves AF undefined and
 * OF undefined when the count exceeds 1; a count above the operand size leaves every flag (and
 * the destination) undefined, which the generator never produces (see EXCLUDED in forms.ts).
 */
export function doubleShiftUndefined(maskedCount: number): number {
  if (maskedCount === 0) return 0;
  return maskedCount === 1 ? AF : AF | OF;
}
