# IoT Kernel's test board: MicroPython's qemu port on QEMU's mps2-an385
# (an Arm Cortex-M3), with what the stock board lacks and real boards have:
# Ctrl-C while code runs, machine.unique_id(), machine.reset() that reboots,
# a littlefs filesystem at boot (a RAM disk that survives a reset), the time
# module, and boot.py/main.py run at boot as on a microcontroller.
# The heap is the make variable MICROPY_HEAP_SIZE (the builder sets it).
QEMU_ARCH = arm
QEMU_MACHINE = mps2-an385

CFLAGS += -mthumb -mcpu=cortex-m3 -mfloat-abi=soft
CFLAGS += -DQEMU_SOC_MPS2
CFLAGS += -DMICROPY_HW_MCU_NAME='"Cortex-M3"'
# Our mpconfigport.h is found before the port's (board options on top of it).
CFLAGS += -I$(BOARD_DIR)

LDSCRIPT = $(BOARD_DIR)/board.ld

SRC_BOARD_O = shared/runtime/gchelper_native.o shared/runtime/gchelper_thumb2.o
SRC_C += $(BOARD_DIR)/board.c

MICROPY_VFS_LFS2 = 1
MPY_CROSS_FLAGS += -march=armv7m
