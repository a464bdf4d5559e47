import { GuestSpace, PAGE_COUNT, Relocator } from "../src/index.js";

// The stub (5 pages) sits at 0xFFC00000; the guest maps its low 16 MiB.
const relocator = new Relocator({ stubPages: 5, base: 0xffc00000, seed: 42 });
const space = GuestSpace.fromRanges([{ first: 0, count: 4096 }]);

// The guest maps a page over the stub: claim 9 moves it to a region the guest leaves unused.
space.map(0xffc02);
const moved = relocator.resolveConflict(space);
console.log(moved?.reason, moved?.to.toString(16)); // "conflict-unused", somewhere unmapped

// The guest maps all 4 GiB: claim 10 picks a random region and lists the displaced pages.
space.map(0, PAGE_COUNT);
const displaced = relocator.resolveConflict(space);
console.log(displaced?.reason, displaced?.displaced.length); // "conflict-random" 5

// Claim 12: the core reports accesses to displaced content; hot periods move the stub on.
for (let period = 0; period < 10; period++) {
  relocator.recordDisplacedAccess(period < 5 ? 500 : 0);
  const event = relocator.endPeriod(space);
  if (event) console.log(event.reason, event.period);
}
console.log(relocator.stats().byReason, relocator.monitor.phase);

export const readmeResult = relocator.stats();
