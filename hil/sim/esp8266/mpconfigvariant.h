// The virtual ESP8266: MicroPython's unix port built to look like the ESP8266
// port to a firmware. Every setting below is copied from ports/esp8266/mpconfigport.h
// where it changes what Python code sees (object layout, float precision,
// feature set, sys.platform, os.dupterm); the rest is what the unix port
// needs to run as a process. docs/FIDELITY.md lists what still differs.

// 32-bit objects with floats packed into the object word, as on the chip:
// a float costs no heap there, and has 30 bits of precision.
#define MICROPY_OBJ_REPR                (MICROPY_OBJ_REPR_C)
#define MICROPY_FLOAT_IMPL              (MICROPY_FLOAT_IMPL_FLOAT)
#define MICROPY_FLOAT_FORMAT_IMPL       (MICROPY_FLOAT_FORMAT_IMPL_BASIC)
#define MICROPY_LONGINT_IMPL            (MICROPY_LONGINT_IMPL_MPZ)
#define MICROPY_PY_SYS_PLATFORM         "esp8266"

// The ESP8266 port's feature level and the features it turns off.
#define MICROPY_CONFIG_ROM_LEVEL        (MICROPY_CONFIG_ROM_LEVEL_EXTRA_FEATURES)
#define MICROPY_COMP_MODULE_CONST       (0)
#define MICROPY_COMP_TRIPLE_TUPLE_ASSIGN (0)
#define MICROPY_COMP_RETURN_IF_EXPR     (0)
#define MICROPY_OPT_LOAD_ATTR_FAST_PATH (0)
#define MICROPY_OPT_MAP_LOOKUP_CACHE    (0)
#define MICROPY_OPT_MPZ_BITWISE         (0)
#define MICROPY_OPT_MATH_FACTORIAL      (0)
#define MICROPY_REPL_EMACS_KEYS         (0)
#define MICROPY_PY_BUILTINS_COMPLEX     (0)
#define MICROPY_MODULE___FILE__         (0)
#define MICROPY_PY_DELATTR_SETATTR      (0)
#define MICROPY_PY_BUILTINS_STR_CENTER  (0)
#define MICROPY_PY_BUILTINS_STR_PARTITION (0)
#define MICROPY_PY_BUILTINS_STR_SPLITLINES (0)
#define MICROPY_PY_BUILTINS_SLICE_INDICES (0)
#define MICROPY_PY_BUILTINS_COMPILE     (0)
#define MICROPY_PY_BUILTINS_EXECFILE    (0)
#define MICROPY_PY_BUILTINS_NOTIMPLEMENTED (0)
#define MICROPY_PY_BUILTINS_POW3        (0)
#define MICROPY_PY_MATH_CONSTANTS       (0)
#define MICROPY_PY_MATH_SPECIAL_FUNCTIONS (0)
#define MICROPY_PY_MATH_FACTORIAL       (0)
#define MICROPY_PY_MATH_ISCLOSE         (0)
#define MICROPY_PY_SYS_PS1_PS2          (0)
#define MICROPY_PY_BINASCII_CRC32       (0)
#define MICROPY_PY_RANDOM_EXTRA_FUNCS   (0)
#define MICROPY_PY_HASHLIB_MD5          (0)
#define MICROPY_PY_HASHLIB_SHA1         (0)
#define MICROPY_ALLOC_LEXER_INDENT_INIT (8)
#define MICROPY_ALLOC_PARSE_RULE_INIT   (48)
#define MICROPY_ALLOC_PARSE_RULE_INC    (8)
#define MICROPY_ALLOC_PARSE_RESULT_INC  (8)
#define MICROPY_ALLOC_PARSE_CHUNK_INIT  (64)
#define MICROPY_WARNINGS                (1)
#define MICROPY_PY_STR_BYTES_CMP_WARN   (1)
#define MICROPY_PY_WEBSOCKET            (1)
#define MICROPY_PY_TIME_TIME_TIME_NS    (1)

// The chip's emergency exception buffer is empty until
// micropython.alloc_emergency_exception_buf() takes it from the heap.
#define MICROPY_ENABLE_EMERGENCY_EXCEPTION_BUF (1)

// os as on the chip: the unix os plus dupterm with two slots; slot 1 holds
// UART0, the REPL. Detaching it is reported to the rig (cmod/vboard).
#define MICROPY_PY_OS_INCLUDEFILE       "ports/unix/modos.c"
#define MICROPY_PY_OS_ERRNO             (1)
#define MICROPY_PY_OS_GETENV_PUTENV_UNSETENV (1) // the HAL reads the rig's settings
#define MICROPY_PY_OS_URANDOM           (1)
#define MICROPY_PY_OS_UNAME             (1)
#define MICROPY_PY_OS_DUPTERM           (2)
#define MICROPY_PY_OS_DUPTERM_STREAM_DETACHED_ATTACHED (1)

// ROMFS, as in the ESP8266 port's FLASH_2M_ROMFS variant: a 320 KB partition
// whose .mpy files run in place (bytecode and strings stay in flash), mounted
// at /rom by mp_init(), written with vfs.rom_ioctl (mpremote romfs deploy).
// The partition is a file the rig names (HIL_SIM_ROMFS), see cmod/vboard.
#define MICROPY_VFS_ROM                 (1)
#define MICROPY_VFS_ROM_IOCTL           (1)
#define MICROPY_VBOARD_ROMFS            (1)

// machine, network and esp are the frozen HAL (hil/sim/hal), not the unix
// port's machine module (whose mem32 is the host's address space).
#define MICROPY_PY_MACHINE              (0)

// What the unix port needs to run as a process.
#define MICROPY_PY_TIME                 (1)
#define MICROPY_PY_TIME_CUSTOM_SLEEP    (1)
#define MICROPY_PY_TIME_INCLUDEFILE     "ports/unix/modtime.c"
#define MICROPY_PY_SELECT_POSIX_OPTIMISATIONS (1)
#define MICROPY_PY_SELECT_SELECT        (0)
#define MICROPY_ASYNC_KBD_INTR          (1)
#define MICROPY_STREAMS_POSIX_API       (1)
#define MICROPY_PERSISTENT_CODE_LOAD    (1)
#define MICROPY_DEBUG_PRINTERS          (1)
#define MICROPY_USE_READLINE_HISTORY    (1)
#define MICROPY_READLINE_HISTORY_SIZE   (8)

// Heap statistics for the rig's benchmarks (micropython.mem_total()); the
// chip's build has none, a firmware must not call them.
#define MICROPY_MALLOC_USES_ALLOCATED_SIZE (1)
#define MICROPY_MEM_STATS               (1)

// The banner and sys.implementation._machine name the board, as the chip's do.
#define MICROPY_HW_BOARD_NAME           "virtual ESP module"
#define MICROPY_HW_MCU_NAME             "ESP8266"
#define MICROPY_BANNER_MACHINE          MICROPY_HW_BOARD_NAME " with " MICROPY_HW_MCU_NAME

// machine.Timer (cmod/vboard/vboard_timer.c): from the same hook, a timer that
// came due is handed to the scheduler, as the chip's event poll hook does.
// The chip's time (cmod/vboard/vboard_clock.c): the VM counts its computing
// every 64 jumps and returns, as the ESP8266 port polls its event loop from
// the same hooks; the build routes MP_THREAD_GIL_EXIT/ENTER, which bracket
// every blocking system call, to the clock (hil/sim/build.py PATCHES).
#define MICROPY_VBOARD_CLOCK            (1)
#define MICROPY_VBOARD_CLOCK_DIVISOR    (64)
#define MICROPY_VM_HOOK_INIT            static unsigned int vboard_clock_divisor = MICROPY_VBOARD_CLOCK_DIVISOR;
#define MICROPY_VM_HOOK_POLL            if (--vboard_clock_divisor == 0) { \
        vboard_clock_divisor = MICROPY_VBOARD_CLOCK_DIVISOR; \
        extern void vboard_clock_tick(const void *); \
        vboard_clock_tick(code_state); \
        extern volatile int vboard_timer_signalled; \
        if (vboard_timer_signalled) { \
            extern void vboard_timer_poll(void); \
            vboard_timer_poll(); \
        } \
}
#define MICROPY_VM_HOOK_LOOP            MICROPY_VM_HOOK_POLL
// ticks_ms()/ticks_us() read the chip's clock, not the host's: the host's time
// plus what the board still owes (below the ~20 ms it sleeps off at once), so a
// firmware that times its own work (a turn of 20 ms) sees the chip's figure.
#include <stdint.h>
uintptr_t vboard_ticks_ms(void);
uintptr_t vboard_ticks_us(void);
#define mp_hal_ticks_ms                 vboard_ticks_ms
#define mp_hal_ticks_us                 vboard_ticks_us
#define MICROPY_VM_HOOK_RETURN          MICROPY_VM_HOOK_POLL
