/**
 * `@pagurus/pic`: the PC/AT interrupt controller, two Intel 8259As (master at 0x20/0x21, slave
 * at 0xA0/0xA1 cascaded on the master's IR2) with the PIIX ELCR at 0x4D0/0x4D1.
 */

export type { AccessSize, InterruptController, IoPortHandler, IrqLine } from "@pagurus/spec";
export type { DualPicState } from "./dual-pic.js";
export { DualPic, PicPort } from "./dual-pic.js";
export type { I8259State } from "./i8259.js";
