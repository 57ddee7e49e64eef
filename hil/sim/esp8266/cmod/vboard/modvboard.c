// _vboard: the board-level C glue of the virtual ESP8266 (not an ESP8266 API).
//
// What the chip does in C and the unix port cannot do from Python:
// - UART0 sits on os.dupterm slot 1 as the REPL, as ports/esp8266/main.c puts
//   it there; detaching or re-attaching it is reported to a Python callback
//   (the HAL tells the rig, which then routes USB bytes to UART0 RX). On the
//   chip stdout goes only to dupterm, so with the REPL detached print() and
//   tracebacks go nowhere: repl_output(False) points stdout and stderr at
//   /dev/null, and UART0 TX (uart0_tx) writes to the USB port directly;
// - main.py runs from a streaming lexer in the __main__ namespace, as
//   pyexec_file() does on the chip (no copy of the source on the heap);
// - the calibration reserve: heap the board holds so that a firmware finds
//   as much free heap at main.py as on the chip (hil/sim/hal/_simboot.py);
// - Ctrl-C is ignored while the boot code runs, as pyexec_frozen_module()
//   runs _boot.py on the chip (interruptible), and is on only while the code
//   of boot.py or main.py runs, not while the board compiles it (exec_file);
// - the soft watchdog: a wall-clock timer the feed re-arms; when it runs out
//   the process dies of SIGALRM and the virtual board resets the chip;
// - the heap after each garbage collection (a build patch calls
//   vboard_after_gc() at the end of gc_collect()): the lowest free heap since
//   the HAL last asked, which the HAL reports to the rig without the
//   firmware's help;
// - machine.Timer's clock, whose callbacks also run while the REPL waits for
//   input, as on the chip (vboard_timer.c).
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "py/runtime.h"
#include "py/stream.h"
#include "py/lexer.h"
#include "py/parse.h"
#include "py/compile.h"
#include "py/mperrno.h"
#include "py/mphal.h"
#include "py/gc.h"
#include "extmod/misc.h"

MP_REGISTER_ROOT_POINTER(mp_obj_t vboard_dupterm_callback);
MP_REGISTER_ROOT_POINTER(void *vboard_reserve);

// --- UART0 as the REPL's dupterm stream ---

typedef struct _vboard_uart0_obj_t {
    mp_obj_base_t base;
} vboard_uart0_obj_t;

static void uart0_print(const mp_print_t *print, mp_obj_t self_in, mp_print_kind_t kind) {
    mp_printf(print, "UART(0, baudrate=115200, bits=8, parity=None, stop=1, rxbuf=15, timeout=0, timeout_char=2)");
}

static mp_uint_t uart0_read(mp_obj_t self_in, void *buf, mp_uint_t size, int *errcode) {
    // REPL input reaches the interpreter through its stdin (the board's pty).
    *errcode = MP_EAGAIN;
    return MP_STREAM_ERROR;
}

static mp_uint_t uart0_write(mp_obj_t self_in, const void *buf, mp_uint_t size, int *errcode) {
    // REPL output already reaches the USB port through stdout.
    return size;
}

static mp_uint_t uart0_ioctl(mp_obj_t self_in, mp_uint_t request, uintptr_t arg, int *errcode) {
    if (request == MP_STREAM_POLL) {
        return arg & MP_STREAM_POLL_WR;
    }
    *errcode = MP_EINVAL;
    return MP_STREAM_ERROR;
}

static const mp_stream_p_t uart0_stream_p = {
    .read = uart0_read,
    .write = uart0_write,
    .ioctl = uart0_ioctl,
};

static MP_DEFINE_CONST_OBJ_TYPE(
    vboard_uart0_type,
    MP_QSTR_UART,
    MP_TYPE_FLAG_NONE,
    print, uart0_print,
    protocol, &uart0_stream_p
    );

static const vboard_uart0_obj_t vboard_uart0_repl = {{&vboard_uart0_type}};

void mp_os_dupterm_stream_detached_attached(mp_obj_t stream_detached, mp_obj_t stream_attached) {
    mp_obj_t callback = MP_STATE_VM(vboard_dupterm_callback);
    if (callback != MP_OBJ_NULL && callback != mp_const_none) {
        mp_call_function_2(callback, stream_detached, stream_attached);
    }
}

// The USB serial port's TX line: the board's stdout as it was at boot.
static int vboard_usb_fd = -1;

// attach_repl(callback): put UART0 on dupterm slot 1, then report every
// change of slot 1 as callback(detached, attached).
static mp_obj_t vboard_attach_repl(mp_obj_t callback) {
    if (vboard_usb_fd < 0) {
        vboard_usb_fd = dup(STDOUT_FILENO);
    }
    MP_STATE_VM(dupterm_objs[1]) = MP_OBJ_FROM_PTR(&vboard_uart0_repl);
    MP_STATE_VM(vboard_dupterm_callback) = callback;
    return MP_OBJ_FROM_PTR(&vboard_uart0_repl);
}
static MP_DEFINE_CONST_FUN_OBJ_1(vboard_attach_repl_obj, vboard_attach_repl);

// repl_output(on): stdout/stderr reach the USB port only while the REPL is on UART0.
static mp_obj_t vboard_repl_output(mp_obj_t on_in) {
    int target = vboard_usb_fd;
    int null_fd = -1;
    if (!mp_obj_is_true(on_in)) {
        null_fd = open("/dev/null", O_WRONLY);
        target = null_fd;
    }
    if (target >= 0) {
        dup2(target, STDOUT_FILENO);
        dup2(target, STDERR_FILENO);
    }
    if (null_fd >= 0) {
        close(null_fd);
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(vboard_repl_output_obj, vboard_repl_output);

// uart0_tx(buf): UART0 TX, which the USB serial chip carries whatever the REPL does.
static mp_obj_t vboard_uart0_tx(mp_obj_t buf_in) {
    mp_buffer_info_t buf;
    mp_get_buffer_raise(buf_in, &buf, MP_BUFFER_READ);
    int fd = vboard_usb_fd >= 0 ? vboard_usb_fd : STDOUT_FILENO;
    const byte *p = buf.buf;
    size_t left = buf.len;
    while (left > 0) {
        MP_THREAD_GIL_EXIT();
        ssize_t n = write(fd, p, left);
        MP_THREAD_GIL_ENTER();
        if (n < 0) {
            if (errno == EINTR) {
                mp_handle_pending(true);
                continue;
            }
            mp_raise_OSError(errno);
        }
        p += n;
        left -= n;
    }
    return MP_OBJ_NEW_SMALL_INT(buf.len);
}
static MP_DEFINE_CONST_FUN_OBJ_1(vboard_uart0_tx_obj, vboard_uart0_tx);

// --- Ctrl-C ---

// Off means ignored, not the default action the unix port sets: a SIGINT
// already on its way (the rig saw the handler a moment ago) must not kill the
// board.
static void ctrl_c_off(void) {
    signal(SIGINT, SIG_IGN);
}

// --- main.py as pyexec_file() runs it ---

static mp_obj_t vboard_exec_file(mp_obj_t path_in) {
    qstr path = mp_obj_str_get_qstr(path_in);
    mp_lexer_t *lex = mp_lexer_new_from_file(path);
    mp_obj_dict_t *main_globals = &MP_STATE_VM(dict_main);
    mp_obj_dict_t *old_globals = mp_globals_get();
    mp_obj_dict_t *old_locals = mp_locals_get();
    mp_globals_set(main_globals);
    mp_locals_set(main_globals);
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        mp_parse_tree_t parse_tree = mp_parse(lex, MP_PARSE_FILE_INPUT);
        mp_obj_t module_fun = mp_compile(&parse_tree, path, false);
        // Ctrl-C only while the file's code runs, as parse_compile_execute()
        // turns it on after the compile and off after the call: a 0x03 that
        // comes before is a byte in the UART, not a KeyboardInterrupt.
        mp_hal_set_interrupt_char(CHAR_CTRL_C);
        mp_call_function_0(module_fun);
        ctrl_c_off();
        mp_handle_pending(MP_HANDLE_PENDING_CALLBACKS_AND_EXCEPTIONS);
        nlr_pop();
        mp_globals_set(old_globals);
        mp_locals_set(old_locals);
        return mp_const_none;
    }
    ctrl_c_off();
    mp_handle_pending(MP_HANDLE_PENDING_CALLBACKS_AND_CLEAR_EXCEPTIONS);
    mp_globals_set(old_globals);
    mp_locals_set(old_locals);
    nlr_jump(nlr.ret_val);
}
static MP_DEFINE_CONST_FUN_OBJ_1(vboard_exec_file_obj, vboard_exec_file);

// --- calibration reserve ---

static mp_obj_t vboard_reserve(mp_obj_t nbytes_in) {
    mp_int_t nbytes = mp_obj_get_int(nbytes_in);
    MP_STATE_VM(vboard_reserve) = NULL;
    if (nbytes > 0) {
        MP_STATE_VM(vboard_reserve) = m_new(byte, nbytes);
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(vboard_reserve_obj, vboard_reserve);

// --- ROMFS partition ---

#if MICROPY_VBOARD_ROMFS
#include "py/objarray.h"
#include "extmod/vfs.h"

// ports/esp8266/boards/esp8266_2MiB_ROMFS.ld: FLASH_ROMFS len = 320K.
#define VBOARD_ROMFS_BYTES (320 * 1024)
#define VBOARD_FLASH_SECTOR (4096)

// The partition: a file the rig names (HIL_SIM_ROMFS), mapped outside the GC
// heap as the chip maps flash into its address space. vfs.VfsRom over it runs
// .mpy files in place: their bytecode, strings and qstr text cost no heap
// (py/persistentcode.c). Without HIL_SIM_ROMFS the board has no partition.
static int vboard_romfs_fd = -1;
static mp_obj_array_t vboard_romfs_obj = {{&mp_type_memoryview}, 'B', 0, 0, NULL};

// Erase whole sectors from the start of the partition up to len, to 0xFF, as
// spi_flash_erase_sector() does. 0, or -MP_EIO.
static int vboard_romfs_erase(int fd, off_t len) {
    static uint8_t erased[VBOARD_FLASH_SECTOR];
    memset(erased, 0xFF, sizeof(erased));
    for (off_t o = 0; o < len; o += VBOARD_FLASH_SECTOR) {
        if (pwrite(fd, erased, sizeof(erased), o) != (ssize_t)sizeof(erased)) {
            return -MP_EIO;
        }
    }
    return 0;
}

static int vboard_romfs_open(void) {
    if (vboard_romfs_fd >= 0) {
        return 0;
    }
    const char *path = getenv("HIL_SIM_ROMFS");
    if (path == NULL || !*path) {
        return -MP_ENODEV;
    }
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        return -MP_EIO;
    }
    // A new partition is erased flash: all 0xFF.
    if (st.st_size != VBOARD_ROMFS_BYTES
        && (vboard_romfs_erase(fd, VBOARD_ROMFS_BYTES) != 0 || ftruncate(fd, VBOARD_ROMFS_BYTES) != 0)) {
        close(fd);
        return -MP_EIO;
    }
    // MAP_SHARED: writes through rom_ioctl show here, as flash writes do.
    void *rom = mmap(NULL, VBOARD_ROMFS_BYTES, PROT_READ, MAP_SHARED, fd, 0);
    if (rom == MAP_FAILED) {
        close(fd);
        return -MP_EIO;
    }
    vboard_romfs_fd = fd;
    vboard_romfs_obj.len = VBOARD_ROMFS_BYTES;
    vboard_romfs_obj.items = rom;
    return 0;
}

// ports/esp8266/vfs_rom_ioctl.c, with a file for the flash.
mp_obj_t mp_vfs_rom_ioctl(size_t n_args, const mp_obj_t *args) {
    int err = vboard_romfs_open();
    mp_int_t cmd = mp_obj_get_int(args[0]);
    if (cmd == MP_VFS_ROM_IOCTL_GET_NUMBER_OF_SEGMENTS) {
        return MP_OBJ_NEW_SMALL_INT(err ? 0 : 1);
    }
    if (err) {
        return MP_OBJ_NEW_SMALL_INT(err);
    }
    if (n_args < 2 || mp_obj_get_int(args[1]) != 0) {
        return MP_OBJ_NEW_SMALL_INT(-MP_EINVAL);
    }
    switch (cmd) {
        case MP_VFS_ROM_IOCTL_GET_SEGMENT:
            return MP_OBJ_FROM_PTR(&vboard_romfs_obj);

        case MP_VFS_ROM_IOCTL_WRITE_PREPARE: {
            if (n_args < 3) {
                return MP_OBJ_NEW_SMALL_INT(-MP_EINVAL);
            }
            mp_int_t len = mp_obj_get_int(args[2]);
            if (len < 0 || len > VBOARD_ROMFS_BYTES) {
                return MP_OBJ_NEW_SMALL_INT(-MP_EINVAL);
            }
            if (vboard_romfs_erase(vboard_romfs_fd, len) != 0) {
                return MP_OBJ_NEW_SMALL_INT(-MP_EIO);
            }
            return MP_OBJ_NEW_SMALL_INT(4); // minimum write size
        }

        case MP_VFS_ROM_IOCTL_WRITE: {
            if (n_args < 4) {
                return MP_OBJ_NEW_SMALL_INT(-MP_EINVAL);
            }
            mp_int_t offset = mp_obj_get_int(args[2]);
            mp_buffer_info_t bufinfo;
            mp_get_buffer_raise(args[3], &bufinfo, MP_BUFFER_READ);
            if (offset < 0 || offset + (mp_int_t)bufinfo.len > VBOARD_ROMFS_BYTES) {
                return MP_OBJ_NEW_SMALL_INT(-MP_EINVAL);
            }
            if (pwrite(vboard_romfs_fd, bufinfo.buf, bufinfo.len, offset) != (ssize_t)bufinfo.len) {
                return MP_OBJ_NEW_SMALL_INT(-MP_EIO);
            }
            return MP_OBJ_NEW_SMALL_INT(0);
        }

        default:
            return MP_OBJ_NEW_SMALL_INT(-MP_EINVAL);
    }
}
#endif // MICROPY_VBOARD_ROMFS

// --- restarts ---

// exit(code): the chip restarting, at once and past any `except` (machine.reset()
// is system_restart() there; a soft reset after SystemExit leaves no Python
// frame either). The virtual board's supervisor boots the next interpreter.
static mp_obj_t vboard_exit(mp_obj_t code_in) {
    _exit(mp_obj_get_int(code_in));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(vboard_exit_obj, vboard_exit);

// ctrl_c_off(): Ctrl-C is a plain byte until exec_file() runs boot.py or main.py.
static mp_obj_t vboard_ctrl_c_off(void) {
    ctrl_c_off();
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(vboard_ctrl_c_off_obj, vboard_ctrl_c_off);

// --- soft watchdog ---

static mp_obj_t vboard_watchdog(mp_obj_t ms_in) {
    // Re-arm (ms > 0) or stop (0). SIGALRM is left at its default action:
    // when the timer runs out the interpreter dies where it stands, as the
    // chip does, whatever it was blocked in.
    mp_int_t ms = mp_obj_get_int(ms_in);
    struct itimerval t = {{0, 0}, {ms / 1000, (ms % 1000) * 1000}};
    signal(SIGALRM, SIG_DFL);
    setitimer(ITIMER_REAL, &t, NULL);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(vboard_watchdog_obj, vboard_watchdog);

// --- UART0 RX ---

// fionread(fd): bytes waiting on the rig's link for UART0, the chip's
// uart_rx_any() count, without a peek buffer on the heap.
static mp_obj_t vboard_fionread(mp_obj_t fd_in) {
    int n = 0;
    if (ioctl(mp_obj_get_int(fd_in), FIONREAD, &n) < 0) {
        mp_raise_OSError(errno);
    }
    return MP_OBJ_NEW_SMALL_INT(n);
}
static MP_DEFINE_CONST_FUN_OBJ_1(vboard_fionread_obj, vboard_fionread);

// --- the heap after collections ---

// Free heap after a collection is what the program holds at that moment: its
// lowest value is the heap the firmware needed at its peak. Between
// collections gc.mem_free() only counts garbage as used, so it says nothing.
static size_t vboard_low_after_gc = (size_t)-1;
static mp_uint_t vboard_collections;

void vboard_after_gc(void) {
    gc_info_t info;
    gc_info(&info);
    if (info.free < vboard_low_after_gc) {
        vboard_low_after_gc = info.free;
    }
    vboard_collections++;
}

// heap_low(out): out (a writable buffer of two 32-bit ints, e.g. array('i', 2))
// gets the lowest free heap after a collection since the last call (-1 when
// none ran) and the collections since start-up. Allocates nothing, so asking
// does not move what it measures.
static mp_obj_t vboard_heap_low(mp_obj_t out_in) {
    mp_buffer_info_t out;
    mp_get_buffer_raise(out_in, &out, MP_BUFFER_WRITE);
    if (out.len < 2 * sizeof(int32_t)) {
        mp_raise_ValueError(MP_ERROR_TEXT("heap_low needs room for two 32-bit ints"));
    }
    int32_t *v = out.buf;
    v[0] = vboard_low_after_gc == (size_t)-1 ? -1 : (int32_t)vboard_low_after_gc;
    v[1] = (int32_t)vboard_collections;
    vboard_low_after_gc = (size_t)-1;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(vboard_heap_low_obj, vboard_heap_low);

// The chip's time (vboard_clock.c).
extern const mp_obj_fun_builtin_fixed_t vboard_clock_factor_obj, vboard_clock_freq_obj, vboard_clock_stats_obj;
extern const mp_obj_base_t vboard_chip_c_obj;
extern const mp_obj_base_t vboard_chip_c_line_obj;
// machine.Timer's clock (vboard_timer.c).
extern const mp_obj_fun_builtin_fixed_t vboard_timer_disarm_obj;
extern const mp_obj_fun_builtin_var_t vboard_timer_arm_obj;

static const mp_rom_map_elem_t vboard_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR_clock_factor), MP_ROM_PTR(&vboard_clock_factor_obj) },
    { MP_ROM_QSTR(MP_QSTR_clock_freq), MP_ROM_PTR(&vboard_clock_freq_obj) },
    { MP_ROM_QSTR(MP_QSTR_clock_stats), MP_ROM_PTR(&vboard_clock_stats_obj) },
    { MP_ROM_QSTR(MP_QSTR_chip_c), MP_ROM_PTR(&vboard_chip_c_obj) },
    { MP_ROM_QSTR(MP_QSTR_chip_c_line), MP_ROM_PTR(&vboard_chip_c_line_obj) },
    { MP_ROM_QSTR(MP_QSTR_timer_arm), MP_ROM_PTR(&vboard_timer_arm_obj) },
    { MP_ROM_QSTR(MP_QSTR_timer_disarm), MP_ROM_PTR(&vboard_timer_disarm_obj) },
    { MP_ROM_QSTR(MP_QSTR_heap_low), MP_ROM_PTR(&vboard_heap_low_obj) },
    { MP_ROM_QSTR(MP_QSTR_fionread), MP_ROM_PTR(&vboard_fionread_obj) },
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR__vboard) },
    { MP_ROM_QSTR(MP_QSTR_attach_repl), MP_ROM_PTR(&vboard_attach_repl_obj) },
    { MP_ROM_QSTR(MP_QSTR_repl_output), MP_ROM_PTR(&vboard_repl_output_obj) },
    { MP_ROM_QSTR(MP_QSTR_uart0_tx), MP_ROM_PTR(&vboard_uart0_tx_obj) },
    { MP_ROM_QSTR(MP_QSTR_exec_file), MP_ROM_PTR(&vboard_exec_file_obj) },
    { MP_ROM_QSTR(MP_QSTR_exit), MP_ROM_PTR(&vboard_exit_obj) },
    { MP_ROM_QSTR(MP_QSTR_ctrl_c_off), MP_ROM_PTR(&vboard_ctrl_c_off_obj) },
    { MP_ROM_QSTR(MP_QSTR_reserve), MP_ROM_PTR(&vboard_reserve_obj) },
    { MP_ROM_QSTR(MP_QSTR_watchdog), MP_ROM_PTR(&vboard_watchdog_obj) },
};
static MP_DEFINE_CONST_DICT(vboard_module_globals, vboard_module_globals_table);

const mp_obj_module_t mp_module_vboard = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&vboard_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR__vboard, mp_module_vboard);
