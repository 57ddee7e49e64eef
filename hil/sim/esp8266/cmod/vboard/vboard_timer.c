// machine.Timer's clock: the ESP8266's virtual (os) timers on the virtual board.
//
// On the chip, machine.Timer(-1) is an SDK os_timer (ports/esp8266/modmachine.c):
// at expiry esp_timer_cb() hands the callback to mp_sched_schedule(), and the
// interpreter runs it at its next pending check: between bytecodes, and in every
// wait, because each wait loops on mp_event_handle_nowait() (py/scheduler.c:
// MICROPY_INTERNAL_EVENT_HOOK, then mp_handle_pending()). That includes the
// REPL's wait for a key: mp_hal_stdin_rx_chr() (ports/esp8266/esp_mphal.c)
// spins on mp_hal_delay_us(1), which runs that hook, so a timer fires at an
// idle prompt.
//
// Here the unix port's REPL sleeps in read() on the board's pty instead. An
// armed timer is a POSIX timer on CLOCK_MONOTONIC, due when the chip's clock
// (what time.ticks_ms() reads) has run its period, so a callback never runs
// before ticks_ms says its period is over,
// whatever the board's speed. Its signal cuts any blocking call short (EINTR):
// MicroPython retries each such call after mp_handle_pending()
// (MP_HAL_RETRY_SYSCALL), and the board's MP_THREAD_GIL_ENTER, which runs
// right after the call returns (vboard_clock.c), schedules the due callbacks
// first; between bytecodes the VM hook does the same (mpconfigvariant.h).
// The signal handler only sets a flag: mp_sched_schedule() runs in the
// interpreter, never in signal context.
#include <errno.h>
#include <signal.h>
#include <time.h>

#include "py/runtime.h"
#include "py/mphal.h"

#define VBOARD_TIMERS (8)
// A signal that lands just before a blocking call starts is not seen by it:
// until the board takes the expiry, the handler nudges it again this soon.
#define VBOARD_TIMER_NUDGE_NS (10000000L)

// (timer object, callback) per armed timer: the board holds both, as the chip's
// SDK holds the os_timer (a firmware must keep its Timer there, see FIDELITY.md).
MP_REGISTER_ROOT_POINTER(mp_obj_t vboard_timers[2 * VBOARD_TIMERS]);

volatile sig_atomic_t vboard_timer_signalled;
static int64_t timer_due_ns[VBOARD_TIMERS];
static int64_t timer_period_ns[VBOARD_TIMERS];  // 0: one-shot
static timer_t timer_wake;
static bool timer_wake_made;

// The chip's clock (vboard_clock.c): CLOCK_MONOTONIC, or later by what the
// board owes for its computing. A POSIX timer at that deadline fires when the
// host's clock gets there, by which time the chip's is there too.
int64_t vboard_chip_now_ns(void);

static void timer_signal(int signum) {
    (void)signum;
    vboard_timer_signalled = 1;
    struct itimerspec again = {{0, 0}, {0, VBOARD_TIMER_NUDGE_NS}};
    timer_settime(timer_wake, 0, &again, NULL);  // async-signal-safe
}

// The POSIX timer at the earliest deadline, or off when none is armed.
static void timer_wake_at(int64_t due_ns) {
    if (!timer_wake_made) {
        struct sigaction sa;
        sa.sa_flags = 0;  // no SA_RESTART: a blocking call must return to the interpreter
        sa.sa_handler = timer_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGRTMIN, &sa, NULL);
        sigset_t mine;  // a mask inherited from the rig must not hold it back
        sigemptyset(&mine);
        sigaddset(&mine, SIGRTMIN);
        sigprocmask(SIG_UNBLOCK, &mine, NULL);
        struct sigevent ev = {0};
        ev.sigev_notify = SIGEV_SIGNAL;
        ev.sigev_signo = SIGRTMIN;
        if (timer_create(CLOCK_MONOTONIC, &ev, &timer_wake) != 0) {
            mp_raise_OSError(errno);
        }
        timer_wake_made = true;
    }
    struct itimerspec at = {{0, 0}, {0, 0}};
    if (due_ns != INT64_MAX) {
        at.it_value.tv_sec = (time_t)(due_ns / 1000000000LL);
        at.it_value.tv_nsec = (long)(due_ns % 1000000000LL);
    }
    timer_settime(timer_wake, TIMER_ABSTIME, &at, NULL);
}

// Hand every due callback to the scheduler, as esp_timer_cb() does, and
// re-arm for the next deadline. Cheap when nothing is due: one flag.
void vboard_timer_poll(void) {
    if (!vboard_timer_signalled) {
        return;
    }
    vboard_timer_signalled = 0;
    int64_t now = vboard_chip_now_ns();
    int64_t next = INT64_MAX;
    for (int i = 0; i < VBOARD_TIMERS; i++) {
        mp_obj_t timer = MP_STATE_VM(vboard_timers)[2 * i];
        if (timer == MP_OBJ_NULL) {
            continue;
        }
        if (timer_due_ns[i] <= now) {
            mp_sched_schedule(MP_STATE_VM(vboard_timers)[2 * i + 1], timer);
            if (timer_period_ns[i] == 0) {
                MP_STATE_VM(vboard_timers)[2 * i] = MP_OBJ_NULL;
                MP_STATE_VM(vboard_timers)[2 * i + 1] = MP_OBJ_NULL;
                continue;
            }
            // The SDK re-arms a periodic timer from its expiry; a board that
            // was stopped longer than a period does not fire a burst.
            timer_due_ns[i] += timer_period_ns[i];
            if (timer_due_ns[i] <= now) {
                timer_due_ns[i] = now + timer_period_ns[i];
            }
        }
        if (timer_due_ns[i] < next) {
            next = timer_due_ns[i];
        }
    }
    timer_wake_at(next);
}

static int timer_slot(mp_obj_t timer) {
    for (int i = 0; i < VBOARD_TIMERS; i++) {
        if (MP_STATE_VM(vboard_timers)[2 * i] == timer) {
            return i;
        }
    }
    return -1;
}

static void timer_rearm(void) {
    int64_t next = INT64_MAX;
    for (int i = 0; i < VBOARD_TIMERS; i++) {
        if (MP_STATE_VM(vboard_timers)[2 * i] != MP_OBJ_NULL && timer_due_ns[i] < next) {
            next = timer_due_ns[i];
        }
    }
    timer_wake_at(next);
}

// timer_disarm(timer): os_timer_disarm(); nothing if it is not armed.
static mp_obj_t vboard_timer_disarm(mp_obj_t timer) {
    int i = timer_slot(timer);
    if (i >= 0) {
        MP_STATE_VM(vboard_timers)[2 * i] = MP_OBJ_NULL;
        MP_STATE_VM(vboard_timers)[2 * i + 1] = MP_OBJ_NULL;
        timer_rearm();
    }
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_1(vboard_timer_disarm_obj, vboard_timer_disarm);

// timer_arm(timer, callback, period_ms, periodic): callback(timer) is scheduled
// period_ms from now by the chip's clock (time.ticks_ms's), and every
// period_ms after that when periodic. Arming an armed timer starts it afresh,
// as init() does on the chip (it disarms first).
static mp_obj_t vboard_timer_arm(size_t n_args, const mp_obj_t *args) {
    mp_obj_t timer = args[0];
    mp_int_t period_ms = mp_obj_get_int(args[2]);
    if (period_ms < 1) {
        period_ms = 1;  // the SDK's os_timer counts whole milliseconds
    }
    int i = timer_slot(timer);
    if (i < 0) {
        i = timer_slot(MP_OBJ_NULL);
    }
    if (i < 0) {
        mp_raise_msg(&mp_type_OSError, MP_ERROR_TEXT("virtual board: too many timers armed"));
    }
    MP_STATE_VM(vboard_timers)[2 * i] = timer;
    MP_STATE_VM(vboard_timers)[2 * i + 1] = args[1];
    timer_period_ns[i] = mp_obj_is_true(args[3]) ? (int64_t)period_ms * 1000000LL : 0;
    timer_due_ns[i] = vboard_chip_now_ns() + (int64_t)period_ms * 1000000LL;
    timer_rearm();
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(vboard_timer_arm_obj, 4, 4, vboard_timer_arm);
