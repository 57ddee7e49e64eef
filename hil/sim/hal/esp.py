"""ESP8266 `esp` for the virtual rig: the calls firmware makes at boot."""
SLEEP_NONE = 0
SLEEP_LIGHT = 1
SLEEP_MODEM = 2


def osdebug(level):
    pass


def sleep_type(t=None):
    return SLEEP_NONE if t is None else None


def flash_size():
    return 4 * 1024 * 1024


def check_fw():
    return True


def freemem():
    import gc
    return gc.mem_free()
