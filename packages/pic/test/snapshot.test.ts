import { describe, expect, it } from "vitest";
import { DualPic, type DualPicState } from "../src/index.js";
import { Board } from "./helpers.js";

describe("snapshot", () => {
  it("a restored pair continues exactly where the saved one was", () => {
    const a = new Board().initLinux(0x40);
    a.out(0x4d1, 0x08);
    a.out(0x20, 0xc2); // rotated priority: IR2 (the slave) lowest
    a.pulse(5);
    a.pulse(6); // masked, pending
    a.raise(11); // level, held
    expect(a.take()).toBe(0x25);
    a.pulse(4);
    const state: DualPicState = JSON.parse(JSON.stringify(a.pic.save()));

    const b = new Board();
    b.pic.restore(state);
    expect(b.intr).toBe(a.intr); // the restored pair drives its INTR line
    expect(b.pic.save()).toEqual(a.pic.save());
    const run = (x: Board) => {
      x.out(0x20, 0x20);
      x.out(0xa0, 0x20);
      x.out(0x21, 0x00);
      return [...x.takeAll(), x.readIsr(0x20), x.readIsr(0xa0)];
    };
    expect(run(b)).toEqual(run(a));
  });

  it("restoring an idle state lowers INTR", () => {
    const idle = new DualPic({ set: () => {} }).save();
    const b = new Board().initLinux();
    b.pulse(1);
    expect(b.intr).toBe(true);
    b.pic.restore(idle);
    expect(b.intr).toBe(false);
  });
});
