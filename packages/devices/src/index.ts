/**
 * `@pagurus/devices`: PC devices that know nothing of the board they sit on. Each takes its
 * interrupt line(s) and a clock, exposes an I/O port handler taking absolute port numbers and
 * the list of ports it decodes, and saves/restores its state as plain data.
 */
export type { VirtualClockOptions, VirtualClockState } from "./clock.js";
export { RateConverter, VirtualClock, WallClockPacer } from "./clock.js";
export type { DebugExitOptions, DebugExitState } from "./debug-exit.js";
export { IsaDebugExit } from "./debug-exit.js";
export type { I8042Byte, I8042Options, I8042State } from "./i8042.js";
export { I8042 } from "./i8042.js";
export type { PitCounterState, PitOptions, PitState, PortBState } from "./pit.js";
export { PIT_FREQUENCY, Pit8254, SystemControlPortB } from "./pit.js";
export type { Port92Options, Port92State } from "./port92.js";
export { Port92 } from "./port92.js";
export type { IoDevice, PortRange } from "./ports.js";
export type { RtcOptions, RtcState } from "./rtc.js";
export { RTC_FREQUENCY, Rtc } from "./rtc.js";
export type { ModemInputs, UartOptions, UartState } from "./uart.js";
export { Uart16550 } from "./uart.js";
