// machine.* for IoT Kernel's test board (included by extmod/modmachine.c;
// the hardware parts live in board.c).

mp_obj_t iotk_unique_id(void);
NORETURN void iotk_reset(void);

static void mp_machine_idle(void) {
}

static void mp_machine_reset(void) {
    iotk_reset();
}

static mp_int_t mp_machine_reset_cause(void) {
    return 0;
}

static mp_obj_t mp_machine_unique_id(void) {
    return iotk_unique_id();
}

static mp_obj_t mp_machine_get_freq(void) {
    return MP_OBJ_NEW_SMALL_INT(25000000);
}

static void mp_machine_set_freq(size_t n_args, const mp_obj_t *args) {
    mp_raise_NotImplementedError(NULL);
}

static void mp_machine_lightsleep(size_t n_args, const mp_obj_t *args) {
    if (n_args > 0) {
        mp_hal_delay_ms(mp_obj_get_int(args[0]));
    }
}

NORETURN static void mp_machine_deepsleep(size_t n_args, const mp_obj_t *args) {
    mp_machine_lightsleep(n_args, args);
    iotk_reset();
}
