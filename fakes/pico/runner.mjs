// IoT Kernel's Raspberry Pi Pico: an RP2040 emulated by rp2040js running a
// MicroPython firmware image, its USB CDC byte stream on stdin/stdout.
//
// Driven by fakes/pico_board.py, which owns the pty users open and speaks
// JSON lines with this process on a socket (--control-fd):
//   host -> runner: {"dtr": true|false}   a program opened/closed the port
//                   {"save": true}        write the flash file now
//   runner -> host: {"event": "connected"}   USB enumerated
//                   {"event": "reset"}       the chip reset (watchdog)
//                   {"event": "bootloader"}  reset into BOOTSEL (USB drive)
//
// rp2040js is a library, not a board: what a board needs beyond it is here,
// each part found by a failure (see docs/virtual-boards.md):
// * the emulated USB host waits 10 ms after bus reset before SET_ADDRESS, as
//   real hosts do (TinyUSB drops a SET_ADDRESS that comes at once);
// * rp2040js has no flash chip: the bootrom's flash routines (erase,
//   program, and the XIP mode switches around them) are done here on the
//   flash array, reached through BKPT instructions put at their entries;
// * the flash chip's unique-id command (0x4B) is answered, each board its own;
// * an OUT request with nothing to send waits for host data (answering it
//   empty at once spins a core while idle);
// * DTR follows "a program has the port open", as on a real Pico, whose
//   CDC output waits for DTR;
// * a watchdog reset (machine.reset()) rebuilds the chip, keeping its flash;
// * emulated time never runs ahead of wall time (an idle board sleeps).
//
// Usage: node runner.mjs --rp2040js DIR --bootrom FILE --firmware FILE.bin
//                        --uid HEX16 --control-fd N [--flash FILE]

import fs from 'node:fs';
import net from 'node:net';
import { pathToFileURL } from 'node:url';

const args = {};
for (let i = 2; i < process.argv.length; i += 2) {
  args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
}
for (const required of ['rp2040js', 'bootrom', 'firmware', 'uid', 'control-fd']) {
  if (!args[required]) {
    process.stderr.write(`runner: --${required} is required\n`);
    process.exit(2);
  }
}
const lib = await import(pathToFileURL(`${args.rp2040js}/dist/esm/index.js`).href);
const { RP2040, USBCDC, ConsoleLogger, LogLevel, setDeviceAddressPacket } = lib;

const FLASH_SIZE = 2 * 1024 * 1024;
const FLASH_BASE = 0x10000000;
const CYCLE_NANOS = 1e9 / 125e6; // clk_sys of MicroPython's rp2 port
const IDLE_NAP_NANOS = 50e6; // the longest sleep before the clock catches up
const UID = Buffer.from(args.uid, 'hex');
if (UID.length !== 8) {
  process.stderr.write('runner: --uid takes 16 hex digits\n');
  process.exit(2);
}

// ------------------------------------------------------------ flash contents

const bootrom = new Uint32Array(fs.readFileSync(args.bootrom).buffer.slice(0));
const flash = new Uint8Array(FLASH_SIZE).fill(0xff);
let flashLoaded = false;
if (args.flash && fs.existsSync(args.flash)) {
  const saved = fs.readFileSync(args.flash);
  if (saved.length === FLASH_SIZE) {
    flash.set(saved);
    flashLoaded = true;
  }
}
// The program is always the firmware given (a re-flash replaces it); the
// filesystem above it is what the flash file kept.
const firmware = fs.readFileSync(args.firmware);
flash.set(firmware, 0);

function saveFlash() {
  if (!args.flash) return;
  const temporary = `${args.flash}.tmp`;
  // A Pico's flash chip is 2 MB (rp2040js maps the whole 16 MB XIP window).
  fs.writeFileSync(temporary, mcu.flash.subarray(0, FLASH_SIZE));
  fs.renameSync(temporary, args.flash);
}

// ------------------------------------------------------------ the host link

const control = new net.Socket({ fd: Number(args['control-fd']), readable: true, writable: true });
function tell(event) {
  control.write(JSON.stringify({ event }) + '\n');
}

let dtr = false;
// From the pty, waiting for room in the CDC FIFO: chunks as they came, and
// how far into the first one the FIFO has taken.
const hostChunks = [];
let hostOffset = 0;
const hostWaiting = () => hostChunks.length > 0;
let pendingOutRead = null; // an OUT request held until the host has data

// ------------------------------------------------------------ the chip

// The bootrom's function table: ROM_TABLE_CODE(c1, c2) -> entry address.
function romFunctions(rom) {
  const bytes = new Uint8Array(rom.buffer);
  const u16 = (address) => bytes[address] | (bytes[address + 1] << 8);
  const table = {};
  for (let entry = u16(0x14); u16(entry) !== 0; entry += 4) {
    const code = u16(entry);
    table[String.fromCharCode(code & 0xff, code >> 8)] = u16(entry + 2) & ~1;
  }
  return table;
}

const ROM_HOOKS = ['IF', 'EX', 'RE', 'RP', 'FC', 'CX', 'UB'];

function patchedBootrom() {
  const rom = new Uint32Array(bootrom);
  const table = romFunctions(rom);
  const view = new DataView(rom.buffer);
  ROM_HOOKS.forEach((name, index) => {
    if (table[name] === undefined) throw new Error(`bootrom has no ${name} function`);
    view.setUint16(table[name], 0xbe00 | index, true); // BKPT #index
  });
  return rom;
}
const hookedRom = patchedBootrom();

let mcu;
let cdc;
let flashCommand = []; // the bytes of the current SPI flash command
let flashAnswers = [];

function onRomCall(index) {
  const core = mcu.core;
  const [r0, r1, r2] = [core.registers[0], core.registers[1], core.registers[2]];
  const name = ROM_HOOKS[index];
  if (name === 'RE') {
    // flash_range_erase(addr, count, block_size, block_cmd)
    const start = r0 >>> 0;
    mcu.flash.fill(0xff, start, Math.min(start + r1, FLASH_SIZE));
  } else if (name === 'RP') {
    // flash_range_program(addr, data, count): NOR flash only clears bits.
    for (let i = 0; i < r2; i++) {
      const target = r0 + i;
      if (target < FLASH_SIZE) mcu.flash[target] &= mcu.readUint8(r1 + i);
    }
  } else if (name === 'UB') {
    // reset_usb_boot(): the board leaves for its bootloader (a USB drive).
    saveFlash();
    tell('bootloader');
    stopped = true;
    return;
  }
  // The others switch the flash interface between XIP and commands, which
  // this flash array does not need. Return to the caller.
  core.PC = core.LR & ~1;
}

function answerFlashByte(value) {
  flashCommand.push(value & 0xff);
  const position = flashCommand.length - 1;
  // 0x4B: read unique id: the command, four dummy bytes, then the id.
  if (flashCommand[0] === 0x4b && position >= 5 && position < 13) {
    flashAnswers.push(UID[position - 5]);
  } else {
    flashAnswers.push(0); // status reads: not busy
  }
}

function buildChip() {
  const chip = new RP2040();
  chip.logger = new ConsoleLogger(LogLevel.Error);
  chip.loadBootrom(hookedRom);
  chip.flash.set(mcu ? mcu.flash.subarray(0, FLASH_SIZE) : flash);
  chip.onBreak = onRomCall;

  // The flash chip's command interface: SSI data register, chip select on
  // IO_QSPI's SS pin (output override 2 = low, selected).
  const ssi = chip.peripherals[0x18000];
  const ssiRead = ssi.readUint32.bind(ssi);
  const ssiWrite = ssi.writeUint32.bind(ssi);
  ssi.readUint32 = (offset) => (offset === 0x60 ? (flashAnswers.shift() ?? 0) : ssiRead(offset));
  ssi.writeUint32 = (offset, value) => (offset === 0x60 ? answerFlashByte(value) : ssiWrite(offset, value));
  const ioQspi = chip.peripherals[0x40018];
  const qspiRegisters = new Map();
  ioQspi.readUint32 = (offset) => qspiRegisters.get(offset) ?? 0;
  ioQspi.writeUint32 = (offset, value) => {
    qspiRegisters.set(offset, value);
    if (offset === 0x0c && ((value >> 8) & 3) === 2) {
      flashCommand = [];
      flashAnswers = [];
    }
  };

  const watchdog = chip.peripherals[0x40058];
  watchdog.onWatchdogTrigger = () => {
    resetRequested = true;
  };

  const usb = chip.usbCtrl;
  const link = new USBCDC(usb);
  // A real host waits after bus reset before it addresses the device.
  usb.onResetReceived = () => {
    chip.clock.createAlarm(() => usb.sendSetupPacket(setDeviceAddressPacket(1))).schedule(10e6);
  };
  const cdcRead = usb.onEndpointRead;
  usb.onEndpointRead = (endpoint, size) => {
    if (endpoint === link.outEndpoint) {
      fillFifo(link);
      if (link.txFIFO.empty) {
        pendingOutRead = size;
        return;
      }
    }
    cdcRead(endpoint, size);
  };
  // At enumeration the host raises DTR only if a program has the port open.
  const setControlLineState = link.cdcSetControlLineState.bind(link);
  link.cdcSetControlLineState = (value = dtr ? 3 : 0, interfaceNumber = 0) =>
    setControlLineState(value, interfaceNumber);
  link.onDeviceConnected = () => tell('connected');
  link.onSerialData = (buffer) => {
    process.stdout.write(Buffer.from(buffer));
  };
  chip.core.PC = FLASH_BASE; // boot2 at the start of flash, then the program
  pendingOutRead = null;
  flashCommand = [];
  flashAnswers = [];
  return [chip, link];
}

function setLines() {
  if (cdc && cdc.initialized) cdc.cdcSetControlLineState(dtr ? 3 : 0);
}

function fillFifo(link) {
  while (hostChunks.length && !link.txFIFO.full) {
    const chunk = hostChunks[0];
    while (hostOffset < chunk.length && !link.txFIFO.full) {
      link.sendSerialByte(chunk[hostOffset++]);
    }
    if (hostOffset >= chunk.length) {
      hostChunks.shift();
      hostOffset = 0;
    }
  }
}

function feedHost() {
  fillFifo(cdc);
  if (pendingOutRead !== null && !cdc.txFIFO.empty) {
    const size = pendingOutRead;
    pendingOutRead = null;
    cdc.usb.onEndpointRead(cdc.outEndpoint, size);
  }
}

// ------------------------------------------------------------ running

let stopped = false;
let resetRequested = false;
let wake = null;
const started = process.hrtime.bigint();
let nanosOffset = 0; // emulated nanos at the start of this chip's life

function wallNanos() {
  return Number(process.hrtime.bigint() - started);
}

function run() {
  wake = null;
  if (stopped) return;
  const sliceEnd = wallNanos() + 10e6;
  const clock = mcu.clock;
  let sleepNanos = 0;
  while (!stopped && !resetRequested) {
    for (let i = 0; i < 20000; i++) {
      if (mcu.core.waiting) {
        // Asleep (WFI/WFE). Emulated time goes on to the next alarm, but
        // never past wall time: until then the board sleeps here too, woken
        // early by the host's bytes (kick). No alarm at all: it sleeps until
        // the host's bytes, its clock following wall time meanwhile.
        const behind = wallNanos() - (clock.nanos + nanosOffset);
        const next = clock.nextAlarm ? clock.nanosToNextAlarm : Infinity;
        if (next > behind) {
          if (behind > 0) clock.tick(behind);
          sleepNanos = Math.min(next - Math.max(0, behind), IDLE_NAP_NANOS);
          break;
        }
        clock.tick(Math.max(0, next));
      } else {
        clock.tick(mcu.core.executeInstruction() * CYCLE_NANOS);
      }
    }
    if (hostWaiting() || pendingOutRead !== null) feedHost();
    if (sleepNanos > 0 || wallNanos() > sliceEnd) break;
  }
  if (resetRequested) {
    resetRequested = false;
    nanosOffset = wallNanos(); // the new chip's clock starts now
    [mcu, cdc] = buildChip();
    tell('reset');
    sleepNanos = 0;
  }
  if (stopped) return;
  if (sleepNanos > 0) {
    wake = setTimeout(run, Math.max(1, Math.min(100, sleepNanos / 1e6)));
  } else {
    wake = setImmediate(run);
  }
}

function kick() {
  if (wake !== null && !stopped) {
    clearTimeout(wake);
    clearImmediate(wake);
    wake = setImmediate(run);
  }
}

process.stdin.on('data', (data) => {
  hostChunks.push(data);
  feedHost();
  kick();
});

let controlBuffer = '';
control.on('data', (data) => {
  controlBuffer += data.toString();
  let newline;
  while ((newline = controlBuffer.indexOf('\n')) >= 0) {
    const line = controlBuffer.slice(0, newline);
    controlBuffer = controlBuffer.slice(newline + 1);
    let message;
    try {
      message = JSON.parse(line);
    } catch {
      continue;
    }
    if (typeof message.dtr === 'boolean' && message.dtr !== dtr) {
      dtr = message.dtr;
      setLines();
      kick();
    }
    if (message.save) saveFlash();
  }
});

function shutdown() {
  if (stopped && !args.flash) process.exit(0);
  stopped = true;
  try {
    saveFlash();
  } finally {
    process.exit(0);
  }
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
control.on('end', shutdown);

// Host bytes go into the FIFO as they arrive (stdin), as each OUT transfer
// asks (the endpoint hook) and after each batch of instructions (run).
[mcu, cdc] = buildChip();
process.stderr.write(`runner: RP2040 up, uid ${args.uid}, flash ${flashLoaded ? 'kept' : 'new'}\n`);
run();
