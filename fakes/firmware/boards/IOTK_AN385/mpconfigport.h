// IoT Kernel's test board on the qemu port: the port's own options
// (ports/qemu/mpconfigport.h, included below, minus the few it hard-codes
// that this board changes) plus the hooks of board.c.
//
// The port's header defines MICROPY_PY_TIME, MICROPY_PY_SYS_STDIO_BUFFER and
// MICROPY_PY_MACHINE_INCLUDEFILE outright; they are redefined after it
// (#undef first, so -Werror stays happy).
#include "../../mpconfigport.h"

#undef MICROPY_PY_TIME
#define MICROPY_PY_TIME             (1)
#define MICROPY_PY_TIME_TIME_TIME_NS (1)
#define MICROPY_PY_TIME_INCLUDEFILE "boards/IOTK_AN385/modtime_board.c"

// sys.stdin.buffer: binary reads of the REPL's UART, as on real boards.
#undef MICROPY_PY_SYS_STDIO_BUFFER
#define MICROPY_PY_SYS_STDIO_BUFFER (1)

// os.uname(), as every board has (the stock qemu port leaves it out).
#define MICROPY_PY_OS_UNAME         (1)

#undef MICROPY_PY_MACHINE_INCLUDEFILE
#define MICROPY_PY_MACHINE_INCLUDEFILE "boards/IOTK_AN385/modmachine_board.c"
#define MICROPY_PY_MACHINE_BARE_METAL_FUNCS (1)

#define MICROPY_PY_RANDOM_SEED_INIT_FUNC (iotk_random_seed())

// Every so many bytecodes the VM drains the UART into a receive buffer, so a
// Ctrl-C reaches running code (the stock board reads the UART only when
// asked for input, and so never sees it).
#define MICROPY_VM_HOOK_COUNT (64)
#define MICROPY_VM_HOOK_INIT static unsigned int vm_hook_divisor = MICROPY_VM_HOOK_COUNT;
#define MICROPY_VM_HOOK_POLL if (--vm_hook_divisor == 0) { \
        vm_hook_divisor = MICROPY_VM_HOOK_COUNT; \
        iotk_uart_poll(); \
}
#define MICROPY_VM_HOOK_LOOP MICROPY_VM_HOOK_POLL
#define MICROPY_VM_HOOK_RETURN MICROPY_VM_HOOK_POLL

// The port's REPL reads the UART through uart_rx_chr(); on this board it
// reads the receive buffer first (board.c), where the VM hook put bytes.
#define uart_rx_chr iotk_uart_rx_chr

// After each mp_init (boot and soft reset): mount the filesystem, run
// boot.py and main.py as firmware does.
#define MICROPY_PORT_INIT_FUNC iotk_board_init()

void iotk_uart_poll(void);
void iotk_board_init(void);
unsigned int iotk_random_seed(void);
