"""The HAL's guard for its own time: `with C:` around what is C on the chip,
so the chip clock (cmod/vboard/vboard_clock.c) does not count it as the
firmware's computing, and entering it pays what the board owes (from 20 ms up;
`with LINE:` all of it, for bytes a line times to the bit). The HAL modules
share it from here: machine imports socket, so neither can hold it for both."""
try:
    from _vboard import chip_c as C, chip_c_line as LINE
except ImportError:  # the approximate board: no chip clock
    class _NoClock:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

    C = LINE = _NoClock()
