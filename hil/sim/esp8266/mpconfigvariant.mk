# The virtual ESP8266 (see mpconfigvariant.h). Build from a MicroPython v1.28.0
# tree with: make -C ports/unix VARIANT_DIR=<this directory>
# (scripts/bootstrap does it and caches the result).
MICROPY_FORCE_32BIT = 1
MICROPY_PY_THREAD = 0
MICROPY_PY_FFI = 0
MICROPY_PY_SSL = 0
MICROPY_PY_BTREE = 0
MICROPY_PY_TERMIOS = 0
MICROPY_PY_SOCKET = 1
MICROPY_USE_READLINE = 1
MICROPY_VFS_FAT = 0
MICROPY_VFS_LFS1 = 0
MICROPY_VFS_LFS2 = 0
MICROPY_ROM_TEXT_COMPRESSION = 1
PROG = micropython-esp8266

FROZEN_MANIFEST ?= $(VARIANT_DIR)/manifest.py
USER_C_MODULES = $(VARIANT_DIR)/cmod
