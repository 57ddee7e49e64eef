// The chip's time: the virtual ESP8266 computes as slowly as an 80 MHz ESP8266.
//
// The host runs MicroPython a few hundred times faster than the chip. The board
// counts the CPU time its interpreter thread spends (CLOCK_THREAD_CPUTIME_ID:
// the thread's own clock, so a busy host does not change the count) and sleeps
// so that each stretch of computing takes `factor` times as long as on the
// host: the factor is the chip's time for a calibration program over the host's
// CPU time for the same program (hil/sim/clock.py measures it and passes it in).
// Bytecode and the C it calls (the GC, re, formatting, native code) are counted
// alike, as the chip spends its own time on both.
//
// Where the board leaves the interpreter for the outside world (every blocking
// system call: poll, read, recv, send, sleep; MicroPython brackets each with
// MP_THREAD_GIL_EXIT/ENTER, which the build routes here) it first pays what it
// owes, so a reply is read and a packet leaves when the chip would; the call's
// own time is not counted, as lwIP and the UART driver are the chip's C and
// cost it microseconds. Code marked as the chip's C (`with _vboard.chip_c:`, the
// HAL, which is Python here and C on the chip) is not counted either.
//
// The VM calls vboard_clock_tick() every VBOARD_CLOCK_DIVISOR jumps and returns
// (MICROPY_VM_HOOK_LOOP/RETURN, as the ESP8266 port polls its event loop);
// debts below VBOARD_CLOCK_QUANTUM_NS wait for the next tick, so the board sleeps
// in steps of about 20 ms, not at every tick (each sleep lets other processes
// cool the host's caches, which would slow the board's next steps).
//
// The host's own speed drifts: for stretches of tens of seconds this machine
// ran the interpreter 1.7 times slower per CPU second than when the factor was
// measured, while a small C loop kept its speed (a neighbour sharing the
// caches, not the clock rate), so a counted CPU time alone would make the
// board slower than the chip then, and faster than it when the host is faster
// than at calibration. With HIL_SIM_HOST_SPEED naming a file, the rig keeps in
// it (one double) the host's speed now against the calibration's: the
// calibration program's CPU time then over its CPU time now, on this same
// binary, sleeping as a board does (hil/sim/host_speed.py); the board maps the
// file and scales each stretch of computing by it.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "py/bc.h"
#include "py/objfun.h"
#include "py/runtime.h"
#include "py/mphal.h"

#define VBOARD_CLOCK_QUANTUM_NS (20000000LL)
// Before a call to the outside world the board sleeps off debts from 20 ms up:
// a packet leaves, and a wait for input starts, within 20 ms of the chip's time
// (a debt it does not sleep off before a call stays owed after it). Sleeping
// more often (1 and 4 ms were tried) made asyncio's task switch, a poll each,
// up to 3 times slower than the chip's: every sleep leaves the caches cold.
#define VBOARD_CLOCK_IO_NS (20000000LL)
// Time the host lost (a late wake-up, another process on the core) is made up
// by computing at the host's speed, for at most this much.
#define VBOARD_CLOCK_CREDIT_NS (100000000LL)
#define VBOARD_CHIP_HZ (80000000)

static double clock_factor;          // the chip's ns per host CPU ns at 80 MHz; 0: host speed
static mp_int_t clock_hz = VBOARD_CHIP_HZ;
static int64_t clock_mark = -1;      // thread CPU time up to which computing is counted
static int64_t clock_deadline;       // wall-clock time at which the chip would be done with it
static int clock_c_depth;            // > 0 while code runs that is the chip's C
static int64_t clock_chip_ns;        // computing counted since start-up, in the chip's ns
static int64_t clock_host_ns;        // the same computing in host CPU ns
static int64_t clock_read_ns;        // what reading the thread's CPU clock adds to an interval
static const volatile double *host_speed;  // the rig's file, mapped; NULL: the calibration's speed

// The host's speed against the calibration's: CPU ns the same work took then
// per CPU ns it takes now (below 1: slower now). A value no probe could give
// (a file not yet written) counts as 1.
static double host_speed_now(void) {
    double s = host_speed != NULL ? *host_speed : 1.0;
    return s >= 0.2 && s <= 5.0 ? s : 1.0;
}

static void host_speed_map(const char *path) {
    if (host_speed != NULL) {
        munmap((void *)host_speed, sizeof(double));
        host_speed = NULL;
    }
    if (path == NULL || *path == 0) {
        return;
    }
    int fd = open(path, O_RDONLY);
    void *p = fd < 0 ? MAP_FAILED : mmap(NULL, sizeof(double), PROT_READ, MAP_SHARED, fd, 0);
    if (fd >= 0) {
        close(fd);
    }
    if (p == MAP_FAILED) {
        // Without it the board keeps the calibration's speed: say so where the rig logs the board.
        fprintf(stderr, "vboard: HIL_SIM_HOST_SPEED=%s cannot be mapped (errno %d): the host's drift is not "
            "corrected\n", path, errno);
        return;
    }
    host_speed = p;
}

static int64_t thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t wall_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// --- where the chip's time goes ---
//
// With HIL_SIM_CLOCK_PROFILE set, the computing counted is attributed to the
// function the VM was running at the tick that counted it (source file and
// function name; time in C, native code and the GC goes to the Python function
// that called it) and the table is written to that file about once a second,
// as lines "<chip us> <host us> <file> <function>", outside the counted time.
// The rig's benchmarks read it (bench/bridge_chip_time.py).
#define PROFILE_ROWS (96)
// stretch_ns counts only while stretch_gen is the current stretch's (below).
typedef struct { qstr file, name; int64_t chip_ns, host_ns, stretch_ns; uint32_t stretch_gen; } profile_row_t;
static profile_row_t profile_rows[PROFILE_ROWS];
static size_t profile_used;
static profile_row_t *profile_now;   // the row computing is counted into
static const char *profile_path;
static int64_t profile_written;

static void profile_at(const void *state) {
    // The HAL's own functions are the chip's C: their callers own the time.
    if (profile_path == NULL || clock_c_depth > 0) {
        return;
    }
    const mp_code_state_t *cs = state;
    const byte *ip = cs->fun_bc->bytecode;
    MP_BC_PRELUDE_SIG_DECODE(ip);
    MP_BC_PRELUDE_SIZE_DECODE(ip);
    (void)n_info;
    (void)n_cell;
    qstr name = cs->fun_bc->context->constants.qstr_table[mp_decode_uint_value(ip)];
    qstr file = cs->fun_bc->context->constants.qstr_table[0];
    if (profile_now != NULL && profile_now->file == file && profile_now->name == name) {
        return;
    }
    for (size_t i = 0; i < profile_used; i++) {
        if (profile_rows[i].file == file && profile_rows[i].name == name) {
            profile_now = &profile_rows[i];
            return;
        }
    }
    // A full table counts the rest in its last row, named as it was first.
    profile_now = &profile_rows[profile_used < PROFILE_ROWS ? profile_used++ : PROFILE_ROWS - 1];
    if (profile_now->file == 0) {
        profile_now->file = file;
        profile_now->name = name;
    }
}

static void profile_write(int64_t now) {
    if (profile_path == NULL || now - profile_written < 1000000000LL) {
        return;
    }
    profile_written = now;
    char tmp[512];
    snprintf(tmp, sizeof(tmp), "%s.tmp", profile_path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        return;
    }
    for (size_t i = 0; i < profile_used; i++) {
        fprintf(f, "%lld %lld %s %s\n", (long long)(profile_rows[i].chip_ns / 1000),
            (long long)(profile_rows[i].host_ns / 1000), qstr_str(profile_rows[i].file),
            qstr_str(profile_rows[i].name));
    }
    fclose(f);
    rename(tmp, profile_path);
}

// --- the long stretches of computing ---
//
// With HIL_SIM_CLOCK_STRETCHES set too, every stretch of computing between two
// calls to the outside world (a poll, a read, a sleep) that took the chip
// STRETCH_LOG_NS or more is appended to that file, as a line "<when the chip
// finished it, Unix time in s> <chip us> <host CPU us> <file>:<function>:<chip us> ..." with
// its functions, most first. A stretch is time the firmware reads no UART: the
// bridge's 1 KB ring fills in 89 ms at 115200 baud (hil/sim/chip_time.py reads it).
#define STRETCH_LOG_NS (40000000LL)
#define STRETCH_FUNCTIONS (6)
static const char *stretch_path;
static int64_t stretch_ns;           // the chip's ns computed since the last call outside
static int64_t stretch_host_ns;      // ... and the host CPU ns it took
// The stretch's number: a row's stretch_ns from an older one counts as 0, so
// ending a stretch (at every call outside) touches no row.
static uint32_t stretch_gen = 1;

static void stretch_end(void) {
    if (stretch_ns == 0) {
        return;
    }
    if (stretch_path != NULL && stretch_ns >= STRETCH_LOG_NS) {
        struct timespec real;
        clock_gettime(CLOCK_REALTIME, &real);
        double done = real.tv_sec + real.tv_nsec / 1e9 + (clock_deadline - wall_ns()) / 1e9;
        FILE *f = fopen(stretch_path, "a");
        if (f != NULL) {
            fprintf(f, "%.3f %lld %lld", done, (long long)(stretch_ns / 1000), (long long)(stretch_host_ns / 1000));
            for (int k = 0; k < STRETCH_FUNCTIONS; k++) {
                profile_row_t *top = NULL;
                for (size_t i = 0; i < profile_used; i++) {
                    profile_row_t *row = &profile_rows[i];
                    if (row->stretch_gen == stretch_gen && row->stretch_ns > 0
                        && (top == NULL || row->stretch_ns > top->stretch_ns)) {
                        top = row;
                    }
                }
                if (top == NULL) {
                    break;
                }
                fprintf(f, " %s:%s:%lld", qstr_str(top->file), qstr_str(top->name), (long long)(top->stretch_ns / 1000));
                top->stretch_ns = 0;
            }
            fprintf(f, "\n");
            fclose(f);
        }
        clock_mark = thread_cpu_ns();  // the writing is the rig's time, not the chip's
    }
    stretch_gen++;
    stretch_ns = stretch_host_ns = 0;
}

// Count the computing since the mark: the chip would finish it that much later.
static void clock_accrue(void) {
    int64_t now = thread_cpu_ns();
    // Reading the clock is a system call; its cost is the rig's, not the chip's.
    if (clock_mark >= 0 && clock_c_depth == 0 && now > clock_mark + clock_read_ns) {
        int64_t spent = now - clock_mark - clock_read_ns;
        int64_t chip = (int64_t)(spent * clock_factor * host_speed_now() * VBOARD_CHIP_HZ / clock_hz);
        clock_chip_ns += chip;
        clock_host_ns += spent;
        clock_deadline += chip;
        if (profile_now != NULL) {
            profile_now->chip_ns += chip;
            profile_now->host_ns += spent;
            if (profile_now->stretch_gen != stretch_gen) {
                profile_now->stretch_gen = stretch_gen;
                profile_now->stretch_ns = 0;
            }
            profile_now->stretch_ns += chip;
        }
        stretch_ns += chip;
        stretch_host_ns += spent;
    }
    clock_mark = now;
}

// Sleep until the deadline once it is `at_least` ns away. The deadline is wall
// time, so a host that is busy elsewhere (the board's thread waiting for a
// core) or a sleep that overshoots makes the board late, never early, and the
// next computing catches up. A signal (SIGINT for Ctrl-C) cuts the sleep short;
// the watchdog's SIGALRM ends the process, as the chip's watchdog resets it
// whatever it is doing.
static void clock_pay(int64_t at_least) {
    int64_t owed = clock_deadline - wall_ns();
    if (owed <= 0 || owed < at_least) {
        return;
    }
    struct timespec ts = {(time_t)(owed / 1000000000LL), (long)(owed % 1000000000LL)};
    nanosleep(&ts, NULL);
    profile_write(wall_ns());
    clock_mark = thread_cpu_ns();
}

// Leaving for the outside world (a blocking call, the chip's C): pay what is
// owed, so the call happens when the chip would make it, and note when that is.
static int64_t call_wall, call_deadline;

static void clock_suspend(int64_t at_least) {
    clock_accrue();
    stretch_end();
    clock_pay(at_least);
    call_wall = wall_ns();
    call_deadline = clock_deadline;
}

// Back from it: the chip goes on as long after it made the call as the call
// took here. A sleep that overshot before the call stays credit (the board
// catches up), a debt too small to sleep for stays owed, and the call's own
// waiting (a poll until bytes arrive) is the chip's waiting too.
static void clock_resume(void) {
    int64_t now = wall_ns();
    int64_t back = call_deadline + (now - call_wall);
    if (clock_deadline < back) {
        clock_deadline = back;
    }
    if (clock_deadline < now - VBOARD_CLOCK_CREDIT_NS) {
        clock_deadline = now - VBOARD_CLOCK_CREDIT_NS;
    }
    clock_mark = thread_cpu_ns();
}

void vboard_clock_tick(const void *state) {
    if (clock_factor > 0) {
        profile_at(state);
        clock_accrue();
        clock_pay(VBOARD_CLOCK_QUANTUM_NS);
    }
}

void vboard_clock_leave(void) {
    if (clock_factor > 0 && clock_c_depth == 0) {
        clock_suspend(VBOARD_CLOCK_IO_NS);
    }
}

void vboard_clock_enter(void) {
    if (clock_factor > 0 && clock_c_depth == 0) {
        clock_resume();
    }
    // A timer that came due during the call (its signal may be what ended it)
    // is scheduled before the caller runs the pending callbacks (vboard_timer.c).
    extern void vboard_timer_poll(void);
    vboard_timer_poll();
}

// The chip's clock, as ticks_ms()/ticks_us() read it (mpconfigvariant.h): the
// host's time, or later by what the board owes for its computing so far. The
// deadline never moves back, so the clock never does either.
int64_t vboard_chip_now_ns(void) {
    int64_t now = wall_ns();
    if (clock_factor > 0) {
        clock_accrue();
        if (clock_deadline > now) {
            return clock_deadline;
        }
    }
    return now;
}

uintptr_t vboard_ticks_ms(void) {
    return (uintptr_t)(vboard_chip_now_ns() / 1000000);
}

uintptr_t vboard_ticks_us(void) {
    return (uintptr_t)(vboard_chip_now_ns() / 1000);
}

// clock_factor(f): the chip's time per host CPU time at 80 MHz (0: host speed).
static mp_obj_t vboard_clock_factor(mp_obj_t factor_in) {
    clock_factor = mp_obj_get_float_to_d(factor_in);
    // The kernel's default timer slack (50 us) would make every short sleep long.
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    // The cost of a clock read: the shortest interval between two reads.
    clock_read_ns = INT64_MAX;
    for (int i = 0; i < 200; i++) {
        int64_t a = thread_cpu_ns(), b = thread_cpu_ns();
        if (b - a < clock_read_ns) {
            clock_read_ns = b - a;
        }
    }
    const char *path = getenv("HIL_SIM_CLOCK_PROFILE");
    profile_path = path != NULL && *path ? path : NULL;
    path = getenv("HIL_SIM_CLOCK_STRETCHES");
    stretch_path = profile_path != NULL && path != NULL && *path ? path : NULL;
    host_speed_map(getenv("HIL_SIM_HOST_SPEED"));
    clock_deadline = wall_ns();
    clock_mark = thread_cpu_ns();
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_1(vboard_clock_factor_obj, vboard_clock_factor);

// clock_freq(hz): the CPU clock machine.freq() set; 160 MHz halves the cost.
static mp_obj_t vboard_clock_freq(mp_obj_t hz_in) {
    if (clock_factor > 0) {
        clock_accrue();  // what ran so far ran at the old clock
    }
    clock_hz = mp_obj_get_int(hz_in);
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_1(vboard_clock_freq_obj, vboard_clock_freq);

// clock_stats(out): out (array('i', 4) or larger) gets, in microseconds, the
// computing counted since start-up in the chip's time and in the host's CPU
// time, what the board still owes (its deadline less now), and the thread's
// CPU time. Allocates nothing.
static mp_obj_t vboard_clock_stats(mp_obj_t out_in) {
    mp_buffer_info_t out;
    mp_get_buffer_raise(out_in, &out, MP_BUFFER_WRITE);
    if (out.len < 4 * sizeof(int32_t)) {
        mp_raise_ValueError(MP_ERROR_TEXT("clock_stats needs room for four 32-bit ints"));
    }
    if (clock_factor > 0) {
        clock_accrue();
    }
    int32_t *v = out.buf;
    v[0] = (int32_t)(clock_chip_ns / 1000);
    v[1] = (int32_t)(clock_host_ns / 1000);
    v[2] = clock_factor > 0 ? (int32_t)((clock_deadline - wall_ns()) / 1000) : 0;
    v[3] = (int32_t)(thread_cpu_ns() / 1000);
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_1(vboard_clock_stats_obj, vboard_clock_stats);

// chip_c: a context manager for code that is the chip's C (the HAL): its time
// is not counted. Entering pays what the board owes, as the HAL talks to the
// outside world (the UART's ring, the rig). It nests and allocates nothing.
typedef struct {
    mp_obj_base_t base;
    int64_t at_least;  // the debt entering pays: from VBOARD_CLOCK_IO_NS up, or all of it
} chip_c_t;

static mp_obj_t chip_c_enter(mp_obj_t self_in) {
    if (clock_c_depth == 0 && clock_factor > 0) {
        clock_suspend(((chip_c_t *)MP_OBJ_TO_PTR(self_in))->at_least);
    }
    clock_c_depth++;
    return self_in;
}
static MP_DEFINE_CONST_FUN_OBJ_1(chip_c_enter_obj, chip_c_enter);

static mp_obj_t chip_c_exit(size_t n_args, const mp_obj_t *args) {
    if (clock_c_depth > 0 && --clock_c_depth == 0 && clock_factor > 0) {
        clock_resume();
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(chip_c_exit_obj, 4, 4, chip_c_exit);

static const mp_rom_map_elem_t chip_c_locals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___enter__), MP_ROM_PTR(&chip_c_enter_obj) },
    { MP_ROM_QSTR(MP_QSTR___exit__), MP_ROM_PTR(&chip_c_exit_obj) },
};
static MP_DEFINE_CONST_DICT(chip_c_locals, chip_c_locals_table);

static MP_DEFINE_CONST_OBJ_TYPE(
    vboard_chip_c_type,
    MP_QSTR_chip_c,
    MP_TYPE_FLAG_NONE,
    locals_dict, &chip_c_locals
    );

const chip_c_t vboard_chip_c_obj = {{&vboard_chip_c_type}, VBOARD_CLOCK_IO_NS};
// chip_c_line: the same for what puts bytes on a line the rig times to the bit
// (UART TX): entering pays all the board owes, not only a debt of 20 ms and
// up, so the bytes leave when the chip would hand them to its FIFO. A debt
// left owed through the wait for FIFO room would come on top of that wait,
// where on the chip the computing and the FIFO's draining overlap: the line
// went idle for up to 20 ms every few chunks of a telegram.
const chip_c_t vboard_chip_c_line_obj = {{&vboard_chip_c_type}, 1};
