"""The HAL's guard for its own time: `with C:` around what is C on the chip,
so the chip clock (cmod/vboard/vboard_clock.c) does not count it as the
firmware's computing, and entering it pays what the board owes. The HAL modules
share it from here: machine imports socket, so neither can hold it for both."""
try:
    from _vboard import chip_c as C
except ImportError:  # the approximate board: no chip clock
    class _NoClock:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

    C = _NoClock()
