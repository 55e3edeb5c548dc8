// IoT Kernel's test board on QEMU's mps2-an385: the parts a real
// microcontroller has and the stock qemu port lacks.
//
// * A 256-byte UART receive buffer, filled by the VM hook and by waits, so
//   a Ctrl-C reaches running code and time.sleep() (MICROPY_VM_HOOK_POLL).
// * A clock: the CMSDK APB timer 0 (25 MHz, counting down) read by polling,
//   its wraps counted into microseconds since boot.
// * A RAM disk in the board's PSRAM (outside the program's memory, so a
//   reset keeps it; a new QEMU process starts it empty, as a power cycle of
//   a board whose disk lost power), mounted at / as littlefs at each boot.
// * machine.unique_id(): 8 bytes the host's QEMU loader puts at the top of
//   PSRAM (each board its own).
// * While the REPL waits for input the core sleeps (WFI) until the UART or a
//   10 ms tick wakes it, so an idle board costs the host little.

#include <string.h>

#include "py/runtime.h"
#include "py/mphal.h"
#include "py/stream.h"
#include "extmod/vfs.h"
#include "extmod/vfs_lfs.h"
#include "shared/runtime/interrupt_char.h"
#include "shared/runtime/pyexec.h"

#undef uart_rx_chr
int uart_rx_chr(void);  // ports/qemu/uart.c: one byte from the UART, or -1

// ---------------------------------------------------------------- memory map

#define PSRAM_BASE (0x21000000u)
#define PSRAM_SIZE (0x01000000u)
#define RAMDISK_BASE ((uint8_t *)PSRAM_BASE)
#define RAMDISK_BLOCK_SIZE (512u)
#define RAMDISK_BLOCKS (1024u)  // 512 KB
#define UNIQUE_ID_ADDRESS ((const uint8_t *)(PSRAM_BASE + PSRAM_SIZE - 8))

typedef struct {
    volatile uint32_t CTRL;
    volatile uint32_t VALUE;
    volatile uint32_t RELOAD;
    volatile uint32_t INTSTATUS;  // write 1 to clear
} cmsdk_timer_t;

#define TIMER0 ((cmsdk_timer_t *)0x40000000u)  // the free-running clock
#define TIMER1 ((cmsdk_timer_t *)0x40001000u)  // the 10 ms wake-up tick
#define TIMER_CTRL_ENABLE (1u << 0)
#define TIMER_CTRL_IRQ_ENABLE (1u << 3)
#define TIMER_HZ (25000000u)

#define UART0_STATE (*(volatile uint32_t *)0x40004004u)
#define UART0_CTRL (*(volatile uint32_t *)0x40004008u)
#define UART0_INTSTATUS (*(volatile uint32_t *)0x4000400cu)
#define UART_STATE_RXFULL (1u << 1)
#define UART_CTRL_RX_IRQ_ENABLE (1u << 3)

#define NVIC_ISER0 (*(volatile uint32_t *)0xe000e100u)
#define NVIC_ICPR0 (*(volatile uint32_t *)0xe000e280u)
#define IRQ_UART0_RX (0)
#define IRQ_TIMER1 (9)

#define SCB_AIRCR (*(volatile uint32_t *)0xe000ed0cu)
#define AIRCR_SYSRESETREQ (0x05fa0004u)

// ---------------------------------------------------------------- clock

// Kept in whole microseconds, milliseconds and seconds, each with its
// remainder: 64-bit division would pull in libgcc's unwinding tables, which
// the port's linker script has no room for.
static uint64_t clock_us;  // since boot
static uint32_t clock_ms, clock_s;
static uint32_t clock_last, tick_rem, us_rem_ms, ms_rem_s;
static bool clock_running;

static void clock_init(void) {
    TIMER0->CTRL = 0;
    TIMER0->RELOAD = 0xffffffffu;
    TIMER0->VALUE = 0xffffffffu;
    TIMER0->CTRL = TIMER_CTRL_ENABLE;
    clock_last = TIMER0->VALUE;
    // The wake-up tick: a pending interrupt (never taken, PRIMASK is set)
    // ends a WFI even if the UART's line is not the one that woke us.
    TIMER1->CTRL = 0;
    TIMER1->RELOAD = TIMER_HZ / 100;
    TIMER1->VALUE = TIMER_HZ / 100;
    TIMER1->CTRL = TIMER_CTRL_ENABLE | TIMER_CTRL_IRQ_ENABLE;
    UART0_CTRL |= UART_CTRL_RX_IRQ_ENABLE;
    __asm volatile ("cpsid i" ::: "memory");
    NVIC_ISER0 = (1u << IRQ_UART0_RX) | (1u << IRQ_TIMER1);
    clock_running = true;
}

static void clock_update(void) {
    if (!clock_running) {
        clock_init();
    }
    uint32_t value = TIMER0->VALUE;
    uint32_t ticks = tick_rem + (clock_last - value);  // counts down, wraps
    clock_last = value;
    uint32_t us = ticks / (TIMER_HZ / 1000000u);
    tick_rem = ticks % (TIMER_HZ / 1000000u);
    clock_us += us;
    us_rem_ms += us;
    uint32_t ms = us_rem_ms / 1000u;
    us_rem_ms %= 1000u;
    clock_ms += ms;
    ms_rem_s += ms;
    clock_s += ms_rem_s / 1000u;
    ms_rem_s %= 1000u;
}

static uint64_t clock_now_us(void) {
    clock_update();
    return clock_us;
}

mp_uint_t mp_hal_ticks_us(void) {
    return (mp_uint_t)clock_now_us();
}

mp_uint_t mp_hal_ticks_ms(void) {
    clock_update();
    return clock_ms;
}

mp_uint_t mp_hal_ticks_cpu(void) {
    clock_update();
    return clock_last;
}

uint64_t mp_hal_time_ns(void) {
    // No RTC: time since boot, counted from MicroPython's epoch, as on a
    // board whose clock was never set.
    return clock_now_us() * 1000u;
}

uint32_t iotk_time_s(void) {
    clock_update();
    return clock_s;
}

static void wait_for_event(void) {
    __asm volatile ("wfi" ::: "memory");
    UART0_INTSTATUS = 0xf;
    TIMER1->INTSTATUS = 1;
    NVIC_ICPR0 = (1u << IRQ_UART0_RX) | (1u << IRQ_TIMER1);
}

// ---------------------------------------------------------------- UART receive buffer

#define RX_BUFFER_SIZE (256u)
static uint8_t rx_buffer[RX_BUFFER_SIZE];
static volatile uint32_t rx_head, rx_tail;  // free-running counters

void iotk_uart_poll(void) {
    clock_update();  // also keeps the clock's wraps counted
    while (rx_head - rx_tail < RX_BUFFER_SIZE) {
        int c = uart_rx_chr();
        if (c < 0) {
            break;
        }
        if (c == mp_interrupt_char) {
            // As a board's UART interrupt does: the byte is not input, it
            // raises KeyboardInterrupt in the running code.
            mp_sched_keyboard_interrupt();
            continue;
        }
        rx_buffer[rx_head++ % RX_BUFFER_SIZE] = (uint8_t)c;
    }
}

// The port's mp_hal_stdin_rx_chr() calls this (as uart_rx_chr) in a loop
// until it returns a byte.
int iotk_uart_rx_chr(void) {
    iotk_uart_poll();
    if (rx_head != rx_tail) {
        return rx_buffer[rx_tail++ % RX_BUFFER_SIZE];
    }
    // Code reading sys.stdin can still be stopped by Ctrl-C.
    mp_handle_pending(true);
    wait_for_event();
    return -1;
}

void mp_hal_delay_us(mp_uint_t us) {
    uint64_t end = clock_now_us() + us;
    while (clock_now_us() < end) {
        iotk_uart_poll();
        mp_handle_pending(true);
    }
}

void mp_hal_delay_ms(mp_uint_t ms) {
    uint64_t end = clock_now_us() + (uint64_t)ms * 1000u;
    while (clock_now_us() < end) {
        iotk_uart_poll();
        mp_handle_pending(true);
        if (end - clock_now_us() > 20000u) {
            wait_for_event();  // a 10 ms tick wakes us in time
        }
    }
}

unsigned int iotk_random_seed(void) {
    const uint8_t *uid = UNIQUE_ID_ADDRESS;
    uint32_t seed = (uint32_t)clock_now_us();
    for (int i = 0; i < 8; ++i) {
        seed = seed * 31u + uid[i];
    }
    return seed;
}

// ---------------------------------------------------------------- machine

mp_obj_t iotk_unique_id(void) {
    return mp_obj_new_bytes(UNIQUE_ID_ADDRESS, 8);
}

NORETURN void iotk_reset(void) {
    // SYSRESETREQ: QEMU resets the machine; the RAM disk stays.
    SCB_AIRCR = AIRCR_SYSRESETREQ;
    for (;;) {
        __asm volatile ("wfi");
    }
}

// ---------------------------------------------------------------- RAM disk

typedef struct {
    mp_obj_base_t base;
} ramdisk_obj_t;

static mp_uint_t ramdisk_check(mp_uint_t block, mp_uint_t offset, size_t len) {
    mp_uint_t start = block * RAMDISK_BLOCK_SIZE + offset;
    if (block >= RAMDISK_BLOCKS || start + len > RAMDISK_BLOCKS * RAMDISK_BLOCK_SIZE) {
        mp_raise_OSError(MP_EIO);
    }
    return start;
}

static mp_obj_t ramdisk_readblocks(size_t n_args, const mp_obj_t *args) {
    mp_buffer_info_t buf;
    mp_get_buffer_raise(args[2], &buf, MP_BUFFER_WRITE);
    mp_uint_t offset = n_args > 3 ? mp_obj_get_int(args[3]) : 0;
    mp_uint_t start = ramdisk_check(mp_obj_get_int(args[1]), offset, buf.len);
    memcpy(buf.buf, RAMDISK_BASE + start, buf.len);
    return MP_OBJ_NEW_SMALL_INT(0);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ramdisk_readblocks_obj, 3, 4, ramdisk_readblocks);

static mp_obj_t ramdisk_writeblocks(size_t n_args, const mp_obj_t *args) {
    mp_buffer_info_t buf;
    mp_get_buffer_raise(args[2], &buf, MP_BUFFER_READ);
    mp_uint_t offset = n_args > 3 ? mp_obj_get_int(args[3]) : 0;
    mp_uint_t start = ramdisk_check(mp_obj_get_int(args[1]), offset, buf.len);
    memcpy(RAMDISK_BASE + start, buf.buf, buf.len);
    return MP_OBJ_NEW_SMALL_INT(0);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ramdisk_writeblocks_obj, 3, 4, ramdisk_writeblocks);

static mp_obj_t ramdisk_ioctl(mp_obj_t self, mp_obj_t op_in, mp_obj_t arg) {
    switch (mp_obj_get_int(op_in)) {
        case MP_BLOCKDEV_IOCTL_BLOCK_COUNT:
            return MP_OBJ_NEW_SMALL_INT(RAMDISK_BLOCKS);
        case MP_BLOCKDEV_IOCTL_BLOCK_SIZE:
            return MP_OBJ_NEW_SMALL_INT(RAMDISK_BLOCK_SIZE);
        case MP_BLOCKDEV_IOCTL_BLOCK_ERASE: {
            mp_uint_t start = ramdisk_check(mp_obj_get_int(arg), 0, RAMDISK_BLOCK_SIZE);
            memset(RAMDISK_BASE + start, 0xff, RAMDISK_BLOCK_SIZE);
            return MP_OBJ_NEW_SMALL_INT(0);
        }
        default:  // init, deinit, sync
            return MP_OBJ_NEW_SMALL_INT(0);
    }
}
static MP_DEFINE_CONST_FUN_OBJ_3(ramdisk_ioctl_obj, ramdisk_ioctl);

static const mp_rom_map_elem_t ramdisk_locals_table[] = {
    { MP_ROM_QSTR(MP_QSTR_readblocks), MP_ROM_PTR(&ramdisk_readblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_writeblocks), MP_ROM_PTR(&ramdisk_writeblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_ioctl), MP_ROM_PTR(&ramdisk_ioctl_obj) },
};
static MP_DEFINE_CONST_DICT(ramdisk_locals, ramdisk_locals_table);

static MP_DEFINE_CONST_OBJ_TYPE(
    ramdisk_type,
    MP_QSTR_RAMDisk,
    MP_TYPE_FLAG_NONE,
    locals_dict, &ramdisk_locals
    );

static const ramdisk_obj_t ramdisk = { { &ramdisk_type } };

static void mount_filesystem(void) {
    mp_obj_t bdev = MP_OBJ_FROM_PTR(&ramdisk);
    mp_obj_t vfs_type = MP_OBJ_FROM_PTR(&mp_type_vfs_lfs2);
    mp_obj_t vfs;
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        vfs = mp_call_function_1(vfs_type, bdev);
        nlr_pop();
    } else {
        // No filesystem yet (a new board, or one that lost power): make one,
        // as firmware does on first boot.
        mp_call_function_1(mp_load_attr(vfs_type, MP_QSTR_mkfs), bdev);
        vfs = mp_call_function_1(vfs_type, bdev);
    }
    mp_obj_t args[2] = { vfs, MP_OBJ_NEW_QSTR(MP_QSTR__slash_) };
    mp_vfs_mount(2, args, (mp_map_t *)&mp_const_empty_map);
    MP_STATE_VM(vfs_cur) = MP_STATE_VM(vfs_mount_table);
}

static bool booted;

void iotk_board_init(void) {
    clock_update();
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        mount_filesystem();
        nlr_pop();
    } else {
        mp_printf(&mp_plat_print, "MPY: can't mount the filesystem\n");
        mp_obj_print_exception(&mp_plat_print, MP_OBJ_FROM_PTR(nlr.ret_val));
    }
    // As rp2 and stm32 do: /lib is on the import path.
    mp_obj_list_append(mp_sys_path, mp_obj_new_str("/lib", 4));
    // As firmware does: boot.py always, main.py after a power-on or reset
    // and after a soft reset from the friendly REPL (not the raw REPL).
    pyexec_file_if_exists("boot.py");
    if (!booted || pyexec_mode_kind == PYEXEC_MODE_FRIENDLY_REPL) {
        pyexec_file_if_exists("main.py");
    }
    booted = true;
}
