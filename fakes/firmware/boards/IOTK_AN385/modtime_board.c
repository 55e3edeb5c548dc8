// time.time() for IoT Kernel's test board (included by extmod/modtime.c):
// no RTC, so seconds since boot, as on a board whose clock was never set.

uint32_t iotk_time_s(void);

static mp_obj_t mp_time_time_get(void) {
    return mp_obj_new_int_from_uint(iotk_time_s());
}
